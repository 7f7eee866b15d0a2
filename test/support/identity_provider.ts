/**
 * A local OAuth 2.1 authorization server for the tests, made of real parts: signing keys and tokens from
 * jose, its metadata (RFC 8414, at the path-inserted URL of an issuer with a path, Keycloak-shaped) and
 * JWKS served over HTTPS on loopback with a throwaway CA (the project's own certificate code, as
 * test/support/certs.ts makes the tunnel's), and a token endpoint for the client-credentials grant.
 */
import { mkdtemp, rename, writeFile } from 'node:fs/promises';
import { createServer, request as httpsRequest, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CryptoKey, type JWK, type JWTPayload, SignJWT, exportJWK, generateKeyPair } from 'jose';
import { createCertificateAuthority } from '../../src/certs/certificate_authority.ts';
import { issueServerCertificate } from '../../src/certs/server_certificate.ts';

export const REALM_PATH = '/realms/mcp';

interface SigningKey {
  readonly kid: string;
  readonly alg: string;
  readonly privateKey: CryptoKey;
  readonly jwk: JWK;
}

export interface TokenOptions {
  /** Seconds from now; negative for an expired token. Default 300. */
  readonly expiresIn?: number;
  /** Sign with this key id (default: the newest key). */
  readonly kid?: string;
  /** Name this key id in the header instead of the signing key's. */
  readonly headerKid?: string;
}

export interface TestClient {
  readonly clientId: string;
  readonly clientSecret: string;
  /** Scopes granted when the client asks for none. */
  readonly scopes: readonly string[];
}

export class TestIdentityProvider {
  readonly keys: SigningKey[] = [];
  /** Every request path the server answered, in order (discovery, JWKS and token requests). */
  readonly requests: string[] = [];
  readonly clients = new Map<string, TestClient>();
  /** Every token this IdP signed, so a test can show that none of them reached a log. */
  readonly issued: string[] = [];
  /** While true, every request is answered 503: the IdP is down. */
  down = false;
  readonly #sockets = new Set<Socket>();

  private constructor(
    readonly server: Server,
    /** The CA that signed the server certificate, as a file for `upstream.tls.ca_file`. */
    readonly caFile: string,
    readonly caPem: string,
    readonly directory: string,
  ) {}

  static async start(): Promise<TestIdentityProvider> {
    const directory = await mkdtemp(join(tmpdir(), 'mcp-proxy-idp-'));
    const ca = await createCertificateAuthority({ commonName: 'mcp-proxy test IdP CA' });
    const certificate = await issueServerCertificate(ca, { domain: 'idp.localhost', validityMs: 3_600_000, keyAlgorithm: 'ecdsa-p256', ipAddresses: ['127.0.0.1'] });
    const caFile = join(directory, 'idp-ca.pem');
    await writeFile(caFile, ca.certPem);
    const server = createServer({ cert: certificate.certPem, key: certificate.keyPem });
    const idp = new TestIdentityProvider(server, caFile, ca.certPem, directory);
    server.on('connection', (socket: Socket) => {
      idp.#sockets.add(socket);
      socket.once('close', () => idp.#sockets.delete(socket));
    });
    server.on('secureConnection', (socket: Socket) => {
      idp.#sockets.add(socket);
      socket.once('close', () => idp.#sockets.delete(socket));
    });
    server.on('request', (request: IncomingMessage, response: ServerResponse) => void idp.#answer(request, response));
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    await idp.rotate();
    return idp;
  }

  get origin(): string {
    return `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  get issuer(): string {
    return `${this.origin}${REALM_PATH}`;
  }

  get jwksUri(): string {
    return `${this.issuer}/protocol/openid-connect/certs`;
  }

  get tokenEndpoint(): string {
    return `${this.issuer}/protocol/openid-connect/token`;
  }

  /** The key set as served. */
  jwks(): { keys: JWK[] } {
    return { keys: this.keys.map((key) => key.jwk) };
  }

  /** Adds a new signing key (a new `kid`), which signs from now on; the old ones stay published. Returns its kid. */
  async rotate(alg: 'ES256' | 'RS256' = 'ES256'): Promise<string> {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    const kid = `key-${this.keys.length + 1}-${Math.random().toString(36).slice(2, 8)}`;
    const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
    this.keys.push({ kid, alg, privateKey, jwk });
    return kid;
  }

  /** A signed access token with `claims` (`iss` is this issuer unless given). */
  async token(claims: JWTPayload, options: TokenOptions = {}): Promise<string> {
    const key = options.kid ? this.keys.find((candidate) => candidate.kid === options.kid)! : this.keys.at(-1)!;
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ iss: this.issuer, iat: now, exp: now + (options.expiresIn ?? 300), ...claims })
      .setProtectedHeader({ alg: key.alg, kid: options.headerKid ?? key.kid, typ: 'at+jwt' })
      .sign(key.privateKey);
    this.issued.push(token);
    return token;
  }

  /** Writes the key set to a file (for `jwks_file`), replacing it atomically enough for a reader. */
  async writeJwksFile(): Promise<string> {
    const path = join(this.directory, 'jwks.json');
    const temporary = `${path}.tmp`;
    await writeFile(temporary, JSON.stringify(this.jwks()));
    await rename(temporary, path);
    return path;
  }

  /** Drops every open connection (keep-alive ones included), so the next fetch opens a new one. */
  dropConnections(): void {
    for (const socket of this.#sockets) socket.destroy();
  }

  async stop(): Promise<void> {
    this.dropConnections();
    await new Promise((done) => this.server.close(done));
  }

  async #answer(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = new URL(request.url ?? '/', this.origin).pathname;
    this.requests.push(path);
    const json = (status: number, body: unknown): void => {
      response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      response.end(JSON.stringify(body));
    };
    if (this.down) return json(503, { error: 'temporarily_unavailable' });
    if (path === `/.well-known/oauth-authorization-server${REALM_PATH}`) {
      return json(200, {
        issuer: this.issuer,
        jwks_uri: this.jwksUri,
        token_endpoint: this.tokenEndpoint,
        authorization_endpoint: `${this.issuer}/protocol/openid-connect/auth`,
        response_types_supported: ['code'],
        grant_types_supported: ['client_credentials', 'authorization_code'],
        token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
        code_challenge_methods_supported: ['S256'],
      });
    }
    if (path === new URL(this.jwksUri).pathname) return json(200, this.jwks());
    if (path === new URL(this.tokenEndpoint).pathname && request.method === 'POST') return this.#issue(request, json);
    json(404, { error: 'not_found' });
  }

  /** The client-credentials grant (RFC 6749 §4.4) with RFC 8707 `resource` as the audience. */
  async #issue(request: IncomingMessage, json: (status: number, body: unknown) => void): Promise<void> {
    let text = '';
    for await (const chunk of request) text += String(chunk);
    const form = new URLSearchParams(text);
    let clientId = form.get('client_id') ?? '';
    let clientSecret = form.get('client_secret') ?? '';
    const basic = /^Basic (.+)$/i.exec(request.headers.authorization ?? '');
    if (basic) {
      const [id, secret] = Buffer.from(basic[1]!, 'base64').toString().split(':');
      clientId = decodeURIComponent(id ?? '');
      clientSecret = decodeURIComponent(secret ?? '');
    }
    const client = this.clients.get(clientId);
    if (!client || client.clientSecret !== clientSecret) return json(401, { error: 'invalid_client' });
    if (form.get('grant_type') !== 'client_credentials') return json(400, { error: 'unsupported_grant_type' });
    const resource = form.get('resource');
    const scope = form.get('scope') ?? client.scopes.join(' ');
    const accessToken = await this.token({ sub: clientId, client_id: clientId, scope, ...(resource ? { aud: resource } : {}) });
    json(200, { access_token: accessToken, token_type: 'Bearer', expires_in: 300, scope });
  }
}

/**
 * `fetch` for test code that talks to the IdP directly (the MCP SDK's OAuth client, after it found the
 * issuer through the proxy): node:https trusting the IdP's CA, answered as a web `Response`.
 */
export function idpFetch(caPem: string): typeof fetch {
  return async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const method = init?.method ?? (input instanceof Request ? input.method : 'GET');
    const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
    const body = init?.body === undefined || init.body === null ? undefined : await new Response(init.body).text();
    return new Promise<Response>((resolve, reject) => {
      const outgoing = httpsRequest(url, { method, headers: Object.fromEntries(headers), ca: caPem }, (incoming) => {
        const chunks: Buffer[] = [];
        incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
        incoming.on('end', () => {
          const responseHeaders = new Headers();
          for (const [name, value] of Object.entries(incoming.headers)) if (typeof value === 'string') responseHeaders.set(name, value);
          resolve(new Response(Buffer.concat(chunks), { status: incoming.statusCode ?? 500, headers: responseHeaders }));
        });
        incoming.on('error', reject);
      });
      outgoing.on('error', reject);
      outgoing.end(body);
    });
  };
}
