// The BlockDevice contract (DESIGN.md, "Contracts") and the range/alignment checker that sits at
// every boundary, as nbdkit's server/backend.c does, so lower layers can trust their input.
//
// Offsets and lengths are bytes, as plain numbers: doubles hold integers exactly up to 2^53
// (8 PiB), far beyond any device here, and avoid BigInt on the hot path.

import { UcryptError } from '../errors.js';

export const SECTOR_SIZE = 512;
export const SECTOR_SHIFT = 9;

export interface BlockLimits {
  /** Smallest addressable unit (512, or a crypt target's sector_size). */
  readonly logicalBlockSize: number;
  /** Preferred unit (4096 for RAM disks, like brd). */
  readonly physicalBlockSize: number;
  /** Largest single request the device accepts, in bytes. */
  readonly maxTransfer: number;
  /** Whether discard (TRIM) is supported. */
  readonly discard: boolean;
  /** Whether writeZeroes can be done without writing zero buffers. */
  readonly writeZeroes: boolean;
  readonly readOnly: boolean;
}

export interface WriteFlags {
  /** Forced unit access: the data is durable when the write completes. */
  readonly fua?: boolean;
}

export interface WriteZeroesFlags extends WriteFlags {
  /** Keep the range allocated (NBD_CMD_FLAG_NO_HOLE / REQ_NOUNMAP). */
  readonly noUnmap?: boolean;
}

export interface BlockDevice {
  /** Size in bytes, a multiple of limits.logicalBlockSize. */
  readonly size: number;
  readonly limits: BlockLimits;
  /** Reads buf.length bytes at offset into buf. */
  read(offset: number, buf: Uint8Array): Promise<void>;
  write(offset: number, buf: Uint8Array, flags?: WriteFlags): Promise<void>;
  /**
   * Optional synchronous submission, for devices that can complete some I/O in the call (a RAM
   * disk, a crypt device with inline crypto over one): performs the read or write and returns
   * true, throws its error, or returns false having done nothing (then use read/write). Lets a
   * server answer in the tick that parsed the request, with no promise per I/O.
   */
  readNow?(offset: number, buf: Uint8Array): boolean;
  writeNow?(offset: number, buf: Uint8Array, flags?: WriteFlags): boolean;
  /** Makes every completed write durable (REQ_PREFLUSH). */
  flush(): Promise<void>;
  discard(offset: number, length: number): Promise<void>;
  writeZeroes(offset: number, length: number, flags?: WriteZeroesFlags): Promise<void>;
}

export type IoOp = 'read' | 'write' | 'discard' | 'write-zeroes';

/**
 * Refuses an I/O that is not whole logical blocks inside the device. Throws ERR_OUT_OF_RANGE
 * (ENOSPC, as the block layer fails I/O past the end) or ERR_UNALIGNED (EINVAL).
 */
export function checkIo(dev: BlockDevice, op: IoOp, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new UcryptError('ERR_BAD_ARGUMENT', 'EINVAL', `${op}: offset ${offset} and length ${length} must be non-negative integers`);
  }
  if (offset + length > dev.size) {
    throw new UcryptError('ERR_OUT_OF_RANGE', 'ENOSPC', `${op}: range ${offset}+${length} is beyond the end of the device (${dev.size} bytes)`, { offset, length, size: dev.size });
  }
  const bs = dev.limits.logicalBlockSize;
  if (offset % bs !== 0 || length % bs !== 0) {
    throw new UcryptError('ERR_UNALIGNED', 'EINVAL', `${op}: offset ${offset} and length ${length} must be multiples of the logical block size ${bs}`, { offset, length, blockSize: bs });
  }
}

export function checkWritable(dev: BlockDevice, op: IoOp): void {
  if (dev.limits.readOnly) throw new UcryptError('ERR_READ_ONLY', 'EROFS', `${op}: the device is read-only`);
}

/** Writes zero buffers over a range, for devices without a cheaper way (bounded chunk size). */
export async function writeZeroesByWriting(dev: BlockDevice, offset: number, length: number, flags?: WriteFlags): Promise<void> {
  const chunk = new Uint8Array(Math.min(length, 1 << 20));
  for (let done = 0; done < length; done += chunk.length) {
    const n = Math.min(chunk.length, length - done);
    await dev.write(offset + done, n === chunk.length ? chunk : chunk.subarray(0, n), flags);
  }
}
