// File backend: a regular file or a real block device, like a loop device under the kernel.
// flush = fdatasync; FUA = fdatasync after the write. The `direct` mode opens with O_DSYNC so
// every write is durable on completion (O_DIRECT itself needs page-aligned buffers, which
// JavaScript cannot promise).
//
// Synchronous submission (readNow/writeNow) for buffered files: one preadv2/pwritev2 with
// RWF_NOWAIT (./nowait.ts), done in the call when the kernel can do it without waiting (the
// pages are cached); EAGAIN or a short count declines and the caller takes the asynchronous
// path (the libuv thread pool), as io_uring punts a request that would block to its workers.
// EOPNOTSUPP (e.g. ext4 has no nowait buffered writes) turns that direction off for the file.
// The data lands in the same page cache as the thread pool's pwrite, so flush (fdatasync) and
// FUA cover both alike; FUA writes and `direct` (O_DSYNC) files never take it.
//
// Bounded synchronous writes: where nowait writes are off (ext4, no addon), writeNow does a
// plain pwrite in the call for whole, page-aligned pages up to 64 KiB. Such a write only copies
// into the page cache (a whole-page overwrite reads nothing from disk), which costs microseconds
// where the thread pool's round trip costs tens; what could block it is dirty-page throttling
// (balance_dirty_pages) or a journal wait. Each one is timed: one that holds the caller for more
// than 2 ms turns synchronous writes off for 100 ms, doubling (up to 10 s) while they keep
// being slow, so a device whose writes have to wait goes back to the thread pool and the caller
// (the daemon's event loop) is held at most once per back-off period. UCRYPT_FILE_SYNC_WRITES=0
// (or the option syncWrites: false) turns them off.

import { constants, promises as fsp, writeSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { FileHandle } from 'node:fs/promises';
import type { BlockDevice, BlockLimits, WriteFlags, WriteZeroesFlags } from '../../block/device.js';
import { checkIo, checkWritable, writeZeroesByWriting, SECTOR_SIZE } from '../../block/device.js';
import { UcryptError } from '../../errors.js';
import { NOWAIT_EAGAIN, NOWAIT_UNSUPPORTED, nowaitIo } from './nowait.js';
import type { NowaitIo } from './nowait.js';

export interface FileDeviceOptions {
  readonly readOnly?: boolean;
  /** Write-through: every write is durable when it completes (O_DSYNC). */
  readonly direct?: boolean;
  /**
   * The nowait calls for readNow/writeNow: the addon's by default; false turns them off (also
   * UCRYPT_FILE_NOWAIT=0); tests pass their own to inject EAGAIN, short counts, EOPNOTSUPP.
   */
  readonly nowait?: NowaitIo | false;
  /**
   * Bounded synchronous writes where nowait writes are off (see the top of this file): default
   * on, unless UCRYPT_FILE_SYNC_WRITES=0; never for `direct` or read-only files.
   */
  readonly syncWrites?: boolean;
  /** The clock that times them (ms, like performance.now); tests inject a slow one. */
  readonly clock?: () => number;
}

/** Synchronous writes: whole pages up to this size, aligned to a page. */
const SYNC_WRITE_MAX = 64 << 10;
const SYNC_WRITE_ALIGN = 4096;
/** A synchronous write that took longer than this turns them off for a while. */
const SYNC_WRITE_SLOW_MS = 2;
/** How long (ms): the first time, and at most. */
const SYNC_WRITE_BACKOFF_MS = 100;
const SYNC_WRITE_BACKOFF_MAX_MS = 10_000;

/** What readNow/writeNow did (FileDevice.nowaitStats). */
export interface FileNowaitStats {
  /** I/O completed in the call. */
  reads: number;
  writes: number;
  /** Declined: EAGAIN or a short count (the thread pool did it), another error (so did it). */
  readsDeclined: number;
  writesDeclined: number;
  /** Whether the direction is still tried (off: no addon, direct, read-only, EOPNOTSUPP). */
  readOn: boolean;
  writeOn: boolean;
  /** Bounded synchronous writes (where nowait writes are off): done, and those over 2 ms. */
  syncWrites: number;
  syncWritesSlow: number;
  /** Whether they are tried (false: turned off); the back-off in force (ms, 0 = none). */
  syncWriteOn: boolean;
  syncWriteBackoffMs: number;
}

export class FileDevice implements BlockDevice {
  readonly path: string;
  readonly size: number;
  readonly limits: BlockLimits;
  readonly isBlockDevice: boolean;
  private readonly fh: FileHandle;
  private readonly direct: boolean;
  private closed = false;
  private readonly fd: number;
  private readonly nw: NowaitIo | undefined;
  readonly nowaitStats: FileNowaitStats;
  private readonly clock: () => number;
  /** Synchronous writes are off until this time (clock ms). */
  private syncWriteUntil = 0;

  private constructor(path: string, fh: FileHandle, size: number, logical: number, isBlock: boolean, opts: FileDeviceOptions) {
    this.path = path;
    this.fh = fh;
    this.size = size;
    this.isBlockDevice = isBlock;
    this.direct = opts.direct ?? false;
    this.limits = { logicalBlockSize: logical, physicalBlockSize: Math.max(logical, 4096), maxTransfer: 32 << 20, discard: false, writeZeroes: false, readOnly: opts.readOnly ?? false };
    this.fd = fh.fd;
    // Not for O_DSYNC files: a nowait write there would have to be durable in the call.
    this.nw = this.direct || opts.nowait === false ? undefined : (opts.nowait ?? nowaitIo());
    const on = this.nw !== undefined;
    const sync = !this.direct && !this.limits.readOnly && (opts.syncWrites ?? process.env['UCRYPT_FILE_SYNC_WRITES'] !== '0');
    this.clock = opts.clock ?? performance.now.bind(performance);
    this.nowaitStats = {
      reads: 0,
      writes: 0,
      readsDeclined: 0,
      writesDeclined: 0,
      readOn: on,
      writeOn: on && !this.limits.readOnly,
      syncWrites: 0,
      syncWritesSlow: 0,
      syncWriteOn: sync,
      syncWriteBackoffMs: 0,
    };
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

  /**
   * BlockDevice.readNow: one RWF_NOWAIT read of the whole range. True when it all came from the
   * page cache; false (nothing promised about buf's contents) on EAGAIN, a short count or an
   * error, which the asynchronous read then reports.
   */
  readNow(offset: number, buf: Uint8Array): boolean {
    const st = this.nowaitStats;
    if (!st.readOn || this.closed) return false;
    checkIo(this, 'read', offset, buf.length);
    const n = this.nw!.read(this.fd, buf, 0, buf.length, offset);
    if (n === buf.length) {
      st.reads++;
      return true;
    }
    st.readsDeclined++;
    if (n < 0 && n !== NOWAIT_EAGAIN && NOWAIT_UNSUPPORTED.includes(n)) st.readOn = false;
    return false;
  }

  /**
   * BlockDevice.writeNow: one RWF_NOWAIT write into the page cache, as durable as the thread
   * pool's (flush = fdatasync covers it), or where those are off a bounded synchronous write
   * (top of this file). Never with FUA. A short write returns false and the caller writes the
   * whole range again asynchronously (the same bytes: idempotent).
   */
  writeNow(offset: number, buf: Uint8Array, flags?: WriteFlags): boolean {
    const st = this.nowaitStats;
    if (this.closed || flags?.fua === true || !(st.writeOn || st.syncWriteOn)) return false;
    checkIo(this, 'write', offset, buf.length);
    checkWritable(this, 'write');
    if (!st.writeOn) return this.writeSyncBounded(offset, buf);
    const n = this.nw!.write(this.fd, buf, 0, buf.length, offset);
    if (n === buf.length) {
      st.writes++;
      return true;
    }
    st.writesDeclined++;
    if (n < 0 && n !== NOWAIT_EAGAIN && NOWAIT_UNSUPPORTED.includes(n)) st.writeOn = false;
    return false;
  }

  /** A timed pwrite in the call (whole pages, up to 64 KiB, not while backing off); range checked. */
  private writeSyncBounded(offset: number, buf: Uint8Array): boolean {
    const len = buf.length;
    if (len > SYNC_WRITE_MAX || len % SYNC_WRITE_ALIGN !== 0 || offset % SYNC_WRITE_ALIGN !== 0) return false;
    const st = this.nowaitStats;
    const t0 = this.clock();
    if (t0 < this.syncWriteUntil) return false;
    let n: number;
    try {
      n = writeSync(this.fd, buf, 0, len, offset);
    } catch {
      return false; // the asynchronous write reports it
    }
    const took = this.clock() - t0;
    if (took > SYNC_WRITE_SLOW_MS) {
      st.syncWritesSlow++;
      st.syncWriteBackoffMs = Math.min(SYNC_WRITE_BACKOFF_MAX_MS, st.syncWriteBackoffMs > 0 ? st.syncWriteBackoffMs * 2 : SYNC_WRITE_BACKOFF_MS);
      this.syncWriteUntil = t0 + took + st.syncWriteBackoffMs;
    } else if (st.syncWriteBackoffMs > 0) {
      st.syncWriteBackoffMs = 0;
    }
    if (n !== len) return false;
    st.syncWrites++;
    return true;
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
    this.nowaitStats.readOn = false;
    this.nowaitStats.writeOn = false;
    this.nowaitStats.syncWriteOn = false;
    await this.fh.close();
  }
}
