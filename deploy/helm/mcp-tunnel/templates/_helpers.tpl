{{/* Names, labels, images, the rendered proxy config and the checks every install passes first. */}}

{{- define "mcp-tunnel.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* <release> when it already contains the chart name (the documented mcp-tunnel), else <release>-<chart>. */}}
{{- define "mcp-tunnel.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The setup Job's ServiceAccount: the subject of the federation rule. */}}
{{- define "mcp-tunnel.setupName" -}}
{{- printf "%s-setup" (include "mcp-tunnel.fullname" . | trunc 57 | trimSuffix "-") -}}
{{- end -}}

{{/* CronJob names are limited to 52 characters. */}}
{{- define "mcp-tunnel.certRenewName" -}}
{{- printf "%s-cert-renew" (include "mcp-tunnel.fullname" . | trunc 41 | trimSuffix "-") -}}
{{- end -}}

{{/* The Secret setup writes (managed mode): named after the release, as documented. */}}
{{- define "mcp-tunnel.secretName" -}}
{{- .Release.Name -}}
{{- end -}}

{{- define "mcp-tunnel.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mcp-tunnel.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The proxy pods, apart from the setup and cert-renew pods that share the release's labels. */}}
{{- define "mcp-tunnel.proxySelectorLabels" -}}
{{ include "mcp-tunnel.selectorLabels" . }}
app.kubernetes.io/component: proxy
{{- end -}}

{{- define "mcp-tunnel.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "mcp-tunnel.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* repository@digest, else repository:tag (default: the chart's appVersion). Call with (list $ .image). */}}
{{- define "mcp-tunnel.image" -}}
{{- $root := index . 0 -}}
{{- $image := index . 1 -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository (default $root.Chart.AppVersion $image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Helm hook annotations for the setup Job and what it needs; upgrades run it only with setup.force. */}}
{{- define "mcp-tunnel.setupHook" -}}
helm.sh/hook: {{ if .Values.setup.force }}pre-install,pre-upgrade{{ else }}pre-install{{ end }}
helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
{{- end -}}

{{/*
The proxy's config.yaml: gateway.config with the fields the chart owns forced. The listener binds to
loopback: cloudflared, in the same pod, is its only client.
*/}}
{{- define "mcp-tunnel.config" -}}
{{- $config := deepCopy (default dict .Values.gateway.config) -}}
{{- $_ := set $config "listen_addr" "127.0.0.1:8080" -}}
{{- $_ := set $config "tls" (dict "cert_file" "/data/tls.crt" "key_file" "/data/tls.key") -}}
{{- if .Values.admin.enabled -}}
{{- $_ := set $config "admin_addr" (printf ":%d" (int .Values.admin.port)) -}}
{{- else -}}
{{- $_ := unset $config "admin_addr" -}}
{{- end -}}
{{- toYaml $config -}}
{{- end -}}

{{/* shutdown_timeout in whole seconds, rounded up (a Go duration: h, m, s, ms parts, fractions allowed). */}}
{{- define "mcp-tunnel.shutdownSeconds" -}}
{{- $total := 0.0 -}}
{{- range $part := regexFindAll "[0-9.]+(ns|us|µs|ms|h|m|s)" (toString (default "30s" .Values.gateway.config.shutdown_timeout)) -1 -}}
{{- $n := regexFind "^[0-9.]+" $part | float64 -}}
{{- if or (hasSuffix "ns" $part) (hasSuffix "us" $part) (hasSuffix "µs" $part) -}}
{{- $total = addf $total (divf $n 1000000) -}}
{{- else if hasSuffix "ms" $part -}}
{{- $total = addf $total (divf $n 1000) -}}
{{- else if hasSuffix "h" $part -}}
{{- $total = addf $total (mulf $n 3600) -}}
{{- else if hasSuffix "m" $part -}}
{{- $total = addf $total (mulf $n 60) -}}
{{- else -}}
{{- $total = addf $total $n -}}
{{- end -}}
{{- end -}}
{{- $total | ceil | int -}}
{{- end -}}

{{/* Stops the install with a message that names the value and the fix. */}}
{{- define "mcp-tunnel.validate" -}}
{{- if not .Values.image.repository -}}
{{- fail "image.repository is not set: build the image from deploy/docker/ (README: Container images), push it where the cluster pulls from, and set image.repository, pinned with image.digest, e.g. --set image.repository=registry.example.com/mcp-tunnel-proxy --set image.digest=sha256:<digest>" -}}
{{- end -}}
{{- if .Values.api.wif.tunnelId -}}
{{- fail "api.wif.tunnelId is the chart 1.x key: move its value to tunnel.id and remove api.wif.tunnelId" -}}
{{- end -}}
{{- if and (or .Values.metrics.serviceMonitor.enabled .Values.metrics.podMonitor.enabled) (not .Values.admin.enabled) -}}
{{- fail "metrics.serviceMonitor and metrics.podMonitor scrape the admin listener's /metrics: set admin.enabled=true, or turn them off" -}}
{{- end -}}
{{- if not .Values.gateway.config.routes -}}
{{- fail "gateway.config.routes is empty: add at least one route, e.g. --set gateway.config.routes.hello=http://hello-mcp:9000" -}}
{{- end -}}
{{- if .Values.setup.enabled -}}
{{- $wif := or .Values.api.wif.federationRuleId .Values.api.wif.organizationId -}}
{{- if and .Values.api.token $wif -}}
{{- fail "api.token and api.wif.* are both set: use one way to authenticate (api.token for a claude.ai Tunnels API key, api.wif.* for workload identity federation)" -}}
{{- end -}}
{{- if not (or .Values.api.token $wif) -}}
{{- fail "managed mode (setup.enabled: true) needs credentials: set api.wif.federationRuleId and api.wif.organizationId, or --set api.token=\"$API_TOKEN\"; or use external mode (setup.enabled: false)" -}}
{{- end -}}
{{- if and $wif (not (and .Values.api.wif.federationRuleId .Values.api.wif.organizationId)) -}}
{{- fail "workload identity federation needs both api.wif.federationRuleId (fdrl_…) and api.wif.organizationId (the organization UUID)" -}}
{{- end -}}
{{- else -}}
{{- if not .Values.gateway.config.tunnel_domain -}}
{{- fail "external mode (setup.enabled: false) needs gateway.config.tunnel_domain: the tunnel's domain from the Console, e.g. abcd1234.tunnel.anthropic.com" -}}
{{- end -}}
{{- if not (and .Values.external.tunnelTokenSecretName .Values.external.serverCertSecretName) -}}
{{- fail "external mode needs external.tunnelTokenSecretName and external.serverCertSecretName: the Secrets holding tunnel-token and tls.crt/tls.key" -}}
{{- end -}}
{{- end -}}
{{- end -}}
