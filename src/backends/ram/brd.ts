// The brd "module": `modprobe brd rd_nr=N rd_size=KIB` creates /dev/ram0..N-1 (block major 1,
// minor N), `rmmod brd` removes them unless one is in use (drivers/block/brd.c).

import { UcryptError } from '../../errors.js';
import { RamDisk, PAGE_SIZE } from './ramdisk.js';

/** Defaults of Debian's kernel config (CONFIG_BLK_DEV_RAM_COUNT, CONFIG_BLK_DEV_RAM_SIZE in KiB). */
export const BRD_DEFAULTS = { rd_nr: 16, rd_size: 16384 } as const;

export interface BrdParams {
  readonly rd_nr: number;
  /** Size of each disk in KiB. */
  readonly rd_size: number;
}

/** Parses modprobe-style `key=value` module parameters; unknown keys are refused. */
export function parseBrdParams(args: readonly string[]): BrdParams {
  const out: { rd_nr: number; rd_size: number } = { ...BRD_DEFAULTS };
  for (const arg of args) {
    const eq = arg.indexOf('=');
    const key = eq < 0 ? arg : arg.slice(0, eq);
    const value = eq < 0 ? '' : arg.slice(eq + 1);
    if (key !== 'rd_nr' && key !== 'rd_size' && key !== 'max_part') {
      throw new UcryptError('ERR_BRD', 'EINVAL', `brd: unknown parameter '${key}'; known parameters are: rd_nr, rd_size, max_part`);
    }
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
      throw new UcryptError('ERR_BRD', 'EINVAL', `brd: '${value}' invalid for parameter '${key}' (expected a non-negative integer)`);
    }
    if (key !== 'max_part') out[key] = Number(value);
  }
  if (out.rd_nr < 1 || out.rd_nr > 1 << 20) throw new UcryptError('ERR_BRD', 'EINVAL', `brd: rd_nr=${out.rd_nr} must be between 1 and ${1 << 20}`);
  if (out.rd_size < 4 || (out.rd_size * 1024) % PAGE_SIZE !== 0) {
    throw new UcryptError('ERR_BRD', 'EINVAL', `brd: rd_size=${out.rd_size} KiB must be a positive multiple of ${PAGE_SIZE / 1024} KiB`);
  }
  return out;
}

export function createRamDisks(params: BrdParams): RamDisk[] {
  const disks: RamDisk[] = [];
  for (let i = 0; i < params.rd_nr; i++) disks.push(new RamDisk(params.rd_size * 1024));
  return disks;
}
