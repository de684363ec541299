// The flakey target against the kernel's semantics (drivers/md/dm-flakey.c, 1.5.0): up/down
// intervals on an injected clock, every feature, table/status lines, constructor errors, and
// faults under a crypt device reaching the reader as EIO, never as wrong data.

import { test, afterEach, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { getTargetType } from '../../src/dm/target.js';
import { UcryptError } from '../../src/errors.js';
import { faultSeed, setFaultClock, setFaultSeed } from '../../src/targets/flakey/fault-env.js';
import { failure, logSince, newRegistry, pattern, SECTOR } from '../dm/support.js';
import { FakeClock } from './support.js';

let clock: FakeClock;
beforeEach(() => {
  clock = new FakeClock();
  setFaultClock(clock);
  setFaultSeed(Number(process.env['UCRYPT_FAULT_SEED'] ?? 12345));
});
afterEach(() => {
  setFaultClock(undefined);
  setFaultSeed(undefined);
});

const KEY = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';

async function eio(p: Promise<unknown>): Promise<void> {
  const err = await failure(() => p);
  assert.equal(err.errno, 'EIO', err.message);
}

test('flakey: registered as version 1.5.0', () => {
  newRegistry();
  assert.deepEqual(getTargetType('flakey')?.version, [1, 5, 0]);
});

test('flakey: up for <up> seconds then down for <down> seconds, counted from table load; no features errors all I/O', async () => {
  const reg = newRegistry();
  const md = await reg.create('f', { table: '0 64 flakey /dev/ram0 0 2 3' });
  const buf = pattern(1, 4096);
  await md.write(0, buf);
  clock.advance(1999);
  await md.read(0, new Uint8Array(512));
  clock.advance(1); // 2 s: down
  await eio(md.read(0, new Uint8Array(512)));
  await eio(md.write(0, buf));
  await eio(md.flush());
  await eio(md.discard(0, 4096));
  clock.advance(2999); // 4.999 s: still down
  await eio(md.read(0, new Uint8Array(512)));
  clock.advance(1); // 5 s: up again
  const back = new Uint8Array(4096);
  await md.read(0, back);
  assert.deepEqual(back, buf);
  clock.advance(7000); // 12 s = 2 cycles + 2 s: down
  await eio(md.read(0, back));
  assert.equal(reg.lines('f', { status: false }).join(''), '0 64 flakey 1:0 0 2 3 2 error_reads error_writes');
  assert.equal(reg.lines('f', { status: true }).join(''), '0 64 flakey ');
});

test('flakey: error_reads alone fails reads while down and lets writes through', async () => {
  const reg = newRegistry();
  const md = await reg.create('f', { table: '0 64 flakey /dev/ram0 8 0 5 1 error_reads' });
  const data = pattern(2, 1024);
  await md.write(0, data);
  await eio(md.read(0, new Uint8Array(512)));
  const raw = new Uint8Array(1024);
  await reg.ramDisk(0)!.read(8 * SECTOR, raw);
  assert.deepEqual(raw, data);
  assert.equal(reg.lines('f', { status: false }).join(''), '0 64 flakey 1:0 8 0 5 1 error_reads');
});

test('flakey: drop_writes acknowledges writes while down without writing; reads pass', async () => {
  const reg = newRegistry();
  const md = await reg.create('f', { table: '0 64 flakey /dev/ram0 0 1 1 1 drop_writes' });
  const a = pattern(3, 512);
  await md.write(0, a);
  clock.advance(1000);
  await md.write(0, pattern(4, 512)); // dropped
  await md.flush();
  await md.discard(0, 512);
  const back = new Uint8Array(512);
  await md.read(0, back);
  assert.deepEqual(back, a, 'the dropped write and discard left the data alone');
  assert.equal(reg.lines('f', { status: false }).join(''), '0 64 flakey 1:0 0 1 1 1 drop_writes');
});

test('flakey: error_writes fails writes while down; reads pass', async () => {
  const reg = newRegistry();
  const md = await reg.create('f', { table: '0 64 flakey /dev/ram0 0 1 1 1 error_writes' });
  const a = pattern(5, 512);
  await md.write(0, a);
  clock.advance(1500);
  await eio(md.write(0, pattern(6, 512)));
  await eio(md.writeZeroes(0, 512));
  const back = new Uint8Array(512);
  await md.read(0, back);
  assert.deepEqual(back, a);
});

test('flakey: corrupt_bio_byte on reads sets byte N of reads while down; the disk is untouched', async () => {
  const reg = newRegistry();
  const md = await reg.create('f', { table: '0 64 flakey /dev/ram0 0 0 1 5 corrupt_bio_byte 32 r 1 0' });
  const a = pattern(7, 1024);
  await reg.ramDisk(0)!.write(0, a);
  const back = new Uint8Array(1024);
  await md.read(0, back);
  const want = a.slice();
  want[31] = 1;
  assert.deepEqual(back, want);
  const raw = new Uint8Array(1024);
  await reg.ramDisk(0)!.read(0, raw);
  assert.deepEqual(raw, a);
  assert.equal(reg.lines('f', { status: false }).join(''), '0 64 flakey 1:0 0 0 1 5 corrupt_bio_byte 32 r 1 0');
});

test('flakey: corrupt_bio_byte on writes corrupts a copy (the caller buffer stays intact); flags must all match', async () => {
  const reg = newRegistry();
  const md = await reg.create('f', { table: '0 64 flakey /dev/ram0 0 0 1 5 corrupt_bio_byte 600 w 255 0' });
  const a = pattern(8, 1024);
  const copy = a.slice();
  await md.write(0, a);
  assert.deepEqual(a, copy, 'the caller buffer is not modified');
  const raw = new Uint8Array(1024);
  await reg.ramDisk(0)!.read(0, raw);
  const want = copy.slice();
  want[599] = 255;
  assert.deepEqual(raw, want);
  // byte beyond the I/O: nothing happens
  const small = pattern(9, 512);
  await md.write(4096, small);
  const raw2 = new Uint8Array(512);
  await reg.ramDisk(0)!.read(4096, raw2);
  assert.deepEqual(raw2, small);
  // REQ_FUA (1 << 17) in the mask: only FUA writes are corrupted
  const md2 = await reg.create('g', { table: `0 64 flakey /dev/ram1 0 0 1 5 corrupt_bio_byte 1 w 0 ${1 << 17}` });
  const b = new Uint8Array(512).fill(7);
  await md2.write(0, b);
  await reg.ramDisk(1)!.read(0, raw2);
  assert.equal(raw2[0], 7);
  await md2.write(0, b, { fua: true });
  await reg.ramDisk(1)!.read(0, raw2);
  assert.equal(raw2[0], 0);
});

test('flakey: random_read_corrupt / random_write_corrupt at probability 1e9 corrupt one byte per I/O, reproducibly by seed', async () => {
  const run = async (): Promise<{ read: Uint8Array; disk: Uint8Array }> => {
    const reg = newRegistry();
    const a = pattern(10, 4096);
    await reg.ramDisk(0)!.write(0, a);
    const md = await reg.create('f', { table: '0 64 flakey /dev/ram0 0 0 1 4 random_read_corrupt 1000000000 random_write_corrupt 1000000000' });
    assert.equal(reg.lines('f', { status: false }).join(''), '0 64 flakey 1:0 0 0 1 4 random_read_corrupt 1000000000 random_write_corrupt 1000000000');
    const read = new Uint8Array(4096);
    await md.read(0, read);
    let diff = 0;
    for (let i = 0; i < 4096; i++) if (read[i] !== a[i]) diff++;
    assert.ok(diff <= 1, `at most one byte differs (${diff})`);
    const w = pattern(11, 4096);
    await md.write(8192, w);
    const disk = new Uint8Array(4096);
    await reg.ramDisk(0)!.read(8192, disk);
    diff = 0;
    for (let i = 0; i < 4096; i++) if (disk[i] !== w[i]) diff++;
    assert.ok(diff <= 1);
    return { read, disk };
  };
  const one = await run();
  const two = await run();
  assert.deepEqual(one, two, `the same seed (${faultSeed()}) gives the same corruption`);
  // probability 0 never corrupts
  const reg = newRegistry();
  const md = await reg.create('z', { table: '0 64 flakey /dev/ram0 0 0 1 3 drop_writes random_read_corrupt 0' });
  const a = pattern(12, 4096);
  await reg.ramDisk(0)!.write(0, a);
  const back = new Uint8Array(4096);
  for (let i = 0; i < 20; i++) {
    await md.read(0, back);
    assert.deepEqual(back, a);
  }
  assert.equal(reg.lines('z', { status: false }).join(''), '0 64 flakey 1:0 0 0 1 1 drop_writes');
  // random_read_corrupt 0 alone sets no feature: the kernel falls back to erroring all I/O
  await reg.create('y', { table: '0 64 flakey /dev/ram1 0 0 1 2 random_read_corrupt 0' });
  assert.equal(reg.lines('y', { status: false }).join(''), '0 64 flakey 1:1 0 0 1 2 error_reads error_writes');
});

test('flakey: random corruption at probability p hits about p of the I/Os', async () => {
  const reg = newRegistry();
  const md = await reg.create('f', { table: '0 64 flakey /dev/ram0 0 0 1 2 random_read_corrupt 250000000' });
  const back = new Uint8Array(512);
  let hits = 0;
  const n = 2000;
  for (let i = 0; i < n; i++) {
    back.fill(0xaa);
    await reg.ramDisk(0)!.write(0, back);
    await md.read(0, back);
    if (back.some((x) => x !== 0xaa)) hits++;
  }
  // random values equal 0xaa 1/256 of the time: expect ~0.249
  assert.ok(hits > n * 0.2 && hits < n * 0.3, `hits ${hits}/${n} (seed ${faultSeed()})`);
});

const CTR_ERRORS: [string, string][] = [
  ['/dev/ram0 0 1', 'Invalid argument count'],
  ['/dev/ram0 x 1 1', 'Invalid device sector'],
  ['/dev/ram0 0 -1 1', 'Invalid up interval'],
  ['/dev/ram0 0 1 1x', 'Invalid down interval'],
  ['/dev/ram0 0 0 0', 'Total (up + down) interval is zero'],
  ['/dev/ram0 0 1 4294967295', 'Total (up + down) interval is zero'],
  ['/dev/ram0 0 2 4294967295', 'Interval overflow'],
  ['/dev/ram0 0 1 1 12', 'Invalid number of feature args'],
  ['/dev/ram0 0 1 1 2 drop_writes', 'Invalid number of feature args'],
  ['/dev/ram0 0 1 1 1 nosuch', 'Unrecognised flakey feature requested'],
  ['/dev/ram0 0 1 1 2 drop_writes drop_writes', 'Feature drop_writes duplicated'],
  ['/dev/ram0 0 1 1 2 drop_writes error_writes', 'Feature error_writes conflicts with feature drop_writes'],
  ['/dev/ram0 0 1 1 2 error_writes drop_writes', 'Feature drop_writes conflicts with feature error_writes'],
  ['/dev/ram0 0 1 1 2 error_reads error_reads', 'Feature error_reads duplicated'],
  ['/dev/ram0 0 1 1 4 corrupt_bio_byte 1 r 0', 'Feature corrupt_bio_byte requires 4 parameters'],
  ['/dev/ram0 0 1 1 5 corrupt_bio_byte 0 r 0 0', 'Invalid corrupt bio byte'],
  ['/dev/ram0 0 1 1 5 corrupt_bio_byte 1 x 0 0', 'Invalid corrupt bio direction (r or w)'],
  ['/dev/ram0 0 1 1 5 corrupt_bio_byte 1 r 256 0', 'Invalid corrupt value to write into bio byte (0-255)'],
  ['/dev/ram0 0 1 1 5 corrupt_bio_byte 1 r 0 z', 'Invalid corrupt bio flags mask'],
  ['/dev/ram0 0 1 1 10 corrupt_bio_byte 1 r 0 0 corrupt_bio_byte 1 r 0 0', 'Feature corrupt_bio_byte duplicated'],
  ['/dev/ram0 0 1 1 2 random_read_corrupt 1000000001', 'Invalid random corrupt argument'],
  ['/dev/ram0 0 1 1 1 random_write_corrupt', 'Feature random_write_corrupt requires a parameter'],
  ['/dev/ram0 0 1 1 4 random_read_corrupt 1 random_read_corrupt 1', 'Feature random_read_corrupt duplicated'],
  ['/dev/ram0 0 1 1 6 drop_writes corrupt_bio_byte 1 w 0 0', 'drop_writes is incompatible with random_write_corrupt or corrupt_bio_byte with the WRITE flag set'],
  ['/dev/ram0 0 1 1 3 error_writes random_write_corrupt 5', 'error_writes is incompatible with random_write_corrupt or corrupt_bio_byte with the WRITE flag set'],
  ['/dev/ram0 0 1 1 3 error_reads random_read_corrupt 5', 'error_reads is incompatible with random_read_corrupt or corrupt_bio_byte with the READ flag set'],
  ['/dev/nosuch 0 1 1', 'Device lookup failed'],
];

test('flakey: constructor errors carry the kernel texts, in its order of checks', async () => {
  const reg = newRegistry();
  for (const [args, message] of CTR_ERRORS) {
    const mark = reg.dmesg().length;
    const err = await failure(() => reg.create('bad', { table: `0 64 flakey ${args}` }));
    assert.ok(err instanceof UcryptError);
    const log = logSince(reg, mark);
    assert.ok(log.some((l) => l.endsWith(`flakey: ${message} (-${message === 'Device lookup failed' ? 'ENODEV' : 'EINVAL'})`)), `${args}: ${log.join(' | ')}`);
  }
});

test('flakey: table lines round-trip and are what the kernel prints', async () => {
  const reg = newRegistry();
  const cases: [string, string][] = [
    ['/dev/ram0 0 1 1', '1:0 0 1 1 2 error_reads error_writes'],
    ['/dev/ram0 0 1 1 0', '1:0 0 1 1 2 error_reads error_writes'],
    ['/dev/ram1 16 60 0 1 DROP_WRITES', '1:1 16 60 0 1 drop_writes'],
    ['/dev/ram0 0 1 1 6 error_writes corrupt_bio_byte 1 R 0 0', '1:0 0 1 1 6 error_writes corrupt_bio_byte 1 r 0 0'],
    ['/dev/ram0 0 1 1 8 error_reads corrupt_bio_byte 3 w 9 2048 random_write_corrupt 7', '1:0 0 1 1 8 error_reads corrupt_bio_byte 3 w 9 2048 random_write_corrupt 7'],
    ['1:0 00 4294967294 1 2 random_read_corrupt 00010', '1:0 0 4294967294 1 2 random_read_corrupt 10'],
  ];
  for (const [args, want] of cases) {
    const md = await reg.create('t', { table: `0 64 flakey ${args}` });
    const line = reg.lines('t', { status: false }).join('');
    assert.equal(line, `0 64 flakey ${want}`, args);
    await reg.remove('t');
    await reg.create('t', { table: line });
    assert.equal(reg.lines('t', { status: false }).join(''), line, `round trip of ${line}`);
    await reg.remove('t');
    void md;
  }
});

test('flakey under crypt: read errors below a crypt device reach the reader as EIO, never as wrong data', async () => {
  const reg = newRegistry();
  await reg.create('fl', { table: '0 2048 flakey /dev/ram0 0 1 1 1 error_reads' });
  const c = await reg.create('c', { table: `0 2048 crypt aes-xts-plain64 ${KEY} 0 /dev/mapper/fl 0` });
  const data = pattern(20, 64 * 1024);
  await c.write(0, data);
  const back = new Uint8Array(data.length);
  await c.read(0, back);
  assert.deepEqual(back, data);
  clock.advance(1000);
  for (const [off, len] of [[0, 512], [4096, 4096], [0, 64 * 1024]] as const) {
    const b = new Uint8Array(len).fill(0x5a);
    await eio(c.read(off, b));
  }
  // error_writes under crypt: the write fails, and nothing is acknowledged
  await reg.remove('c');
  await reg.remove('fl');
  await reg.create('fl', { table: '0 2048 flakey /dev/ram0 0 1 1 0' });
  const c2 = await reg.create('c', { table: `0 2048 crypt aes-xts-plain64 ${KEY} 0 /dev/mapper/fl 0` });
  clock.advance(1000);
  await eio(c2.write(0, pattern(21, 4096)));
  await eio(c2.read(0, new Uint8Array(4096)));
  clock.advance(1000);
  await c2.read(0, back.subarray(0, 4096));
  assert.deepEqual(back.subarray(0, 4096), data.subarray(0, 4096), 'the failed write changed nothing');
});
