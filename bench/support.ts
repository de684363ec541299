// What the benchmarks that drive outside tools share: running a command, waiting for a server's
// socket, fio's nbd engine at one point, and the median of a run's samples.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; never rejects (a failure is a non-zero code). */
export function run(cmd: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { maxBuffer: 64 << 20, env: env ?? process.env }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** Runs a command and returns its stdout, or throws with its output when it fails. */
export async function must(cmd: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<string> {
  const r = await run(cmd, args, env);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** Waits (up to `tries` x 50 ms) for a path, such as a server's unix socket, to appear. */
export async function waitFor(path: string, tries = 100): Promise<void> {
  for (let i = 0; i < tries && !existsSync(path); i++) await new Promise((r) => setTimeout(r, 50));
  if (!existsSync(path)) throw new Error(`${path} did not appear`);
}

/** The middle sample (the mean of the two middle ones for an even count). */
export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export interface FioPoint {
  readonly rw: string;
  readonly bs: string;
  readonly iodepth: number;
}

export interface FioSide {
  iops: number;
  bw_bytes: number;
  total_ios: number;
  clat_ns: { mean: number };
}

/**
 * One time-based fio job with the nbd engine against `uri`; returns the side (read or write) the
 * point measures, as fio's JSON output has it.
 */
export async function fioNbd(uri: string, p: FioPoint, sizeMiB: number, runtime: number): Promise<FioSide> {
  const out = await must('fio', ['--name=bench', '--ioengine=nbd', `--uri=${uri}`, `--rw=${p.rw}`, `--bs=${p.bs}`, `--iodepth=${p.iodepth}`,
    `--size=${sizeMiB}m`, `--runtime=${runtime}`, '--time_based', '--output-format=json']);
  const j = JSON.parse(out.slice(out.indexOf('{'))) as { jobs: { read: FioSide; write: FioSide }[] };
  const job = j.jobs[0]!;
  return p.rw.includes('read') ? job.read : job.write;
}
