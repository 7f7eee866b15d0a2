/**
 * The MCP stage of a probe: the official SDK client over Streamable HTTP performs `initialize` and
 * `tools/list` (every page), then ends the session with DELETE so the upstream does not keep it.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { VERSION } from '../version.ts';
import { createRecordingFetch, type Exchange, type Fetch } from './recording_fetch.ts';

export type McpStage = 'initialize' | 'tools/list';

export type McpObservation =
  | {
      readonly ok: true;
      readonly server: { readonly name: string; readonly version: string } | undefined;
      readonly protocolVersion: string | undefined;
      /** Tool names in the order listed; `undefined` when the server does not offer the tools capability. */
      readonly tools: readonly string[] | undefined;
      readonly initializeMs: number;
      readonly toolsListMs: number;
    }
  | { readonly ok: false; readonly stage: McpStage; readonly error: unknown; readonly exchanges: readonly Exchange[] };

export interface McpSessionOptions {
  readonly fetch: Fetch;
  readonly url: URL;
  /** Aborting rejects the request in flight with the signal's reason. */
  readonly signal: AbortSignal;
  readonly onStage: (stage: McpStage) => void;
}

/** A server that pages its tool list forever must not keep the probe going. */
const MAX_TOOL_PAGES = 100;
/** The SDK's own per-request timeout is switched off: the caller's signal is the one deadline. */
const NO_SDK_TIMEOUT_MS = 2_147_483_647;

export async function observeMcpSession(options: McpSessionOptions): Promise<McpObservation> {
  const recorder = createRecordingFetch(options.fetch);
  const transport = new StreamableHTTPClientTransport(options.url, { fetch: recorder.fetch });
  const client = new Client({ name: 'mcp-proxy-probe', version: VERSION });
  const requestOptions = { signal: options.signal, timeout: NO_SDK_TIMEOUT_MS };
  let stage: McpStage = 'initialize';
  try {
    options.onStage(stage);
    const initializeStarted = performance.now();
    await client.connect(transport, requestOptions);
    const initializeMs = performance.now() - initializeStarted;

    stage = 'tools/list';
    options.onStage(stage);
    const listStarted = performance.now();
    let tools: string[] | undefined;
    if (client.getServerCapabilities()?.tools !== undefined) {
      tools = [];
      let cursor: string | undefined;
      for (let page = 0; page < MAX_TOOL_PAGES; page++) {
        const result = await client.listTools(cursor === undefined ? {} : { cursor }, requestOptions);
        tools.push(...result.tools.map((tool) => tool.name));
        cursor = result.nextCursor;
        if (cursor === undefined) break;
      }
    }
    const toolsListMs = performance.now() - listStarted;
    const server = client.getServerVersion();
    return {
      ok: true,
      server: server === undefined ? undefined : { name: server.name, version: server.version },
      protocolVersion: transport.protocolVersion,
      tools,
      initializeMs,
      toolsListMs,
    };
  } catch (error) {
    return { ok: false, stage, error, exchanges: [...recorder.exchanges] };
  } finally {
    if (transport.sessionId !== undefined && !options.signal.aborted) {
      // Best effort: a server that does not support DELETE answers 405, which the SDK accepts.
      await transport.terminateSession().catch(() => undefined);
    }
    await client.close().catch(() => undefined);
  }
}
