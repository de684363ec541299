// Runs the real `ucrypt` binary in a private runtime directory.

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../../bin/ucrypt.js', import.meta.url));

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly exit: number;
}

export function ucrypt(dir: string, args: readonly string[], stdin?: string): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [BIN, ...args], { env: { ...process.env, UCRYPT_RUNTIME_DIR: dir }, timeout: 30000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ stdout, stderr, exit: code });
    });
    child.stdin?.end(stdin ?? '');
  });
}

export async function tempRuntime(): Promise<string> {
  return join(await mkdtemp(join(tmpdir(), 'ucrypt-test-')), 'run');
}

/** Kills whatever daemon the directory's lock names, and removes the directory. */
export async function cleanupRuntime(dir: string): Promise<void> {
  const pid = Number((await readFile(join(dir, 'daemon.pid'), 'utf8').catch(() => '')).trim());
  if (pid > 0) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await rm(join(dir, '..'), { recursive: true, force: true });
}
