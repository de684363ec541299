// Bounce buffers in shared memory (the kernel's cc->page_pool for write clones, plus the
// pages reads are decrypted in when the caller's buffer is not shared).
//
// Workers can only touch SharedArrayBuffers, so data for kcryptd lives in one of these unless
// the caller's own buffer is shared (then it is used in place). Each buffer is its own SAB,
// registered with the workers once under a small integer id; buffers come in power-of-two
// classes from 4 KiB to 1 MiB (BIO_MAX_VECS << PAGE_SHIFT, the largest bio dm-crypt encrypts
// at once) and are pooled, so steady-state I/O allocates nothing.

export const MAX_BIO = 1 << 20;
const MIN_SHIFT = 12;
const CLASSES = 9; // 4 KiB .. 1 MiB
/** Idle bytes kept per class. */
const IDLE_BYTES = 16 << 20;

export interface Bounce {
  /** Registration id with the workers (-1 until the workqueue is up). */
  id: number;
  readonly sab: SharedArrayBuffer;
  readonly u8: Uint8Array;
}

export interface BounceHooks {
  /** A new buffer exists: registers it with the workers, returns its id. */
  created(b: Bounce): number;
  /** A buffer is dropped for good (unregister it). */
  dropped(b: Bounce): void;
}

export class BouncePool {
  private readonly free: Bounce[][] = [];
  private hooks: BounceHooks | undefined;
  private readonly all = new Set<Bounce>();

  constructor() {
    for (let i = 0; i < CLASSES; i++) this.free.push([]);
  }

  /** Starts reporting buffers (the workqueue came up): existing ones are reported now. */
  attach(hooks: BounceHooks): void {
    this.hooks = hooks;
    for (const b of this.all) b.id = hooks.created(b);
  }

  /** A buffer of at least len bytes (len <= MAX_BIO). */
  take(len: number): Bounce {
    let cls = 0;
    while (cls < CLASSES - 1 && 1 << (cls + MIN_SHIFT) < len) cls++;
    const b = this.free[cls]!.pop();
    if (b) return b;
    const sab = new SharedArrayBuffer(1 << (cls + MIN_SHIFT));
    const nb: Bounce = { id: -1, sab, u8: new Uint8Array(sab) };
    this.all.add(nb);
    if (this.hooks) nb.id = this.hooks.created(nb);
    return nb;
  }

  give(b: Bounce): void {
    const size = b.u8.length;
    const cls = 31 - Math.clz32(size) - MIN_SHIFT;
    const list = this.free[cls]!;
    if ((list.length + 1) * size <= IDLE_BYTES) list.push(b);
    else {
      b.u8.fill(0);
      this.all.delete(b);
      this.hooks?.dropped(b);
    }
  }

  /**
   * Zeroes and forgets every buffer (read bounces may have held plaintext), unregistering each
   * from the workers so neither side keeps the memory alive.
   */
  clear(): void {
    for (const b of this.all) {
      b.u8.fill(0);
      if (b.id >= 0) this.hooks?.dropped(b);
    }
    this.all.clear();
    for (const l of this.free) l.length = 0;
  }
}
