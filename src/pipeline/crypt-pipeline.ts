// The data path of a crypt target: drivers/md/dm-crypt.c's crypt_map, kcryptd_queue_crypt,
// kcryptd_crypt_read_convert / kcryptd_crypt_write_convert, kcryptd_crypt_write_io_submit and
// the dmcrypt_write thread, translated to one Node event loop plus worker threads.
//
//   read:  crypt_map -> lower read (kcryptd_io_read) -> crypt_endio -> kcryptd_queue_crypt
//            no_read_workqueue: decrypt right there, in the read's completion context (the
//              continuation of the lower read's promise: our softirq/BH-workqueue analog)
//            otherwise:         queue_work(kcryptd) -> a worker decrypts -> completion batch
//   write: crypt_map -> kcryptd_queue_crypt
//            no_write_workqueue: encrypt in the submitter's context (synchronously, in the call)
//              and submit the clone directly
//            otherwise: queue_work(kcryptd) -> a worker encrypts -> kcryptd_crypt_write_io_submit
//              (async = 0: our skciphers complete synchronously inside the worker)
//                submit_from_crypt_cpus: submit directly, in completion order
//                otherwise: insert into the sector-sorted write tree; dmcrypt_write drains it
//   flush / FUA: wait for every write queued before them (in a worker, in the tree, or at the
//          lower device), then flush / complete. (The kernel remaps REQ_PREFLUSH straight to the
//          lower device; a flush only covers completed writes there. Waiting for queued writes
//          as well gives callers that ack early the same guarantee.)
//
// Flags: see CryptOptions. same_cpu_crypt picks the worker of the submitter (submitter.ts);
// high_priority (WQ_HIGHPRI workqueues and a nice -20 dmcrypt_write thread in the kernel) runs
// this target's dmcrypt_write drain as a microtask, ahead of other targets' drains and of the
// event loop's other I/O callbacks, instead of in the check phase (setImmediate); worker threads
// have no priority of their own in Node.
//
// Requests are pooled objects (Req) with their callbacks bound once; an I/O allocates its
// promise and nothing else on the steady path (the read/write copies to and from bounce buffers
// are the cost of handing non-shared memory to another thread: measured in bench/pipeline.ts).

import { availableParallelism } from 'node:os';
import type { BlockDevice, WriteFlags } from '../block/device.js';
import { SECTOR_SIZE } from '../block/device.js';
import { RamDisk } from '../backends/ram/ramdisk.js';
import { UcryptError } from '../errors.js';
import type { CryptEngine } from '../targets/crypt/engine.js';
import type { EngineSpec } from '../targets/crypt/replica.js';
import type { Bounce } from './bounce.js';
import { BouncePool, MAX_BIO } from './bounce.js';
import { copyInto } from '../backends/ram/copy.js';
import { ioDoneChannel, ioErrorChannel, ioStartChannel, writeSubmitChannel } from './channels.js';
import type { IoMessage, WriteSubmitMessage } from './channels.js';
import type { WorkItem } from './kcryptd.js';
import { Kcryptd } from './kcryptd.js';
import { DIR_DECRYPT, DIR_ENCRYPT, OP_COPY_ENC, OP_CRYPT, OP_ENC_DISK, OP_READ, STATUS_OK } from './rings.js';
import { currentSubmitter } from './submitter.js';
import { SortedWriteQueue } from './write-queue.js';

/** The feature flags of crypt_ctr_optional that steer the pipeline. */
export interface PipelineFlags {
  /** DM_CRYPT_SAME_CPU */
  readonly sameCpuCrypt: boolean;
  /** DM_CRYPT_HIGH_PRIORITY */
  readonly highPriority: boolean;
  /** DM_CRYPT_NO_OFFLOAD */
  readonly submitFromCryptCpus: boolean;
  /** DM_CRYPT_NO_READ_WORKQUEUE */
  readonly noReadWorkqueue: boolean;
  /** DM_CRYPT_NO_WRITE_WORKQUEUE */
  readonly noWriteWorkqueue: boolean;
}

let defaultWorkers = 0;

/**
 * Workers per kcryptd pool: UCRYPT_KCRYPTD_WORKERS, or setKcryptdWorkers(n), or one per core
 * (num_online_cpus()).
 */
export function kcryptdWorkers(): number {
  if (defaultWorkers > 0) return defaultWorkers;
  const env = Number(process.env['UCRYPT_KCRYPTD_WORKERS']);
  return Number.isInteger(env) && env > 0 ? env : availableParallelism();
}

/** Sets the pool size for targets created afterwards (0 restores the default). */
export function setKcryptdWorkers(n: number): void {
  defaultWorkers = Math.max(0, n | 0);
}

const KIND_READ = 0;
const KIND_WRITE = 1;

/** One bio in flight (struct dm_crypt_io), pooled. */
class Req implements WorkItem {
  readonly tag: number;
  dir = 0;
  bufId = 0;
  bufOff = 0;
  len = 0;
  sector = 0;
  worker = 0;
  target = 0;
  op = OP_CRYPT;
  srcBuf = 0;
  srcOff = 0;
  disk = 0;
  diskOff = 0;
  /** A worker touches RAM disk pages for it (RamDisk.pin until released). */
  pinned = false;
  kind = KIND_READ;
  /** Target-relative byte offset. */
  offset = 0;
  /** Where the crypto happens: a bounce buffer's bytes or the caller's shared buffer. */
  data: Uint8Array | undefined;
  bounce: Bounce | undefined;
  /** The caller's buffer (reads copy the plaintext back into it when it was bounced). */
  caller: Uint8Array | undefined;
  flags: WriteFlags | undefined;
  fua = false;
  gen = 0;
  resolve: (() => void) | undefined;
  reject: ((err: unknown) => void) | undefined;
  readonly lowerOk: () => void;
  readonly lowerErr: (err: unknown) => void;

  constructor(tag: number, p: CryptPipeline) {
    this.tag = tag;
    this.lowerOk = () => p.lowerDone(this);
    this.lowerErr = (err: unknown) => p.fail(this, err);
  }
}

export interface PipelineParams {
  /** The main thread's engine (inline paths; its key is what workers copy). */
  readonly engine: CryptEngine;
  readonly spec: EngineSpec;
  readonly flags: PipelineFlags;
  readonly dev: BlockDevice;
  /** Byte offset of the target on the lower device. */
  readonly base: number;
  /** Worker count (default kcryptdWorkers()). */
  readonly workers?: number;
}

function eio(what: string): UcryptError {
  return new UcryptError('ERR_IO', 'EIO', `crypt: ${what}`);
}

const noop = (): void => undefined;

/**
 * What a path that completed synchronously returns: one settled promise shared by every such
 * I/O (awaiting or chaining it allocates nothing of ours per request).
 */
const DONE: Promise<void> = Promise.resolve();

export class CryptPipeline {
  readonly flags: PipelineFlags;
  private readonly engine: CryptEngine;
  private readonly spec: EngineSpec;
  private readonly dev: BlockDevice;
  private readonly base: number;
  private readonly workerCount: number;
  private wq: Kcryptd | undefined;
  /** The lower device when it is a RAM disk whose pages the workers touch themselves. */
  private readonly ram: RamDisk | undefined;
  /** Its id in the kcryptd pool (0 until the workqueue is up). */
  private diskId = 0;
  private readonly pool = new BouncePool();
  /** The clone of writeInlineSync (plain memory: only this thread touches it). */
  private scratch = new Uint8Array(0);
  /**
   * writeNow over a lower device other than a RAM disk (its own writeNow): after it declines,
   * the next `lowerWriteSkip` writes decline without encrypting first; the count doubles with
   * each consecutive decline (up to 1024) and resets on success, so a lower device that never
   * takes writes synchronously (ext4 files: no RWF_NOWAIT buffered writes) costs one wasted
   * encryption in a thousand writes.
   */
  private lowerWriteSkip = 0;
  private lowerWriteBackoff = 0;
  private readonly reqs: Req[] = [];
  private readonly freeReqs: Req[] = [];
  /** Requests (reads and writes) between entry and completion. */
  private active = 0;
  private idleWaiters: (() => void)[] = [];
  // dmcrypt_write
  private readonly tree = new SortedWriteQueue<Req>();
  private writerScheduled = false;
  private batch = 0;
  private readonly drainFn = (): void => this.dmcryptWrite();
  // Flush generations: writes count against the generation current when they start; a flush or
  // FUA write opens a new generation and waits until every older one has no writes left.
  private gen = 0;
  private genBase = 0;
  private readonly genPending: number[] = [0];
  private genWaiters: { gen: number; resolve: () => void }[] = [];
  /** Ids of callers' SharedArrayBuffers registered with the workers (used in place). */
  private readonly sharedIds = new WeakMap<SharedArrayBuffer, number>();
  /** Their ids, to unregister them all at close. */
  private readonly sharedIdSet = new Set<number>();
  private readonly unregisterShared = new FinalizationRegistry<number>((id) => {
    if (this.sharedIdSet.delete(id)) this.wq?.unregister(id);
  });
  private closed = false;
  // Promise without a closure per request: the executor is bound once.
  private pr: (() => void) | undefined;
  private pj: ((err: unknown) => void) | undefined;
  private readonly executor = (res: () => void, rej: (err: unknown) => void): void => {
    this.pr = res;
    this.pj = rej;
  };
  /** The fixed worker of this target when same_cpu_crypt has no submitter. */
  private readonly homeWorker: number;
  private static targets = 0;

  constructor(p: PipelineParams) {
    this.engine = p.engine;
    this.spec = p.spec;
    this.flags = p.flags;
    this.dev = p.dev;
    this.base = p.base;
    this.workerCount = p.workers ?? kcryptdWorkers();
    this.homeWorker = CryptPipeline.targets++ % this.workerCount;
    this.ram = p.dev instanceof RamDisk ? p.dev : undefined;
    // crypt_ctr allocates the kcryptd workqueues: the threads start now, not on the first I/O
    // (a target that queues nothing, inline both ways, gets none).
    if (!this.flags.noReadWorkqueue || !this.flags.noWriteWorkqueue) this.workqueue();
  }

  /** Number of kcryptd threads running in this target's pool. */
  get threads(): number {
    return this.wq?.pool.threads ?? 0;
  }

  /** The kcryptd pool (created on first use), e.g. for tests that crash a worker. */
  workqueue(): Kcryptd {
    if (!this.wq) {
      if (this.closed) throw eio('the target is closed');
      const wq = new Kcryptd(this.spec, this.workerCount, {
        complete: (tag, status) => this.cryptDone(tag, status),
        key: () => (this.engine.keyValid ? this.engine.key : undefined),
      });
      this.wq = wq;
      this.pool.attach({ created: (b) => wq.register(b.sab), dropped: (b) => wq.unregister(b.id) });
      if (this.ram) this.diskId = wq.registerDisk(this.ram);
    }
    return this.wq;
  }

  /** Whether workers can do this request's lower I/O on the RAM disk's pages themselves. */
  private direct(offset: number, len: number): boolean {
    return this.diskId > 0 && this.base + offset + len <= this.ram!.size;
  }

  // ---- entry points (crypt_map) ----------------------------------------------------------

  read(offset: number, buf: Uint8Array): Promise<void> {
    if (ioStartChannel.hasSubscribers) return this.traced('read', offset, buf.length, this.read0(offset, buf));
    return this.read0(offset, buf);
  }

  write(offset: number, buf: Uint8Array, flags?: WriteFlags): Promise<void> {
    if (ioStartChannel.hasSubscribers) return this.traced('write', offset, buf.length, this.write0(offset, buf, flags));
    return this.write0(offset, buf, flags);
  }

  /** REQ_PREFLUSH: waits for every write queued before it, then flushes the lower device. */
  flush(): Promise<void> {
    const p = this.barrier().then(() => this.dev.flush());
    return ioStartChannel.hasSubscribers ? this.traced('flush', 0, 0, p) : p;
  }

  private read0(offset: number, buf: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(eio('read on a closed target'));
    if (this.flags.noReadWorkqueue) return this.readInline(offset, buf);
    if (buf.length > MAX_BIO) return this.split(offset, buf, undefined, KIND_READ);
    this.workqueue(); // registers bounce buffers with the workers before one is taken
    const req = this.req(KIND_READ, offset, buf.length);
    req.caller = buf;
    req.worker = this.flags.sameCpuCrypt ? this.sameCpu() : -1;
    const shared = this.sharedId(buf);
    if (shared >= 0) {
      // The caller's memory is shared: the worker decrypts it in place.
      req.data = buf;
      req.bufId = shared;
      req.bufOff = buf.byteOffset;
    } else {
      const b = this.pool.take(buf.length);
      req.bounce = b;
      req.bufId = b.id;
      req.bufOff = 0;
      req.data = b.u8.length === buf.length ? b.u8 : b.u8.subarray(0, buf.length);
    }
    const p = new Promise<void>(this.executor);
    req.resolve = this.pr;
    req.reject = this.pj;
    if (this.direct(offset, buf.length)) {
      // kcryptd_io_read and kcryptd_crypt_read_convert in one work item: the worker copies the
      // RAM disk's pages into the destination and decrypts them there (brd completes reads
      // synchronously in submit_bio, so the order of events is the kernel's).
      req.op = OP_READ;
      req.disk = this.diskId;
      req.diskOff = this.base + offset;
      req.dir = DIR_DECRYPT;
      req.pinned = true;
      this.ram!.pin();
      this.queueCrypt(req);
      return p;
    }
    // kcryptd_io_read: the clone goes down now; crypt_endio continues in lowerDone (at once
    // when the lower device completes it in the call: a page-cached file).
    if (this.lowerReadNow(this.base + offset, req.data)) this.lowerDone(req);
    else this.lower(req, this.dev.read(this.base + offset, req.data));
    return p;
  }

  /** no_read_workqueue: decrypt in the read's completion context (kcryptd_crypt inline). */
  private readInline(offset: number, buf: Uint8Array): Promise<void> {
    try {
      if (this.readNow(offset, buf)) return DONE;
    } catch (err) {
      return Promise.reject(err);
    }
    return this.readInlineAsync(offset, buf);
  }

  /**
   * BlockDevice.readNow: no_read_workqueue when the lower read completes in the call: a RAM disk
   * (brd completes in submit_bio) or a device whose own readNow does it (a page-cached file,
   * a linear mapping of one); the decryption follows in the call. False for everything else,
   * and while I/O is traced (the traced path publishes start/done).
   */
  readNow(offset: number, buf: Uint8Array): boolean {
    if (this.closed || !this.flags.noReadWorkqueue || ioStartChannel.hasSubscribers) return false;
    const ram = this.ram;
    if (ram) {
      if (this.base + offset + buf.length > ram.size) return false;
      ram.readSync(this.base + offset, buf);
    } else {
      const dev = this.dev;
      if (dev.readNow === undefined || !dev.readNow(this.base + offset, buf)) return false;
    }
    this.engine.convert('decrypt', buf, offset / SECTOR_SIZE);
    return true;
  }

  /**
   * BlockDevice.writeNow: no_write_workqueue without FUA, over a RAM disk (writeInlineSync) or a
   * device whose writeNow takes the encrypted clone in the call. A declined clone is dropped
   * (nothing was written, or a part the asynchronous write rewrites with the same bytes).
   */
  writeNow(offset: number, buf: Uint8Array, flags?: WriteFlags): boolean {
    if (this.closed || !this.flags.noWriteWorkqueue || flags?.fua === true || buf.length > MAX_BIO || ioStartChannel.hasSubscribers) return false;
    const ram = this.ram;
    if (ram) {
      if (this.base + offset + buf.length > ram.size) return false;
      this.writeInlineSync(ram, offset, buf);
      return true;
    }
    const dev = this.dev;
    if (dev.writeNow === undefined) return false;
    if (this.lowerWriteSkip > 0) {
      this.lowerWriteSkip--;
      return false;
    }
    const clone = this.encryptScratch(offset, buf);
    if (dev.writeNow(this.base + offset, clone, flags)) {
      this.lowerWriteBackoff = 0;
      if (writeSubmitChannel.hasSubscribers) {
        const m: WriteSubmitMessage = { sector: offset / SECTOR_SIZE, length: buf.length, batch: 0, direct: true };
        writeSubmitChannel.publish(m);
      }
      return true;
    }
    this.lowerWriteBackoff = Math.min(1024, Math.max(1, this.lowerWriteBackoff * 2));
    this.lowerWriteSkip = this.lowerWriteBackoff;
    return false;
  }

  /** crypt_alloc_buffer + kcryptd_crypt_write_convert into private scratch (the clone). */
  private encryptScratch(offset: number, buf: Uint8Array): Uint8Array {
    const n = buf.length;
    if (this.scratch.length < n) this.scratch = new Uint8Array(Math.max(n, 4096));
    const clone = this.scratch.length === n ? this.scratch : this.scratch.subarray(0, n);
    try {
      copyInto(clone, buf, 0);
      this.engine.convert('encrypt', clone, offset / SECTOR_SIZE);
    } catch (err) {
      clone.fill(0);
      throw err;
    }
    return clone;
  }

  /**
   * no_write_workqueue over a RAM disk, no FUA: the clone is encrypted and written in this call
   * (kcryptd_crypt_write_convert inline, then brd's synchronous submit_bio), so the write is
   * never in flight (a later flush has nothing of it to wait for) and needs no request, no
   * pooled bounce and no promise of its own. The clone is private scratch memory.
   */
  private writeInlineSync(ram: RamDisk, offset: number, buf: Uint8Array): void {
    const n = buf.length;
    const clone = this.encryptScratch(offset, buf);
    if (writeSubmitChannel.hasSubscribers) {
      const m: WriteSubmitMessage = { sector: offset / SECTOR_SIZE, length: n, batch: 0, direct: true };
      writeSubmitChannel.publish(m);
    }
    ram.writeSync(this.base + offset, clone);
  }

  private async readInlineAsync(offset: number, buf: Uint8Array): Promise<void> {
    this.active++;
    try {
      await this.dev.read(this.base + offset, buf);
      this.engine.convert('decrypt', buf, offset / SECTOR_SIZE);
    } finally {
      this.retire();
    }
  }

  private write0(offset: number, buf: Uint8Array, flags?: WriteFlags): Promise<void> {
    if (this.closed) return Promise.reject(eio('write on a closed target'));
    // crypt_map: writes larger than BIO_MAX_VECS pages are split (dm_accept_partial_bio).
    if (buf.length > MAX_BIO) return this.split(offset, buf, flags, KIND_WRITE);
    if (!this.flags.noWriteWorkqueue) this.workqueue();
    else if (this.ram && flags?.fua !== true && this.base + offset + buf.length <= this.ram.size) {
      try {
        this.writeInlineSync(this.ram, offset, buf);
      } catch (err) {
        return Promise.reject(err);
      }
      return DONE;
    } else if (!this.ram && flags?.fua !== true && this.dev.writeNow !== undefined) {
      // The same over a lower device that can take the clone in the call (writeNow).
      try {
        if (this.writeNow(offset, buf, flags)) return DONE;
      } catch (err) {
        return Promise.reject(err);
      }
    }
    const req = this.req(KIND_WRITE, offset, buf.length);
    req.flags = flags;
    req.fua = flags?.fua === true;
    if (req.fua) {
      this.openGen();
      this.trimGens();
    }
    req.gen = this.gen;
    this.genPending[this.gen - this.genBase]!++;
    const p = new Promise<void>(this.executor);
    req.resolve = this.pr;
    req.reject = this.pj;
    const shared = this.flags.noWriteWorkqueue ? -1 : this.sharedId(buf);
    if (shared >= 0 && this.flags.submitFromCryptCpus && this.direct(offset, buf.length)) {
      // DM_CRYPT_NO_OFFLOAD with the caller's memory shared: the worker encrypts it straight
      // into the RAM disk's pages (the submission happens in the crypto context, as the kernel
      // submits from the crypt CPU); the pages are allocated here first (brd's page allocation).
      this.ram!.ensurePages(this.base + offset, buf.length);
      req.op = OP_ENC_DISK;
      req.srcBuf = shared;
      req.srcOff = buf.byteOffset;
      req.disk = this.diskId;
      req.diskOff = this.base + offset;
      req.dir = DIR_ENCRYPT;
      req.worker = this.flags.sameCpuCrypt ? this.sameCpu() : -1;
      req.pinned = true;
      this.ram!.pin();
      this.queueCrypt(req);
      return p;
    }
    // crypt_alloc_buffer: the clone's pages; the caller's buffer is never modified.
    const b = this.pool.take(buf.length);
    req.bounce = b;
    req.bufId = b.id;
    req.bufOff = 0;
    const data = b.u8.length === buf.length ? b.u8 : b.u8.subarray(0, buf.length);
    req.data = data;
    if (shared >= 0) {
      // The worker copies the caller's (shared) plaintext into the clone as it encrypts.
      req.op = OP_COPY_ENC;
      req.srcBuf = shared;
      req.srcOff = buf.byteOffset;
    } else copyInto(data, buf, 0);
    if (this.flags.noWriteWorkqueue) {
      // kcryptd_queue_crypt with DM_CRYPT_NO_WRITE_WORKQUEUE: kcryptd_crypt_write_convert runs
      // in the submitter's context, and the clone is submitted directly (no write tree).
      try {
        this.engine.convert('encrypt', data, req.sector);
      } catch (err) {
        this.fail(req, err);
        return p;
      }
      this.submitWrite(req, 0);
      return p;
    }
    req.dir = DIR_ENCRYPT;
    req.worker = this.flags.sameCpuCrypt ? this.sameCpu() : -1;
    this.queueCrypt(req);
    return p;
  }

  private async split(offset: number, buf: Uint8Array, flags: WriteFlags | undefined, kind: number): Promise<void> {
    const parts: Promise<void>[] = [];
    for (let at = 0; at < buf.length; at += MAX_BIO) {
      const piece = buf.subarray(at, Math.min(buf.length, at + MAX_BIO));
      parts.push(kind === KIND_READ ? this.read0(offset + at, piece) : this.write0(offset + at, piece, flags));
    }
    await Promise.all(parts);
  }

  // ---- kcryptd ---------------------------------------------------------------------------

  /** same_cpu_crypt: the submitter's worker, or this target's fixed one. */
  private sameCpu(): number {
    const s = currentSubmitter();
    return (s >= 0 ? s : this.homeWorker) % this.workerCount;
  }

  /** kcryptd_queue_crypt (workqueue case): queue_work on the chosen or least busy worker. */
  private queueCrypt(req: Req): void {
    const wq = this.workqueue();
    if (req.worker < 0) req.worker = wq.pick();
    wq.push(req);
  }

  /** The end of crypt_convert in a worker (one call per completion of a batch). */
  private cryptDone(tag: number, status: number): void {
    const req = this.reqs[tag]!;
    if (!req.resolve) return;
    if (status !== STATUS_OK) {
      this.fail(req, eio(`${req.kind === KIND_READ ? 'decryption' : 'encryption'} failed in kcryptd (worker ${req.worker})`));
      return;
    }
    if (req.kind === KIND_READ) {
      this.finishRead(req);
      return;
    }
    if (req.op === OP_ENC_DISK) {
      // Already on the RAM disk's pages (submitted from the crypto context).
      if (writeSubmitChannel.hasSubscribers) {
        const m: WriteSubmitMessage = { sector: req.sector, length: req.len, batch: 0, direct: true };
        writeSubmitChannel.publish(m);
      }
      this.writeDone(req);
      return;
    }
    // kcryptd_crypt_write_io_submit(io, async = 0)
    if (this.flags.submitFromCryptCpus) {
      this.submitWrite(req, 0);
      return;
    }
    this.tree.insert(req.sector, req);
    if (!this.writerScheduled) {
      // wake_up_process(cc->write_thread)
      this.writerScheduled = true;
      if (this.flags.highPriority) queueMicrotask(this.drainFn);
      else setImmediate(this.drainFn);
    }
  }

  /** dmcrypt_write: take the whole tree, submit it in ascending sector order. */
  private dmcryptWrite(): void {
    this.writerScheduled = false;
    const batch = ++this.batch;
    for (let req = this.tree.shift(); req; req = this.tree.shift()) if (req.resolve) this.submitWrite(req, batch);
  }

  private submitWrite(req: Req, batch: number): void {
    if (writeSubmitChannel.hasSubscribers) {
      const m: WriteSubmitMessage = { sector: req.sector, length: req.len, batch, direct: batch === 0 };
      writeSubmitChannel.publish(m);
    }
    const ram = this.ram;
    const at = this.base + req.offset;
    if (ram && at + req.len <= ram.size) {
      // brd completes the clone in submit_bio: no promise round trip through the lower device.
      ram.writeSync(at, req.data!);
      this.writeDone(req);
      return;
    }
    if (!req.fua && this.lowerWriteNow(at, req.data!, req.flags)) {
      // The clone was taken in the call (lower writeNow): already encrypted, nothing wasted.
      this.writeDone(req);
      return;
    }
    this.lower(req, this.dev.write(at, req.data!, req.flags));
  }

  /** The lower device's readNow, if any; a refusal it throws is left to its read to report. */
  private lowerReadNow(at: number, data: Uint8Array): boolean {
    const dev = this.dev;
    if (dev.readNow === undefined || ioStartChannel.hasSubscribers) return false;
    try {
      return dev.readNow(at, data);
    } catch {
      return false;
    }
  }

  private lowerWriteNow(at: number, data: Uint8Array, flags: WriteFlags | undefined): boolean {
    const dev = this.dev;
    if (dev.writeNow === undefined || ioStartChannel.hasSubscribers) return false;
    try {
      return dev.writeNow(at, data, flags);
    } catch {
      return false;
    }
  }

  /** Calls the lower device's promise back into this request (no closure per request). */
  private lower(req: Req, p: Promise<void>): void {
    p.then(req.lowerOk, req.lowerErr);
  }

  /** crypt_endio (reads) or the end of the clone write (writes). */
  lowerDone(req: Req): void {
    if (!req.resolve) return; // failed by close() while the lower I/O was out
    if (req.kind === KIND_READ) {
      req.dir = DIR_DECRYPT;
      this.queueCrypt(req);
      return;
    }
    this.writeDone(req);
  }

  private finishRead(req: Req): void {
    if (req.bounce) copyInto(req.caller!, req.data!, 0);
    const resolve = req.resolve!;
    this.release(req);
    resolve();
  }

  private writeDone(req: Req): void {
    const fuaGen = req.fua ? req.gen : -1;
    this.writeRetired(req.gen);
    const resolve = req.resolve!;
    this.release(req);
    if (fuaGen < 0) resolve();
    else this.waitGen(fuaGen).then(resolve, noop);
  }

  /** Any failure of a request: the lower device's error as is, crypto failures as EIO. */
  fail(req: Req, err: unknown): void {
    if (!req.reject) return; // already failed by close()
    if (req.kind === KIND_WRITE) this.writeRetired(req.gen);
    const reject = req.reject!;
    this.release(req);
    reject(err);
  }

  // ---- request pool ----------------------------------------------------------------------

  private req(kind: number, offset: number, len: number): Req {
    let r = this.freeReqs.pop();
    if (!r) {
      r = new Req(this.reqs.length, this);
      this.reqs.push(r);
    }
    r.kind = kind;
    r.offset = offset;
    r.len = len;
    r.sector = offset / SECTOR_SIZE;
    r.worker = -1;
    r.op = OP_CRYPT;
    r.srcBuf = 0;
    r.srcOff = 0;
    r.disk = 0;
    r.diskOff = 0;
    this.active++;
    return r;
  }

  private release(r: Req): void {
    if (r.pinned) this.ram!.unpin();
    r.pinned = false;
    if (r.bounce) this.pool.give(r.bounce);
    r.bounce = undefined;
    r.data = undefined;
    r.caller = undefined;
    r.flags = undefined;
    r.resolve = undefined;
    r.reject = undefined;
    r.fua = false;
    this.freeReqs.push(r);
    this.retire();
  }

  private retire(): void {
    if (--this.active === 0 && this.idleWaiters.length > 0) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const f of w) f();
    }
  }

  /** Registers a caller's SharedArrayBuffer with the workers (bounded), or -1. */
  private sharedId(buf: Uint8Array): number {
    const sab = buf.buffer;
    if (!(sab instanceof SharedArrayBuffer)) return -1;
    const known = this.sharedIds.get(sab);
    if (known !== undefined) return known;
    if (this.sharedIdSet.size >= 256 || this.closed) return -1;
    const id = this.workqueue().register(sab);
    this.sharedIdSet.add(id);
    this.sharedIds.set(sab, id);
    this.unregisterShared.register(sab, id);
    return id;
  }

  // ---- flush generations -----------------------------------------------------------------

  private openGen(): void {
    this.gen++;
    this.genPending.push(0);
  }

  private writeRetired(gen: number): void {
    const i = gen - this.genBase;
    this.genPending[i]!--;
    if (this.genPending[0] === 0 && (this.genPending.length > 1 || this.genWaiters.length > 0)) this.trimGens();
  }

  private trimGens(): void {
    while (this.genPending.length > 1 && this.genPending[0] === 0) {
      this.genPending.shift();
      this.genBase++;
    }
    if (this.genWaiters.length === 0) return;
    const still: { gen: number; resolve: () => void }[] = [];
    for (const w of this.genWaiters) {
      if (w.gen <= this.genBase) w.resolve();
      else still.push(w);
    }
    this.genWaiters = still;
  }

  /** Resolves when every write of generations older than `gen` has completed. */
  private waitGen(gen: number): Promise<void> {
    if (gen <= this.genBase) return Promise.resolve();
    return new Promise<void>((resolve) => this.genWaiters.push({ gen, resolve }));
  }

  /** A flush: waits for every write started before this call. */
  barrier(): Promise<void> {
    if (this.genPending.length === 1 && this.genPending[0] === 0) return Promise.resolve();
    this.openGen();
    const p = this.waitGen(this.gen);
    this.trimGens();
    return p;
  }

  /** Resolves when no request is in flight (postsuspend: the write tree and workers are empty). */
  idle(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** `key set` / `key wipe` while suspended: the workers' replicas follow the main engine. */
  rekey(): void {
    this.wq?.rekey(this.engine.keyValid ? this.engine.key : undefined);
  }

  /**
   * crypt_dtr: destroys the workqueue (every worker wipes this target's replica; the shared
   * threads stop once no target uses them) and zeroes the bounce buffers.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    // Normally nothing is in flight (dm suspends before it destroys a table); whatever is gets
    // EIO now, and its late callbacks find the request already finished.
    for (const r of this.reqs) if (r.reject) this.fail(r, eio('the target was closed with I/O in flight'));
    this.pool.clear();
    this.scratch.fill(0);
    for (const id of this.sharedIdSet) this.wq?.unregister(id);
    this.sharedIdSet.clear();
    if (this.ram && this.diskId > 0) this.wq?.unregisterDisk(this.ram);
    this.diskId = 0;
    this.wq?.close();
  }

  private traced(op: IoMessage['op'], offset: number, length: number, p: Promise<void>): Promise<void> {
    ioStartChannel.publish({ op, offset, length } satisfies IoMessage);
    return p.then(
      () => {
        ioDoneChannel.publish({ op, offset, length } satisfies IoMessage);
      },
      (error: unknown) => {
        ioErrorChannel.publish({ op, offset, length, error } satisfies IoMessage);
        throw error;
      },
    );
  }
}
