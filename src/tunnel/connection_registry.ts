/**
 * Tunnel connection bookkeeping shared by every runtime adapter: sequence numbers for log correlation,
 * and the set of live connections so that shutdown can close whatever is left.
 */

export interface Closable {
  close(): void;
}

export class ConnectionRegistry<T extends Closable> {
  #next = 1;
  readonly #live = new Set<T>();

  nextId(): number {
    return this.#next++;
  }

  add(connection: T): void {
    this.#live.add(connection);
  }

  delete(connection: T): void {
    this.#live.delete(connection);
  }

  get size(): number {
    return this.#live.size;
  }

  forEach(visit: (connection: T) => void): void {
    for (const connection of this.#live) visit(connection);
  }

  closeAll(): void {
    for (const connection of [...this.#live]) connection.close();
  }
}
