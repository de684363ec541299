// The kcryptd workqueues: a shared pool of worker_threads (the kernel's kworker pool) and one
// front-end per crypt target (its "kcryptd/<dev>" workqueue), fed through shared-memory rings
// (rings.ts). As in the kernel, workqueues are front-ends and the threads belong to a pool that
// every workqueue shares: N crypt devices do not mean N x cores threads. Each worker holds its
// own replica of every attached target's ciphers (see worker.ts).
//
// Kernel terms and their analogs here:
//   alloc_workqueue("kcryptd/%s", WQ_CPU_INTENSIVE | WQ_UNBOUND, num_online_cpus())
//                         -> Kcryptd (per target) over a KworkerPool of `count` threads (default
//                            os.availableParallelism()); a work item goes to the least busy
//                            worker (the unbound pool's "any idle CPU")
//   same_cpu_crypt        -> a bound, max_active=1 queue: the caller passes a fixed worker index
//                            (the submitter's), and that worker runs its items in FIFO order
//   queue_work()          -> push(): a slot in the worker's submission ring, one Atomics.notify
//                            only when that worker sleeps; a full ring spills into a FIFO backlog
//   the bio's completion  -> the worker's completion ring; the main thread collects a whole
//                            batch per wake-up (one Atomics.waitAsync armed at a time), after
//                            polling briefly for small requests (see POLL_US)
//   WQ_HIGHPRI            -> no analog for the threads themselves: worker_threads have no
//                            priority API (see CryptPipeline for what high_priority changes)
//   destroy_workqueue     -> Kcryptd.close(): every worker wipes that target's replica; the
//                            threads exit once no target is attached (after a short idle grace,
//                            so a quick table reload does not restart them)
//
// Threads start when a target attaches (alloc_workqueue in crypt_ctr), so the first I/O does not
// wait for a thread to boot; they stop IDLE_STOP_MS after the last target detaches. A worker that
// dies fails its outstanding items (the pipeline turns that into EIO) and is restarted on next use.
//
// RAM disks (backends/ram) can be registered with the pool: every worker then sees the disk's
// page table and slabs (told of each slab opened or released) and does the lower read/write
// of an item itself (OP_READ, OP_ENC_DISK in rings.ts), so the main thread copies nothing.

import { Worker, MessageChannel } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import type { RamDisk, SlabObserver } from '../backends/ram/ramdisk.js';
import type { EngineSpec } from '../targets/crypt/replica.js';
import type { ControlMessage } from './rings.js';
import {
  CMP_HEAD,
  CMP_TAIL,
  CMP_WORDS,
  CTRL_SEQ,
  CTRL_WORDS,
  C_STATUS,
  C_TAG,
  C_TARGET,
  MAIN_POLLING,
  MAIN_SEQ,
  MAIN_WAITING,
  RING,
  RING_MASK,
  SLEEPING,
  STATUS_ERROR,
  STOP,
  SUB_HEAD,
  SUB_SEQ,
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
  ringWords,
  subBase,
} from './rings.js';

/** One crypt_convert request as the ring carries it. */
export interface WorkItem {
  /** Index in the owner's request table; comes back with the completion. */
  readonly tag: number;
  /** DIR_ENCRYPT or DIR_DECRYPT. */
  dir: number;
  /** Registered buffer id, and the byte range of the data in it. */
  bufId: number;
  bufOff: number;
  len: number;
  /** First 512-byte sector (relative to the target). */
  sector: number;
  /** The worker it was queued on. */
  worker: number;
  /** The owning target's id in the pool (set by Kcryptd.push). */
  target: number;
  /** OP_CRYPT, OP_READ, OP_COPY_ENC or OP_ENC_DISK (rings.ts). */
  op: number;
  /** OP_COPY_ENC / OP_ENC_DISK: where the plaintext is (registered buffer id, byte offset). */
  srcBuf: number;
  srcOff: number;
  /** OP_READ / OP_ENC_DISK: registered RAM disk id and byte offset on it. */
  disk: number;
  diskOff: number;
}

/** What a target's workqueue front-end tells the pool. */
export interface KcryptdHooks {
  /** A finished item: status 0 for success. Called from the completion batch. */
  complete(tag: number, status: number): void;
  /** The current key, or undefined when it is wiped (a new worker gets a copy). */
  key(): Uint8Array | undefined;
}

type AtomicsWithWaitAsync = typeof Atomics & {
  waitAsync(a: Int32Array, index: number, value: number): { async: false; value: string } | { async: true; value: Promise<string> };
};
const A = Atomics as AtomicsWithWaitAsync;

const WORKER_URL = new URL('./worker.js', import.meta.url);

class Slot {
  worker: Worker | undefined;
  /** Asked to stop and not yet exited: new items wait in the backlog for a fresh worker. */
  stopping = false;
  port: MessagePort | undefined;
  /** Items pushed to the ring and not yet completed, by ring position. */
  readonly ring: (WorkItem | undefined)[] = new Array<WorkItem | undefined>(RING).fill(undefined);
  pushed = 0;
  completed = 0;
  /** Spill-over when the ring is full (FIFO). */
  backlog: WorkItem[] = [];
  ctrlSeq = 0;

  get load(): number {
    return this.pushed - this.completed + this.backlog.length;
  }
}

/**
 * How long an idle worker polls its ring before sleeping in Atomics.wait
 * (UCRYPT_KCRYPTD_SPIN_US, default 0). Polling saves the worker-side wake-up at iodepth 1 when
 * the next request follows within the window, at the price of a busy core; on a 2-core host that
 * core is the one the submitter (or an NBD client) needs, so it is off unless asked for.
 */
const SPIN_US = ((): number => {
  const v = Number(process.env['UCRYPT_KCRYPTD_SPIN_US']);
  return Number.isFinite(v) && v >= 0 ? v : 0;
})();

/**
 * Wake-ups cost tens of microseconds on an idle VM (the other vCPU is halted), so at iodepth 1
 * both sides poll briefly instead, only where it pays:
 *   - the main thread polls the completion sequence (in a microtask after the tick's
 *     submissions, before it arms Atomics.waitAsync) when the requests out are small (at most
 *     POLL_BYTES) and either their workers were awake (no notify needed: up to POLL_US) or the
 *     submission followed a delivered completion within CHAIN_MS, i.e. the submitter chains
 *     I/O in this process (up to 2.5 x POLL_US, time for a sleeping worker to wake);
 *   - a worker whose completion the main thread was polling for polls its ring for the next
 *     request for up to 2 x POLL_US (worker.ts).
 * Polls that time out back off exponentially on both sides (up to 1023 skipped). CHAIN_MS is
 * 100 µs: long enough for a request that arrives over a socket at iodepth 1 while the NBD server
 * busy-polls that socket (src/nbd/server.ts, busyPoll) to count as chained (its predecessor's
 * reply, the client's turn and the next request take 30-60 µs on an idle VM); with a 15 µs
 * window such requests paid both wake-ups, about 60 µs of a 100 µs round trip. UCRYPT_KCRYPTD_POLL_US (default
 * 20) sets POLL_US; 0 disables polling. (An unconditional 30 µs worker spin, tried before, made
 * loaded iodepth-1 reads 3x slower: it took the core the submitter needed.)
 */
const POLL_US = ((): number => {
  const v = Number(process.env['UCRYPT_KCRYPTD_POLL_US']);
  return Number.isFinite(v) && v >= 0 ? v : 20;
})();
const POLL_BYTES = 64 << 10;
const CHAIN_MS = 0.1;

/** How long an empty pool keeps its threads (a table reload re-attaches without a restart). */
const IDLE_STOP_MS = 1000;

/** The shared kworker pool: threads, rings, buffer registrations, the completion wake-up. */
export class KworkerPool {
  readonly count: number;
  private readonly words: Int32Array;
  private readonly slots: Slot[] = [];
  private readonly targets = new Map<number, { readonly spec: EngineSpec; readonly hooks: KcryptdHooks }>();
  /** Shared buffers registered with every worker (bounce buffers, callers' SABs). */
  private readonly sabs = new Map<number, SharedArrayBuffer>();
  /** Registered RAM disks: id, users, and the observer that forwards slab changes. */
  private readonly disks = new Map<RamDisk, { readonly id: number; users: number; readonly observer: SlabObserver }>();
  private nextTarget = 1;
  private nextBuf = 1;
  private nextDisk = 1;
  private outstanding = 0;
  private armed = false;
  private pollScheduled = false;
  /** Bytes of the items out (polling only pays for small ones). */
  private outstandingBytes = 0;
  private pollBackoff = 0;
  private pollSkip = 0;
  /** Counters for diagnostics and benchmarks (see stats()). */
  private readonly counters = { pollHits: 0, pollMisses: 0, waits: 0, notifies: 0 };
  /** A push since the last poll found its worker asleep (it had to be notified). */
  private wokeSleeper = false;
  /** When collect() last delivered completions (performance.now()). */
  private lastDelivery = -1;
  private readonly onPoll = (): void => this.poll();
  private seqSeen = 0;
  private rr = 0;
  private stopTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly onWake = (): void => this.wake();
  /**
   * Atomics.waitAsync does not keep Node's event loop alive and the workers are unref()ed (an
   * idle target must not hold the process open), so a timer handle is ref()ed while work is out.
   */
  private readonly keepAlive = setInterval(() => undefined, 1 << 30);

  constructor(count: number) {
    this.count = Math.max(1, count | 0);
    this.words = new Int32Array(new SharedArrayBuffer(ringWords(this.count) * 4));
    this.keepAlive.unref();
    for (let i = 0; i < this.count; i++) this.slots.push(new Slot());
  }

  /** Shared buffers registered with the workers (bounce buffers, callers' SABs). */
  get buffers(): number {
    return this.sabs.size;
  }

  /** RAM disks registered with the workers. */
  get diskCount(): number {
    return this.disks.size;
  }

  /** Attached targets (kcryptd workqueues). */
  get targetCount(): number {
    return this.targets.size;
  }

  /**
   * Completions seen by polling (no wake-up) or after a miss, Atomics.waitAsync arms, and
   * Atomics.notify calls to sleeping workers, since the pool was created.
   */
  stats(): { readonly pollHits: number; readonly pollMisses: number; readonly waits: number; readonly notifies: number } {
    return { ...this.counters };
  }

  /** Live worker threads. */
  get threads(): number {
    let n = 0;
    for (const s of this.slots) if (s.worker) n++;
    return n;
  }

  /**
   * alloc_workqueue for a target: every (current and future) worker builds its replica, and the
   * threads start now (as the kernel's workqueues exist once the constructor returns).
   */
  attach(spec: EngineSpec, hooks: KcryptdHooks): number {
    if (this.stopTimer) clearTimeout(this.stopTimer);
    this.stopTimer = undefined;
    const id = this.nextTarget++;
    this.targets.set(id, { spec, hooks });
    for (let i = 0; i < this.count; i++) if (this.slots[i]!.worker) this.postTarget(i, id, spec, hooks);
    this.spawnAll();
    return id;
  }

  /** Lets every worker touch `ram`'s pages (counted: one call per user); returns its id. */
  registerDisk(ram: RamDisk): number {
    const known = this.disks.get(ram);
    if (known) {
      known.users++;
      return known.id;
    }
    const id = this.nextDisk++;
    const observer: SlabObserver = (index, sab) => {
      for (let i = 0; i < this.count; i++) this.post(i, { type: 'slab', disk: id, index, sab });
    };
    this.disks.set(ram, { id, users: 1, observer });
    ram.observe(observer);
    for (let i = 0; i < this.count; i++) this.postDisk(i, id, ram);
    return id;
  }

  /** One user of `ram` is gone; the last one unregisters it from every worker. */
  unregisterDisk(ram: RamDisk): void {
    const d = this.disks.get(ram);
    if (!d || --d.users > 0) return;
    this.disks.delete(ram);
    ram.unobserve(d.observer);
    for (let i = 0; i < this.count; i++) this.post(i, { type: 'undisk', id: d.id });
  }

  private postDisk(i: number, id: number, ram: RamDisk): void {
    this.post(i, { type: 'disk', id, pageTable: ram.pageTable.buffer as SharedArrayBuffer, slabs: ram.slabList() });
  }

  /** destroy_workqueue: the replicas are wiped; with no target left the threads stop. */
  detach(id: number): void {
    if (!this.targets.delete(id)) return;
    for (let i = 0; i < this.count; i++) this.post(i, { type: 'untarget', target: id });
    // Anything still queued for this target fails (callers normally suspend first).
    for (let i = 0; i < this.count; i++) {
      const s = this.slots[i]!;
      s.backlog = s.backlog.filter((item) => item.target !== id);
    }
    if (this.targets.size === 0) {
      this.stopTimer = setTimeout(() => void this.stop(), IDLE_STOP_MS);
      this.stopTimer.unref();
    }
  }

  private postTarget(i: number, id: number, spec: EngineSpec, hooks: KcryptdHooks): void {
    const key = hooks.key();
    const copy = key ? new Uint8Array(key) : undefined;
    // The key travels once per worker, moved (not copied) to it; the worker wipes it after use.
    this.post(i, { type: 'target', target: id, spec, key: copy }, copy?.buffer);
  }

  /** `key set` / `key wipe` while suspended: every replica follows the target's key. */
  rekey(id: number, key: Uint8Array | undefined): void {
    for (let i = 0; i < this.count; i++) {
      if (!this.slots[i]!.worker) continue;
      if (key) {
        const copy = new Uint8Array(key);
        this.post(i, { type: 'key', target: id, key: copy }, copy.buffer);
      } else this.post(i, { type: 'wipe', target: id });
    }
  }

  /**
   * The unbound pool's choice: the least loaded worker, and among idle ones an awake one first
   * (round-robin among equals). An idle worker is awake while it polls its ring after a
   * completion (worker.ts): giving it the next request costs no futex wake-up, where round-robin
   * at iodepth 1 always picked the other, sleeping one. The kernel's worker pools do the same:
   * the most recently idle kworker takes the next work item (first_idle_worker).
   */
  pick(): number {
    let best = 0;
    let bestLoad = Infinity;
    for (let k = 0; k < this.count; k++) {
      const i = (this.rr + k) % this.count;
      const l = this.slots[i]!.load;
      if (l === 0 && Atomics.load(this.words, ctrlBase(i) + SLEEPING) === 0) {
        best = i; // idle and awake: nothing better
        break;
      }
      if (l < bestLoad) {
        best = i;
        bestLoad = l;
      }
    }
    this.rr = (best + 1) % this.count;
    return best;
  }

  /** Registers a shared buffer with every worker (once per buffer); returns its id. */
  register(sab: SharedArrayBuffer): number {
    const id = this.nextBuf++;
    this.sabs.set(id, sab);
    for (let i = 0; i < this.count; i++) this.post(i, { type: 'buf', id, sab });
    return id;
  }

  unregister(id: number): void {
    if (!this.sabs.delete(id)) return;
    for (let i = 0; i < this.count; i++) this.post(i, { type: 'unbuf', id });
  }

  /** queue_work(): item goes to worker item.worker. */
  push(item: WorkItem): void {
    const s = this.slots[item.worker]!;
    if (!s.worker) this.spawnAll();
    if (this.outstanding++ === 0) this.keepAlive.ref();
    this.outstandingBytes += item.len;
    if (s.stopping || s.backlog.length > 0 || s.pushed - s.completed >= RING) s.backlog.push(item);
    else this.write(item.worker, s, item);
    if (!this.armed && !this.pollScheduled) {
      this.pollScheduled = true;
      queueMicrotask(this.onPoll);
    }
  }

  private write(i: number, s: Slot, item: WorkItem): void {
    const w = this.words;
    const c = ctrlBase(i);
    const head = s.pushed;
    const slot = subBase(i) + (head & RING_MASK) * SUB_WORDS;
    w[slot + S_TAG] = item.tag;
    w[slot + S_DIR] = item.dir;
    w[slot + S_BUF] = item.bufId;
    w[slot + S_OFF] = item.bufOff | 0;
    w[slot + S_LEN] = item.len | 0;
    w[slot + S_SEC_LO] = item.sector % 2 ** 32 | 0;
    w[slot + S_SEC_HI] = Math.floor(item.sector / 2 ** 32) | 0;
    w[slot + S_TARGET] = item.target;
    w[slot + S_OP] = item.op;
    w[slot + S_SRC_BUF] = item.srcBuf;
    w[slot + S_SRC_OFF] = item.srcOff | 0;
    w[slot + S_DISK] = item.disk;
    w[slot + S_DOFF_LO] = item.diskOff % 2 ** 32 | 0;
    w[slot + S_DOFF_HI] = Math.floor(item.diskOff / 2 ** 32) | 0;
    s.ring[head & RING_MASK] = item;
    s.pushed = head + 1;
    Atomics.store(w, c + SUB_HEAD, s.pushed | 0);
    this.kick(c);
  }

  /** Bumps the worker's wake sequence; a syscall only if it sleeps. */
  private kick(c: number): void {
    Atomics.add(this.words, c + SUB_SEQ, 1);
    if (Atomics.load(this.words, c + SLEEPING) !== 0) {
      this.counters.notifies++;
      this.wokeSleeper = true;
      Atomics.notify(this.words, c + SUB_SEQ);
    }
  }

  private post(i: number, msg: ControlMessage, transfer?: ArrayBuffer): void {
    const s = this.slots[i]!;
    if (!s.port) return;
    s.port.postMessage(msg, transfer ? [transfer] : []);
    Atomics.add(this.words, ctrlBase(i) + CTRL_SEQ, 1);
    this.kick(ctrlBase(i));
  }

  /** Polls for completions of small requests briefly (POLL_US), then arms the wake-up. */
  private poll(): void {
    this.pollScheduled = false;
    if (this.armed) return;
    if (this.outstanding === 0) {
      this.keepAlive.unref();
      return;
    }
    // Only when every worker with work was awake: waking a sleeping worker takes longer than a
    // poll should (tens of microseconds on an idle VM; on a loaded host the poll would only take
    // the core that worker needs).
    const awake = !this.wokeSleeper;
    this.wokeSleeper = false;
    const now = POLL_US > 0 && this.outstandingBytes <= POLL_BYTES ? performance.now() : 0;
    const chained = now > 0 && now - this.lastDelivery < CHAIN_MS;
    if (now > 0 && (awake || chained)) {
      if (this.pollSkip > 0) this.pollSkip--;
      else {
        const w = this.words;
        const seen = this.seqSeen;
        Atomics.store(w, MAIN_POLLING, 1);
        const until = now + (awake ? POLL_US : 2.5 * POLL_US) / 1000;
        let got = Atomics.load(w, MAIN_SEQ) !== seen;
        while (!got && performance.now() < until) got = Atomics.load(w, MAIN_SEQ) !== seen;
        Atomics.store(w, MAIN_POLLING, 0);
        if (got) {
          this.counters.pollHits++;
          this.pollBackoff = 0;
          this.seqSeen = Atomics.load(w, MAIN_SEQ);
          this.collect();
        } else {
          this.counters.pollMisses++;
          this.pollBackoff = Math.min(this.pollBackoff * 2 + 1, 1023);
          this.pollSkip = this.pollBackoff;
        }
      }
    }
    if (this.outstanding > 0) {
      if (!this.armed) this.arm();
    } else this.keepAlive.unref();
  }

  /** Arms the single completion wake-up (Atomics.waitAsync on MAIN_SEQ). */
  private arm(): void {
    this.armed = true;
    this.counters.waits++;
    Atomics.store(this.words, MAIN_WAITING, 1);
    const r = A.waitAsync(this.words, MAIN_SEQ, this.seqSeen);
    if (r.async) void r.value.then(this.onWake);
    else queueMicrotask(this.onWake);
  }

  private wake(): void {
    this.armed = false;
    Atomics.store(this.words, MAIN_WAITING, 0);
    this.seqSeen = Atomics.load(this.words, MAIN_SEQ);
    this.collect();
    if (this.outstanding > 0 && !this.armed) this.arm();
    else if (this.outstanding === 0) this.keepAlive.unref();
  }

  private done(target: number, tag: number, status: number): void {
    this.targets.get(target)?.hooks.complete(tag, status);
  }

  /** Drains every worker's completion ring (one batch), then refills rings from backlogs. */
  private collect(): void {
    const w = this.words;
    for (let i = 0; i < this.count; i++) {
      const s = this.slots[i]!;
      if (s.pushed === s.completed) continue;
      const c = ctrlBase(i);
      const cb = cmpBase(i);
      const head = Atomics.load(w, c + CMP_HEAD);
      let tail = w[c + CMP_TAIL]!;
      while (tail !== head) {
        const slot = cb + (tail & RING_MASK) * CMP_WORDS;
        this.outstandingBytes -= s.ring[tail & RING_MASK]?.len ?? 0;
        s.ring[tail & RING_MASK] = undefined;
        tail = (tail + 1) | 0;
        s.completed++;
        this.outstanding--;
        this.done(w[slot + C_TARGET]!, w[slot + C_TAG]!, w[slot + C_STATUS]!);
      }
      Atomics.store(w, c + CMP_TAIL, tail);
      if (POLL_US > 0) this.lastDelivery = performance.now();
      this.refill(i, s);
    }
  }

  private refill(i: number, s: Slot): void {
    while (s.backlog.length > 0 && s.pushed - s.completed < RING && s.worker && !s.stopping) this.write(i, s, s.backlog.shift()!);
  }

  /** The unbound pool comes up whole (so the first requests spread over every core). */
  private spawnAll(): void {
    for (let i = 0; i < this.count; i++) if (!this.slots[i]!.worker) this.spawn(i);
  }

  private spawn(i: number): void {
    const s = this.slots[i]!;
    const w = this.words;
    const c = ctrlBase(i);
    for (let k = 0; k < CTRL_WORDS; k++) Atomics.store(w, c + k, 0);
    s.pushed = 0;
    s.completed = 0;
    const { port1, port2 } = new MessageChannel();
    const worker = new Worker(WORKER_URL, {
      workerData: { ring: w.buffer, index: i, port: port2, spinUs: SPIN_US, pollUs: 2 * POLL_US },
      transferList: [port2],
      name: `kworker/u:kcryptd-${i}`,
    });
    worker.unref();
    s.worker = worker;
    s.port = port1;
    worker.on('error', () => undefined);
    worker.on('exit', () => this.died(i, worker));
    for (const [id, sab] of this.sabs) port1.postMessage({ type: 'buf', id, sab } satisfies ControlMessage);
    for (const [ram, d] of this.disks) this.postDisk(i, d.id, ram);
    for (const [id, t] of this.targets) this.postTarget(i, id, t.spec, t.hooks);
    Atomics.add(w, c + CTRL_SEQ, 1);
  }

  /**
   * A worker exited: completions it posted still count; what it had in its ring fails (EIO),
   * and so does its backlog unless it was asked to stop (then a fresh worker takes that over).
   */
  private died(i: number, worker: Worker): void {
    const s = this.slots[i]!;
    if (s.worker !== worker) return;
    this.collect();
    const stopped = s.stopping;
    s.stopping = false;
    s.worker = undefined;
    s.port?.close();
    s.port = undefined;
    const keep = stopped ? s.backlog.splice(0) : [];
    const lost: WorkItem[] = [];
    for (let k = s.completed; k < s.pushed; k++) {
      const item = s.ring[k & RING_MASK];
      s.ring[k & RING_MASK] = undefined;
      if (item) lost.push(item);
    }
    lost.push(...s.backlog.splice(0));
    s.pushed = s.completed = 0;
    this.outstanding -= lost.length;
    for (const item of lost) this.outstandingBytes -= item.len;
    if (this.outstanding === 0) this.keepAlive.unref();
    for (const item of lost) this.done(item.target, item.tag, STATUS_ERROR);
    if (keep.length > 0) {
      this.spawn(i);
      s.backlog = keep;
      this.refill(i, s);
    }
  }

  /** Test hook: makes worker i fail as if it crashed. */
  crash(i: number): void {
    this.post(i, { type: 'crash' });
  }

  /** Test hook: terminates worker i from outside. */
  async terminate(i: number): Promise<void> {
    await this.slots[i]?.worker?.terminate();
  }

  /** Stops every thread (they wipe all replicas) and resolves when they are gone. */
  stop(): Promise<void> {
    if (this.stopTimer) clearTimeout(this.stopTimer);
    this.stopTimer = undefined;
    const exits: Promise<void>[] = [];
    for (let i = 0; i < this.count; i++) {
      const s = this.slots[i]!;
      const worker = s.worker;
      if (!worker) continue;
      // Held until it exits, so a caller awaiting stop() keeps the event loop alive.
      worker.ref();
      s.stopping = true;
      exits.push(
        new Promise<void>((resolve) => {
          worker.once('exit', () => resolve());
          // A worker stuck in crypto is terminated after a grace period.
          setTimeout(() => void worker.terminate(), 2000).unref();
        }),
      );
      const c = ctrlBase(i);
      Atomics.store(this.words, c + STOP, 1);
      this.kick(c);
    }
    return Promise.all(exits).then(() => undefined);
  }
}

const pools = new Map<number, KworkerPool>();

/** The shared pool with `count` threads (one pool per size; normally just one). */
export function kworkerPool(count: number): KworkerPool {
  let p = pools.get(count);
  if (!p) pools.set(count, (p = new KworkerPool(count)));
  return p;
}

/** Stops every pool's threads now (tests, and processes that want a clean exit). */
export async function stopKworkers(): Promise<void> {
  await Promise.all([...pools.values()].map((p) => p.stop()));
}

/** Live kcryptd threads over all pools. */
export function kworkerThreads(): number {
  let n = 0;
  for (const p of pools.values()) n += p.threads;
  return n;
}

/** A target's kcryptd workqueue (front-end of the shared pool). */
export class Kcryptd {
  readonly pool: KworkerPool;
  readonly id: number;
  private closed = false;

  constructor(spec: EngineSpec, count: number, hooks: KcryptdHooks) {
    this.pool = kworkerPool(count);
    this.id = this.pool.attach(spec, hooks);
  }

  get count(): number {
    return this.pool.count;
  }

  pick(): number {
    return this.pool.pick();
  }

  push(item: WorkItem): void {
    item.target = this.id;
    this.pool.push(item);
  }

  register(sab: SharedArrayBuffer): number {
    return this.pool.register(sab);
  }

  registerDisk(ram: RamDisk): number {
    return this.pool.registerDisk(ram);
  }

  unregisterDisk(ram: RamDisk): void {
    this.pool.unregisterDisk(ram);
  }

  unregister(id: number): void {
    this.pool.unregister(id);
  }

  rekey(key: Uint8Array | undefined): void {
    if (!this.closed) this.pool.rekey(this.id, key);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pool.detach(this.id);
  }
}
