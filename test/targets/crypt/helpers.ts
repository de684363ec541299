// Shared helpers for the crypt target tests: a RAM disk standing in for /dev/ram0, a target
// context like the registry's, the kernel capture's keys and plaintext, and a constructor
// wrapper that returns the kernel-style error instead of throwing.

import { RamDisk } from '../../../src/backends/ram/ramdisk.js';
import type { Target, TargetContext } from '../../../src/dm/target.js';
import { UcryptError } from '../../../src/errors.js';
import { cryptTarget } from '../../../src/targets/crypt/crypt.js';
import { splitArgs } from '../../../src/dm/table.js';
import { registerBuiltinTargets } from '../../../src/targets/index.js';

// Registers the crypto algorithms the crypt target resolves by name, as the registry does.
registerBuiltinTargets();

/** k(n): the n bytes 00 01 02 ... (byte i = i mod 256), as the kernel capture's keys. */
export function k(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = i % 256;
  return b;
}

export function khex(n: number): string {
  return k(n).toString('hex');
}

/** The capture's plaintext: byte i = (i * 31 + (i >> 9) * 7 + 13) & 0xff. */
export function capturePlaintext(length = 65536): Buffer {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) b[i] = (i * 31 + (i >> 9) * 7 + 13) & 0xff;
  return b;
}

export interface Disk {
  readonly disk: RamDisk;
  ctx(len: number): TargetContext;
}

/** A 1 MiB RAM disk known as `1:0` / `/dev/ram0`; other paths fail like a missing device. */
export function ramdisk(bytes = 1 << 20): Disk {
  const disk = new RamDisk(bytes);
  return {
    disk,
    ctx: (len) => ({
      begin: 0,
      len,
      readOnly: false,
      getDevice: async (path: string) => {
        if (path !== '/dev/ram0' && path !== '1:0') throw new UcryptError('ERR_NO_DEVICE', 'ENODEV', `${path}: no such device`);
        return { dev: disk, devName: '1:0', kname: 'ram0' };
      },
    }),
  };
}

export type CtrResult = { ok: true; target: Target } | { ok: false; message: string; errno: string };

/** Builds a crypt target from the parameter text of a table line (after `crypt`). */
export async function ctr(params: string, len = 16, d: Disk = ramdisk()): Promise<CtrResult> {
  try {
    return { ok: true, target: await cryptTarget.create(splitArgs(params), d.ctx(len)) };
  } catch (e) {
    if (e instanceof UcryptError) return { ok: false, message: e.message, errno: e.errno };
    throw e;
  }
}

/** The same, asserting success. */
export async function mustCtr(params: string, len = 16, d: Disk = ramdisk()): Promise<Target> {
  const r = await ctr(params, len, d);
  if (!r.ok) throw new Error(`crypt ${params.replace(/[0-9a-f]{40,}/g, '<key>')}: ${r.message} (-${r.errno})`);
  return r.target;
}
