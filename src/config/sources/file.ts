/**
 * The YAML configuration file: the first, lowest layer. The reader is injected (the runtime adapter's
 * file read), so this module does no I/O of its own and runs the same on every runtime.
 */
import { ConfigError } from '../errors.ts';
import type { ConfigSource } from '../source.ts';
import { parseConfigYaml } from '../yaml.ts';

/**
 * `readTextFile` rejects with Go's wording (`open PATH: no such file or directory`), which becomes the
 * `ConfigError`'s message unchanged.
 */
export function fileSource(path: string, readTextFile: (path: string) => Promise<string>): ConfigSource {
  return {
    name: path,
    async load() {
      let text: string;
      try {
        text = await readTextFile(path);
      } catch (error) {
        throw ConfigError.unreadable(path, error);
      }
      return parseConfigYaml(text, path);
    },
  };
}
