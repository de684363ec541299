// The I/O entry points of a MappedDevice: range and alignment checks at the boundary, read-only
// devices, devices without a table, and how errors reach the caller.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { failure, newRegistry, pattern, settle, settlesWithin, SECTOR } from './support.js';

test('I/O past the end fails with ENOSPC; unaligned or negative I/O with EINVAL', async () => {
  const reg = newRegistry();
  const md = await reg.create('lin', { table: '0 1024 linear /dev/ram0 2048' });
  const size = 1024 * SECTOR;
  assert.equal(md.size, size);
  const cases: [string, () => Promise<void>, string, string][] = [
    ['read past end', () => md.read(size - 512, new Uint8Array(1024)), 'ERR_OUT_OF_RANGE', 'ENOSPC'],
    ['write at end', () => md.write(size, new Uint8Array(512)), 'ERR_OUT_OF_RANGE', 'ENOSPC'],
    ['discard past end', () => md.discard(0, size + 512), 'ERR_OUT_OF_RANGE', 'ENOSPC'],
    ['write-zeroes past end', () => md.writeZeroes(size - 512, 1024), 'ERR_OUT_OF_RANGE', 'ENOSPC'],
    ['unaligned offset', () => md.read(100, new Uint8Array(512)), 'ERR_UNALIGNED', 'EINVAL'],
    ['unaligned length', () => md.write(0, new Uint8Array(100)), 'ERR_UNALIGNED', 'EINVAL'],
    ['negative offset', () => md.read(-512, new Uint8Array(512)), 'ERR_BAD_ARGUMENT', 'EINVAL'],
    ['fractional offset', () => md.discard(0.5, 512), 'ERR_BAD_ARGUMENT', 'EINVAL'],
  ];
  for (const [what, op, code, errno] of cases) {
    const err = await failure(op);
    assert.equal(err.code, code, what);
    assert.equal(err.errno, errno, what);
  }
  // The last sector is fine, and a refused request leaves the device usable and suspendable.
  await md.write(size - 512, pattern(1, 512));
  const back = new Uint8Array(512);
  await md.read(size - 512, back);
  assert.deepEqual(back, pattern(1, 512));
  assert.equal(await settlesWithin(reg.suspend('lin'), 100), true);
  await reg.resume('lin');
});

test('a read-only device refuses writes, discards and write-zeroes with EROFS', async () => {
  const reg = newRegistry();
  const md = await reg.create('ro', { readOnly: true, table: '0 64 linear /dev/ram0 0' });
  for (const op of [() => md.write(0, new Uint8Array(512)), () => md.discard(0, 4096), () => md.writeZeroes(0, 512)]) {
    const err = await failure(op);
    assert.equal(err.errno, 'EROFS');
  }
  await md.read(0, new Uint8Array(512));
  await md.flush();
});

test('a device without a table: flush succeeds, I/O is out of range', async () => {
  const reg = newRegistry();
  const md = await reg.create('empty');
  assert.equal(md.size, 0);
  await md.flush();
  assert.equal((await failure(() => md.read(0, new Uint8Array(512)))).errno, 'ENOSPC');
});

test('flush while suspended waits for resume', async () => {
  const reg = newRegistry();
  const md = await reg.create('f', { table: '0 8 zero' });
  await reg.suspend('f');
  const flushed = md.flush();
  assert.equal(await settlesWithin(flushed, 20), false);
  await reg.resume('f');
  await flushed;
});

test('the device name and number', async () => {
  const reg = newRegistry();
  await reg.create('a');
  const md = await reg.create('b', { uuid: 'U-1' });
  assert.equal(md.name, 'b');
  assert.equal(md.minor, 1);
  assert.equal(md.devName, '254:1');
  assert.equal(md.uuid, 'U-1');
});

// Error reporting: the BlockDevice contract returns promises, and the inflight count that
// suspend waits on must balance even when a lower device refuses a request.

test('I/O methods report refusals as rejected promises, never as synchronous throws', async () => {
  const reg = newRegistry();
  const md = await reg.create('sync', { table: '0 8 zero' });
  let p: Promise<void> | undefined;
  assert.doesNotThrow(() => {
    p = md.read(8 * SECTOR, new Uint8Array(512));
  });
  assert.equal((await failure(() => p)).errno, 'ENOSPC');
});

test('a stacked device whose lower device refuses a request can still be suspended', async () => {
  const reg = newRegistry();
  await reg.create('lower', { table: '0 16 zero' });
  const upper = await reg.create('upper', { table: '0 16 linear /dev/mapper/lower 0' });
  // The lower device shrinks under the upper one (the kernel allows this reload too).
  await reg.load('lower', '0 8 zero');
  await reg.resume('lower');
  const err = await failure(() => upper.read(8 * SECTOR, new Uint8Array(4096)));
  assert.equal(err.errno, 'ENOSPC');
  await settle();
  assert.equal(await settlesWithin(reg.suspend('upper'), 200), true, 'suspend of upper must not hang');
});
