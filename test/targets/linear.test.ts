// The linear target (drivers/md/dm-linear.c): `<dev_path> <offset>` maps the target's range onto
// the device starting at `offset` sectors. Data is checked on the RAM disk underneath.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getTargetType } from '../../src/dm/target.js';
import { newRegistry, pattern, SECTOR } from '../dm/support.js';

function onDisk(reg: ReturnType<typeof newRegistry>, disk: number, offset: number, length: number): Uint8Array {
  const buf = new Uint8Array(length);
  reg.ramDisk(disk)!.readSync(offset, buf);
  return buf;
}

test('linear: registered as version 1.5.0', () => {
  newRegistry();
  assert.deepEqual(getTargetType('linear')?.version, [1, 5, 0]);
});

test('linear: writes land at offset sectors into the device, nothing else changes', async () => {
  const reg = newRegistry();
  const md = await reg.create('lin', { table: '0 1024 linear /dev/ram0 2048' });
  const a = pattern(1, 4096);
  const b = pattern(2, 1024);
  await md.write(0, a);
  await md.write(1022 * SECTOR, b);
  assert.deepEqual(onDisk(reg, 0, 2048 * SECTOR, 4096), a);
  assert.deepEqual(onDisk(reg, 0, (2048 + 1022) * SECTOR, 1024), b);
  assert.ok(onDisk(reg, 0, 0, 2048 * SECTOR).every((x) => x === 0), 'nothing before the offset');
  assert.ok(onDisk(reg, 0, (2048 + 1024) * SECTOR, 4096).every((x) => x === 0), 'nothing after the range');
  assert.ok(onDisk(reg, 1, 0, 4096).every((x) => x === 0), 'nothing on the other disk');
});

test('linear: reads come from offset sectors into the device', async () => {
  const reg = newRegistry();
  const data = pattern(3, 8192);
  await reg.ramDisk(1)!.write(100 * SECTOR, data);
  const md = await reg.create('lin', { table: '0 64 linear /dev/ram1 100' });
  const whole = new Uint8Array(8192);
  await md.read(0, whole);
  assert.deepEqual(whole, data);
  const part = new Uint8Array(1536);
  await md.read(5 * SECTOR, part);
  assert.deepEqual(part, data.subarray(5 * SECTOR, 8 * SECTOR));
});

test('linear: offset 0 over the whole disk is the identity', async () => {
  const reg = newRegistry();
  const md = await reg.create('all', { table: '0 16384 linear /dev/ram0 0' });
  assert.equal(md.size, reg.ramDisk(0)!.size);
  const data = pattern(4, 4096);
  await md.write(md.size - 4096, data);
  assert.deepEqual(onDisk(reg, 0, md.size - 4096, 4096), data);
});

test('linear: write-zeroes, discard and flush pass through to the device range', async () => {
  const reg = newRegistry();
  const md = await reg.create('lin', { table: '0 64 linear /dev/ram0 16' });
  await md.write(0, pattern(5, 64 * SECTOR));
  await md.writeZeroes(SECTOR, 2 * SECTOR);
  const got = onDisk(reg, 0, 16 * SECTOR, 64 * SECTOR);
  const want = pattern(5, 64 * SECTOR);
  want.fill(0, SECTOR, 3 * SECTOR);
  assert.deepEqual(got, want);
  // brd discards whole pages only: device bytes 8192..16383 are RAM disk bytes 16384..24575.
  await md.discard(8192, 8192);
  want.fill(0, 8192, 16384);
  assert.deepEqual(onDisk(reg, 0, 16 * SECTOR, 64 * SECTOR), want);
  await md.flush();
  await md.write(0, pattern(6, 512), { fua: true });
  assert.deepEqual(onDisk(reg, 0, 16 * SECTOR, 512), pattern(6, 512));
});

test('linear: table and status lines as the kernel prints them', async () => {
  const reg = newRegistry();
  await reg.create('lin', { table: '0 1024 linear /dev/ram0 2048' });
  assert.deepEqual(reg.lines('lin', { status: false }), ['0 1024 linear 1:0 2048']);
  assert.deepEqual(reg.lines('lin', { status: true }), ['0 1024 linear ']);
  assert.deepEqual(reg.lines('lin', { status: false, showKeys: true }), ['0 1024 linear 1:0 2048']);
});

test('linear: the offset is printed as given in sectors, the device as MAJ:MIN', async () => {
  const reg = newRegistry();
  await reg.create('x', { table: '0 8 linear /dev/ram1 0016' });
  assert.deepEqual(reg.lines('x', { status: false }), ['0 8 linear 1:1 16']);
});

test('linear: stacking over a mapped device shows 254:N and reaches the right bytes', async () => {
  const reg = newRegistry();
  await reg.create('lin', { table: '0 1024 linear /dev/ram0 2048' });
  const stacked = await reg.create('stacked', { table: '0 512 linear /dev/mapper/lin 0' });
  assert.deepEqual(reg.lines('stacked', { status: false }), ['0 512 linear 254:0 0']);
  assert.deepEqual(reg.lines('stacked', { status: true }), ['0 512 linear ']);
  // Two layers of offsets: top sector s -> lin sector 8 + s -> ram1 sector 1000 + 8 + s.
  await reg.create('mid', { table: '0 4096 linear /dev/ram1 1000' });
  const top = await reg.create('top', { table: '0 1024 linear /dev/mapper/mid 8' });
  const data = pattern(7, 4096);
  await top.write(16 * SECTOR, data);
  assert.deepEqual(onDisk(reg, 1, (1000 + 8 + 16) * SECTOR, 4096), data);
  const back = new Uint8Array(4096);
  await top.read(16 * SECTOR, back);
  assert.deepEqual(back, data);
  assert.equal(stacked.size, 512 * SECTOR);
});

test('linear: a multi-line table of linears onto scrambled places (writes split at boundaries)', async () => {
  const reg = newRegistry();
  // device sectors 0..7 -> ram0 800..807, 8..23 -> ram1 16..31, 24..31 -> ram0 0..7
  const md = await reg.create('scr', { table: '0 8 linear /dev/ram0 800\n8 16 linear /dev/ram1 16\n24 8 linear /dev/ram0 0' });
  const data = pattern(8, 32 * SECTOR);
  await md.write(0, data);
  assert.deepEqual(onDisk(reg, 0, 800 * SECTOR, 8 * SECTOR), data.subarray(0, 8 * SECTOR));
  assert.deepEqual(onDisk(reg, 1, 16 * SECTOR, 16 * SECTOR), data.subarray(8 * SECTOR, 24 * SECTOR));
  assert.deepEqual(onDisk(reg, 0, 0, 8 * SECTOR), data.subarray(24 * SECTOR, 32 * SECTOR));
  // Reads that start and end inside targets.
  for (const [start, end] of [
    [4, 28],
    [7, 9],
    [8, 24],
    [23, 25],
    [0, 32],
    [31, 32],
  ] as const) {
    const buf = new Uint8Array((end - start) * SECTOR);
    await md.read(start * SECTOR, buf);
    assert.deepEqual(buf, data.subarray(start * SECTOR, end * SECTOR), `sectors ${start}..${end}`);
  }
  // A write crossing a boundary from the middle of one target into the next.
  const patch = pattern(9, 4 * SECTOR);
  await md.write(6 * SECTOR, patch);
  assert.deepEqual(onDisk(reg, 0, 806 * SECTOR, 2 * SECTOR), patch.subarray(0, 2 * SECTOR));
  assert.deepEqual(onDisk(reg, 1, 16 * SECTOR, 2 * SECTOR), patch.subarray(2 * SECTOR));
  assert.deepEqual(onDisk(reg, 1, 18 * SECTOR, 6 * SECTOR), data.subarray(10 * SECTOR, 16 * SECTOR), 'neighbours untouched');
});

test('linear: write-zeroes and discard across target boundaries', async () => {
  const reg = newRegistry();
  const md = await reg.create('two', { table: '0 16 linear /dev/ram0 64\n16 16 linear /dev/ram1 128' });
  await md.write(0, pattern(10, 32 * SECTOR));
  await md.writeZeroes(12 * SECTOR, 8 * SECTOR);
  const want = pattern(10, 32 * SECTOR);
  want.fill(0, 12 * SECTOR, 20 * SECTOR);
  const got = new Uint8Array(32 * SECTOR);
  await md.read(0, got);
  assert.deepEqual(got, want);
  assert.deepEqual(onDisk(reg, 1, 128 * SECTOR, 4 * SECTOR), new Uint8Array(4 * SECTOR));
  // Discard of the whole device: whole pages of each disk area are freed.
  await md.discard(0, 32 * SECTOR);
  await md.read(0, got);
  assert.ok(got.every((x) => x === 0));
});
