// The error target (drivers/md/dm-target.c, io_err_*): every I/O fails with EIO.

import type { StatusType, Target, TargetType } from '../../dm/target.js';
import { UcryptError } from '../../errors.js';

function ioError(op: string): Promise<never> {
  return Promise.reject(new UcryptError('ERR_IO', 'EIO', `${op}: I/O error (error target)`));
}

class ErrorTarget implements Target {
  read(): Promise<void> {
    return ioError('read');
  }
  write(): Promise<void> {
    return ioError('write');
  }
  async flush(): Promise<void> {}
  discard(): Promise<void> {
    return ioError('discard');
  }
  writeZeroes(): Promise<void> {
    return ioError('write-zeroes');
  }
  status(_type: StatusType): string {
    return '';
  }
  devices(): [] {
    return [];
  }
}

export const errorTarget: TargetType = {
  name: 'error',
  version: [1, 7, 0],
  create(): Target {
    return new ErrorTarget();
  },
};
