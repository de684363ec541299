// Fixtures for the pipeline tests: crypt targets over RAM disks in every mode, a lower device
// that can delay or fail I/O, and a deterministic random generator.

import type { BlockDevice, BlockLimits, WriteFlags, WriteZeroesFlags } from '../../src/block/device.js';
import { RamDisk } from '../../src/backends/ram/ramdisk.js';
import { splitArgs } from '../../src/dm/table.js';
import type { Target } from '../../src/dm/target.js';
import { UcryptError } from '../../src/errors.js';
import { setKcryptdWorkers } from '../../src/pipeline/crypt-pipeline.js';
import { CryptTarget, cryptTarget } from '../../src/targets/crypt/crypt.js';
import { registerBuiltinTargets } from '../../src/targets/index.js';

registerBuiltinTargets();
// Two kcryptd threads, whatever the machine (the pool a 2-core host gets by default).
setKcryptdWorkers(2);

export const MODES = {
  default: [],
  no_read_workqueue: ['no_read_workqueue'],
  no_write_workqueue: ['no_write_workqueue'],
  both: ['no_read_workqueue', 'no_write_workqueue'],
  same_cpu_crypt: ['same_cpu_crypt'],
  submit_from_crypt_cpus: ['submit_from_crypt_cpus'],
  high_priority: ['high_priority'],
} as const satisfies Record<string, readonly string[]>;
export type Mode = keyof typeof MODES;

export const CIPHERS = {
  'aes-xts-plain64': { cipher: 'aes-xts-plain64', key: '0f'.repeat(16) + 'a5'.repeat(16) + '3c'.repeat(32) },
  'capi:ecb(cipher_null)': { cipher: 'capi:ecb(cipher_null)', key: '-' },
} as const;
export type CipherName = keyof typeof CIPHERS;

/** A lower device over a RAM disk whose writes/reads can be delayed or failed. */
export class TestDisk implements BlockDevice {
  readonly ram: RamDisk;
  readonly size: number;
  readonly limits: BlockLimits;
  writeDelayMs = 0;
  failReads = false;
  failWrites = false;
  /** Lower writes completed, in completion order (byte offsets). */
  readonly completed: number[] = [];
  /** Value of completed.length when each flush reached this device. */
  readonly flushes: number[] = [];

  constructor(bytes: number) {
    this.ram = new RamDisk(bytes);
    this.size = bytes;
    this.limits = this.ram.limits;
  }

  async read(offset: number, buf: Uint8Array): Promise<void> {
    if (this.failReads) throw new UcryptError('ERR_IO', 'EIO', 'test disk: read error');
    await this.ram.read(offset, buf);
  }

  async write(offset: number, buf: Uint8Array, flags?: WriteFlags): Promise<void> {
    if (this.failWrites) throw new UcryptError('ERR_IO', 'ENOSPC', 'test disk: write error');
    if (this.writeDelayMs > 0) {
      const copy = new Uint8Array(buf);
      await new Promise((r) => setTimeout(r, this.writeDelayMs));
      await this.ram.write(offset, copy, flags);
    } else await this.ram.write(offset, buf, flags);
    this.completed.push(offset);
  }

  async flush(): Promise<void> {
    this.flushes.push(this.completed.length);
  }

  discard(offset: number, length: number): Promise<void> {
    return this.ram.discard(offset, length);
  }

  writeZeroes(offset: number, length: number, flags?: WriteZeroesFlags): Promise<void> {
    return this.ram.writeZeroes(offset, length, flags);
  }
}

/** A crypt target over `disk` with the mode's feature flags. */
export async function cryptOver(disk: BlockDevice, cipher: CipherName, mode: Mode | readonly string[]): Promise<CryptTarget> {
  const c = CIPHERS[cipher];
  const flags: readonly string[] = typeof mode === 'string' ? MODES[mode] : mode;
  const opt = flags.length ? ` ${flags.length} ${flags.join(' ')}` : '';
  const t: Target = await cryptTarget.create(splitArgs(`${c.cipher} ${c.key} 0 /dev/test 0${opt}`), {
    begin: 0,
    len: disk.size / 512,
    readOnly: false,
    getDevice: async () => ({ dev: disk, devName: '1:0', kname: 'ram0' }),
  });
  if (!(t instanceof CryptTarget)) throw new Error('not a crypt target');
  return t;
}

/** xorshift32: reproducible data and offsets. */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

export function fill(buf: Uint8Array, seed: number): Uint8Array {
  const r = rng(seed);
  for (let i = 0; i < buf.length; i += 4) {
    const v = r();
    buf[i] = v;
    buf[i + 1] = v >>> 8;
    buf[i + 2] = v >>> 16;
    buf[i + 3] = v >>> 24;
  }
  return buf;
}

/** Runs `jobs` with at most `depth` in flight (concurrent promises, like fio's iodepth). */
export async function runDepth(jobs: readonly (() => Promise<void>)[], depth: number): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < jobs.length) await jobs[next++]!();
  };
  await Promise.all(Array.from({ length: Math.min(depth, jobs.length) }, lane));
}
