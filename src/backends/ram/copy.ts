// Byte copies for the data path. TypedArray.prototype.set runs as V8's relaxed (word by word,
// non-vectorised) memmove whenever either side is a SharedArrayBuffer, which every bounce
// buffer, RAM disk page and shared caller buffer is: about 45 us per MiB here against 17 us
// for libc's memcpy. Buffer.prototype.fill with a byte-array value over a range of the same
// length is one memcpy in Node's C++ (node_buffer.cc Fill), shared memory or not.

const fillBytes = Buffer.prototype.fill;

/** Below this, set() wins (fill's call overhead); measured on Node 20. */
const FILL_MIN = 512;

/** dst[at, at + src.length) = src (the ranges must not overlap). */
export function copyInto(dst: Uint8Array, src: Uint8Array, at: number): void {
  const n = src.length;
  if (n < FILL_MIN) dst.set(src, at);
  else fillBytes.call(dst, src, at, at + n);
}
