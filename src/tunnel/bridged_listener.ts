/**
 * What the bridged tunnel listeners (Bun, Deno) share above the single tunnel: the live tunnels and their
 * events, the inner servers per key pair, and stopping. The adapter accepts the WebSockets and supplies the
 * I/O; this decides the rest.
 */
import { TunnelBridge, type ClientLink } from './bridge.ts';
import { ConnectionRegistry } from './connection_registry.ts';
import { deadlineCheckPeriodMs } from './protocol.ts';
import { InnerServerPool, type StartInnerServer } from './inner_server_pool.ts';
import type { KeyPair, TunnelListenerOptions } from '../platform.ts';

export interface BridgedListenerIo {
  /** See `BridgeHost.headHoldBytes`. */
  readonly headHoldBytes: number;
  /** Starts a native inner server (see `StartInnerServer`). */
  readonly startInner: StartInnerServer;
}

export class BridgedTunnels {
  readonly #tunnels = new ConnectionRegistry<TunnelBridge>();
  readonly #pool: InnerServerPool;
  #accepting = true;
  #idle: (() => void) | undefined;
  /** Looks at every tunnel's deadline while there are tunnels (see `TunnelBridge.checkDeadline`). */
  #deadlineCheck: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly options: TunnelListenerOptions,
    private readonly io: BridgedListenerIo,
  ) {
    this.#pool = new InnerServerPool(options.keyPair, io.startInner);
  }

  get accepting(): boolean {
    return this.#accepting;
  }

  get size(): number {
    return this.#tunnels.size;
  }

  /** A WebSocket was accepted from `remoteAddress`: its tunnel, started, with the link `client` makes. */
  open(remoteAddress: string, client: (tunnel: TunnelBridge) => ClientLink): TunnelBridge {
    const { events, limits } = this.options;
    const tunnel = new TunnelBridge(this.#tunnels.nextId(), remoteAddress, {
      events,
      limits,
      headHoldBytes: this.io.headHoldBytes,
      innerServer: () => this.#pool.current,
      closed: (gone) => {
        this.#tunnels.delete(gone);
        if (this.#tunnels.size === 0) {
          clearInterval(this.#deadlineCheck);
          this.#deadlineCheck = undefined;
        }
        events.connectionClosed({ id: gone.id, bytesIn: gone.bytesIn, bytesOut: gone.bytesOut });
        this.#stopWhenIdle();
      },
    });
    this.#tunnels.add(tunnel);
    this.#deadlineCheck ??= setInterval(() => {
      const now = Date.now();
      this.#tunnels.forEach((live) => live.checkDeadline(now));
    }, deadlineCheckPeriodMs(limits));
    events.connectionOpened({ id: tunnel.id, remoteAddress });
    tunnel.start(client(tunnel));
    return tunnel;
  }

  /** Throws when the native server refuses the pair; the current pair is kept then. */
  setKeyPair(pair: KeyPair): void {
    this.#pool.setKeyPair(pair);
  }

  /** No new tunnels; `idle` runs, and the inner servers stop, once the last tunnel has closed. */
  stopAccepting(idle: () => void): void {
    this.#accepting = false;
    this.#idle = idle;
    this.#stopWhenIdle();
  }

  closeAll(): void {
    this.#tunnels.closeAll();
    this.#stopWhenIdle();
  }

  /** Stops the inner servers; for a listener that could not start. */
  abandon(): void {
    this.#pool.closeAll();
  }

  #stopWhenIdle(): void {
    if (this.#accepting || this.#tunnels.size > 0) return;
    this.#idle?.();
    this.#idle = undefined;
    this.#pool.closeAll();
  }
}
