// The flakey target (drivers/md/dm-flakey.c, version 1.5.0 as in Linux 6.18+/7.x):
//
//   <dev_path> <offset> <up interval> <down interval> [<num_features> [<feature arguments>]]
//
// The device is reliable for <up interval> seconds, then unreliable for <down interval> seconds,
// repeatedly, counted from when the table was loaded. While down, by feature:
//   error_reads                  reads fail (EIO)
//   drop_writes                  writes (and discards, write-zeroes, flushes) are ignored, reported done
//   error_writes                 writes (and discards, write-zeroes, flushes) fail (EIO)
//   corrupt_bio_byte <Nth_byte> <r|w> <value> <flags>
//                                byte N (from 1) of matching reads/writes is set to <value>
//                                (<flags>: only I/Os whose bi_opf has all these bits; see opfOf)
//   random_read_corrupt <p>      with probability p/1e9 a random byte of a read gets a random value
//   random_write_corrupt <p>     the same for the data written (the caller's buffer is untouched)
// Without features every I/O fails while down (error_reads + error_writes, as the kernel sets).
// Randomness comes from the seeded PRNG in fault-env.ts, time from its injectable clock.

import { SECTOR_SHIFT } from '../../block/device.js';
import type { BlockDevice, WriteFlags, WriteZeroesFlags } from '../../block/device.js';
import { parseSector } from '../../dm/table.js';
import type { DeviceArea, DeviceRef, StatusType, Target, TargetContext, TargetType } from '../../dm/target.js';
import { targetError } from '../../dm/target.js';
import { errnoOf, UcryptError } from '../../errors.js';
import { faultClock, type FaultRandom, parseUint, targetRandom } from './fault-env.js';

const UINT_MAX = 0xffffffff;
const PROBABILITY_BASE = 1_000_000_000;

/** bi_opf bits (include/linux/blk_types.h, 6.x): REQ_OP_WRITE, REQ_SYNC, REQ_FUA, REQ_PREFLUSH. */
export const REQ_OP_WRITE = 1;
export const REQ_SYNC = 1 << 11;
export const REQ_FUA = 1 << 17;
export const REQ_PREFLUSH = 1 << 18;

/** The bi_opf a read (0) or write gets here: FUA writes carry REQ_SYNC | REQ_FUA. */
function opfOf(write: boolean, fua: boolean): number {
  if (!write) return 0;
  return fua ? (REQ_OP_WRITE | REQ_SYNC | REQ_FUA) >>> 0 : REQ_OP_WRITE;
}

function ioError(op: string): UcryptError {
  return new UcryptError('ERR_IO', 'EIO', `${op}: I/O error (flakey target is down)`);
}

interface Features {
  errorReads: boolean;
  dropWrites: boolean;
  errorWrites: boolean;
  corruptBioByte: number;
  corruptWrite: boolean;
  corruptValue: number;
  corruptFlags: number;
  randomReadCorrupt: number;
  randomWriteCorrupt: number;
}

/** A dm_arg_set: the remaining arguments, shifted one by one. */
class ArgSet {
  private i = 0;
  constructor(private readonly argv: readonly string[]) {}
  get argc(): number {
    return this.argv.length - this.i;
  }
  shift(): string | undefined {
    return this.i < this.argv.length ? this.argv[this.i++] : undefined;
  }
  /** dm_read_arg / dm_read_arg_group (grouped: the value may not exceed the arguments left). */
  read(min: number, max: number, error: string, grouped = false): number {
    const v = parseUint(this.shift());
    if (v === undefined || v < min || v > max || (grouped && this.argc < v)) throw targetError(error);
    return v;
  }
}

function parseFeatures(as: ArgSet): Features {
  const f: Features = { errorReads: false, dropWrites: false, errorWrites: false, corruptBioByte: 0, corruptWrite: false, corruptValue: 0, corruptFlags: 0, randomReadCorrupt: 0, randomWriteCorrupt: 0 };
  let argc = 0;
  if (as.argc) argc = as.read(0, 11, 'Invalid number of feature args', true);
  if (!argc) {
    f.errorReads = f.errorWrites = true;
    return f;
  }
  while (argc) {
    const name = as.shift();
    argc--;
    if (name === undefined) throw targetError('Insufficient feature arguments');
    const n = name.toLowerCase();
    if (n === 'error_reads') {
      if (f.errorReads) throw targetError('Feature error_reads duplicated');
      f.errorReads = true;
    } else if (n === 'drop_writes') {
      if (f.dropWrites) throw targetError('Feature drop_writes duplicated');
      f.dropWrites = true;
      if (f.errorWrites) throw targetError('Feature drop_writes conflicts with feature error_writes');
    } else if (n === 'error_writes') {
      if (f.errorWrites) throw targetError('Feature error_writes duplicated');
      f.errorWrites = true;
      if (f.dropWrites) throw targetError('Feature error_writes conflicts with feature drop_writes');
    } else if (n === 'corrupt_bio_byte') {
      if (f.corruptBioByte) throw targetError('Feature corrupt_bio_byte duplicated');
      if (argc < 4) throw targetError('Feature corrupt_bio_byte requires 4 parameters');
      f.corruptBioByte = as.read(1, UINT_MAX, 'Invalid corrupt bio byte');
      argc--;
      const dir = as.shift()?.toLowerCase();
      if (dir === 'w') f.corruptWrite = true;
      else if (dir === 'r') f.corruptWrite = false;
      else throw targetError('Invalid corrupt bio direction (r or w)');
      argc--;
      f.corruptValue = as.read(0, 255, 'Invalid corrupt value to write into bio byte (0-255)');
      argc--;
      f.corruptFlags = as.read(0, UINT_MAX, 'Invalid corrupt bio flags mask');
      argc--;
    } else if (n === 'random_read_corrupt' || n === 'random_write_corrupt') {
      const read = n === 'random_read_corrupt';
      if (read ? f.randomReadCorrupt : f.randomWriteCorrupt) throw targetError(`Feature ${n} duplicated`);
      if (!argc) throw targetError(`Feature ${n} requires a parameter`);
      const p = as.read(0, PROBABILITY_BASE, 'Invalid random corrupt argument');
      if (read) f.randomReadCorrupt = p;
      else f.randomWriteCorrupt = p;
      argc--;
    } else {
      throw targetError('Unrecognised flakey feature requested');
    }
  }
  const fixedWrite = f.corruptBioByte !== 0 && f.corruptWrite;
  const fixedRead = f.corruptBioByte !== 0 && !f.corruptWrite;
  if (f.dropWrites && (fixedWrite || f.randomWriteCorrupt)) {
    throw targetError('drop_writes is incompatible with random_write_corrupt or corrupt_bio_byte with the WRITE flag set');
  } else if (f.errorWrites && (fixedWrite || f.randomWriteCorrupt)) {
    throw targetError('error_writes is incompatible with random_write_corrupt or corrupt_bio_byte with the WRITE flag set');
  } else if (f.errorReads && (fixedRead || f.randomReadCorrupt)) {
    throw targetError('error_reads is incompatible with random_read_corrupt or corrupt_bio_byte with the READ flag set');
  }
  if (!f.corruptBioByte && !f.errorReads && !f.dropWrites && !f.errorWrites && !f.randomReadCorrupt && !f.randomWriteCorrupt) {
    f.errorReads = f.errorWrites = true;
  }
  return f;
}

/** Counters of what was injected, for tests and the long runs. */
export interface FlakeyStats {
  readsErrored: number;
  writesErrored: number;
  writesDropped: number;
  bytesCorrupted: number;
}

export class FlakeyTarget implements Target {
  private readonly dev: BlockDevice;
  private readonly base: number;
  private readonly areas: readonly DeviceArea[];
  private readonly startTime: number;
  readonly stats: FlakeyStats = { readsErrored: 0, writesErrored: 0, writesDropped: 0, bytesCorrupted: 0 };

  constructor(
    private readonly ref: DeviceRef,
    private readonly start: number,
    len: number,
    private readonly up: number,
    private readonly down: number,
    private readonly f: Features,
    private readonly rng: FaultRandom,
  ) {
    this.dev = ref.dev;
    this.base = start * 2 ** SECTOR_SHIFT;
    this.areas = [{ ref, start, len }];
    this.startTime = faultClock().now();
  }

  /** Whether I/O submitted now falls in a down interval ((jiffies - start_time) / HZ, in whole seconds). */
  isDown(): boolean {
    const elapsed = Math.floor((faultClock().now() - this.startTime) / 1000) >>> 0;
    return elapsed % ((this.up + this.down) >>> 0) >= this.up;
  }

  private corruptAt(buf: Uint8Array, index: number, value: number): void {
    if (index < buf.length) {
      buf[index] = value;
      this.stats.bytesCorrupted++;
    }
  }

  /** corrupt_bio_random: a random byte of the I/O gets a random value. */
  private corruptRandom(buf: Uint8Array): void {
    const index = this.rng.u32() % buf.length;
    this.corruptAt(buf, index, this.rng.u32() & 0xff);
  }

  private chance(p: number): boolean {
    return p > 0 && this.rng.u64mod(PROBABILITY_BASE) < p;
  }

  async read(offset: number, buf: Uint8Array): Promise<void> {
    const down = buf.length > 0 && this.isDown();
    if (down && this.f.errorReads) {
      this.stats.readsErrored++;
      throw ioError('read');
    }
    await this.dev.read(this.base + offset, buf);
    if (!down) return;
    // flakey_end_io: corrupt successful reads submitted while down
    if (this.f.corruptBioByte && !this.f.corruptWrite && (opfOf(false, false) & this.f.corruptFlags) === this.f.corruptFlags) {
      this.corruptAt(buf, this.f.corruptBioByte - 1, this.f.corruptValue);
    }
    if (this.chance(this.f.randomReadCorrupt)) this.corruptRandom(buf);
  }

  /** The write direction while down: undefined to go on, else 'drop' or the error to throw. */
  private writeFault(op: string): 'drop' | UcryptError | undefined {
    if (!this.isDown()) return undefined;
    if (this.f.dropWrites) {
      this.stats.writesDropped++;
      return 'drop';
    }
    if (this.f.errorWrites) {
      this.stats.writesErrored++;
      return ioError(op);
    }
    return undefined;
  }

  async write(offset: number, buf: Uint8Array, flags?: WriteFlags): Promise<void> {
    if (buf.length === 0) return this.dev.write(this.base + offset, buf, flags);
    const fault = this.writeFault('write');
    if (fault === 'drop') return;
    if (fault) throw fault;
    let data = buf;
    if (this.isDown()) {
      const fixed = this.f.corruptBioByte !== 0 && this.f.corruptWrite && (opfOf(true, flags?.fua === true) & this.f.corruptFlags) === this.f.corruptFlags;
      const random = this.chance(this.f.randomWriteCorrupt);
      if (fixed || random) {
        // clone_bio: the corruption goes to a copy, never to the caller's buffer
        data = buf.slice();
        if (fixed) this.corruptAt(data, this.f.corruptBioByte - 1, this.f.corruptValue);
        if (random) this.corruptRandom(data);
      }
    }
    return this.dev.write(this.base + offset, data, flags);
  }

  async flush(): Promise<void> {
    // An empty REQ_PREFLUSH write: dropped or failed by drop_writes/error_writes while down.
    const fault = this.writeFault('flush');
    if (fault === 'drop') return;
    if (fault) throw fault;
    return this.dev.flush();
  }

  async discard(offset: number, length: number): Promise<void> {
    const fault = this.writeFault('discard');
    if (fault === 'drop') return;
    if (fault) throw fault;
    return this.dev.discard(this.base + offset, length);
  }

  async writeZeroes(offset: number, length: number, flags?: WriteZeroesFlags): Promise<void> {
    const fault = this.writeFault('write-zeroes');
    if (fault === 'drop') return;
    if (fault) throw fault;
    return this.dev.writeZeroes(this.base + offset, length, flags);
  }

  status(type: StatusType): string {
    if (type === 'info') return '';
    const f = this.f;
    const n = Number(f.errorReads) + Number(f.dropWrites) + Number(f.errorWrites) + (f.corruptBioByte > 0 ? 5 : 0) + (f.randomReadCorrupt > 0 ? 2 : 0) + (f.randomWriteCorrupt > 0 ? 2 : 0);
    let s = `${this.ref.devName} ${this.start} ${this.up} ${this.down} ${n}`;
    if (f.errorReads) s += ' error_reads';
    if (f.dropWrites) s += ' drop_writes';
    else if (f.errorWrites) s += ' error_writes';
    if (f.corruptBioByte) s += ` corrupt_bio_byte ${f.corruptBioByte} ${f.corruptWrite ? 'w' : 'r'} ${f.corruptValue} ${f.corruptFlags}`;
    if (f.randomReadCorrupt > 0) s += ` random_read_corrupt ${f.randomReadCorrupt}`;
    if (f.randomWriteCorrupt > 0) s += ` random_write_corrupt ${f.randomWriteCorrupt}`;
    return s;
  }

  devices(): readonly DeviceArea[] {
    return this.areas;
  }
}

export const flakeyTarget: TargetType = {
  name: 'flakey',
  version: [1, 5, 0],
  async create(args: readonly string[], ctx: TargetContext): Promise<Target> {
    if (args.length < 4) throw targetError('Invalid argument count');
    const as = new ArgSet(args);
    const devname = as.shift()!;
    const start = parseSector(as.shift()!);
    if (start === undefined) throw targetError('Invalid device sector');
    const up = as.read(0, UINT_MAX, 'Invalid up interval');
    const down = as.read(0, UINT_MAX, 'Invalid down interval');
    // unsigned int arithmetic, as the kernel's: a sum of exactly 2^32 wraps to zero
    const total = (up + down) >>> 0;
    if (total === 0) throw targetError('Total (up + down) interval is zero');
    if (total < up) throw targetError('Interval overflow');
    const features = parseFeatures(as);
    let ref: DeviceRef;
    try {
      ref = await ctx.getDevice(devname);
    } catch (err) {
      throw targetError('Device lookup failed', errnoOf(err) === 'EINVAL' ? 'EINVAL' : 'ENODEV');
    }
    return new FlakeyTarget(ref, start, ctx.len, up, down, features, targetRandom(ctx.begin, 'flakey', args));
  },
};
