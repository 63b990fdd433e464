/**
 * The contract every `verigate <command>` module implements, so commands can be tested in-process
 * (write to buffers, read the exit code) and run for real from `verigate.ts`.
 * Exit codes [docs/reference.md "Exit codes"]: 0 ok, 1 a check failed, 2 bad usage or config.
 */
export interface CliIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
}

export type CliCommand = (args: readonly string[], io: CliIo) => Promise<number>;

export const EXIT_OK = 0;
export const EXIT_CHECK_FAILED = 1;
export const EXIT_USAGE = 2;

export function processIo(): CliIo {
  return {
    out: (line) => process.stdout.write(line + '\n'),
    err: (line) => process.stderr.write(line + '\n'),
    env: process.env,
    cwd: process.cwd(),
  };
}

/** Collects output in memory: for tests of command modules. */
export function memoryIo(
  env: NodeJS.ProcessEnv = {},
  cwd = process.cwd(),
): CliIo & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { out: (l) => stdout.push(l), err: (l) => stderr.push(l), env, cwd, stdout, stderr };
}
