// The zero target (drivers/md/dm-zero.c) and the error target (io_err_* in dm-target.c), alone
// and in multi-target tables with linear (the golden `multi` device).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errorTarget } from '../../src/targets/error/error.js';
import { zeroTarget } from '../../src/targets/zero/zero.js';
import type { TargetContext } from '../../src/dm/target.js';
import { failure, newRegistry, pattern, settlesWithin, SECTOR } from '../dm/support.js';

const ctx: TargetContext = {
  begin: 0,
  len: 8,
  readOnly: false,
  getDevice: () => Promise.reject(new Error('no devices here')),
};

test('zero: reads zeros over whatever the buffer held', async () => {
  const reg = newRegistry();
  const md = await reg.create('z', { table: '0 100 zero' });
  const buf = new Uint8Array(100 * SECTOR).fill(0xa5);
  await md.read(0, buf);
  assert.ok(buf.every((b) => b === 0));
});

test('zero: writes are accepted and dropped; discard, write-zeroes and flush succeed', async () => {
  const reg = newRegistry();
  const md = await reg.create('z', { table: '0 64 zero' });
  await md.write(0, pattern(1, 4096), { fua: true });
  const buf = new Uint8Array(4096).fill(1);
  await md.read(0, buf);
  assert.ok(buf.every((b) => b === 0), 'the write was dropped');
  await md.discard(0, 64 * SECTOR);
  await md.writeZeroes(0, 64 * SECTOR, { noUnmap: true });
  await md.flush();
  assert.equal(md.size, 64 * SECTOR);
});

test('zero: table and status lines keep the trailing space', async () => {
  const reg = newRegistry();
  await reg.create('z', { table: '0 8 zero' });
  assert.deepEqual(reg.lines('z', { status: false }), ['0 8 zero ']);
  assert.deepEqual(reg.lines('z', { status: true }), ['0 8 zero ']);
});

test('zero: the constructor refuses arguments with the kernel text', async () => {
  assert.deepEqual(zeroTarget.version, [1, 2, 0]);
  await assert.rejects(
    async () => zeroTarget.create(['5'], ctx),
    (err: unknown) => (err as Error).message === 'No arguments required' && (err as { errno?: string }).errno === 'EINVAL',
  );
  const t = await zeroTarget.create([], ctx);
  assert.deepEqual(t.devices(), []);
  assert.equal(t.status('table', { showKeys: false }), '');
});

test('error: every read, write, discard and write-zeroes fails with EIO; flush succeeds', async () => {
  const reg = newRegistry();
  const md = await reg.create('e', { table: '0 16 error' });
  const ops: [string, () => Promise<void>][] = [
    ['read', () => md.read(0, new Uint8Array(SECTOR))],
    ['write', () => md.write(SECTOR, new Uint8Array(SECTOR))],
    ['discard', () => md.discard(0, 16 * SECTOR)],
    ['write-zeroes', () => md.writeZeroes(0, SECTOR)],
  ];
  for (const [what, op] of ops) {
    const err = await failure(op);
    assert.equal(err.errno, 'EIO', what);
    assert.equal(err.code, 'ERR_IO', what);
  }
  await md.flush();
  // Failed I/O does not count as in flight.
  assert.equal(await settlesWithin(reg.suspend('e'), 100), true);
  await reg.resume('e');
});

test('error: table and status lines; arguments are ignored', async () => {
  assert.deepEqual(errorTarget.version, [1, 7, 0]);
  const reg = newRegistry();
  await reg.create('e', { table: '0 100 error some ignored args' });
  assert.deepEqual(reg.lines('e', { status: false }), ['0 100 error ']);
  assert.deepEqual(reg.lines('e', { status: true }), ['0 100 error ']);
  const t = await errorTarget.create(['x'], ctx);
  assert.deepEqual(t.devices(), []);
});

test('multi: the golden table and status lines', async () => {
  const reg = newRegistry();
  await reg.create('multi', { table: '0 100 linear /dev/ram1 0\n100 50 zero\n150 10 error\n' });
  assert.deepEqual(reg.lines('multi', { status: false }), ['0 100 linear 1:1 0', '100 50 zero ', '150 10 error ']);
  assert.deepEqual(reg.lines('multi', { status: true }), ['0 100 linear ', '100 50 zero ', '150 10 error ']);
  await reg.create('nl', { table: '0 8 zero\n8 8 error' });
  assert.deepEqual(reg.lines('nl', { status: false }), ['0 8 zero ', '8 8 error ']);
});

test('multi: I/O is routed by sector to linear, zero and error', async () => {
  const reg = newRegistry();
  const md = await reg.create('multi', { table: '0 100 linear /dev/ram1 0\n100 50 zero\n150 10 error\n' });
  assert.equal(md.size, 160 * SECTOR);
  const data = pattern(1, 100 * SECTOR);
  await md.write(0, data);
  const back = new Uint8Array(100 * SECTOR);
  await md.read(0, back);
  assert.deepEqual(back, data);
  const zeros = new Uint8Array(50 * SECTOR).fill(7);
  await md.read(100 * SECTOR, zeros);
  assert.ok(zeros.every((b) => b === 0));
  assert.equal((await failure(() => md.read(150 * SECTOR, new Uint8Array(10 * SECTOR)))).errno, 'EIO');
  assert.equal((await failure(() => md.read(159 * SECTOR, new Uint8Array(SECTOR)))).errno, 'EIO');
});

test('multi: a read across linear and zero gets data then zeros', async () => {
  const reg = newRegistry();
  const md = await reg.create('multi', { table: '0 100 linear /dev/ram1 0\n100 50 zero\n150 10 error\n' });
  const data = pattern(2, 100 * SECTOR);
  await reg.ramDisk(1)!.write(0, data);
  const buf = new Uint8Array(8 * SECTOR).fill(9);
  await md.read(96 * SECTOR, buf);
  assert.deepEqual(buf.subarray(0, 4 * SECTOR), data.subarray(96 * SECTOR));
  assert.ok(buf.subarray(4 * SECTOR).every((b) => b === 0));
});

test('multi: a write across linear and zero writes the linear part and drops the rest', async () => {
  const reg = newRegistry();
  const md = await reg.create('multi', { table: '0 100 linear /dev/ram1 0\n100 50 zero\n150 10 error\n' });
  const data = pattern(3, 8 * SECTOR);
  await md.write(96 * SECTOR, data);
  const disk = new Uint8Array(8 * SECTOR);
  reg.ramDisk(1)!.readSync(96 * SECTOR, disk);
  assert.deepEqual(disk.subarray(0, 4 * SECTOR), data.subarray(0, 4 * SECTOR));
  assert.ok(disk.subarray(4 * SECTOR).every((b) => b === 0), 'the zero target wrote nothing to the disk');
});

test('multi: I/O reaching into the error target fails with EIO as a whole', async () => {
  const reg = newRegistry();
  const md = await reg.create('multi', { table: '0 100 linear /dev/ram1 0\n100 50 zero\n150 10 error\n' });
  assert.equal((await failure(() => md.read(148 * SECTOR, new Uint8Array(4 * SECTOR)))).errno, 'EIO');
  assert.equal((await failure(() => md.write(90 * SECTOR, new Uint8Array(70 * SECTOR)))).errno, 'EIO');
  assert.equal((await failure(() => md.writeZeroes(0, 160 * SECTOR))).errno, 'EIO');
  assert.equal(await settlesWithin(reg.suspend('multi'), 100), true, 'no I/O left in flight');
});

test('multi: a flush goes to every target and succeeds (error passes flushes)', async () => {
  const reg = newRegistry();
  const md = await reg.create('multi', { table: '0 100 linear /dev/ram1 0\n100 50 zero\n150 10 error\n' });
  await md.flush();
});
