// What the pipeline guarantees beyond data: dmcrypt_write's sector order (seen through the
// ucrypt:crypt:write-submit diagnostics channel), flushes and FUA writes that wait for queued
// writes, suspend that waits for in-flight work, lower-device errors and dead workers that reach
// the caller (EIO, never a hang), same_cpu_crypt's worker choice, keys that follow
// `key wipe`/`key set` into the workers, and close() that stops the threads.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { RamDisk } from '../../src/backends/ram/ramdisk.js';
import { SECTOR_SIZE } from '../../src/block/device.js';
import { MappedDevice, Table } from '../../src/dm/mapped-device.js';
import { Registry } from '../../src/dm/registry.js';
import type { WriteSubmitMessage } from '../../src/pipeline/channels.js';
import { kworkerPool, kworkerThreads, stopKworkers } from '../../src/pipeline/kcryptd.js';
import { withSubmitter } from '../../src/pipeline/submitter.js';
import { cryptTarget } from '../../src/targets/crypt/crypt.js';
import { CIPHERS, TestDisk, cryptOver, fill, rng } from './support.js';

after(() => stopKworkers());

const XTS = 'aes-xts-plain64';

function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

test('dmcrypt_write submits each batch in ascending sector order', async () => {
  const disk = new TestDisk(4 << 20);
  const t = await cryptOver(disk, XTS, 'default');
  const seen: WriteSubmitMessage[] = [];
  const onSubmit = (m: unknown): void => {
    seen.push(m as WriteSubmitMessage);
    // The writer is busy with its first bio: every other encryption finishes meanwhile.
    if (seen.length === 1) spin(100);
  };
  subscribe('ucrypt:crypt:write-submit', onSubmit);
  try {
    const r = rng(5);
    const slots = Array.from({ length: 256 }, (_, i) => i);
    for (let i = slots.length - 1; i > 0; i--) {
      const j = r() % (i + 1);
      [slots[i], slots[j]] = [slots[j]!, slots[i]!];
    }
    const data = fill(new Uint8Array(8192), 1);
    await Promise.all(slots.map((s) => t.write(s * 8192, data)));
  } finally {
    unsubscribe('ucrypt:crypt:write-submit', onSubmit);
    t.close();
  }
  assert.equal(seen.length, 256);
  assert.ok(seen.every((m) => !m.direct && m.batch > 0), 'every write went through the write tree');
  const batches = new Map<number, number[]>();
  for (const m of seen) {
    const b = batches.get(m.batch) ?? [];
    b.push(m.sector);
    batches.set(m.batch, b);
  }
  for (const [batch, sectors] of batches) {
    for (let i = 1; i < sectors.length; i++) assert.ok(sectors[i - 1]! < sectors[i]!, `batch ${batch} ascends: ${sectors.join(',')}`);
  }
  const largest = Math.max(...[...batches.values()].map((b) => b.length));
  assert.ok(largest >= 32, `the writer sorted a large batch (largest ${largest} of ${batches.size} batches)`);
  // The lower device saw the same order.
  assert.deepEqual(
    disk.completed,
    seen.map((m) => m.sector * SECTOR_SIZE),
  );
});

test('no_write_workqueue and submit_from_crypt_cpus submit directly, not through the tree', async () => {
  for (const mode of ['no_write_workqueue', 'submit_from_crypt_cpus'] as const) {
    const t = await cryptOver(new TestDisk(1 << 20), XTS, mode);
    const seen: WriteSubmitMessage[] = [];
    const onSubmit = (m: unknown): void => void seen.push(m as WriteSubmitMessage);
    subscribe('ucrypt:crypt:write-submit', onSubmit);
    try {
      await Promise.all(Array.from({ length: 16 }, (_, i) => t.write((15 - i) * 4096, new Uint8Array(4096))));
    } finally {
      unsubscribe('ucrypt:crypt:write-submit', onSubmit);
      t.close();
    }
    assert.equal(seen.length, 16);
    assert.ok(seen.every((m) => m.direct && m.batch === 0), mode);
    if (mode === 'no_write_workqueue') {
      // Encrypted inline in the submitter's context: submitted in call order.
      assert.deepEqual(
        seen.map((m) => m.sector),
        Array.from({ length: 16 }, (_, i) => (15 - i) * 8),
      );
    }
  }
});

test('a flush and a FUA write wait for every write queued before them', async () => {
  for (const mode of ['default', 'no_write_workqueue', 'submit_from_crypt_cpus'] as const) {
    const disk = new TestDisk(1 << 20);
    disk.writeDelayMs = 15;
    const t = await cryptOver(disk, XTS, mode);
    try {
      const writes = Array.from({ length: 24 }, (_, i) => t.write(i * 4096, fill(new Uint8Array(4096), i)));
      await t.flush();
      assert.equal(disk.completed.length, 24, `${mode}: flush completed after every queued write`);
      assert.deepEqual(disk.flushes, [24], `${mode}: the lower flush came after them`);
      await Promise.all(writes);
      // FUA: a later FUA write completes only after the writes queued before it.
      disk.completed.length = 0;
      const before = Array.from({ length: 8 }, (_, i) => t.write((32 + i) * 4096, new Uint8Array(4096)));
      disk.writeDelayMs = 1;
      await t.write(64 * 4096, new Uint8Array(4096), { fua: true });
      assert.equal(disk.completed.length, 9, `${mode}: FUA completed after the queued writes`);
      await Promise.all(before);
      // An idle flush completes at once.
      await t.flush();
    } finally {
      t.close();
    }
  }
});

test('suspend waits for in-flight pipeline work; nothing acknowledged is lost', async () => {
  const disk = new TestDisk(1 << 20);
  disk.writeDelayMs = 10;
  const c = CIPHERS[XTS];
  const target = await cryptTarget.create([c.cipher, c.key, '0', '/dev/test', '0'], {
    begin: 0,
    len: disk.size / 512,
    readOnly: false,
    getDevice: async () => ({ dev: disk, devName: '1:0', kname: 'ram0' }),
  });
  const md = new MappedDevice('eram0', 0, '', false);
  const limits = { logicalBlockSize: 512, physicalBlockSize: 4096, maxTransfer: 32 << 20, discard: false, writeZeroes: false, readOnly: false };
  md.live = new Table([{ start: 0, len: disk.size / 512, type: cryptTarget, target, startByte: 0, endByte: disk.size }], [], limits, () => undefined);
  try {
    const acked: number[] = [];
    const writes = Array.from({ length: 32 }, (_, i) => md.write(i * 8192, fill(new Uint8Array(8192), i)).then(() => void acked.push(i)));
    await md.suspend();
    assert.equal(acked.length, 32, 'every write was acknowledged before suspend returned');
    assert.equal(disk.completed.length, 32, 'and reached the lower device');
    await Promise.all(writes);
    // I/O while suspended waits; resume lets it through.
    const back = new Uint8Array(8192);
    const pending = md.read(8192, back);
    md.resumeIo();
    await pending;
    assert.ok(Buffer.from(back).equals(fill(new Uint8Array(8192), 1)));
  } finally {
    md.live.close();
  }
});

test('lower-device errors reach the caller in every mode', async () => {
  for (const mode of ['default', 'no_read_workqueue', 'no_write_workqueue', 'submit_from_crypt_cpus'] as const) {
    const disk = new TestDisk(1 << 20);
    const t = await cryptOver(disk, XTS, mode);
    try {
      disk.failReads = true;
      await assert.rejects(t.read(0, new Uint8Array(4096)), { errno: 'EIO', message: /read error/ });
      disk.failReads = false;
      disk.failWrites = true;
      await assert.rejects(t.write(0, new Uint8Array(4096)), { errno: 'ENOSPC' });
      disk.failWrites = false;
      await t.write(0, new Uint8Array(4096));
      await t.flush();
    } finally {
      t.close();
    }
  }
});

test('a crashed or terminated worker fails its requests with EIO, and the pool recovers', async () => {
  const disk = new TestDisk(1 << 20);
  const t = await cryptOver(disk, XTS, 'default');
  try {
    await t.write(0, new Uint8Array(4096)); // the pool is up
    const pool = kworkerPool(2);
    pool.crash(0);
    pool.crash(1);
    const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => t.write(i * 4096, new Uint8Array(4096))));
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      assert.equal((r as PromiseRejectedResult).reason.errno, 'EIO');
    }
    // Restarted on next use.
    const data = fill(new Uint8Array(16384), 3);
    await t.write(0, data);
    const back = new Uint8Array(16384);
    await t.read(0, back);
    assert.ok(Buffer.from(back).equals(data));
    // Termination from outside, with reads queued behind it.
    const reads = Promise.allSettled(Array.from({ length: 8 }, () => t.read(0, new Uint8Array(16384))));
    await pool.terminate(0);
    await pool.terminate(1);
    const settled = await reads;
    for (const r of settled) if (r.status === 'rejected') assert.equal(r.reason.errno, 'EIO');
    await t.read(0, back);
    assert.ok(Buffer.from(back).equals(data));
  } finally {
    t.close();
  }
});

test('same_cpu_crypt keeps a submitter on one worker; the default spreads over the pool', async () => {
  const disk = new TestDisk(1 << 20);
  const t = await cryptOver(disk, XTS, 'same_cpu_crypt');
  try {
    const data = fill(new Uint8Array(65536), 8);
    await withSubmitter(1, () => t.write(0, data));
    const back = new Uint8Array(65536);
    await Promise.all([withSubmitter(0, () => t.read(0, back)), withSubmitter(1, () => t.read(0, new Uint8Array(65536)))]);
    assert.ok(Buffer.from(back).equals(data));
  } finally {
    t.close();
  }
});

test('key wipe / key set while suspended reach the workers; close stops the threads', async () => {
  const disk = new TestDisk(1 << 20);
  const t = await cryptOver(disk, XTS, 'default');
  const data = fill(new Uint8Array(8192), 4);
  await t.write(0, data);
  await t.postsuspend();
  t.message(['key', 'wipe'], true);
  assert.throws(() => t.preresume(), { errno: 'EAGAIN' });
  // crypt_wipe_key leaves random keys in the instances: whatever still runs decrypts garbage.
  const wiped = new Uint8Array(8192);
  await t.read(0, wiped);
  assert.ok(!Buffer.from(wiped).equals(data), 'the workers\' replicas were wiped');
  t.message(['key', 'set', CIPHERS[XTS].key], true);
  t.preresume();
  const back = new Uint8Array(8192);
  await t.read(0, back);
  assert.ok(Buffer.from(back).equals(data), 'the workers have the key again');
  t.close();
  assert.ok(t.engine.secrets().every((b) => b.every((x) => x === 0)), 'the main engine is wiped');
  await stopKworkers();
  assert.equal(kworkerThreads(), 0);
});

test('closing a target with I/O in flight fails that I/O with EIO instead of hanging', async () => {
  const disk = new TestDisk(1 << 20);
  disk.writeDelayMs = 20;
  const t = await cryptOver(disk, XTS, 'default');
  const ios = Promise.allSettled([...Array.from({ length: 8 }, (_, i) => t.write(i * 4096, new Uint8Array(4096))), t.read(65536, new Uint8Array(4096))]);
  t.close();
  for (const r of await ios) {
    assert.equal(r.status, 'rejected');
    assert.equal((r as PromiseRejectedResult).reason.errno, 'EIO');
  }
  await assert.rejects(t.read(0, new Uint8Array(4096)), { errno: 'EIO' });
});

test('I/O queued while the pool is stopping waits for a fresh worker instead of failing', async () => {
  const disk = new TestDisk(1 << 20);
  const t = await cryptOver(disk, XTS, 'default');
  try {
    const data = fill(new Uint8Array(65536), 12);
    await t.write(0, data); // threads up
    const stopping = stopKworkers();
    const back = new Uint8Array(65536);
    const io = (async () => {
      await t.write(65536, data);
      await t.read(65536, back);
    })();
    await stopping;
    await io;
    assert.ok(Buffer.from(back).equals(data));
  } finally {
    t.close();
  }
});

test('closing a target unregisters its bounce and shared buffers from the workers (no leak per table swap)', async () => {
  const pool = kworkerPool(2);
  const before = pool.buffers;
  for (let round = 0; round < 3; round++) {
    const t = await cryptOver(new TestDisk(8 << 20), XTS, 'default');
    await Promise.all([4096, 65536, 1 << 20, 3 << 20].map((n, i) => t.write(i << 20, new Uint8Array(n))));
    await t.read(0, new Uint8Array(new SharedArrayBuffer(65536)));
    assert.ok(pool.buffers > before);
    t.close();
    assert.equal(pool.buffers, before, `round ${round}: every registration was dropped`);
  }
});

test('kcryptd threads start with the table, before any I/O, and stop once the last table is gone', async () => {
  await stopKworkers();
  const pool = kworkerPool(2);
  const disks = pool.diskCount;
  const reg = new Registry();
  reg.modprobeBrd({ rd_nr: 1, rd_size: 4096 });
  const table = `0 8192 crypt ${XTS} ${CIPHERS[XTS].key} 0 /dev/ram0 0`;
  await reg.create('pw', { table });
  assert.equal(kworkerThreads(), 2, 'crypt_ctr allocates the workqueue: threads up at load');
  assert.equal(pool.diskCount, disks + 1, 'the RAM disk is registered with the workers');
  // A table swap (load + resume) keeps the threads and does not leak a registration.
  for (let i = 0; i < 3; i++) {
    await reg.load('pw', table);
    await reg.resume('pw');
  }
  assert.equal(pool.diskCount, disks + 1);
  // A table that only queues nothing (inline both ways) starts no thread of its own.
  await reg.remove('pw');
  assert.equal(pool.diskCount, disks, 'remove unregisters the RAM disk');
  assert.equal(pool.targetCount, 0);
  await reg.create('inl', { table: `${table} 2 no_read_workqueue no_write_workqueue` });
  await new Promise((r) => setTimeout(r, 1300));
  assert.equal(kworkerThreads(), 0, 'the threads stopped after the last kcryptd table was removed');
  await reg.remove('inl');
});

test('workers read and write the RAM disk pages themselves (no main-thread copy)', async () => {
  for (const mode of ['default', 'submit_from_crypt_cpus'] as const) {
    const ram = new RamDisk(4 << 20);
    const refDisk = new TestDisk(4 << 20);
    const ref = await cryptOver(refDisk, XTS, 'both');
    const t = await cryptOver(ram, XTS, mode);
    const data = fill(new Uint8Array(new SharedArrayBuffer(3 << 20)), 21);
    try {
      const writeSync = ram.writeSync.bind(ram);
      if (mode === 'submit_from_crypt_cpus') {
        // DM_CRYPT_NO_OFFLOAD: the worker's encryption lands in the pages; the main thread only
        // allocates them.
        ram.writeSync = () => assert.fail('main thread wrote the RAM disk');
      }
      await t.write(8192, data);
      ram.writeSync = writeSync;
      await ref.write(8192, data);
      const a = new Uint8Array(4 << 20);
      const b = new Uint8Array(4 << 20);
      await refDisk.ram.read(0, a);
      ram.readSync(0, b);
      assert.ok(Buffer.from(a).equals(b), `${mode}: the pages hold the reference ciphertext`);
      // Reads: the worker copies the pages into the destination and decrypts there.
      const readSync = ram.readSync.bind(ram);
      ram.readSync = () => assert.fail('main thread read the RAM disk');
      const back = new Uint8Array(new SharedArrayBuffer(3 << 20));
      const plain = new Uint8Array(1 << 20);
      await Promise.all([t.read(8192, back), t.read(8192, plain)]);
      ram.readSync = readSync;
      assert.ok(Buffer.from(back).equals(data), `${mode}: read into shared memory`);
      assert.ok(Buffer.from(plain).equals(data.subarray(0, 1 << 20)), `${mode}: read into plain memory`);
      // Slabs released and opened again (discard a whole slab, write it again): the workers see
      // the new memory, never the old.
      await ram.discard(1 << 20, 1 << 20);
      await t.write(1 << 20, data.subarray(0, 1 << 20));
      await ref.write(1 << 20, data.subarray(0, 1 << 20));
      const again = new Uint8Array(new SharedArrayBuffer(2 << 20));
      await t.read(1 << 20, again);
      const expect = new Uint8Array(2 << 20);
      await ref.read(1 << 20, expect);
      assert.ok(Buffer.from(again).equals(expect), `${mode}: after a slab was released and reopened`);
    } finally {
      t.close();
      ref.close();
    }
  }
});

test('readNow/writeNow: inline crypt over a RAM disk completes in the call through the mapped device; other cases decline', async () => {
  const reg = new Registry();
  const [ram] = reg.modprobeBrd({ rd_nr: 1, rd_size: 4096 });
  const table = (flags: string): string => `0 8192 crypt ${XTS} ${CIPHERS[XTS].key} 0 /dev/ram0 0${flags}`;
  const inl = await reg.create('inl', { table: table(' 2 no_read_workqueue no_write_workqueue') });
  const wq = await reg.create('wq', { table: table('') });
  try {
    const data = fill(new Uint8Array(8192), 31);
    assert.equal(inl.writeNow!(4096, data), true);
    assert.equal(ram!.stats().pages, 2, 'the ciphertext is on the RAM disk');
    const back = new Uint8Array(8192);
    assert.equal(inl.readNow!(4096, back), true);
    assert.ok(Buffer.from(back).equals(data));
    const viaWq = new Uint8Array(8192);
    assert.equal(wq.readNow!(4096, viaWq), false, 'the workqueue path is never synchronous');
    await wq.read(4096, viaWq);
    assert.ok(Buffer.from(viaWq).equals(data), 'the same data through kcryptd');
    assert.equal(inl.writeNow!(0, data, { fua: true }), false, 'FUA takes the flush-ordered path');
    assert.throws(() => inl.readNow!(8192 * 512, back), { errno: 'ENOSPC' });
    await reg.suspend('inl');
    assert.equal(inl.readNow!(0, back), false, 'a suspended device defers instead');
    await reg.resume('inl');
  } finally {
    await reg.remove('inl');
    await reg.remove('wq');
  }
});
