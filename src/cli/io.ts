/** What a command writes to: the process's standard output and error on every runtime, a buffer in tests. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}
