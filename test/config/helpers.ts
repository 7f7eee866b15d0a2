import { ConfigError, type ConfigIssue } from '../../src/config/errors.ts';
import { loadConfig } from '../../src/config/load.ts';
import { envSource } from '../../src/config/sources/env.ts';
import { fileSource } from '../../src/config/sources/file.ts';
import { flagSource } from '../../src/config/sources/flags.ts';
import type { ProxyConfig } from '../../src/config/types.ts';

export const CONFIG_PATH = '/etc/mcp-gateway/config.yaml';

/** A reader over in-memory files, failing with Go's wording like the runtime adapter's. */
export function memoryReader(files: Readonly<Record<string, string>>): (path: string) => Promise<string> {
  return async (path) => {
    const text = files[path];
    if (text === undefined) throw new Error(`open ${path}: no such file or directory`);
    return text;
  };
}

export interface Layers {
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly tunnelDomain?: string;
}

export function loadYaml(text: string, layers: Layers = {}): Promise<ProxyConfig> {
  return loadConfig([
    fileSource(CONFIG_PATH, memoryReader({ [CONFIG_PATH]: text })),
    envSource(layers.env ?? {}),
    flagSource(layers.tunnelDomain === undefined ? {} : { tunnelDomain: layers.tunnelDomain }),
  ]);
}

/** The issues of the ConfigError that loading `text` throws; fails the test if it does not throw one. */
export async function issuesOf(text: string, layers: Layers = {}): Promise<readonly ConfigIssue[]> {
  try {
    await loadYaml(text, layers);
  } catch (error) {
    if (error instanceof ConfigError) return error.issues;
    throw error;
  }
  throw new Error('expected a ConfigError, but the configuration loaded');
}

export async function errorOf(text: string, layers: Layers = {}): Promise<ConfigError> {
  try {
    await loadYaml(text, layers);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError, but the configuration loaded');
}

/** Every required key but `routes`; tests append routes and whatever else they vary. */
export const BASE = [
  'listen_addr: ":8080"',
  'tunnel_domain: abcd1234.tunnel.anthropic.com',
  'tls:',
  '  cert_file: /data/tls.crt',
  '  key_file: /data/tls.key',
  '',
].join('\n');

export const ECHO_ROUTE = 'routes:\n  echo: http://hello-mcp:9000\n';
