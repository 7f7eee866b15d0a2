/**
 * The Tunnels API endpoints setup uses (https://platform.claude.com/docs/en/api/beta/tunnels). The two calls that are not idempotent and whose
 * duplicates count against a limit (creating a tunnel: 10 per organization; registering a CA: 2 per
 * tunnel) are never repeated blindly: after a failure that may have taken effect, the client looks for
 * the result first (by the unique display name, by the CA fingerprint) and only then tries again.
 */
import type { Logger } from '../../observability/logger.ts';
import { SetupApiError } from '../errors.ts';
import type { ApiClient } from './api_client.ts';
import { TunnelsApiError, withNote, withRequestId } from './api_failure.ts';
import {
  listSchema,
  TunnelCertificateSchema,
  TunnelSchema,
  TunnelTokenSchema,
  type Tunnel,
  type TunnelCertificate,
  type TunnelToken,
} from './schemas.ts';

/** Attempts of a non-idempotent call, each after checking that the previous one did not take effect. */
const CHECKED_ATTEMPTS = 3;
const PAGE_LIMIT = '100';
/** A bound on pagination, so a server that always returns `next_page` cannot keep us looping. */
const MAX_PAGES = 20;

export class TunnelsClient {
  constructor(
    private readonly api: ApiClient,
    private readonly logger: Logger,
    private readonly sleep: (ms: number) => Promise<void>,
  ) {}

  async getTunnel(tunnelId: string): Promise<Tunnel> {
    try {
      return await this.api.call({
        operation: `get tunnel ${tunnelId}`,
        method: 'GET',
        path: `v1/tunnels/${encodeURIComponent(tunnelId)}`,
        idempotent: true,
        schema: TunnelSchema,
      });
    } catch (error) {
      if (error instanceof TunnelsApiError && error.status === 404) {
        throw new SetupApiError(
          'TUNNEL_NOT_FOUND',
          withRequestId(
            `tunnel ${tunnelId} was not found (404): check --tunnel-id / TUNNEL_ID or the tunnel-id stored in the output, ` +
              "and that the credential belongs to the tunnel's workspace",
            error.requestId,
          ),
          { request_id: error.requestId },
        );
      }
      throw error;
    }
  }

  async createTunnel(displayName: string): Promise<Tunnel> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.api.call({
          operation: 'create tunnel',
          method: 'POST',
          path: 'v1/tunnels',
          body: { display_name: displayName },
          idempotent: false,
          schema: TunnelSchema,
        });
      } catch (error) {
        if (!(error instanceof TunnelsApiError)) throw error;
        if (/maximum of \d+ non-archived tunnels/i.test(error.body.message ?? '')) {
          throw new SetupApiError(
            'TUNNEL_LIMIT',
            withRequestId(
              `${error.body.message}: each run without a tunnel ID (and none stored in the output) creates a tunnel; ` +
                'archive unused tunnels (Console, or POST /v1/tunnels/{tunnel_id}/archive), or attach to an existing one with --tunnel-id / TUNNEL_ID',
              error.requestId,
            ),
            { request_id: error.requestId },
          );
        }
        if (!error.ambiguous) throw error;
        const created = await this.findTunnelByDisplayName(displayName);
        if (created) {
          this.logger.info('tunnel creation confirmed after an error', { tunnel_id: created.id, display_name: displayName });
          return created;
        }
        if (attempt >= CHECKED_ATTEMPTS) {
          throw withNote(
            error,
            `No tunnel named ${displayName} was found afterwards; if one appears in the Console, re-run with --tunnel-id set to its ID`,
          );
        }
        await this.sleep(1000 * attempt);
      }
    }
  }

  /** The newest tunnels come first, so one page finds a tunnel created moments ago. */
  private async findTunnelByDisplayName(displayName: string): Promise<Tunnel | undefined> {
    const page = await this.api.call({
      operation: 'list tunnels',
      method: 'GET',
      path: 'v1/tunnels',
      query: { limit: PAGE_LIMIT },
      idempotent: true,
      schema: listSchema(TunnelSchema),
    });
    return page.data.find((tunnel) => tunnel.display_name === displayName);
  }

  revealToken(tunnelId: string): Promise<TunnelToken> {
    return this.api.call({
      operation: `reveal token of tunnel ${tunnelId}`,
      method: 'POST',
      path: `v1/tunnels/${encodeURIComponent(tunnelId)}/reveal_token`,
      idempotent: true,
      schema: TunnelTokenSchema,
    });
  }

  /**
   * Repeating a rotation whose response was lost only rotates once more; the value returned last is the
   * current one, which is all setup stores.
   */
  rotateToken(tunnelId: string, reason: string): Promise<TunnelToken> {
    return this.api.call({
      operation: `rotate token of tunnel ${tunnelId}`,
      method: 'POST',
      path: `v1/tunnels/${encodeURIComponent(tunnelId)}/rotate_token`,
      body: { reason },
      idempotent: true,
      schema: TunnelTokenSchema,
    });
  }

  async listCertificates(tunnelId: string, includeArchived: boolean): Promise<TunnelCertificate[]> {
    const all: TunnelCertificate[] = [];
    let page: string | undefined;
    for (let count = 0; count < MAX_PAGES; count++) {
      const query: Record<string, string> = { include_archived: String(includeArchived), limit: PAGE_LIMIT };
      if (page !== undefined) query.page = page;
      const result = await this.api.call({
        operation: `list certificates of tunnel ${tunnelId}`,
        method: 'GET',
        path: `v1/tunnels/${encodeURIComponent(tunnelId)}/certificates`,
        query,
        idempotent: true,
        schema: listSchema(TunnelCertificateSchema),
      });
      all.push(...result.data);
      if (!result.next_page) return all;
      page = result.next_page;
    }
    return all;
  }

  async registerCertificate(tunnelId: string, caCertPem: string, fingerprint: string): Promise<TunnelCertificate> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.api.call({
          operation: `register CA certificate on tunnel ${tunnelId}`,
          method: 'POST',
          path: `v1/tunnels/${encodeURIComponent(tunnelId)}/certificates`,
          body: { ca_certificate_pem: caCertPem },
          idempotent: false,
          schema: TunnelCertificateSchema,
        });
      } catch (error) {
        if (!(error instanceof TunnelsApiError)) throw error;
        if (error.ambiguous) {
          const registered = (await this.listCertificates(tunnelId, false)).find((cert) => sameFingerprint(cert, fingerprint));
          if (registered) {
            this.logger.info('CA registration confirmed after an error', { tunnel_id: tunnelId, certificate_id: registered.id });
            return registered;
          }
          if (attempt >= CHECKED_ATTEMPTS) throw withNote(error, 'The CA was not registered; re-run setup init later');
          await this.sleep(1000 * attempt);
          continue;
        }
        if (error.status !== undefined && error.status >= 400 && error.status < 500 && error.status !== 404 && error.status !== 429) {
          // The limit's status and wording are not documented: recognise it by counting the active CAs.
          const active = await this.listCertificates(tunnelId, false);
          if (active.length >= 2) throw certificateLimit(tunnelId, active, error);
        }
        throw error;
      }
    }
  }
}

export function sameFingerprint(certificate: TunnelCertificate, fingerprint: string): boolean {
  return certificate.fingerprint.toLowerCase() === fingerprint.toLowerCase();
}

function certificateLimit(tunnelId: string, active: readonly TunnelCertificate[], error: TunnelsApiError): SetupApiError {
  const list = active
    .map((cert) => `${cert.id} (fingerprint ${cert.fingerprint.slice(0, 16)}…, expires ${cert.expires_at ?? 'never'})`)
    .join('; ');
  return new SetupApiError(
    'CERTIFICATE_LIMIT',
    withRequestId(
      `tunnel ${tunnelId} already has ${active.length} active CA certificates, the most it can hold: ${list}. ` +
        `Revoke one you no longer use (Console: the tunnel's Certificates > Revoke, or POST /v1/tunnels/${tunnelId}/certificates/{certificate_id}/archive), then re-run setup` +
        (error.body.message ? ` [server said: ${error.body.message}]` : ''),
      error.requestId,
    ),
    { request_id: error.requestId, status: error.status },
  );
}
