// The zero target (drivers/md/dm-zero.c): reads return zeros, writes are accepted and dropped,
// like /dev/zero as a block device.

import type { StatusType, Target, TargetType } from '../../dm/target.js';
import { targetError } from '../../dm/target.js';

class ZeroTarget implements Target {
  async read(_offset: number, buf: Uint8Array): Promise<void> {
    buf.fill(0);
  }
  async write(): Promise<void> {}
  async flush(): Promise<void> {}
  async discard(): Promise<void> {}
  async writeZeroes(): Promise<void> {}
  status(_type: StatusType): string {
    return '';
  }
  devices(): [] {
    return [];
  }
}

export const zeroTarget: TargetType = {
  name: 'zero',
  version: [1, 2, 0],
  create(args: readonly string[]): Target {
    if (args.length !== 0) throw targetError('No arguments required');
    return new ZeroTarget();
  },
};
