/** `mcp-proxy setup …` and the binary invoked as `setup`: the setup component. */
import { createDefaultSetupDeps } from '../setup/default_deps.ts';
import { runSetup } from '../setup/run_setup.ts';
import type { Platform } from '../platform.ts';
import { versionLine } from '../version.ts';
import type { CliIo } from './io.ts';

export async function runSetupCli(argv: readonly string[], platform: Platform, io: CliIo): Promise<number> {
  return runSetup(argv, createDefaultSetupDeps({ print: io.stdout, version: versionLine(platform) }));
}
