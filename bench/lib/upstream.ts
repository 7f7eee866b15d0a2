/** Starts bench/lib/upstream_server.ts in a process of its own and learns its port. */
import { join } from 'node:path';
import { ROOT } from '../../test/support/runtimes.ts';
import { spawnToFile, stopProcess, waitForLine, withOpenFileLimit, type Spawned } from './processes.ts';

export interface RunningUpstream {
  readonly port: number;
  readonly process: Spawned;
  stop(): Promise<void>;
}

export async function startUpstream(directory: string, openFiles?: number): Promise<RunningUpstream> {
  let command = [process.execPath, '--import', 'tsx', join(ROOT, 'bench/lib/upstream_server.ts')];
  if (openFiles) command = withOpenFileLimit(command, openFiles);
  const spawned = spawnToFile(command, join(directory, 'upstream.log'), { cwd: ROOT });
  const port = await waitForLine(spawned, (line) => /^listening (\d+)$/.exec(line)?.[1]);
  return { port: Number(port), process: spawned, stop: () => stopProcess(spawned) };
}
