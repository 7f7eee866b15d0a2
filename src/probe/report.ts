/**
 * How probe results are shown: one line per route for people (a second line with the fix on failure), and
 * a JSON document for scripts whose shape is stable (every key always present, `null` when not known).
 */
import type { RouteReport } from './probe_route.ts';

export interface ProbeRunInfo {
  readonly listenerUrl: string;
  readonly configPath: string | undefined;
  readonly tunnelDomain: string | undefined;
  readonly caPath: string;
  readonly path: string;
}

/** Bumped when a key changes meaning or goes away; added keys do not bump it. */
export const PROBE_JSON_SCHEMA_VERSION = 1;

export function formatHeader(info: ProbeRunInfo, routes: number): string {
  const count = routes === 1 ? '1 route' : `${routes} routes`;
  const from = info.configPath === undefined ? '' : `routes from ${info.configPath}, `;
  return `probing ${count} through ${info.listenerUrl} (${from}CA ${info.caPath}, path ${info.path})\n`;
}

/** `width` pads the route name so that the lines of one run line up. */
export function formatRouteLine(report: RouteReport, width = 0): string {
  const route = report.route.padEnd(width);
  if (report.healthy) {
    const server = report.server ? `${report.server.name} ${report.server.version}` : 'unnamed server';
    const protocol = report.protocolVersion ? ` (MCP ${report.protocolVersion})` : '';
    const tools = report.tools === undefined ? 'no tools capability' : toolList(report.tools);
    return `ok    ${route}  ${report.url}  ${milliseconds(report.latencyMs)}  ${server}${protocol}, ${tools}\n`;
  }
  const failure = report.failure;
  if (!failure) return `FAIL  ${route}  ${report.url}  (no diagnosis)\n`;
  return `FAIL  ${route}  ${report.url}  ${failure.code} at ${failure.stage}: ${failure.summary}\n      fix: ${failure.fix}\n`;
}

export function formatSummary(reports: readonly RouteReport[]): string {
  const healthy = reports.filter((report) => report.healthy).length;
  return `${healthy} of ${reports.length} ${reports.length === 1 ? 'route' : 'routes'} healthy\n`;
}

export function toJson(info: ProbeRunInfo, reports: readonly RouteReport[]): string {
  const document = {
    schema_version: PROBE_JSON_SCHEMA_VERSION,
    listener: info.listenerUrl,
    config: info.configPath ?? null,
    tunnel_domain: info.tunnelDomain ?? null,
    ca: info.caPath,
    path: info.path,
    healthy: reports.every((report) => report.healthy),
    routes: reports.map((report) => ({
      route: report.route,
      hostname: report.hostname,
      url: report.url,
      healthy: report.healthy,
      latency_ms: rounded(report.latencyMs),
      timings_ms: {
        websocket: rounded(report.timingsMs.websocket),
        tls: rounded(report.timingsMs.tls),
        initialize: rounded(report.timingsMs.initialize),
        tools_list: rounded(report.timingsMs.toolsList),
      },
      tls: report.tls
        ? {
            version: report.tls.version,
            alpn: report.tls.alpn ?? null,
            subject: report.tls.certificate.subject,
            issuer: report.tls.certificate.issuer,
            subject_alt_names: report.tls.certificate.subjectAltNames,
            not_before: report.tls.certificate.notBefore,
            not_after: report.tls.certificate.notAfter,
          }
        : null,
      server: report.server ?? null,
      protocol_version: report.protocolVersion ?? null,
      tools_offered: report.toolsOffered ?? null,
      tools: report.tools ?? null,
      error: report.failure
        ? { code: report.failure.code, stage: report.failure.stage, message: report.failure.summary, fix: report.failure.fix }
        : null,
    })),
  };
  return `${JSON.stringify(document, null, 2)}\n`;
}

/** The names of the first tools keep the line readable; `--json` lists them all. */
const TOOLS_SHOWN = 10;

function toolList(tools: readonly string[]): string {
  const count = tools.length === 1 ? '1 tool' : `${tools.length} tools`;
  if (tools.length === 0) return count;
  const shown = tools.slice(0, TOOLS_SHOWN).join(', ');
  return tools.length > TOOLS_SHOWN ? `${count}: ${shown}, … (${tools.length - TOOLS_SHOWN} more)` : `${count}: ${shown}`;
}

function rounded(ms: number | undefined): number | null {
  return ms === undefined ? null : Math.round(ms);
}

function milliseconds(ms: number | undefined): string {
  return ms === undefined ? '? ms' : `${Math.round(ms)} ms`;
}
