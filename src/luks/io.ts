// The storage the LUKS code reads and writes: injected, so the format code stays pure. A file
// (or block device) implementation lives in file.ts; tests use memory or fault-injecting ones.

export interface HeaderIO {
  /** Reads exactly `length` bytes at `offset`; bytes past the end read as zero. */
  read(offset: number, length: number): Promise<Uint8Array>;
  write(offset: number, data: Uint8Array): Promise<void>;
  /** Makes previous writes durable (fsync); crash-safe updates order their writes with it. */
  sync(): Promise<void>;
  /** Size in bytes. */
  size(): Promise<number>;
}

/** A HeaderIO over a byte array (tests, and building headers before writing them). */
export function memoryIO(initial: Uint8Array): HeaderIO & { bytes: Uint8Array } {
  const io = {
    bytes: initial,
    async read(offset: number, length: number) {
      const out = new Uint8Array(length);
      if (offset < io.bytes.length) out.set(io.bytes.subarray(offset, Math.min(io.bytes.length, offset + length)));
      return out;
    },
    async write(offset: number, data: Uint8Array) {
      if (offset + data.length > io.bytes.length) {
        const grown = new Uint8Array(offset + data.length);
        grown.set(io.bytes);
        io.bytes = grown;
      }
      io.bytes.set(data, offset);
    },
    async sync() {},
    async size() {
      return io.bytes.length;
    },
  };
  return io;
}
