// The seed experiment (Ignat Korchagin, "dm crypt: add flags to optionally bypass kcryptd
// workqueues", dm-devel, July 2020; Linux 5.8-rc2, 4 vCPU VM): a 4 GiB brd RAM disk, three
// crypt devices on it with the null cipher (default, no_write_workqueue, no_read_workqueue),
// and fio 4k direct sequential reads then writes on ram0 and on each device:
//
//   modprobe brd rd_nr=1 rd_size=4194304
//   echo '0 8388608 crypt capi:ecb(cipher_null) - 0 /dev/ram0 0' | dmsetup create eram0
//   echo '0 8388608 crypt capi:ecb(cipher_null) - 0 /dev/ram0 0 1 no_write_workqueue' | dmsetup create eram0-inline-write
//   echo '0 8388608 crypt capi:ecb(cipher_null) - 0 /dev/ram0 0 1 no_read_workqueue' | dmsetup create eram0-inline-read
//   fio --filename=$dev --readwrite=read|write --bs=4k --direct=1 --loops=1000000 --runtime=3m --name=plain
//
// runSeed builds that stack in a private daemon (NBD engine: the device path a user has) or in
// this process (inprocess engine), runs the eight jobs and returns their figures.

import { randomBytes } from 'node:crypto';
import type { Control } from '../cli/io.js';
import { Registry } from '../dm/registry.js';
import type { FioRun } from './fio.js';
import { runFio } from './fio.js';
import type { IoEngineName } from './options.js';
import { parseFioArgs } from './options.js';
import { groupLine } from './report.js';

export const SEED_RD_SIZE_KIB = 4194304;
export const SEED_SECTORS = 8388608;
export const NULL_CIPHER = 'capi:ecb(cipher_null)';

export interface SeedDevice {
  /** The path fio is given. */
  readonly path: string;
  /** The name in the seed's table, with the flag it tests. */
  readonly label: string;
  /** Feature arguments after the device offset (`1 no_write_workqueue`). */
  readonly features: string;
  /** The published result, MiB/s. */
  readonly published: { readonly read: number; readonly write: number };
}

/** The seed's devices in its order, with its published figures (MiB/s). */
export const SEED_DEVICES: readonly SeedDevice[] = [
  { path: '/dev/ram0', label: '/dev/ram0', features: '', published: { read: 508, write: 516 } },
  { path: '/dev/mapper/eram0', label: 'eram0 (default)', features: '', published: { read: 80.6, write: 40.4 } },
  { path: '/dev/mapper/eram0-inline-read', label: 'eram0-inline-read (no_read_workqueue)', features: ' 1 no_read_workqueue', published: { read: 295, write: 38.9 } },
  { path: '/dev/mapper/eram0-inline-write', label: 'eram0-inline-write (no_write_workqueue)', features: ' 1 no_write_workqueue', published: { read: 114, write: 277 } },
];

/** The crypt table of a seed device with the given cipher and key (`-` for the null cipher). */
export function seedTable(dev: SeedDevice, cipher: string, keyHex: string): string {
  return `0 ${SEED_SECTORS} crypt ${cipher} ${keyHex} 0 /dev/ram0 0${dev.features}`;
}

/** A cipher's key: `-` for the null cipher, else random bytes (64 for XTS, 32 otherwise). */
export function seedKey(cipher: string): string {
  if (cipher.includes('cipher_null')) return '-';
  return randomBytes(/xts/.test(cipher) ? 64 : 32).toString('hex');
}

export interface SeedFigure {
  /** MiB/s (fio's group bw). */
  readonly mibs: number;
  readonly iops: number;
  /** Mean completion latency, microseconds per I/O. */
  readonly clatUs: number;
  readonly ios: number;
  readonly runtimeMs: number;
  /** The fio group line (what the seed script greps). */
  readonly line: string;
}

export interface SeedRow {
  readonly device: SeedDevice;
  readonly read: SeedFigure;
  readonly write: SeedFigure;
}

export interface SeedEngineResult {
  readonly engine: IoEngineName;
  readonly rows: SeedRow[];
}

export interface SeedOptions {
  /** fio's --runtime for each job (`10`, `0.3`, `500ms`). */
  readonly runtime: string;
  readonly cipher: string;
  readonly bs?: string;
  readonly iodepth?: number;
  /** Each finished job's grep line, as the seed script prints it. */
  readonly onLine?: (text: string) => void;
  /** Ends the run early (the caller then tears the stack down). */
  readonly signal?: AbortSignal;
}

/** Where a seed run's jobs go: a registry in this process, or the daemon behind `control`. */
export type SeedStack = { readonly engine: 'inprocess'; readonly registry: Registry } | { readonly engine: 'nbd'; readonly control: () => Promise<Control> };

function figure(run: FioRun, dir: 'read' | 'write'): SeedFigure {
  const g = run.group[dir];
  const r = run.results[0];
  if (run.failed || !g || !r) throw new Error(`fio failed: ${run.errors.join('; ') || 'no I/O'}`);
  const d = r[dir];
  return {
    mibs: g.agg / 1048576,
    iops: d.runtimeMs > 0 ? (d.ios * 1000) / d.runtimeMs : 0,
    clatUs: d.clat.stat.mean / 1000,
    ios: d.ios,
    runtimeMs: g.maxRun,
    line: groupLine(dir === 'read' ? 'READ' : 'WRITE', g),
  };
}

/** Runs the seed's reads then writes on each device of `stack` (which must hold them already). */
export async function runSeedJobs(stack: SeedStack, opts: SeedOptions): Promise<SeedEngineResult> {
  const results = new Map<string, { read?: SeedFigure; write?: SeedFigure }>();
  for (const dir of ['read', 'write'] as const) {
    for (const dev of SEED_DEVICES) {
      opts.onLine?.(`${dir === 'read' ? 'reading from' : 'writing to'} ${dev.path}\n`);
      const args = parseFioArgs([
        `--filename=${dev.path}`,
        `--readwrite=${dir}`,
        `--bs=${opts.bs ?? '4k'}`,
        '--direct=1',
        `--iodepth=${opts.iodepth ?? 1}`,
        '--loops=1000000',
        `--runtime=${opts.runtime}`,
        '--name=plain',
        `--ioengine=${stack.engine}`,
      ]);
      const sig = opts.signal ? { signal: opts.signal } : {};
      const run = await runFio(args, stack.engine === 'inprocess' ? { registry: stack.registry, ...sig } : { control: stack.control, ...sig });
      if (opts.signal?.aborted) throw new Error('interrupted');
      const f = figure(run, dir);
      opts.onLine?.(`${f.line}\n`);
      const entry = results.get(dev.path) ?? {};
      entry[dir] = f;
      results.set(dev.path, entry);
    }
  }
  return { engine: stack.engine, rows: SEED_DEVICES.map((device) => ({ device, read: results.get(device.path)!.read!, write: results.get(device.path)!.write! })) };
}

/** Builds the seed's RAM disk and three crypt devices in a fresh in-process registry. */
export async function seedRegistry(cipher: string, key: string): Promise<Registry> {
  const reg = new Registry();
  reg.modprobeBrd({ rd_nr: 1, rd_size: SEED_RD_SIZE_KIB });
  for (const dev of SEED_DEVICES.slice(1)) await reg.create(dev.path.slice('/dev/mapper/'.length), { table: seedTable(dev, cipher, key) });
  return reg;
}

/** Ratio of each row to the first (ram0), per direction. */
export function ratios(rows: readonly { read: number; write: number }[]): { read: number; write: number }[] {
  const base = rows[0]!;
  return rows.map((r) => ({ read: base.read > 0 ? r.read / base.read : 0, write: base.write > 0 ? r.write / base.write : 0 }));
}
