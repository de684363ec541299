// Reusable I/O buffers for the NBD hot path. Fresh large allocations are slow twice over (the
// allocation, then a page fault per 4 KiB on first touch), so read replies and assembled write
// payloads come from here and go back once the socket (or the device) is done with them.
//
//   class i holds buffers of (4096 << i) + SLACK bytes: a 4 KiB read plus its 28-byte structured
//   header fits class 0, a 1 MiB read class 8; classes keep at most MAX_POOLED_BYTES each.
//
// Pooled buffers live in SharedArrayBuffers: a crypt device's kcryptd workers then decrypt reads
// straight into them and encrypt writes straight from them (src/pipeline), with no copy through
// a bounce buffer on the event loop. Sockets write them like any other Buffer.

const SLACK = 32;
const CLASSES = 15; // up to 64 MiB + SLACK
const MAX_POOLED_BYTES = 64 << 20;

export class BufferPool {
  private readonly free: Buffer[][] = Array.from({ length: CLASSES }, () => []);

  private static classOf(n: number): number {
    let i = 0;
    while ((4096 << i) + SLACK < n) i++;
    return i;
  }

  /** A buffer of at least n bytes (its whole length is the class size). */
  get(n: number): Buffer {
    const i = BufferPool.classOf(n);
    if (i >= CLASSES) return Buffer.allocUnsafeSlow(n);
    return this.free[i]!.pop() ?? Buffer.from(new SharedArrayBuffer((4096 << i) + SLACK));
  }

  /** Gives a buffer from get() back (ignored when it is not a class size or the class is full). */
  put(b: Buffer): void {
    const i = BufferPool.classOf(b.length);
    if (i >= CLASSES || b.length !== (4096 << i) + SLACK) return;
    const list = this.free[i]!;
    if ((list.length + 1) * b.length <= Math.max(MAX_POOLED_BYTES, 4 * b.length)) list.push(b);
  }
}

/** One pool for the process: buffers move between connections freely. */
export const pool = new BufferPool();
