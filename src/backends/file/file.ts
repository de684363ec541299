// File backend: a regular file or a real block device, like a loop device under the kernel.
// flush = fdatasync; FUA = fdatasync after the write. The `direct` mode opens with O_DSYNC so
// every write is durable on completion (O_DIRECT itself needs page-aligned buffers, which
// JavaScript cannot promise).

import { constants, promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { BlockDevice, BlockLimits, WriteFlags, WriteZeroesFlags } from '../../block/device.js';
import { checkIo, checkWritable, writeZeroesByWriting, SECTOR_SIZE } from '../../block/device.js';
import { UcryptError } from '../../errors.js';

export interface FileDeviceOptions {
  readonly readOnly?: boolean;
  /** Write-through: every write is durable when it completes (O_DSYNC). */
  readonly direct?: boolean;
}

export class FileDevice implements BlockDevice {
  readonly path: string;
  readonly size: number;
  readonly limits: BlockLimits;
  readonly isBlockDevice: boolean;
  private readonly fh: FileHandle;
  private readonly direct: boolean;
  private closed = false;

  private constructor(path: string, fh: FileHandle, size: number, logical: number, isBlock: boolean, opts: FileDeviceOptions) {
    this.path = path;
    this.fh = fh;
    this.size = size;
    this.isBlockDevice = isBlock;
    this.direct = opts.direct ?? false;
    this.limits = { logicalBlockSize: logical, physicalBlockSize: Math.max(logical, 4096), maxTransfer: 32 << 20, discard: false, writeZeroes: false, readOnly: opts.readOnly ?? false };
  }

  static async open(path: string, opts: FileDeviceOptions = {}): Promise<FileDevice> {
    let st;
    try {
      st = await fsp.stat(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new UcryptError('ERR_NO_DEVICE', 'ENOENT', `${path}: no such file or device (create it first, e.g. truncate -s 64M ${path})`);
      throw new UcryptError('ERR_NO_DEVICE', code === 'EACCES' ? 'EACCES' : 'EIO', `${path}: cannot open: ${(err as Error).message}`);
    }
    let size: number;
    let logical = SECTOR_SIZE;
    const isBlock = st.isBlockDevice();
    if (isBlock) {
      // stat() reports 0 bytes for block devices; sysfs has the size in 512-byte sectors.
      const sys = `/sys/dev/block/${Math.floor(st.rdev / 256) & 0xfff}:${(st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00)}`;
      size = Number((await fsp.readFile(`${sys}/size`, 'utf8')).trim()) * SECTOR_SIZE;
      logical = Number((await fsp.readFile(`${sys}/queue/logical_block_size`, 'utf8')).trim()) || SECTOR_SIZE;
    } else if (st.isFile()) {
      size = st.size;
    } else {
      throw new UcryptError('ERR_NO_DEVICE', 'EINVAL', `${path}: not a regular file or block device`);
    }
    if (size === 0 || size % logical !== 0) {
      throw new UcryptError('ERR_FILE_SIZE', 'EINVAL', `${path}: size ${size} bytes is not a positive multiple of ${logical}; resize it (e.g. truncate -s 64M ${path})`);
    }
    let flags = opts.readOnly ? constants.O_RDONLY : constants.O_RDWR;
    if (opts.direct) flags |= constants.O_DSYNC;
    let fh: FileHandle;
    try {
      fh = await fsp.open(path, flags);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new UcryptError('ERR_NO_DEVICE', code === 'EACCES' || code === 'EPERM' ? 'EACCES' : 'EIO', `${path}: cannot open ${opts.readOnly ? 'for reading' : 'for reading and writing'}: ${(err as Error).message}`);
    }
    return new FileDevice(path, fh, size, logical, isBlock, opts);
  }

  async read(offset: number, buf: Uint8Array): Promise<void> {
    checkIo(this, 'read', offset, buf.length);
    let done = 0;
    while (done < buf.length) {
      const { bytesRead } = await this.fh.read(buf, done, buf.length - done, offset + done);
      if (bytesRead === 0) throw new UcryptError('ERR_IO', 'EIO', `${this.path}: unexpected end of file at ${offset + done}`);
      done += bytesRead;
    }
  }

  async write(offset: number, buf: Uint8Array, flags?: WriteFlags): Promise<void> {
    checkIo(this, 'write', offset, buf.length);
    checkWritable(this, 'write');
    let done = 0;
    while (done < buf.length) {
      const { bytesWritten } = await this.fh.write(buf, done, buf.length - done, offset + done);
      if (bytesWritten === 0) throw new UcryptError('ERR_IO', 'EIO', `${this.path}: write at ${offset + done} made no progress`);
      done += bytesWritten;
    }
    if (flags?.fua && !this.direct) await this.fh.datasync();
  }

  async flush(): Promise<void> {
    if (!this.limits.readOnly) await this.fh.datasync();
  }

  async discard(offset: number, length: number): Promise<void> {
    checkIo(this, 'discard', offset, length);
    throw new UcryptError('ERR_NOT_SUPPORTED', 'ENOTSUP', `${this.path}: discard is not supported by the file backend`);
  }

  async writeZeroes(offset: number, length: number, flags?: WriteZeroesFlags): Promise<void> {
    checkIo(this, 'write-zeroes', offset, length);
    checkWritable(this, 'write-zeroes');
    await writeZeroesByWriting(this, offset, length, flags);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fh.close();
  }
}
