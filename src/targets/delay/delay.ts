// The delay target (drivers/md/dm-delay.c, version 1.5.0 as in Linux 6.x/7.x):
//
//   <device> <offset> <delay> [<write_device> <write_offset> <write_delay>
//                              [<flush_device> <flush_offset> <flush_delay>]]
//
// Offsets in sectors, delays in milliseconds. With 3 arguments reads, writes and flushes all go
// to the one device with the one delay; with 6 the second set is for writes (and flushes, which
// are empty REQ_PREFLUSH writes); with 9 the third set is for flushes. Discards and write-zeroes
// are writes. Status info is `<reads> <writes> <flushes>` currently held back; the table shows
// as many sets as were given. On suspend, held-back I/O is released at once and nothing more is
// delayed until resume (presuspend/resume). Time comes from the clock in ../flakey/fault-env.ts.

import { SECTOR_SHIFT } from '../../block/device.js';
import type { WriteFlags, WriteZeroesFlags } from '../../block/device.js';
import { parseSector } from '../../dm/table.js';
import type { DeviceArea, DeviceRef, StatusType, Target, TargetContext, TargetType } from '../../dm/target.js';
import { targetError } from '../../dm/target.js';
import { errnoOf } from '../../errors.js';
import { faultClock, parseUint } from '../flakey/fault-env.js';

interface DelayClass {
  readonly ref: DeviceRef;
  readonly start: number;
  readonly base: number;
  readonly delay: number;
  /** I/Os held back right now (the kernel's c->ops). */
  ops: number;
}

class DelayTarget implements Target {
  private mayDelay = true;
  /** Wakers of the I/Os held back now, so a suspend can release them at once. */
  private readonly waiting = new Set<() => void>();
  private readonly areas: readonly DeviceArea[];

  constructor(
    private readonly argc: number,
    private readonly rd: DelayClass,
    private readonly wr: DelayClass,
    private readonly fl: DelayClass,
    len: number,
  ) {
    this.areas = [rd, wr, fl].map((c) => ({ ref: c.ref, start: c.start, len }));
  }

  /** delay_bio: holds the I/O for the class's delay unless the device is suspending. */
  private async hold(c: DelayClass): Promise<void> {
    if (!c.delay || !this.mayDelay) return;
    c.ops++;
    try {
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          if (this.waiting.delete(wake)) resolve();
        };
        this.waiting.add(wake);
        void faultClock().sleep(c.delay).then(wake);
      });
    } finally {
      c.ops--;
    }
  }

  async read(offset: number, buf: Uint8Array): Promise<void> {
    await this.hold(this.rd);
    return this.rd.ref.dev.read(this.rd.base + offset, buf);
  }

  async write(offset: number, buf: Uint8Array, flags?: WriteFlags): Promise<void> {
    await this.hold(this.wr);
    return this.wr.ref.dev.write(this.wr.base + offset, buf, flags);
  }

  async flush(): Promise<void> {
    await this.hold(this.fl);
    return this.fl.ref.dev.flush();
  }

  async discard(offset: number, length: number): Promise<void> {
    await this.hold(this.wr);
    return this.wr.ref.dev.discard(this.wr.base + offset, length);
  }

  async writeZeroes(offset: number, length: number, flags?: WriteZeroesFlags): Promise<void> {
    await this.hold(this.wr);
    return this.wr.ref.dev.writeZeroes(this.wr.base + offset, length, flags);
  }

  /** Releases every held-back I/O now and delays nothing more until resume (delay_presuspend). */
  releaseAll(): void {
    this.mayDelay = false;
    for (const wake of [...this.waiting]) wake();
  }

  /** delay_presuspend: release held I/O before the suspend waits for in-flight I/O. */
  presuspend(): void {
    this.releaseAll();
  }

  preresume(): void {
    this.mayDelay = true;
  }

  close(): void {
    this.releaseAll();
  }

  status(type: StatusType): string {
    if (type === 'info') return `${this.rd.ops} ${this.wr.ops} ${this.fl.ops}`;
    const cls = (c: DelayClass): string => `${c.ref.devName} ${c.start} ${c.delay}`;
    let s = cls(this.rd);
    if (this.argc >= 6) s += ` ${cls(this.wr)}`;
    if (this.argc >= 9) s += ` ${cls(this.fl)}`;
    return s;
  }

  devices(): readonly DeviceArea[] {
    return this.areas;
  }
}

/** delay_class_ctr: `<device> <offset> <delay>`, checked in that order, the device looked up last. */
async function delayClass(argv: readonly string[], ctx: TargetContext): Promise<DelayClass> {
  const start = parseSector(argv[1]!);
  if (start === undefined) throw targetError('Invalid device sector');
  const delay = parseUint(argv[2]);
  if (delay === undefined) throw targetError('Invalid delay');
  let ref: DeviceRef;
  try {
    ref = await ctx.getDevice(argv[0]!);
  } catch (err) {
    throw targetError('Device lookup failed', errnoOf(err) === 'EINVAL' ? 'EINVAL' : 'ENODEV');
  }
  return { ref, start, base: start * 2 ** SECTOR_SHIFT, delay, ops: 0 };
}

export const delayTarget: TargetType = {
  name: 'delay',
  version: [1, 5, 0],
  async create(args: readonly string[], ctx: TargetContext): Promise<Target> {
    const argc = args.length;
    if (argc !== 3 && argc !== 6 && argc !== 9) throw targetError('Requires exactly 3, 6 or 9 arguments');
    const rd = await delayClass(args, ctx);
    if (argc === 3) return new DelayTarget(argc, rd, await delayClass(args, ctx), await delayClass(args, ctx), ctx.len);
    const wr = await delayClass(args.slice(3, 6), ctx);
    const fl = argc === 6 ? await delayClass(args.slice(3, 6), ctx) : await delayClass(args.slice(6, 9), ctx);
    return new DelayTarget(argc, rd, wr, fl, ctx.len);
  },
};
