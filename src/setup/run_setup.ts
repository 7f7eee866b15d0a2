/**
 * The setup component's entry point: `setup init|renew-cert|certs [flags]` → exit code. The CLI wires
 * both `mcp-proxy setup …` and the binary invoked as `setup` here.
 */
import { VERSION } from '../version.ts';
import { runCerts } from './certs_command.ts';
import { SetupError, SetupUsageError } from './errors.ts';
import type { SetupDeps } from './deps.ts';
import { EXIT_INTERNAL, EXIT_OK } from './exit_codes.ts';
import { CERTS_HELP, INIT_HELP, RENEW_HELP, SETUP_HELP } from './help.ts';
import { runInit } from './init_command.ts';
import { certsOptions, initOptions, parseCertsFlags, parseInitFlags, parseRenewFlags, renewOptions } from './options.ts';
import { runRenewCert } from './renew_cert_command.ts';

export async function runSetup(argv: readonly string[], deps: SetupDeps): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'init': {
        const flags = parseInitFlags(rest);
        if (flags.has('help')) return help(deps, INIT_HELP);
        await runInit(await initOptions(flags, deps.env, deps.inKubernetes), deps);
        return EXIT_OK;
      }
      case 'renew-cert': {
        const flags = parseRenewFlags(rest);
        if (flags.has('help')) return help(deps, RENEW_HELP);
        await runRenewCert(await renewOptions(flags, deps.inKubernetes), deps);
        return EXIT_OK;
      }
      case 'certs': {
        const flags = parseCertsFlags(rest);
        if (flags.has('help')) return help(deps, CERTS_HELP);
        await runCerts(await certsOptions(flags, deps.env, deps.inKubernetes), deps);
        return EXIT_OK;
      }
      case 'version':
      case '--version':
      case '-version':
        deps.print(`${deps.version ?? `mcp-proxy ${VERSION}`}\n`);
        return EXIT_OK;
      case 'help':
      case '--help':
      case '-help':
      case '-h':
        return help(deps, SETUP_HELP);
      case undefined:
        throw new SetupUsageError('setup: a command is required: init, renew-cert or certs (see setup --help)');
      default:
        throw new SetupUsageError(`setup: unknown command ${JSON.stringify(command)}; use init, renew-cert or certs (see setup --help)`);
    }
  } catch (error) {
    if (error instanceof SetupError) {
      deps.logger.error('setup failed', { code: error.code, error: error.message, ...error.details });
      return error.exitCode;
    }
    deps.logger.error('setup failed', { code: 'INTERNAL', error: error instanceof Error ? error.message : String(error) });
    return EXIT_INTERNAL;
  }
}

function help(deps: SetupDeps, text: string): number {
  deps.print(text);
  return EXIT_OK;
}

