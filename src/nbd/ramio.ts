// Synchronous copies between NBD buffers and a RAM disk's pages, for the server's fast path.
//
// RamDisk.readSync/writeSync copy page by page (one call per 4 KiB page). Here pages that follow
// each other in the same slab are copied as one run, with Buffer.prototype.fill (a buffer value
// over a range of the same length is one libc memcpy in Node's C++; TypedArray.prototype.set is
// V8's relaxed, non-vectorised memmove whenever a SharedArrayBuffer is involved, which was half
// the server's CPU in a 1 MiB read profile), so a 1 MiB request over a disk written in order is
// one to four memcpys instead of 256 calls.
//
// Layout (src/backends/ram/ramdisk.ts): pageTable[page] is 0 for a hole, else slot + 1; slot s
// lives in slab s >> 8 at byte (s & 255) * 4096. A slab of any other size falls back to
// readSync/writeSync for that run (and test/nbd/ramio.test.ts checks both against each other).

import { PAGE_SIZE } from '../backends/ram/ramdisk.js';
import type { RamDisk } from '../backends/ram/ramdisk.js';

const PAGES_PER_SLAB = 256;
const SLAB_BYTES = PAGES_PER_SLAB * PAGE_SIZE;
const fillBytes = Buffer.prototype.fill;

/** Reads dst.length bytes at offset (already range-checked) into dst. */
export function ramRead(rd: RamDisk, offset: number, dst: Uint8Array): void {
  const pt = rd.pageTable;
  const len = dst.length;
  let done = 0;
  while (done < len) {
    const pos = offset + done;
    let page = Math.floor(pos / PAGE_SIZE);
    const inPage = pos - page * PAGE_SIZE;
    let n = Math.min(PAGE_SIZE - inPage, len - done);
    const entry = pt[page]!;
    if (entry === 0) {
      while (done + n < len && pt[++page] === 0) n = Math.min(n + PAGE_SIZE, len - done);
      dst.fill(0, done, done + n);
    } else {
      let slot = entry - 1;
      const slab = rd.slab(slot >> 8);
      if (!slab || slab.length !== SLAB_BYTES) {
        rd.readSync(pos, dst.subarray(done, done + n));
      } else {
        const start = ((slot & (PAGES_PER_SLAB - 1)) * PAGE_SIZE) + inPage;
        // Following pages stored right after this one in the same slab join the run.
        while (done + n < len && ((slot + 1) & (PAGES_PER_SLAB - 1)) !== 0 && pt[page + 1] === slot + 2) {
          page++;
          slot++;
          n = Math.min(n + PAGE_SIZE, len - done);
        }
        fillBytes.call(dst, slab.subarray(start, start + n), done, done + n);
      }
    }
    done += n;
  }
}

/** Writes src at offset (already range-checked), allocating holes as RamDisk.writeSync does. */
export function ramWrite(rd: RamDisk, offset: number, src: Uint8Array): void {
  const pt = rd.pageTable;
  const len = src.length;
  let done = 0;
  while (done < len) {
    const pos = offset + done;
    let page = Math.floor(pos / PAGE_SIZE);
    const inPage = pos - page * PAGE_SIZE;
    let n = Math.min(PAGE_SIZE - inPage, len - done);
    const entry = pt[page]!;
    const slab = entry === 0 ? undefined : rd.slab((entry - 1) >> 8);
    if (!slab || slab.length !== SLAB_BYTES) {
      // A hole (writeSync allocates the page) or an unexpected layout: one page the slow way.
      rd.writeSync(pos, src.subarray(done, done + n));
    } else {
      let slot = entry - 1;
      const start = ((slot & (PAGES_PER_SLAB - 1)) * PAGE_SIZE) + inPage;
      while (done + n < len && ((slot + 1) & (PAGES_PER_SLAB - 1)) !== 0 && pt[page + 1] === slot + 2) {
        page++;
        slot++;
        n = Math.min(n + PAGE_SIZE, len - done);
      }
      fillBytes.call(slab, src.subarray(done, done + n), start, start + n);
    }
    done += n;
  }
}
