// The NBD server's RAM disk copies (src/nbd/ramio.ts) against RamDisk's own readSync/writeSync:
// random offsets and lengths over holes, pages written out of order (runs that are not
// contiguous in the slabs), discarded pages and released slabs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RamDisk, PAGE_SIZE } from '../../src/backends/ram/ramdisk.js';
import { ramRead, ramWrite } from '../../src/nbd/ramio.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('ramRead/ramWrite match readSync/writeSync over holes, scattered pages and discards', async () => {
  const size = 8 << 20;
  const fast = new RamDisk(size);
  const slow = new RamDisk(size);
  const r = rng(42);
  const sector = () => Math.floor(r() * (size / 512));
  for (let i = 0; i < 3000; i++) {
    const off = sector() * 512;
    const len = Math.min(size - off, (1 + Math.floor(r() * (r() < 0.2 ? 2048 : 32))) * 512);
    const op = r();
    if (op < 0.45) {
      const data = Buffer.allocUnsafe(len);
      for (let j = 0; j < len; j += 4) data.writeUInt32LE((r() * 0x100000000) >>> 0, j);
      ramWrite(fast, off, data);
      slow.writeSync(off, data);
    } else if (op < 0.9) {
      const a = Buffer.alloc(len, 0xaa);
      const b = Buffer.alloc(len, 0x55);
      ramRead(fast, off, a);
      slow.readSync(off, b);
      assert.ok(a.equals(b), `read ${off}+${len} differs`);
    } else {
      await fast.discard(off, len);
      await slow.discard(off, len);
    }
  }
  const a = Buffer.alloc(size);
  const b = Buffer.alloc(size);
  ramRead(fast, 0, a);
  slow.readSync(0, b);
  assert.ok(a.equals(b));
  assert.equal(fast.stats().pages, slow.stats().pages);
});

test('ramRead joins pages stored in order into one copy and stops at slab ends', () => {
  const rd = new RamDisk(4 << 20);
  const data = Buffer.alloc(3 << 20);
  for (let i = 0; i < data.length; i += 4) data.writeUInt32LE(i, i);
  rd.writeSync(0, data); // pages 0..767 in slots 0..767: runs break at each slab (256 pages)
  const out = Buffer.alloc(data.length - 1024);
  ramRead(rd, 512, out);
  assert.ok(out.equals(data.subarray(512, data.length - 512)));
  const tail = Buffer.alloc(PAGE_SIZE * 2);
  ramRead(rd, (3 << 20) - PAGE_SIZE, tail);
  assert.ok(tail.subarray(0, PAGE_SIZE).equals(data.subarray(data.length - PAGE_SIZE)));
  assert.ok(tail.subarray(PAGE_SIZE).equals(Buffer.alloc(PAGE_SIZE)));
});
