// preadv2/pwritev2 with RWF_NOWAIT (native/ucrypt_io.c, in the native addon): the file backend's
// synchronous submission, as io_uring issues a request inline with IOCB_NOWAIT and punts it to a
// worker on EAGAIN. Without the addon (not built, failed to load, UCRYPT_NATIVE=0) or with
// UCRYPT_FILE_NOWAIT=0 there is none, and every file I/O goes through the libuv thread pool.

import { constants } from 'node:os';
import { nativeAddon } from '../../crypto/native/index.js';

/**
 * One attempt without blocking: bytes transferred (a short count is possible, 0 at end of file
 * for reads) or a negative errno. Never throws for an I/O condition.
 */
export interface NowaitIo {
  read(fd: number, buf: Uint8Array, bufOffset: number, length: number, position: number): number;
  write(fd: number, buf: Uint8Array, bufOffset: number, length: number, position: number): number;
}

/** Would block: the page is not cached, a lock is held, blocks must be allocated, ... */
export const NOWAIT_EAGAIN = -(constants.errno.EAGAIN ?? 11);
/** Errors meaning "this file (system) or kernel does not do nowait I/O in this direction". */
export const NOWAIT_UNSUPPORTED: readonly number[] = [
  -(constants.errno.EOPNOTSUPP ?? 95),
  -(constants.errno.ENOTSUP ?? 95),
  -(constants.errno.EINVAL ?? 22),
  -(constants.errno.ENOSYS ?? 38),
];

type NowaitFn = (fd: number, buf: Uint8Array, bufOffset: number, length: number, position: number) => number;

let io: NowaitIo | null | undefined;

/** The addon's nowait calls, loaded once per thread; undefined when there are none. */
export function nowaitIo(): NowaitIo | undefined {
  if (io !== undefined) return io ?? undefined;
  io = null;
  if (process.env['UCRYPT_FILE_NOWAIT'] === '0' || process.platform !== 'linux') return undefined;
  const b = nativeAddon();
  const read = b?.['preadNowait'];
  const write = b?.['pwriteNowait'];
  if (typeof read === 'function' && typeof write === 'function') {
    io = { read: read as NowaitFn, write: write as NowaitFn };
  }
  return io ?? undefined;
}
