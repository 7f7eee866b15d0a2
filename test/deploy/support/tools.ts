/**
 * Command-line tools the deploy tests need from Debian (docker-compose, systemd-analyze): installed with
 * apt when missing, as scripts/test.mjs installs openssl, so the tests run on a fresh CI machine.
 */
import { spawnSync } from 'node:child_process';

function available(command: string, args: readonly string[]): boolean {
  return spawnSync(command, args, { stdio: 'ignore' }).status === 0;
}

/** Makes `command` runnable, installing `aptPackage` (after `apt-get update`) if it is not. */
export function ensureTool(command: string, versionArgs: readonly string[], aptPackage: string): void {
  if (available(command, versionArgs)) return;
  if (process.getuid?.() !== 0) {
    throw new Error(`${command} is needed by this test and is missing: sudo apt-get install -y ${aptPackage}`);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update'], ['install', '-y', '--no-install-recommends', aptPackage]]) {
    const result = spawnSync('apt-get', args, { env, encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed:\n${result.stdout}${result.stderr}`);
  }
  if (!available(command, versionArgs)) throw new Error(`${command} still does not run after installing ${aptPackage}`);
}
