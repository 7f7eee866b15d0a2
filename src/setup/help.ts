/** `--help` texts of the setup commands: flags, environment, examples, exit codes. */
import { formatFlags } from './arguments.ts';
import { CERTS_FLAGS, INIT_FLAGS, RENEW_FLAGS } from './options.ts';

const EXIT_CODES = `Exit codes:
  0  done (renew-cert: also when no renewal was needed)
  1  internal error
  2  bad flags or environment (nothing contacted, nothing written)
  3  credentials refused (identity token, token exchange, or 401/403 from the API)
  4  Tunnels API refused or failed (limits, unknown or archived tunnel, unavailable)
  5  output unreadable, unwritable, unusable, or changed by another writer
     (certs: also when it already holds a CA or key pair and --overwrite is not given)`;

export const SETUP_HELP = `Usage: setup <command> [flags]
       setup --version

Provisions an MCP tunnel stack: the tunnel, its token, the CA registered on it and the
proxy's server certificate, written to a directory or a Kubernetes Secret.

Commands:
  init         authenticate, attach to or create the tunnel, register the CA, issue the
               server certificate, reveal or rotate the token, write everything
  renew-cert   re-sign the server certificate with the stored CA (no API calls)
  certs        make a CA and a server certificate for a tunnel set up by hand, to register
               on the tunnel yourself (no API calls)

Run "setup <command> --help" for its flags.
`;

export const INIT_HELP = `Usage: setup init [flags]

Flags:
${formatFlags(INIT_FLAGS)}

Environment:
  API_URL                          fallback for --api-url
  TUNNEL_ID                        fallback for --tunnel-id
  API_TOKEN                        claude.ai Tunnels API key (API-key mode)
  ANTHROPIC_FEDERATION_RULE_ID     fdrl_… (workload identity federation)
  ANTHROPIC_ORGANIZATION_ID        organization UUID (federation)
  ANTHROPIC_IDENTITY_TOKEN_FILE    path of the OIDC token, re-read every run (federation)
  ANTHROPIC_IDENTITY_TOKEN         the OIDC token itself (federation; exactly one of the two)
  ANTHROPIC_WORKSPACE_ID           wrkspc_… or "default" (optional, both modes)
  ANTHROPIC_SERVICE_ACCOUNT_ID     svac_… (optional; derived from the rule when unset)
  API_TOKEN and the ANTHROPIC_* federation variables are mutually exclusive. An empty
  variable counts as unset.

Stored items (file names for dir:, keys for k8s-secret:):
  tunnel-id, tunnel-domain, tunnel-token, tls.crt, tls.key, ca.crt, ca.key, token-version

Examples:
  setup init --api-url=https://api.anthropic.com --output=dir:/data --token-version=1
  setup init --api-url=https://api.anthropic.com --tunnel-id=tnl_01abc --output=k8s-secret:mcp-tunnel
  setup init --api-url=https://api.anthropic.com --output=dir:/data --token-version=2   # rotates the token

${EXIT_CODES}
`;

export const RENEW_HELP = `Usage: setup renew-cert [flags]

Signs a new server key and certificate with the CA stored in the output. Makes no API calls
and needs no credentials, only access to the output.

Flags:
${formatFlags(RENEW_FLAGS)}

Examples:
  setup renew-cert --output=dir:/data
  setup renew-cert --output=dir:/data --renew-before=720h     # no-op while more than 30 days remain
  setup renew-cert --output=k8s-secret:mcp-tunnel --renew-before=720h

${EXIT_CODES}
`;

export const CERTS_HELP = `Usage: setup certs --tunnel-domain=DOMAIN --output=DEST [flags]

Makes the credentials of a tunnel set up by hand (Console, no programmatic access), with
the profile setup init uses: a CA (ECDSA P-256, five years; BasicConstraints CA:TRUE and
KeyUsage keyCertSign, cRLSign, both critical; SubjectKeyIdentifier) and a server
certificate signed by it (RSA 4096, --cert-duration; SAN DOMAIN and *.DOMAIN;
AuthorityKeyIdentifier = the CA's SubjectKeyIdentifier; KeyUsage digitalSignature,
keyEncipherment; ExtendedKeyUsage serverAuth). Makes no API calls.

Writes ca.crt, ca.key (0600), tls.crt, tls.key (0640) and tunnel-domain in one atomic
write, so "setup renew-cert" on the same output renews the server certificate later. A
CA or key pair already in the output is kept unless --overwrite is given.

Then: register ca.crt on the tunnel (Console: Add certificate; the fingerprint it lists
is the ca_fingerprint logged here), point tls.cert_file and tls.key_file at tls.crt and
tls.key, and keep ca.key away from the proxy if you can: only renewal needs it.

Flags:
${formatFlags(CERTS_FLAGS)}

Environment:
  TUNNEL_DOMAIN   fallback for --tunnel-domain

Examples:
  setup certs --tunnel-domain=abcd1234.tunnel.anthropic.com --output=dir:/data
  setup renew-cert --output=dir:/data --renew-before=720h     # later, cron-safe

${EXIT_CODES}
`;
