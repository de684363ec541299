// Runs CLI commands in-process against a Registry (no daemon), capturing what they print.

import { Registry } from '../../src/dm/registry.js';
import type { CliIO } from '../../src/cli/io.js';
import { localControl } from '../../src/cli/io.js';
import { runCli } from '../../src/cli/main.js';

export interface CliResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly exit: number;
}

export function memoryIO(registry: Registry, stdin = ''): CliIO & { stdout: string; stderr: string } {
  const control = localControl(registry);
  const io = {
    stdout: '',
    stderr: '',
    out(t: string) {
      io.stdout += t;
    },
    err(t: string) {
      io.stderr += t;
    },
    readStdin: async () => stdin,
    control: async () => control,
    env: {},
  };
  return io;
}

/** `ucrypt <argv...>` against `registry`, with `stdin` as standard input. */
export async function cli(registry: Registry, argv: readonly string[], stdin = ''): Promise<CliResult> {
  const io = memoryIO(registry, stdin);
  const exit = await runCli(argv, io);
  return { stdout: io.stdout, stderr: io.stderr, exit };
}

/** Log lines the registry printed since `mark`, without dmesg's time prefix. */
export function logSince(registry: Registry, mark: number): string[] {
  return registry.dmesg().slice(mark).map((l) => l.replace(/^\[[ \d.]+\] /, ''));
}

export { Registry };
