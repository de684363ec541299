// A kworker of the kcryptd pool: runs kcryptd_crypt_read_convert / kcryptd_crypt_write_convert,
// i.e. crypt_convert over one bio, for requests the main thread puts in this worker's submission
// ring, and reports each in its completion ring. Like the kernel's kworkers, one thread serves
// the "kcryptd/<dev>" workqueues of every crypt target; it holds one replica of each target's
// engine (cc->tfms), keyed by target id, built from the table's cipher and a copy of the key.
// It never returns to its event loop: it sleeps in Atomics.wait when idle and
// pulls control messages (key, wipe, buffer registrations) synchronously with
// receiveMessageOnPort when the main thread bumps CTRL_SEQ.

import type { MessagePort } from 'node:worker_threads';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { receiveMessageOnPort, workerData } from 'node:worker_threads';
import type { CryptEngine } from '../targets/crypt/engine.js';
import type { EngineSpec } from '../targets/crypt/replica.js';
import { buildEngine, rekeyEngine } from '../targets/crypt/replica.js';
import { copyInto } from '../backends/ram/copy.js';
import type { ControlMessage } from './rings.js';
import {
  CMP_HEAD,
  CMP_WORDS,
  CTRL_SEQ,
  C_STATUS,
  C_TARGET,
  C_TAG,
  DIR_ENCRYPT,
  MAIN_POLLING,
  MAIN_SEQ,
  OP_COPY_ENC,
  OP_CRYPT,
  OP_ENC_DISK,
  OP_READ,
  MAIN_WAITING,
  RING_MASK,
  SLEEPING,
  STATUS_ERROR,
  STATUS_OK,
  STOP,
  SUB_HEAD,
  SUB_SEQ,
  SUB_TAIL,
  SUB_WORDS,
  S_BUF,
  S_DIR,
  S_DISK,
  S_DOFF_HI,
  S_DOFF_LO,
  S_OP,
  S_SRC_BUF,
  S_SRC_OFF,
  S_LEN,
  S_OFF,
  S_SEC_HI,
  S_SEC_LO,
  S_TAG,
  S_TARGET,
  cmpBase,
  ctrlBase,
  subBase,
} from './rings.js';

export interface WorkerInit {
  readonly ring: SharedArrayBuffer;
  readonly index: number;
  readonly port: MessagePort;
  /** Microseconds to poll the ring after the last item before sleeping (0: sleep at once). */
  readonly spinUs: number;
  /** Microseconds to poll for the next request after a completion, with back-off (0: never). */
  readonly pollUs: number;
}

const init = workerData as WorkerInit;
const words = new Int32Array(init.ring);
const port = init.port;
const c = ctrlBase(init.index);
const sub = subBase(init.index);
const cmp = cmpBase(init.index);
/** Registered shared buffers (bounce buffers and callers' SharedArrayBuffers) by id. */
const buffers = new Map<number, Uint8Array>();
/** Engine replicas by target id. */
const engines = new Map<number, CryptEngine>();
/** RAM disks whose pages this worker reads and writes in place (backends/ram/ramdisk.ts). */
interface Disk {
  readonly pageTable: Int32Array;
  readonly slabs: Map<number, Uint8Array>;
}
const disks = new Map<number, Disk>();
let ctrlSeen = 0;

/**
 * An unregistered buffer's SharedArrayBuffer object here keeps the whole shared memory alive
 * until this isolate collects it, and a worker allocates so little that V8 may not collect for
 * minutes (the memory is charged to the main thread's isolate, so it adds no pressure here):
 * table swaps under load kept hundreds of MiB that way (docs/reliability.md, Load). So a worker
 * collects once this many bytes of registrations were dropped.
 */
const COLLECT_AFTER_DROPPED = 32 << 20;
let dropped = 0;
let gc: (() => void) | undefined;

function collect(): void {
  dropped = 0;
  if (!gc) {
    // No --expose-gc in a Worker's execArgv: enable the flag and take gc from a fresh context.
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
}
/**
 * After a completion the main thread was polling for (MAIN_POLLING: it is awake and submits
 * the next request within microseconds, kcryptd.ts POLL_US), the worker polls its ring for up
 * to pollUs instead of sleeping. A poll that times out (a loaded host) backs off
 * exponentially, up to 1023 such completions without polling.
 */
let pollPending = false;
let pollBackoff = 0;
let pollSkip = 0;

// Must match backends/ram/ramdisk.ts.
const PAGE_SIZE = 4096;
const PAGE_SHIFT = 12;
const SLAB_SHIFT = 8;
const PAGE_MASK_IN_SLAB = (1 << SLAB_SHIFT) - 1;
/** Copy-then-crypt runs in chunks this size, so the crypto reads what the copy left in cache. */
const CHUNK = 64 << 10;
/** OP_ENC_DISK encrypts here (worker-private), never in the disk's pages. */
const scratch = new Uint8Array(CHUNK);

function control(): void {
  for (;;) {
    const m = receiveMessageOnPort(port);
    if (!m) return;
    const msg = m.message as ControlMessage;
    switch (msg.type) {
      case 'target':
        // The target's constructor ran on the main thread: build this worker's replica.
        try {
          engines.set(msg.target, buildEngine(msg.spec as EngineSpec, msg.key));
        } catch {
          // A replica that cannot be built fails its requests (EIO), see run().
        } finally {
          msg.key?.fill(0);
        }
        break;
      case 'untarget':
        // crypt_dtr: wipe this replica's key, instances and IV secrets.
        engines.get(msg.target)?.close();
        engines.delete(msg.target);
        break;
      case 'key':
        try {
          const e = engines.get(msg.target);
          if (e) rekeyEngine(e, msg.key);
        } catch {
          // The main thread validated the key; a refusal leaves the replica unkeyed (EIO).
        } finally {
          msg.key.fill(0);
        }
        break;
      case 'wipe':
        // crypt_wipe_key on this worker's instances.
        engines.get(msg.target)?.wipeKey();
        break;
      case 'buf':
        buffers.set(msg.id, new Uint8Array(msg.sab));
        break;
      case 'unbuf':
        dropped += buffers.get(msg.id)?.byteLength ?? 0;
        buffers.delete(msg.id);
        break;
      case 'disk':
        disks.set(msg.id, { pageTable: new Int32Array(msg.pageTable), slabs: new Map(msg.slabs.map(([k, sab]) => [k, new Uint8Array(sab)])) });
        break;
      case 'slab': {
        const d = disks.get(msg.disk);
        if (d && msg.sab) d.slabs.set(msg.index, new Uint8Array(msg.sab));
        else if (d) {
          dropped += d.slabs.get(msg.index)?.byteLength ?? 0;
          d.slabs.delete(msg.index);
        }
        break;
      }
      case 'undisk':
        for (const s of disks.get(msg.id)?.slabs.values() ?? []) dropped += s.byteLength;
        disks.delete(msg.id);
        break;
      case 'crash':
        // Test hook: an unexpected worker failure (must surface as EIO on the main thread).
        throw new Error('kcryptd worker: crash requested');
    }
  }
}

/** Finds a buffer registration that may still be in flight on the port (posted just before). */
function buffer(id: number): Uint8Array | undefined {
  let b = buffers.get(id);
  for (let tries = 0; !b && tries < 1000; tries++) {
    control();
    b = buffers.get(id);
    if (!b) Atomics.wait(words, c + CTRL_SEQ, Atomics.load(words, c + CTRL_SEQ), 1);
  }
  return b;
}

/** A RAM disk (its registration may still be in flight, as for buffers). */
function disk(id: number): Disk | undefined {
  let d = disks.get(id);
  for (let tries = 0; !d && tries < 1000; tries++) {
    control();
    d = disks.get(id);
    if (!d) Atomics.wait(words, c + CTRL_SEQ, Atomics.load(words, c + CTRL_SEQ), 1);
  }
  return d;
}

/** The slab of a page slot; a slab opened just now may still be on its way over the port. */
function slab(d: Disk, k: number): Uint8Array {
  let s = d.slabs.get(k);
  for (let tries = 0; !s && tries < 1000; tries++) {
    control();
    s = d.slabs.get(k);
    if (!s) Atomics.wait(words, c + CTRL_SEQ, Atomics.load(words, c + CTRL_SEQ), 1);
  }
  if (!s) throw new Error('kcryptd worker: unknown RAM disk slab');
  return s;
}

/**
 * One run of disk bytes from pos, at most len long: a hole (slot -1) or pages stored one after
 * another in the same slab (a disk written in order is a few runs per MiB, one memcpy each).
 */
function pageRun(d: Disk, pos: number, len: number): { slot: number; n: number } {
  let page = Math.floor(pos / PAGE_SIZE);
  let n = Math.min(PAGE_SIZE - (pos - page * PAGE_SIZE), len);
  const pt = d.pageTable;
  let slot = pt[page]! - 1;
  const first = slot;
  if (slot < 0) {
    while (n < len && pt[++page] === 0) n = Math.min(n + PAGE_SIZE, len);
  } else {
    while (n < len && ((slot + 1) & PAGE_MASK_IN_SLAB) !== 0 && pt[page + 1] === slot + 2) {
      page++;
      slot++;
      n = Math.min(n + PAGE_SIZE, len);
    }
  }
  runOut.slot = first;
  runOut.n = n;
  return runOut;
}
const runOut = { slot: -1, n: 0 };

/** brd_do_bvec for a read: disk bytes [pos, pos + len) -> dst[at..] (holes read as zeros). */
function diskRead(d: Disk, pos: number, dst: Uint8Array, at: number, len: number): void {
  let done = 0;
  while (done < len) {
    const { slot, n } = pageRun(d, pos + done, len - done);
    if (slot < 0) dst.fill(0, at + done, at + done + n);
    else {
      const start = ((slot & PAGE_MASK_IN_SLAB) << PAGE_SHIFT) + ((pos + done) % PAGE_SIZE);
      copyInto(dst, slab(d, slot >> SLAB_SHIFT).subarray(start, start + n), at + done);
    }
    done += n;
  }
}

/** brd_do_bvec for a write: src[at, at + len) -> disk bytes from pos (pages exist already). */
function diskWrite(d: Disk, pos: number, src: Uint8Array, at: number, len: number): void {
  let done = 0;
  while (done < len) {
    const { slot, n } = pageRun(d, pos + done, len - done);
    if (slot < 0) throw new Error('kcryptd worker: write to a RAM disk page that was not allocated');
    const start = ((slot & PAGE_MASK_IN_SLAB) << PAGE_SHIFT) + ((pos + done) % PAGE_SIZE);
    copyInto(slab(d, slot >> SLAB_SHIFT), src.subarray(at + done, at + done + n), start);
    done += n;
  }
}

/** One item of the submission ring (crypt_convert, plus the copies the op asks for). */
function work(slot: number): void {
  // A request can be seen before the control message posted just ahead of it (CTRL_SEQ was
  // read before the ring): take pending messages once before calling the target unknown.
  let engine = engines.get(words[slot + S_TARGET]!);
  if (!engine) {
    control();
    engine = engines.get(words[slot + S_TARGET]!);
  }
  if (!engine) throw new Error('kcryptd worker: unknown target');
  const op = words[slot + S_OP]!;
  const off = words[slot + S_OFF]! >>> 0;
  const len = words[slot + S_LEN]! >>> 0;
  const sector = (words[slot + S_SEC_LO]! >>> 0) + (words[slot + S_SEC_HI]! >>> 0) * 2 ** 32;
  const dir = words[slot + S_DIR] === DIR_ENCRYPT ? 'encrypt' : 'decrypt';
  const doff = (words[slot + S_DOFF_LO]! >>> 0) + (words[slot + S_DOFF_HI]! >>> 0) * 2 ** 32;
  if (op === OP_ENC_DISK) {
    const d = disk(words[slot + S_DISK]!);
    const src = buffer(words[slot + S_SRC_BUF]!);
    if (!d || !src) throw new Error('kcryptd worker: unknown disk or buffer');
    const so = words[slot + S_SRC_OFF]! >>> 0;
    for (let at = 0; at < len; at += CHUNK) {
      const n = Math.min(CHUNK, len - at);
      const chunk = n === CHUNK ? scratch : scratch.subarray(0, n);
      copyInto(chunk, src.subarray(so + at, so + at + n), 0);
      engine.convert('encrypt', chunk, sector + at / 512);
      diskWrite(d, doff + at, chunk, 0, n);
    }
    return;
  }
  const buf = buffer(words[slot + S_BUF]!);
  if (!buf) throw new Error('kcryptd worker: unknown buffer');
  if (op === OP_CRYPT) {
    // crypt_convert over the whole bio, in place (the bounce buffer is the clone's pages).
    engine.convert(dir, off === 0 && len === buf.length ? buf : buf.subarray(off, off + len), sector);
    return;
  }
  const d = op === OP_READ ? disk(words[slot + S_DISK]!) : undefined;
  const src = op === OP_COPY_ENC ? buffer(words[slot + S_SRC_BUF]!) : undefined;
  const so = words[slot + S_SRC_OFF]! >>> 0;
  if (op === OP_READ ? !d : !src) throw new Error('kcryptd worker: unknown disk or buffer');
  for (let at = 0; at < len; at += CHUNK) {
    const n = Math.min(CHUNK, len - at);
    if (d) diskRead(d, doff + at, buf, off + at, n);
    else copyInto(buf, src!.subarray(so + at, so + at + n), off + at);
    engine.convert(dir, buf.subarray(off + at, off + at + n), sector + at / 512);
  }
}

function complete(tag: number, status: number, target: number): void {
  const head = words[c + CMP_HEAD]!;
  const slot = cmp + (head & RING_MASK) * CMP_WORDS;
  words[slot + C_TAG] = tag;
  words[slot + C_STATUS] = status;
  words[slot + C_TARGET] = target;
  Atomics.store(words, c + CMP_HEAD, (head + 1) | 0);
  Atomics.add(words, MAIN_SEQ, 1);
  // One wake-up per batch: only when the main thread said it is waiting.
  if (Atomics.load(words, MAIN_WAITING) !== 0) Atomics.notify(words, MAIN_SEQ);
}

function run(): void {
  for (;;) {
    if (Atomics.load(words, c + STOP) !== 0) return;
    // Before CTRL_SEQ is read: what was posted meanwhile is taken before the next request.
    if (dropped >= COLLECT_AFTER_DROPPED) collect();
    const cs = Atomics.load(words, c + CTRL_SEQ);
    if (cs !== ctrlSeen) {
      ctrlSeen = cs;
      control();
    }
    const tail = words[c + SUB_TAIL]!;
    if (Atomics.load(words, c + SUB_HEAD) !== tail) {
      const slot = sub + (tail & RING_MASK) * SUB_WORDS;
      const tag = words[slot + S_TAG]!;
      const target = words[slot + S_TARGET]!;
      let status = STATUS_OK;
      try {
        work(slot);
      } catch {
        status = STATUS_ERROR;
      }
      Atomics.store(words, c + SUB_TAIL, (tail + 1) | 0);
      pollPending = init.pollUs > 0 && Atomics.load(words, MAIN_POLLING) !== 0;
      complete(tag, status, target);
      continue;
    }
    // Just completed the last item: poll for the next one (see pollBackoff above).
    if (pollPending) {
      pollPending = false;
      if (pollSkip > 0) pollSkip--;
      else {
        const s0 = Atomics.load(words, c + SUB_SEQ);
        const until = performance.now() + init.pollUs / 1000;
        while (Atomics.load(words, c + SUB_SEQ) === s0 && performance.now() < until);
        if (Atomics.load(words, c + SUB_SEQ) !== s0) {
          pollBackoff = 0;
          continue;
        }
        pollBackoff = Math.min(pollBackoff * 2 + 1, 1023);
        pollSkip = pollBackoff;
      }
    }
    // Briefly idle: poll a little before sleeping. A request that follows its predecessor's
    // completion closely (iodepth 1) then costs no futex wake-up on this side.
    if (init.spinUs > 0) {
      const until = performance.now() + init.spinUs / 1000;
      const s0 = Atomics.load(words, c + SUB_SEQ);
      // Every push, control message and stop bumps SUB_SEQ.
      while (Atomics.load(words, c + SUB_SEQ) === s0 && performance.now() < until);
      if (Atomics.load(words, c + SUB_SEQ) !== s0) continue;
    }
    // Idle: announce the sleep, re-check, then wait for the next SUB_SEQ bump.
    const seen = Atomics.load(words, c + SUB_SEQ);
    Atomics.store(words, c + SLEEPING, 1);
    if (Atomics.load(words, c + SUB_HEAD) === tail && Atomics.load(words, c + STOP) === 0 && Atomics.load(words, c + CTRL_SEQ) === ctrlSeen) {
      Atomics.wait(words, c + SUB_SEQ, seen);
    }
    Atomics.store(words, c + SLEEPING, 0);
  }
}

try {
  control();
  run();
} finally {
  // crypt_dtr for this replica: wipe the key, the instances and IV secrets.
  for (const e of engines.values()) e.close();
  engines.clear();
  buffers.clear();
  disks.clear();
  scratch.fill(0);
  port.close();
}
