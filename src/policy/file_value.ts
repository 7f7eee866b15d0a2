/**
 * A value a policy reads from a file (an upstream API key), kept fresh without a watcher to close: the
 * file is read again, in the background, when the value is used and was last read more than
 * `FILE_RECHECK_MS` ago. The state that holds it is an immutable value swapped whole on reload, and this
 * keeps it that way. A read that fails, or finds an unusable value, keeps the previous value and says why.
 */
import { isHeaderValue } from '../config/policies.ts';

export const FILE_RECHECK_MS = 10_000;

export interface FileValuePorts {
  readonly readTextFile: (path: string) => Promise<string>;
  readonly now: () => number;
}

export class FileValue {
  readonly path: string;
  readonly #ports: FileValuePorts;
  #value: string;
  #readAt: number;
  #reading = false;

  private constructor(path: string, value: string, ports: FileValuePorts) {
    this.path = path;
    this.#value = value;
    this.#ports = ports;
    this.#readAt = ports.now();
  }

  /** Reads the file; throws (with the reader's words) when it cannot be read or holds no usable value. */
  static async read(path: string, ports: FileValuePorts): Promise<FileValue> {
    return new FileValue(path, await readValue(path, ports), ports);
  }

  /** The value held now; starts a re-read when it is due. `refreshFailed` hears why a re-read kept the old value. */
  current(refreshFailed: (error: unknown) => void): string {
    if (!this.#reading && this.#ports.now() - this.#readAt >= FILE_RECHECK_MS) {
      this.#reading = true;
      readValue(this.path, this.#ports)
        .then((value) => void (this.#value = value), refreshFailed)
        .finally(() => {
          this.#reading = false;
          this.#readAt = this.#ports.now();
        });
    }
    return this.#value;
  }
}

/** The file's text without surrounding whitespace (a trailing newline, typically). */
async function readValue(path: string, ports: FileValuePorts): Promise<string> {
  const value = (await ports.readTextFile(path)).trim();
  if (!isHeaderValue(value)) throw new Error(`${path}: the content is empty or has line breaks or control characters, so it cannot be a header value`);
  return value;
}
