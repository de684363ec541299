// The linear target (drivers/md/dm-linear.c): `<dev_path> <offset>` maps the target's range
// onto a device starting at `offset` sectors.

import { SECTOR_SHIFT } from '../../block/device.js';
import type { BlockDevice, WriteFlags, WriteZeroesFlags } from '../../block/device.js';
import { parseSector } from '../../dm/table.js';
import type { DeviceArea, DeviceRef, StatusType, Target, TargetContext, TargetType } from '../../dm/target.js';
import { targetError } from '../../dm/target.js';
import { errnoOf } from '../../errors.js';

class LinearTarget implements Target {
  private readonly dev: BlockDevice;
  private readonly base: number;
  private readonly areas: readonly DeviceArea[];

  constructor(
    private readonly ref: DeviceRef,
    private readonly start: number,
    len: number,
  ) {
    this.dev = ref.dev;
    this.base = start * 2 ** SECTOR_SHIFT;
    this.areas = [{ ref, start, len }];
  }

  read(offset: number, buf: Uint8Array): Promise<void> {
    return this.dev.read(this.base + offset, buf);
  }

  write(offset: number, buf: Uint8Array, flags?: WriteFlags): Promise<void> {
    return this.dev.write(this.base + offset, buf, flags);
  }

  /** Synchronous submission when the underlying device offers it (BlockDevice.readNow). */
  readNow(offset: number, buf: Uint8Array): boolean {
    const dev = this.dev;
    return dev.readNow !== undefined && dev.readNow(this.base + offset, buf);
  }

  writeNow(offset: number, buf: Uint8Array, flags?: WriteFlags): boolean {
    const dev = this.dev;
    return dev.writeNow !== undefined && dev.writeNow(this.base + offset, buf, flags);
  }

  flush(): Promise<void> {
    return this.dev.flush();
  }

  discard(offset: number, length: number): Promise<void> {
    return this.dev.discard(this.base + offset, length);
  }

  writeZeroes(offset: number, length: number, flags?: WriteZeroesFlags): Promise<void> {
    return this.dev.writeZeroes(this.base + offset, length, flags);
  }

  status(type: StatusType): string {
    return type === 'info' ? '' : `${this.ref.devName} ${this.start}`;
  }

  devices(): readonly DeviceArea[] {
    return this.areas;
  }
}

export const linearTarget: TargetType = {
  name: 'linear',
  version: [1, 5, 0],
  async create(args: readonly string[], ctx: TargetContext): Promise<Target> {
    if (args.length !== 2) throw targetError('Invalid argument count');
    const start = parseSector(args[1]!);
    if (start === undefined) throw targetError('Invalid device sector');
    let ref: DeviceRef;
    try {
      ref = await ctx.getDevice(args[0]!);
    } catch (err) {
      throw targetError('Device lookup failed', errnoOf(err) === 'EINVAL' ? 'EINVAL' : 'ENODEV');
    }
    return new LinearTarget(ref, start, ctx.len);
  },
};
