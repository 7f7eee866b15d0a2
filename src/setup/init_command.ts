/**
 * `setup init` (https://platform.claude.com/docs/en/agents-and-tools/mcp-tunnels/reference): authenticate; attach to the tunnel (flag or TUNNEL_ID, else the one stored in
 * the output, else create one); make sure a CA is registered on it; issue the server certificate; reveal
 * or rotate the tunnel token; write everything.
 *
 * Re-runs are idempotent: nothing is created twice and nothing rotates unless `--token-version` changed.
 * What the API limits is written to the output as soon as it exists (a new tunnel) or before it is
 * asked for (a CA about to be registered), so an interrupted run resumes instead of creating again: the
 * next run finds the tunnel ID stored, and finds the stored CA's fingerprint registered (or registers it).
 */
import { createCertificateAuthority, type CertificateAuthority } from '../certs/certificate_authority.ts';
import { normaliseDomain } from '../certs/domain_name.ts';
import { CertificateError } from '../certs/errors.ts';
import { certificateFingerprint } from '../certs/inspect_certificate.ts';
import { generateKeyPair } from '../certs/keys.ts';
import { issueServerCertificate } from '../certs/server_certificate.ts';
import { ApiClient } from './api/api_client.ts';
import type { Tunnel } from './api/schemas.ts';
import { sameFingerprint, TunnelsClient } from './api/tunnels_client.ts';
import { authenticate } from './auth/authenticate.ts';
import { resolveCredentialConfig } from './auth/credential_config.ts';
import { httpDeps, outputDeps, type SetupDeps } from './deps.ts';
import { SetupApiError } from './errors.ts';
import type { InitOptions } from './options.ts';
import { commitState } from './output/commit_state.ts';
import { openOutput } from './output/open_output.ts';
import type { Output, Snapshot } from './output/output.ts';
import { sameState, type StoredState } from './output/stored_state.ts';
import { serverCertificateStatus } from './server_certificate_status.ts';
import { storedCa, type StoredCa } from './stored_ca.ts';
import { hex } from '../wire/bytes.ts';

/** A server certificate is re-issued by `init` once at most this fraction of `--cert-duration` remains. */
const REISSUE_FRACTION = 1 / 3;

export async function runInit(options: InitOptions, deps: SetupDeps): Promise<void> {
  const { logger } = deps;
  const credentialConfig = resolveCredentialConfig(deps.env);
  const output = await openOutput(options.output, outputDeps(deps));
  logger.info('setup init started', { output: output.description, api_url: options.apiUrl.href, auth: credentialConfig.kind });

  let snapshot = await output.read();
  const stored = snapshot.state;
  const keepStoredCa = await storedCa(stored, output.description);
  // RSA 4096 generation takes a second or more: start it now, under the network calls, when the
  // stored certificate already looks due for replacement.
  const pendingKey = (await likelyNeedsNewServerCertificate(stored, keepStoredCa?.pair, options, deps))
    ? generateKeyPair('rsa-4096')
    : undefined;
  pendingKey?.catch(() => {});

  const http = httpDeps(deps);
  const credential = await authenticate(credentialConfig, options.apiUrl, { http, files: deps.files, logger });
  const tunnels = new TunnelsClient(new ApiClient(options.apiUrl, credential, http), logger, deps.sleep);

  // Step 2: the tunnel. A new one is written down before anything else can fail.
  const { tunnel, created } = await determineTunnel(options, stored, tunnels, deps);
  const domain = tunnelDomain(tunnel);
  if (created) {
    snapshot = await commitState(output, snapshot, { ...snapshot.state, 'tunnel-id': tunnel.id, 'tunnel-domain': domain });
  }
  const tunnelChanged = stored['tunnel-id'] !== undefined && stored['tunnel-id'] !== tunnel.id;
  if (tunnelChanged) {
    logger.warn('tunnel differs from the one stored; a new CA will be created for it', {
      stored_tunnel_id: stored['tunnel-id'],
      tunnel_id: tunnel.id,
    });
  }

  // Step 3: the CA, registered on the tunnel.
  const registered = await ensureRegisteredCa({ tunnel, domain, tunnelChanged, stored: keepStoredCa }, output, snapshot, tunnels, deps);
  snapshot = registered.snapshot;
  const { ca } = registered;

  // Step 4: the server certificate.
  const tls = await serverCertificate({ stored, ca, caIsNew: registered.isNew, domain, pendingKey }, options, deps);

  // Step 5: the tunnel token.
  const sameTunnel = !created && !tunnelChanged;
  const storedVersion = sameTunnel ? stored['token-version'] : undefined;
  const rotate = options.tokenVersion !== undefined && storedVersion !== undefined && options.tokenVersion !== storedVersion;
  let token;
  if (rotate) {
    token = await tunnels.rotateToken(
      tunnel.id,
      `setup init: --token-version changed from ${JSON.stringify(storedVersion)} to ${JSON.stringify(options.tokenVersion)}`,
    );
    logger.info('tunnel token rotated', { tunnel_id: tunnel.id, token_id: token.id, token_version: options.tokenVersion });
  } else {
    token = await tunnels.revealToken(tunnel.id);
    logger.info('tunnel token revealed', { tunnel_id: tunnel.id, token_id: token.id });
  }

  // Step 6: everything, as one write.
  const next: StoredState = {
    'tunnel-id': tunnel.id,
    'tunnel-domain': domain,
    'tunnel-token': token.tunnel_token,
    'tls.crt': tls.certPem,
    'tls.key': tls.keyPem,
    'ca.crt': ca.certPem,
    'ca.key': ca.keyPem,
    'token-version': options.tokenVersion ?? storedVersion,
  };
  if (sameState(snapshot.state, next)) {
    logger.info('output unchanged', { output: output.description });
  } else {
    await commitState(output, snapshot, next);
    logger.info('output written', { output: output.description });
  }
  logger.info('setup init complete', {
    tunnel_id: tunnel.id,
    tunnel_domain: domain,
    output: output.description,
    token_action: rotate ? 'rotated' : 'revealed',
  });
}

interface TunnelFacts {
  readonly tunnel: Tunnel;
  readonly domain: string;
  readonly tunnelChanged: boolean;
  readonly stored: StoredCa | undefined;
}

/**
 * Keeps the stored CA when it belongs to this tunnel: reused if registered and active, registered if the
 * tunnel does not know it (a run stopped before registering, or a tunnel just created). A new CA is made
 * for a different tunnel, or when the stored one expired or was revoked on the tunnel. Before
 * registering, the tunnel and the CA are written to the output (the checkpoint).
 */
async function ensureRegisteredCa(
  facts: TunnelFacts,
  output: Output,
  snapshot: Snapshot,
  tunnels: TunnelsClient,
  deps: SetupDeps,
): Promise<{ ca: CertificateAuthority; isNew: boolean; snapshot: Snapshot }> {
  const { logger } = deps;
  const { tunnel } = facts;
  let ca: CertificateAuthority | undefined;
  if (facts.stored && !facts.tunnelChanged) {
    const fingerprint = await certificateFingerprint(facts.stored.pair.certPem, 'ca.crt');
    const notAfter = facts.stored.loaded.certificate.notAfter;
    if (notAfter.getTime() <= deps.now().getTime()) {
      logger.warn('stored CA has expired; creating a new one', { not_after: notAfter.toISOString() });
    } else {
      const registration = (await tunnels.listCertificates(tunnel.id, true)).find((cert) => sameFingerprint(cert, fingerprint));
      if (registration?.archived_at) {
        logger.warn('stored CA was revoked on the tunnel; creating a new one', {
          tunnel_id: tunnel.id,
          certificate_id: registration.id,
          archived_at: registration.archived_at,
        });
      } else if (registration) {
        logger.info('CA reused', { tunnel_id: tunnel.id, certificate_id: registration.id, fingerprint });
        return { ca: facts.stored.pair, isNew: false, snapshot };
      } else {
        logger.info('stored CA is not registered on the tunnel; registering it', { tunnel_id: tunnel.id, fingerprint });
        ca = facts.stored.pair;
      }
    }
  }
  const isNew = ca === undefined;
  if (ca === undefined) {
    ca = await createCertificateAuthority({ now: deps.now() });
    logger.info('CA generated', { fingerprint: await certificateFingerprint(ca.certPem, 'ca.crt') });
  }
  snapshot = await checkpoint(output, snapshot, facts, ca);
  const fingerprint = await certificateFingerprint(ca.certPem, 'ca.crt');
  const registration = await tunnels.registerCertificate(tunnel.id, ca.certPem, fingerprint);
  logger.info('CA registered', { tunnel_id: tunnel.id, certificate_id: registration.id, fingerprint });
  return { ca, isNew, snapshot };
}

/**
 * The stored server certificate while it is valid for this CA and domain and more than a third of
 * `--cert-duration` remains; otherwise a new one (with the key generation started earlier, if any).
 */
async function serverCertificate(
  facts: { stored: StoredState; ca: CertificateAuthority; caIsNew: boolean; domain: string; pendingKey: Promise<CryptoKeyPair> | undefined },
  options: InitOptions,
  deps: SetupDeps,
): Promise<{ certPem: string; keyPem: string }> {
  let reason = 'new CA';
  if (!facts.caIsNew) {
    const status = await serverCertificateStatus(facts.stored, facts.ca, facts.domain, deps.now());
    if (status.usable && status.notAfter.getTime() - deps.now().getTime() > options.certDurationMs * REISSUE_FRACTION) {
      deps.logger.info('server certificate kept', { not_after: status.notAfter.toISOString() });
      return { certPem: facts.stored['tls.crt']!, keyPem: facts.stored['tls.key']! };
    }
    reason = status.usable ? 'less than a third of --cert-duration left' : status.reason;
  }
  const issued = await issueServerCertificate(facts.ca, {
    domain: facts.domain,
    validityMs: options.certDurationMs,
    now: deps.now(),
    keyPair: await (facts.pendingKey ?? generateKeyPair('rsa-4096')),
  });
  deps.logger.info('server certificate issued', { domain: facts.domain, not_after: issued.notAfter.toISOString(), reason });
  return issued;
}

async function determineTunnel(
  options: InitOptions,
  stored: StoredState,
  tunnels: TunnelsClient,
  deps: SetupDeps,
): Promise<{ tunnel: Tunnel; created: boolean }> {
  const source = options.tunnelId !== undefined ? 'flag or TUNNEL_ID' : stored['tunnel-id'] !== undefined ? 'output' : undefined;
  const id = options.tunnelId ?? stored['tunnel-id'];
  if (id === undefined) {
    const displayName = `mcp-tunnel-${randomHex(4)}`;
    const tunnel = await tunnels.createTunnel(displayName);
    deps.logger.info('tunnel created', { tunnel_id: tunnel.id, tunnel_domain: tunnel.domain, display_name: displayName });
    return { tunnel, created: true };
  }
  const tunnel = await tunnels.getTunnel(id);
  if (tunnel.archived_at) {
    throw new SetupApiError(
      'TUNNEL_ARCHIVED',
      `tunnel ${id} (from the ${source}) was archived at ${tunnel.archived_at} and can never carry traffic again; ` +
        'attach to another tunnel with --tunnel-id / TUNNEL_ID, or start from an empty output to create a new one',
    );
  }
  deps.logger.info('tunnel attached', { tunnel_id: tunnel.id, tunnel_domain: tunnel.domain, source });
  return { tunnel, created: false };
}

function tunnelDomain(tunnel: Tunnel): string {
  try {
    return normaliseDomain(tunnel.domain);
  } catch (error) {
    if (!(error instanceof CertificateError)) throw error;
    throw new SetupApiError('API_BAD_RESPONSE', `tunnel ${tunnel.id} has domain ${JSON.stringify(tunnel.domain)}, which is not a DNS name; check --api-url`);
  }
}

/**
 * Stores the tunnel and the CA before the CA is registered, so an interrupted run resumes with them.
 * When the tunnel changed, the old tunnel's token version is dropped: it means nothing for the new one.
 */
async function checkpoint(output: Output, snapshot: Snapshot, facts: TunnelFacts, ca: CertificateAuthority): Promise<Snapshot> {
  const next: StoredState = {
    ...snapshot.state,
    'tunnel-id': facts.tunnel.id,
    'tunnel-domain': facts.domain,
    'ca.crt': ca.certPem,
    'ca.key': ca.keyPem,
  };
  if (facts.tunnelChanged) delete next['token-version'];
  return commitState(output, snapshot, next);
}

/** Judged from the output alone, before any API call: whether a new server key will be needed. */
async function likelyNeedsNewServerCertificate(
  stored: StoredState,
  ca: CertificateAuthority | undefined,
  options: InitOptions,
  deps: SetupDeps,
): Promise<boolean> {
  const domain = stored['tunnel-domain'];
  if (ca === undefined || domain === undefined) return true;
  if (options.tunnelId !== undefined && options.tunnelId !== stored['tunnel-id']) return true;
  const status = await serverCertificateStatus(stored, ca, domain, deps.now());
  return !status.usable || status.notAfter.getTime() - deps.now().getTime() <= options.certDurationMs * REISSUE_FRACTION;
}

function randomHex(bytes: number): string {
  return hex(crypto.getRandomValues(new Uint8Array(bytes)));
}
