// The brd-like RAM disk (src/backends/ram/ramdisk.ts): sparse 4 KiB pages allocated on first
// write, holes read as zeros, discard frees whole pages only (drivers/block/brd.c,
// brd_do_discard), writeZeroes frees whole pages unless noUnmap, slabs released when empty.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PAGE_SIZE, RamDisk } from '../../src/backends/ram/ramdisk.js';
import { UcryptError } from '../../src/errors.js';
import { assertAll, assertBytes, filled, pattern } from '../helpers/bytes.js';

const KiB = 1024;
const MiB = 1 << 20;
const GiB = 2 ** 30;
/** One slab: 256 pages in one SharedArrayBuffer (see the diagram in ramdisk.ts). */
const SLAB = MiB;

async function readBack(disk: RamDisk, offset: number, length: number): Promise<Uint8Array> {
  // Pre-fill with garbage so "reads as zeros" is really produced by the read.
  const buf = filled(length, 0xa5);
  await disk.read(offset, buf);
  return buf;
}

test('constructor refuses sizes that are not a positive multiple of 4096 (ERR_BRD, EINVAL)', () => {
  for (const size of [0, -4096, 512, 4095, 4097, 6144, 4096 * 3 + 512, 4096.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53 + 4096]) {
    assert.throws(() => new RamDisk(size), (err: unknown) => {
      assert.ok(err instanceof UcryptError);
      assert.equal(err.code, 'ERR_BRD');
      assert.equal(err.errno, 'EINVAL');
      assert.match(err.message, /must be a positive multiple of 4096 bytes/);
      return true;
    }, `size ${size}`);
  }
  assert.equal(new RamDisk(4096).size, 4096);
  assert.equal(PAGE_SIZE, 4096);
});

test('limits are those of brd: 512-byte logical blocks, page-sized physical blocks, discard, writable', () => {
  const disk = new RamDisk(16 * MiB);
  assert.equal(disk.size, 16 * MiB);
  assert.equal(disk.limits.logicalBlockSize, 512);
  assert.equal(disk.limits.physicalBlockSize, 4096);
  assert.equal(disk.limits.discard, true);
  assert.equal(disk.limits.writeZeroes, true);
  assert.equal(disk.limits.readOnly, false);
  assert.ok(disk.limits.maxTransfer >= 1 * MiB);
  assert.equal(disk.pageTable.length, (16 * MiB) / 4096, 'one page table entry per page');
  assert.ok(disk.pageTable.buffer instanceof SharedArrayBuffer, 'page table is shared memory');
});

test('a fresh disk reads as zeros everywhere and holds no pages', async () => {
  const disk = new RamDisk(4 * MiB);
  assertAll(await readBack(disk, 0, 4 * MiB), 0, 'whole disk');
  assertAll(await readBack(disk, 4 * MiB - 512, 512), 0, 'last sector');
  assertAll(await readBack(disk, 1536, 4096 * 2 + 1024), 0, 'unaligned-to-page span');
  assert.deepEqual(disk.stats(), { pages: 0, slabBytes: 0 });
  // Reading never allocates.
  assertAll(disk.pageTable, 0, 'page table');
});

test('write/read round trip at a 512-aligned, page-unaligned offset spanning several pages', async () => {
  const disk = new RamDisk(4 * MiB);
  const offset = 3 * 4096 + 1536; // page 3, 1536 bytes in
  const data = pattern(3 * 4096 + 1024, 7); // ends in page 6 at byte 2560
  await disk.write(offset, data);
  assertBytes(await readBack(disk, offset, data.length), data, 'same range');
  // Reading with a different alignment sees the same bytes.
  assertBytes(await readBack(disk, offset + 2560, 4096), data.subarray(2560, 2560 + 4096), 'shifted sub-range');
  // The whole pages around the data: zeros before and after, data in between.
  const around = await readBack(disk, 3 * 4096, 4 * 4096);
  assertAll(around.subarray(0, 1536), 0, 'bytes before the write in page 3');
  assertBytes(around.subarray(1536, 1536 + data.length), data, 'data inside its pages');
  assertAll(around.subarray(1536 + data.length), 0, 'bytes after the write in page 6');
  assertAll(await readBack(disk, 0, 3 * 4096), 0, 'pages before');
  assertAll(await readBack(disk, 7 * 4096, 4 * MiB - 7 * 4096), 0, 'pages after');
  assert.equal(disk.stats().pages, 4, 'pages 3, 4, 5 and 6 are allocated');
  assert.equal(disk.stats().slabBytes, SLAB);
});

test('writes through views with a byteOffset, and reads into them, use the view not its buffer', async () => {
  const disk = new RamDisk(1 * MiB);
  const backing = pattern(3 * 4096, 11);
  const view = backing.subarray(1000, 1000 + 2 * 4096 + 512);
  await disk.write(4096 - 512, view);
  const outBacking = filled(4 * 4096, 0x77);
  const outView = outBacking.subarray(333, 333 + view.length);
  await disk.read(4096 - 512, outView);
  assertBytes(outView, view, 'read into a view');
  assertAll(outBacking.subarray(0, 333), 0x77, 'bytes before the view untouched');
  assertAll(outBacking.subarray(333 + view.length), 0x77, 'bytes after the view untouched');
});

test('overwrites replace data in place and do not allocate more pages', async () => {
  const disk = new RamDisk(1 * MiB);
  await disk.write(0, filled(8192, 1));
  assert.equal(disk.stats().pages, 2);
  await disk.write(512, filled(512, 2));
  await disk.write(4096 + 1024, filled(1024, 3));
  assert.equal(disk.stats().pages, 2);
  const got = await readBack(disk, 0, 8192);
  const want = filled(8192, 1);
  want.fill(2, 512, 1024);
  want.fill(3, 4096 + 1024, 4096 + 2048);
  assertBytes(got, want);
});

test('stats().pages counts each 4 KiB page once, however many sectors of it were written', async () => {
  const disk = new RamDisk(1 * MiB);
  const sector = filled(512, 9);
  await disk.write(0, sector);
  assert.equal(disk.stats().pages, 1);
  await disk.write(3584, sector); // last sector of page 0
  assert.equal(disk.stats().pages, 1);
  await disk.write(4096, sector);
  assert.equal(disk.stats().pages, 2);
  await disk.write(10 * 4096 - 512, filled(1024, 9)); // straddles pages 9 and 10
  assert.equal(disk.stats().pages, 4);
  await disk.write(1 * MiB - 512, sector);
  assert.equal(disk.stats().pages, 5);
  assert.equal(disk.stats().slabBytes, SLAB);
});

test('data larger than one slab round trips, and slabs are allocated as pages fill them', async () => {
  const disk = new RamDisk(8 * MiB);
  const offset = 512 * 3;
  const data = pattern(2 * MiB + 4096, 5);
  await disk.write(offset, data);
  assertBytes(await readBack(disk, offset, data.length), data);
  const pages = Math.ceil((offset + data.length) / 4096); // starts in page 0
  assert.equal(disk.stats().pages, pages);
  assert.equal(disk.stats().slabBytes, Math.ceil(pages / 256) * SLAB);
});

test('offsets beyond 2 GiB and 4 GiB on an 8 GiB disk round trip without aliasing and stay sparse', async () => {
  const disk = new RamDisk(8 * GiB);
  assert.equal(disk.size, 8 * GiB);
  const places = [
    { offset: 2 * GiB - 512, seed: 21 }, // straddles 2^31 (sign bit of 32-bit arithmetic)
    { offset: 4 * GiB - 1024, seed: 22 }, // straddles 2^32
    { offset: 4 * GiB + 7 * 4096 + 512, seed: 23 },
    { offset: 8 * GiB - 4096, seed: 24 }, // last page of the disk
  ];
  for (const p of places) await disk.write(p.offset, pattern(4096, p.seed));
  for (const p of places) assertBytes(await readBack(disk, p.offset, 4096), pattern(4096, p.seed), `at ${p.offset}`);
  // Nothing wrapped around to the bottom of the disk (a 32-bit offset bug would put it there).
  assertAll(await readBack(disk, 0, 64 * KiB), 0, 'first 64 KiB');
  assertAll(await readBack(disk, 7 * 4096 + 512, 4096), 0, '4 GiB-aliased spot');
  // 2 + 2 + 2 + 1 pages; no gigabytes of memory.
  assert.deepEqual(disk.stats(), { pages: 7, slabBytes: SLAB });
  assert.equal(disk.pageTable.length, 2 * 1024 * 1024);
  // Reading the last sector and refusing one past it.
  assertBytes(await readBack(disk, 8 * GiB - 512, 512), pattern(4096, 24).subarray(3584));
  await assert.rejects(disk.read(8 * GiB, new Uint8Array(512)), { code: 'ERR_OUT_OF_RANGE', errno: 'ENOSPC' });
});

test('discard frees only whole pages: partial pages at both ends keep all their data (brd_do_discard)', async () => {
  const disk = new RamDisk(1 * MiB);
  const data = pattern(4 * 4096, 3);
  await disk.write(0, data);
  assert.equal(disk.stats().pages, 4);
  // Covers 512..4096 of page 0, pages 1 and 2 whole, 0..3584 of page 3.
  await disk.discard(512, 4 * 4096 - 1024);
  assert.equal(disk.stats().pages, 2, 'pages 1 and 2 freed, 0 and 3 kept');
  const got = await readBack(disk, 0, 4 * 4096);
  assertBytes(got.subarray(0, 4096), data.subarray(0, 4096), 'page 0 keeps all of its data');
  assertAll(got.subarray(4096, 3 * 4096), 0, 'pages 1 and 2 read as zeros');
  assertBytes(got.subarray(3 * 4096), data.subarray(3 * 4096), 'page 3 keeps all of its data');
});

test('discard smaller than a page, or of holes, changes nothing', async () => {
  const disk = new RamDisk(1 * MiB);
  const data = pattern(4096, 4);
  await disk.write(8192, data);
  await disk.discard(8192 + 512, 3 * 512);
  await disk.discard(8192, 3584);
  await disk.discard(8192 + 512, 3584);
  assert.equal(disk.stats().pages, 1);
  assertBytes(await readBack(disk, 8192, 4096), data);
  await disk.discard(0, 8192); // holes only
  await disk.discard(12288, 0); // empty range
  assert.deepEqual(disk.stats(), { pages: 1, slabBytes: SLAB });
  assertBytes(await readBack(disk, 8192, 4096), data);
});

test('discard of every page of a slab releases the slab (slabBytes drops); a partial discard does not', async () => {
  const disk = new RamDisk(4 * MiB);
  await disk.write(0, pattern(MiB + 4096, 8)); // 257 pages: a full slab and one page of a second
  assert.deepEqual(disk.stats(), { pages: 257, slabBytes: 2 * SLAB });
  await disk.discard(0, MiB - 4096); // 255 of the first slab's pages
  assert.deepEqual(disk.stats(), { pages: 2, slabBytes: 2 * SLAB }, 'one page still holds the first slab');
  await disk.discard(MiB - 4096, 4096);
  assert.deepEqual(disk.stats(), { pages: 1, slabBytes: SLAB }, 'first slab released');
  assertBytes(await readBack(disk, MiB, 4096), pattern(MiB + 4096, 8).subarray(MiB), 'the surviving page');
  await disk.discard(0, 4 * MiB);
  assert.deepEqual(disk.stats(), { pages: 0, slabBytes: 0 });
  assertAll(await readBack(disk, 0, 2 * MiB), 0, 'everything reads as zeros');
  assertAll(disk.pageTable, 0, 'page table all holes');
});

test('discard and writeZeroes refuse out-of-range and unaligned requests and change nothing', async () => {
  const disk = new RamDisk(1 * MiB);
  await disk.write(0, filled(MiB, 0x5a));
  await assert.rejects(disk.discard(MiB - 4096, 8192), { code: 'ERR_OUT_OF_RANGE', errno: 'ENOSPC' });
  await assert.rejects(disk.discard(100, 4096), { code: 'ERR_UNALIGNED', errno: 'EINVAL' });
  await assert.rejects(disk.discard(-4096, 4096), { code: 'ERR_BAD_ARGUMENT', errno: 'EINVAL' });
  await assert.rejects(disk.writeZeroes(MiB - 4096, 8192), { code: 'ERR_OUT_OF_RANGE', errno: 'ENOSPC' });
  await assert.rejects(disk.writeZeroes(0, 4000), { code: 'ERR_UNALIGNED', errno: 'EINVAL' });
  assert.equal(disk.stats().pages, 256);
  assertAll(await readBack(disk, 0, MiB), 0x5a, 'data untouched');
});

test('read and write refuse out-of-range and unaligned requests without allocating', async () => {
  const disk = new RamDisk(1 * MiB);
  await assert.rejects(disk.write(MiB - 512, new Uint8Array(1024)), { code: 'ERR_OUT_OF_RANGE', errno: 'ENOSPC' });
  await assert.rejects(disk.write(MiB, new Uint8Array(512)), { code: 'ERR_OUT_OF_RANGE', errno: 'ENOSPC' });
  await assert.rejects(disk.write(256, new Uint8Array(512)), { code: 'ERR_UNALIGNED', errno: 'EINVAL' });
  await assert.rejects(disk.write(0, new Uint8Array(100)), { code: 'ERR_UNALIGNED', errno: 'EINVAL' });
  await assert.rejects(disk.read(MiB - 512, new Uint8Array(1024)), { code: 'ERR_OUT_OF_RANGE', errno: 'ENOSPC' });
  await assert.rejects(disk.read(0.5, new Uint8Array(512)), { code: 'ERR_BAD_ARGUMENT', errno: 'EINVAL' });
  assert.deepEqual(disk.stats(), { pages: 0, slabBytes: 0 });
  // Empty I/O at the very end is fine.
  await disk.write(MiB, new Uint8Array(0));
  await disk.read(MiB, new Uint8Array(0));
  assert.deepEqual(disk.stats(), { pages: 0, slabBytes: 0 });
});

test('writeZeroes zeroes partial pages in place and frees whole pages', async () => {
  const disk = new RamDisk(1 * MiB);
  const data = pattern(4 * 4096, 12);
  await disk.write(0, data);
  await disk.writeZeroes(512, 4 * 4096 - 1024);
  assert.equal(disk.stats().pages, 2, 'pages 1 and 2 freed, partial pages 0 and 3 kept');
  const got = await readBack(disk, 0, 4 * 4096);
  assertBytes(got.subarray(0, 512), data.subarray(0, 512), 'first sector kept');
  assertAll(got.subarray(512, 4 * 4096 - 512), 0, 'the range reads as zeros');
  assertBytes(got.subarray(4 * 4096 - 512), data.subarray(4 * 4096 - 512), 'last sector kept');
});

test('writeZeroes of a partial hole leaves it a hole; of a sub-page range inside one page zeroes just that', async () => {
  const disk = new RamDisk(1 * MiB);
  await disk.writeZeroes(512, 1024);
  assert.deepEqual(disk.stats(), { pages: 0, slabBytes: 0 });
  const data = pattern(4096, 13);
  await disk.write(4096, data);
  await disk.writeZeroes(4096 + 1024, 1024);
  assert.equal(disk.stats().pages, 1);
  const want = data.slice();
  want.fill(0, 1024, 2048);
  assertBytes(await readBack(disk, 4096, 4096), want);
});

test('writeZeroes with noUnmap zeroes the range but keeps (and makes) the pages allocated', async () => {
  const disk = new RamDisk(1 * MiB);
  const data = pattern(4 * 4096, 14);
  await disk.write(0, data);
  await disk.writeZeroes(512, 4 * 4096 - 1024, { noUnmap: true });
  assert.equal(disk.stats().pages, 4, 'no page freed');
  const got = await readBack(disk, 0, 4 * 4096);
  assertBytes(got.subarray(0, 512), data.subarray(0, 512));
  assertAll(got.subarray(512, 4 * 4096 - 512), 0, 'range reads as zeros');
  assertBytes(got.subarray(4 * 4096 - 512), data.subarray(4 * 4096 - 512));
  // Whole pages of holes become allocated zero pages (REQ_NOUNMAP: the range stays provisioned).
  await disk.writeZeroes(8 * 4096, 2 * 4096, { noUnmap: true, fua: true });
  assert.equal(disk.stats().pages, 6);
  assertAll(await readBack(disk, 8 * 4096, 2 * 4096), 0);
});

test('writeZeroes without noUnmap over whole slabs releases them', async () => {
  const disk = new RamDisk(4 * MiB);
  await disk.write(MiB, pattern(2 * MiB, 15));
  assert.deepEqual(disk.stats(), { pages: 512, slabBytes: 2 * SLAB });
  await disk.writeZeroes(MiB, 2 * MiB);
  assert.deepEqual(disk.stats(), { pages: 0, slabBytes: 0 });
  assertAll(await readBack(disk, MiB, 2 * MiB), 0);
});

test('freed page slots are reused, zeroed: no stale data leaks into a new page', async () => {
  const disk = new RamDisk(4 * MiB);
  await disk.write(0, filled(MiB, 0xee)); // one full slab: no free slot left in it
  assert.deepEqual(disk.stats(), { pages: 256, slabBytes: SLAB });
  await disk.discard(4096, 4096); // frees page 1's slot, the only free one
  assert.deepEqual(disk.stats(), { pages: 255, slabBytes: SLAB });
  // A single sector into a new page takes that slot: the rest of the page must read as zeros,
  // not as the 0xee the slot held before.
  await disk.write(2 * MiB + 512, filled(512, 0x11));
  assert.deepEqual(disk.stats(), { pages: 256, slabBytes: SLAB }, 'the freed slot was reused, no new slab');
  const page = await readBack(disk, 2 * MiB, 4096);
  assertAll(page.subarray(0, 512), 0, 'before the sector');
  assertAll(page.subarray(512, 1024), 0x11, 'the sector');
  assertAll(page.subarray(1024), 0, 'after the sector');
  assertAll(await readBack(disk, 4096, 4096), 0, 'discarded page reads as zeros');
  assertAll(await readBack(disk, 0, 4096), 0xee, 'page 0 intact');
  assertAll(await readBack(disk, 8192, MiB - 8192), 0xee, 'pages 2..255 intact');
  // The same through writeZeroes freeing a page, then a partial noUnmap writeZeroes on a hole
  // (which allocates a page: it must come back zeroed too).
  await disk.writeZeroes(8192, 4096);
  assert.equal(disk.stats().pages, 255);
  await disk.writeZeroes(3 * MiB, 512, { noUnmap: true });
  assert.deepEqual(disk.stats(), { pages: 256, slabBytes: SLAB });
  assertAll(await readBack(disk, 3 * MiB, 4096), 0, 'page allocated by writeZeroes(noUnmap)');
});

test('a full slab with freed pages absorbs new pages without opening another slab', async () => {
  const disk = new RamDisk(4 * MiB);
  await disk.write(0, filled(MiB, 0x33)); // exactly one full slab
  assert.deepEqual(disk.stats(), { pages: 256, slabBytes: SLAB });
  for (let i = 0; i < 10; i++) await disk.discard(i * 8 * 4096, 4096); // ten scattered pages
  assert.deepEqual(disk.stats(), { pages: 246, slabBytes: SLAB });
  await disk.write(2 * MiB, filled(10 * 4096, 0x44));
  assert.deepEqual(disk.stats(), { pages: 256, slabBytes: SLAB }, 'the ten freed slots were reused');
  await disk.write(3 * MiB, filled(4096, 0x55));
  assert.deepEqual(disk.stats(), { pages: 257, slabBytes: 2 * SLAB }, 'only now a second slab');
  assertAll(await readBack(disk, 2 * MiB, 10 * 4096), 0x44);
  for (let i = 0; i < 10; i++) {
    assertAll(await readBack(disk, i * 8 * 4096, 4096), 0, `discarded page ${i * 8}`);
    assertAll(await readBack(disk, i * 8 * 4096 + 4096, 4096), 0x33, `kept page ${i * 8 + 1}`);
  }
});

test('a released slab is not resurrected: pages written after it read correctly and new pages are zero', async () => {
  const disk = new RamDisk(4 * MiB);
  await disk.write(0, filled(MiB, 0x66));
  await disk.discard(0, MiB);
  assert.deepEqual(disk.stats(), { pages: 0, slabBytes: 0 });
  await disk.write(MiB + 512, filled(512, 0x77));
  assert.deepEqual(disk.stats(), { pages: 1, slabBytes: SLAB });
  const page = await readBack(disk, MiB, 4096);
  assertAll(page.subarray(0, 512), 0);
  assertAll(page.subarray(512, 1024), 0x77);
  assertAll(page.subarray(1024), 0);
  assertAll(await readBack(disk, 0, MiB), 0, 'old data gone');
});

test('the shared page table and slabs expose each page in place, as the diagram in ramdisk.ts says', async () => {
  const disk = new RamDisk(4 * MiB);
  const data = pattern(4096, 16);
  await disk.write(5 * 4096, data);
  const entry = disk.pageTable[5];
  assert.ok(entry !== undefined && entry > 0, 'page 5 is mapped');
  const slot = entry - 1;
  const slab = disk.slab(slot >> 8);
  assert.ok(slab, 'its slab exists');
  assert.ok(slab.buffer instanceof SharedArrayBuffer, 'slabs are shared memory');
  assert.equal(slab.length, SLAB);
  const start = (slot & 255) * 4096;
  assertBytes(slab.subarray(start, start + 4096), data, 'page bytes in the slab');
  // A write through the shared view is what a worker thread would do; reads see it.
  slab[start + 10] = 0xfe;
  assert.equal((await readBack(disk, 5 * 4096, 512))[10], 0xfe);
  assert.equal(disk.pageTable[4], 0, 'neighbours are holes');
  assert.equal(disk.pageTable[6], 0);
  assert.equal(disk.slab(99), undefined);
});

test('flush and FUA writes complete (RAM needs no cache flush)', async () => {
  const disk = new RamDisk(1 * MiB);
  const data = pattern(4096, 17);
  await disk.write(4096, data, { fua: true });
  await disk.flush();
  assertBytes(await readBack(disk, 4096, 4096), data);
});

test('readSync/writeSync are the same storage as read/write', async () => {
  const disk = new RamDisk(1 * MiB);
  const data = pattern(8192, 18);
  disk.writeSync(4096 - 512, data);
  assertBytes(await readBack(disk, 4096 - 512, 8192), data);
  const again = pattern(1024, 19);
  await disk.write(2048, again);
  const out = new Uint8Array(1024);
  disk.readSync(2048, out);
  assertBytes(out, again);
});

test('clear() drops every page', async () => {
  const disk = new RamDisk(4 * MiB);
  await disk.write(0, pattern(2 * MiB, 20));
  disk.clear();
  assert.deepEqual(disk.stats(), { pages: 0, slabBytes: 0 });
  assertAll(await readBack(disk, 0, 4 * MiB), 0);
  // Still usable afterwards.
  await disk.write(4096, filled(4096, 1));
  assert.deepEqual(disk.stats(), { pages: 1, slabBytes: SLAB });
  assertAll(await readBack(disk, 4096, 4096), 1);
});
