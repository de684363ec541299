// A mapped device (the kernel's struct mapped_device, drivers/md/dm.c) with a live and an
// inactive table, suspend/resume, and I/O that waits while suspended.
//
//   submit ──> suspended? ──yes──> deferred FIFO ──(resume: started in order)──┐
//                  │no                                                         v
//                  └──────────────> live Table: find target(s) ──> target.read/write/...
//
// Ordering: I/O submitted while suspended is started synchronously, in submission order, when
// the device resumes, before anything submitted afterwards; suspend waits for every in-flight
// I/O and then flushes (the kernel's lockfs flush), so no I/O is lost or reordered across a
// table swap.

import type { BlockDevice, BlockLimits, WriteFlags, WriteZeroesFlags } from '../block/device.js';
import { SECTOR_SIZE, checkIo, checkWritable } from '../block/device.js';
import { UcryptError, errnoOf, errorMessage } from '../errors.js';
import type { DeviceRef, StatusOptions, StatusType, Target, TargetType } from './target.js';
import { formatLine } from './table.js';

export interface LoadedTarget {
  /** Sectors. */
  readonly start: number;
  readonly len: number;
  readonly type: TargetType;
  readonly target: Target;
  /** Bytes, for the I/O path. */
  readonly startByte: number;
  readonly endByte: number;
}

/** A constructed table: targets plus the devices it holds open (released by close()). */
export class Table {
  readonly targets: readonly LoadedTarget[];
  readonly size: number;
  readonly limits: BlockLimits;
  readonly refs: readonly DeviceRef[];
  private readonly releaseRefs: () => void;
  private closed = false;

  constructor(targets: LoadedTarget[], refs: DeviceRef[], limits: BlockLimits, releaseRefs: () => void) {
    this.targets = targets;
    this.refs = refs;
    this.limits = limits;
    this.releaseRefs = releaseRefs;
    const last = targets[targets.length - 1];
    this.size = last ? last.endByte : 0;
  }

  /** Index of the target covering byte `offset` (binary search; tables are sorted and adjoining). */
  private find(offset: number): number {
    const t = this.targets;
    let lo = 0;
    let hi = t.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (t[mid]!.startByte <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  read(offset: number, buf: Uint8Array): Promise<void> {
    const t = this.targets[this.find(offset)]!;
    if (offset + buf.length <= t.endByte) return t.target.read(offset - t.startByte, buf);
    return this.split(offset, buf.length, (lt, off, start, n) => lt.target.read(off, buf.subarray(start, start + n)));
  }

  write(offset: number, buf: Uint8Array, flags?: WriteFlags): Promise<void> {
    const t = this.targets[this.find(offset)]!;
    if (offset + buf.length <= t.endByte) return t.target.write(offset - t.startByte, buf, flags);
    return this.split(offset, buf.length, (lt, off, start, n) => lt.target.write(off, buf.subarray(start, start + n), flags));
  }

  /** Synchronous submission when one target covers the range and completes it in the call. */
  readNow(offset: number, buf: Uint8Array): boolean {
    const t = this.targets[this.find(offset)]!;
    return offset + buf.length <= t.endByte && t.target.readNow !== undefined && t.target.readNow(offset - t.startByte, buf);
  }

  writeNow(offset: number, buf: Uint8Array, flags?: WriteFlags): boolean {
    const t = this.targets[this.find(offset)]!;
    return offset + buf.length <= t.endByte && t.target.writeNow !== undefined && t.target.writeNow(offset - t.startByte, buf, flags);
  }

  discard(offset: number, length: number): Promise<void> {
    return this.split(offset, length, (lt, off, _start, n) => lt.target.discard(off, n));
  }

  writeZeroes(offset: number, length: number, flags?: WriteZeroesFlags): Promise<void> {
    return this.split(offset, length, (lt, off, _start, n) => lt.target.writeZeroes(off, n, flags));
  }

  /** A flush goes to every target (each passes it to its devices), as REQ_PREFLUSH does. */
  async flush(): Promise<void> {
    await Promise.all(this.targets.map((t) => t.target.flush()));
  }

  /** Splits a range at target boundaries (the slow path: requests that cross targets). */
  private async split(offset: number, length: number, fn: (t: LoadedTarget, off: number, start: number, n: number) => Promise<void>): Promise<void> {
    const jobs: Promise<void>[] = [];
    let pos = offset;
    const end = offset + length;
    for (let i = this.find(offset); pos < end; i++) {
      const t = this.targets[i]!;
      const n = Math.min(end, t.endByte) - pos;
      jobs.push(fn(t, pos - t.startByte, pos - offset, n));
      pos += n;
    }
    await Promise.all(jobs);
  }

  lines(type: StatusType, opts: StatusOptions): string[] {
    return this.targets.map((t) => formatLine(t.start, t.len, t.type.name, t.target.status(type, opts)));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.targets) t.target.close?.();
    this.releaseRefs();
  }
}

type Op = 0 | 1 | 2 | 3 | 4;
const OP_READ = 0;
const OP_WRITE = 1;
const OP_FLUSH = 2;
const OP_DISCARD = 3;
const OP_ZEROES = 4;

interface Deferred {
  readonly op: Op;
  readonly offset: number;
  readonly length: number;
  readonly buf: Uint8Array | undefined;
  readonly flags: (WriteFlags & WriteZeroesFlags) | undefined;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

const EMPTY_LIMITS: BlockLimits = { logicalBlockSize: SECTOR_SIZE, physicalBlockSize: SECTOR_SIZE, maxTransfer: 32 << 20, discard: false, writeZeroes: false, readOnly: false };

export class MappedDevice implements BlockDevice {
  readonly name: string;
  readonly minor: number;
  readonly uuid: string;
  readonly readOnly: boolean;
  live: Table | undefined;
  inactive: Table | undefined;
  suspended = false;
  eventNr = 0;
  /** Holders: tables that use this device, plus open exports (maintained by the registry). */
  openCount = 0;
  private inflight = 0;
  private drained: (() => void) | undefined;
  private suspending: Promise<void> | undefined;
  private readonly deferred: Deferred[] = [];
  private readonly onDone: () => void;
  private readonly onFail: (err: unknown) => never;

  constructor(name: string, minor: number, uuid: string, readOnly: boolean) {
    this.name = name;
    this.minor = minor;
    this.uuid = uuid;
    this.readOnly = readOnly;
    // Bound once: the I/O path allocates no closures per request.
    this.onDone = () => {
      if (--this.inflight === 0 && this.drained) this.drained();
    };
    this.onFail = (err: unknown) => {
      this.onDone();
      throw err;
    };
  }

  get devName(): string {
    return `254:${this.minor}`;
  }

  get size(): number {
    return this.live?.size ?? 0;
  }

  get limits(): BlockLimits {
    const l = this.live?.limits ?? EMPTY_LIMITS;
    return this.readOnly && !l.readOnly ? { ...l, readOnly: true } : l;
  }

  // Refusals (range, alignment, read-only, a lower device's own checks) come back as rejected
  // promises, never as synchronous throws, and only I/O that started counts as in flight.

  read(offset: number, buf: Uint8Array): Promise<void> {
    if (this.suspended) return this.defer(OP_READ, offset, buf.length, buf, undefined);
    let p: Promise<void>;
    try {
      checkIo(this, 'read', offset, buf.length);
      p = this.live!.read(offset, buf);
    } catch (err) {
      return Promise.reject(err);
    }
    this.inflight++;
    return p.then(this.onDone, this.onFail);
  }

  write(offset: number, buf: Uint8Array, flags?: WriteFlags): Promise<void> {
    if (this.suspended) return this.defer(OP_WRITE, offset, buf.length, buf, flags);
    let p: Promise<void>;
    try {
      checkIo(this, 'write', offset, buf.length);
      checkWritable(this, 'write');
      p = this.live!.write(offset, buf, flags);
    } catch (err) {
      return Promise.reject(err);
    }
    this.inflight++;
    return p.then(this.onDone, this.onFail);
  }

  /**
   * BlockDevice.readNow/writeNow: only while not suspended (nothing to defer) and when the live
   * table's target completes the I/O in the call; such an I/O is never in flight, so suspend has
   * nothing of it to wait for. Range and alignment refusals throw, as read/write reject.
   */
  readNow(offset: number, buf: Uint8Array): boolean {
    if (this.suspended || !this.live) return false;
    checkIo(this, 'read', offset, buf.length);
    return this.live.readNow(offset, buf);
  }

  writeNow(offset: number, buf: Uint8Array, flags?: WriteFlags): boolean {
    if (this.suspended || !this.live) return false;
    checkIo(this, 'write', offset, buf.length);
    checkWritable(this, 'write');
    return this.live.writeNow(offset, buf, flags);
  }

  flush(): Promise<void> {
    if (this.suspended) return this.defer(OP_FLUSH, 0, 0, undefined, undefined);
    if (!this.live) return Promise.resolve();
    let p: Promise<void>;
    try {
      p = this.live.flush();
    } catch (err) {
      return Promise.reject(err);
    }
    this.inflight++;
    return p.then(this.onDone, this.onFail);
  }

  discard(offset: number, length: number): Promise<void> {
    if (this.suspended) return this.defer(OP_DISCARD, offset, length, undefined, undefined);
    let p: Promise<void>;
    try {
      checkIo(this, 'discard', offset, length);
      checkWritable(this, 'discard');
      if (!this.limits.discard) throw new UcryptError('ERR_NOT_SUPPORTED', 'ENOTSUP', `${this.name}: discard is not supported by this table`);
      p = this.live!.discard(offset, length);
    } catch (err) {
      return Promise.reject(err);
    }
    this.inflight++;
    return p.then(this.onDone, this.onFail);
  }

  writeZeroes(offset: number, length: number, flags?: WriteZeroesFlags): Promise<void> {
    if (this.suspended) return this.defer(OP_ZEROES, offset, length, undefined, flags);
    let p: Promise<void>;
    try {
      checkIo(this, 'write-zeroes', offset, length);
      checkWritable(this, 'write-zeroes');
      p = this.live!.writeZeroes(offset, length, flags);
    } catch (err) {
      return Promise.reject(err);
    }
    this.inflight++;
    return p.then(this.onDone, this.onFail);
  }

  private defer(op: Op, offset: number, length: number, buf: Uint8Array | undefined, flags: Deferred['flags']): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.deferred.push({ op, offset, length, buf, flags, resolve, reject });
    });
  }

  private start(d: Deferred): Promise<void> {
    switch (d.op) {
      case OP_READ:
        return this.read(d.offset, d.buf!);
      case OP_WRITE:
        return this.write(d.offset, d.buf!, d.flags);
      case OP_FLUSH:
        return this.flush();
      case OP_DISCARD:
        return this.discard(d.offset, d.length);
      default:
        return this.writeZeroes(d.offset, d.length, d.flags);
    }
  }

  /** Number of I/Os waiting for resume (for tests and status). */
  get deferredCount(): number {
    return this.deferred.length;
  }

  /**
   * dm_suspend: stop new I/O, wait for in-flight I/O, flush, then tell the targets. A caller
   * arriving while a suspend is still draining waits for that same suspend.
   */
  suspend(): Promise<void> {
    if (this.suspending) return this.suspending;
    if (this.suspended) return Promise.resolve();
    this.suspended = true;
    const p = this.quiesce().finally(() => {
      if (this.suspending === p) this.suspending = undefined;
    });
    this.suspending = p;
    return p;
  }

  private async quiesce(): Promise<void> {
    // presuspend: targets that hold I/O back (delay) let it go before the drain waits for it.
    if (this.live) for (const t of this.live.targets) t.target.presuspend?.();
    if (this.inflight > 0) {
      await new Promise<void>((resolve) => {
        this.drained = resolve;
      });
      this.drained = undefined;
    }
    if (this.live) {
      await this.live.flush();
      for (const t of this.live.targets) await t.target.postsuspend?.();
    }
  }

  /** Makes the inactive table live (the device must be suspended); returns the old one to close. */
  swapTables(): Table | undefined {
    if (!this.suspended) throw new UcryptError('ERR_SUSPENDED', 'EINVAL', `${this.name}: tables are swapped only while suspended`);
    const old = this.live;
    this.live = this.inactive;
    this.inactive = undefined;
    return old;
  }

  /**
   * The second half of dm_resume: targets may veto (preresume throws, the device stays
   * suspended), then deferred I/O starts in submission order, before anything newer.
   */
  resumeIo(): void {
    if (!this.suspended) return;
    if (this.live) {
      for (const t of this.live.targets) {
        try {
          t.target.preresume?.();
        } catch (err) {
          // Names the target for the core's `preresume failed` line (dm_table_resume_targets).
          throw new UcryptError(err instanceof UcryptError ? err.code : 'ERR_SUSPENDED', errnoOf(err), errorMessage(err), { preresume: t.type.name });
        }
      }
    }
    this.suspended = false;
    const queue = this.deferred.splice(0);
    for (const d of queue) this.start(d).then(d.resolve, d.reject);
  }

  /** Fails every deferred I/O (device removal while suspended). */
  failDeferred(err: UcryptError): void {
    for (const d of this.deferred.splice(0)) d.reject(err);
  }

  get tablesPresent(): 'LIVE' | 'INACTIVE' | 'LIVE & INACTIVE' | 'None' {
    if (this.live && this.inactive) return 'LIVE & INACTIVE';
    if (this.live) return 'LIVE';
    if (this.inactive) return 'INACTIVE';
    return 'None';
  }
}
