// Inline crypt (no_read_workqueue, no_write_workqueue) over the file backend: readNow/writeNow
// complete in the call when the file's nowait I/O does (src/backends/file), and return exactly
// what the asynchronous and workqueue paths return; declines (injected EAGAIN) fall back.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileDevice } from '../../src/backends/file/file.js';
import { NOWAIT_EAGAIN, nowaitIo } from '../../src/backends/file/nowait.js';
import type { NowaitIo } from '../../src/backends/file/nowait.js';
import { Registry } from '../../src/dm/registry.js';
import { CIPHERS, cryptOver, fill } from './support.js';

const XTS = 'aes-xts-plain64';
const SIZE = 1 << 20;
let dir = '';
let seq = 0;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ucrypt-file-inline-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

function makeFile(): string {
  const path = join(dir, `img-${++seq}.img`);
  writeFileSync(path, new Uint8Array(SIZE));
  return path;
}

/** Nowait calls done with readSync/writeSync; `again` > 0 makes the next calls return EAGAIN. */
class SyncNowait implements NowaitIo {
  again = 0;
  calls = 0;
  read(fd: number, buf: Uint8Array, off: number, len: number, pos: number): number {
    this.calls++;
    if (this.again > 0 && this.again-- > 0) return NOWAIT_EAGAIN;
    return readSync(fd, buf, off, len, pos);
  }
  write(fd: number, buf: Uint8Array, off: number, len: number, pos: number): number {
    this.calls++;
    if (this.again > 0 && this.again-- > 0) return NOWAIT_EAGAIN;
    return writeSync(fd, buf, off, len, pos);
  }
}

test('inline crypt over a file (nowait writes injected): writeNow/readNow in the call = async path = workqueue path = same ciphertext on disk', async () => {
  const pathNow = makeFile();
  const pathAsync = makeFile();
  const io = new SyncNowait();
  const fNow = await FileDevice.open(pathNow, { nowait: io });
  const fAsync = await FileDevice.open(pathAsync, { nowait: false, syncWrites: false });
  const now = await cryptOver(fNow, XTS, 'both');
  const asy = await cryptOver(fAsync, XTS, 'both');
  try {
    const data = fill(new Uint8Array(64 << 10), 7);
    assert.equal(now.writeNow(4096, data), true);
    assert.equal(asy.writeNow(4096, data), false, 'no nowait I/O: declines');
    await asy.write(4096, data);
    await now.flush();
    await asy.flush();
    const ctNow = readFileSync(pathNow);
    assert.ok(ctNow.equals(readFileSync(pathAsync)), 'the same ciphertext in both files');
    assert.ok(!ctNow.subarray(4096, 4096 + data.length).equals(data), 'ciphertext, not the data');
    const back = new Uint8Array(data.length);
    assert.equal(now.readNow(4096, back), true);
    assert.deepEqual(back, data);
    const viaAsync = new Uint8Array(data.length);
    await asy.read(4096, viaAsync);
    assert.deepEqual(viaAsync, data);
    // EAGAIN: readNow declines, read() (which tries once more, then the thread pool) serves.
    io.again = 2;
    back.fill(0);
    assert.equal(now.readNow(4096, back), false);
    await now.read(4096, back);
    assert.deepEqual(back, data);
    // A declined write leaves the lower alone; write() encrypts again and the async path writes.
    io.again = 1;
    const d2 = fill(new Uint8Array(4096), 9);
    assert.equal(now.writeNow(0, d2), false);
    await now.write(0, d2);
    await asy.write(0, d2);
    assert.ok(readFileSync(pathNow).equals(readFileSync(pathAsync)));
    assert.equal(fNow.nowaitStats.writesDeclined, 1);
    // FUA never goes synchronous.
    const before = io.calls;
    assert.equal(now.writeNow(0, d2, { fua: true }), false);
    assert.equal(io.calls, before);
  } finally {
    await now.close?.();
    await asy.close?.();
    await fNow.close();
    await fAsync.close();
  }
  // The workqueue path over the file written inline reads the same.
  const f = await FileDevice.open(pathNow);
  const wq = await cryptOver(f, XTS, 'default');
  try {
    const back = new Uint8Array(64 << 10);
    assert.equal(wq.readNow(4096, back), false, 'the workqueue path is never synchronous');
    await wq.read(4096, back);
    assert.deepEqual(back, fill(new Uint8Array(64 << 10), 7));
  } finally {
    await wq.close?.();
    await f.close();
  }
});

test('after declines the crypt target stops encrypting for a lower device that never takes writes (backoff), then tries again', async () => {
  const io = new SyncNowait();
  const f = await FileDevice.open(makeFile(), { nowait: io });
  const t = await cryptOver(f, XTS, 'both');
  try {
    const d = fill(new Uint8Array(4096), 3);
    io.again = 1000;
    let tried = 0;
    for (let i = 0; i < 200; i++) {
      const c = io.calls;
      assert.equal(t.writeNow(0, d), false);
      tried += io.calls - c;
    }
    assert.ok(tried < 12, `lower writeNow tried ${tried} times in 200 writes`);
    io.again = 0;
    let ok = false;
    for (let i = 0; i < 300 && !ok; i++) ok = t.writeNow(0, d);
    assert.ok(ok, 'tried again after the backoff');
  } finally {
    await t.close?.();
    await f.close();
  }
});

test('inline crypt and linear over a file through the registry (real nowait I/O): readNow = read', async (t) => {
  if (!nowaitIo()) {
    t.skip('native addon not built: no nowait I/O');
    return;
  }
  const path = makeFile();
  const probe = await FileDevice.open(path);
  const cached = probe.readNow(0, new Uint8Array(4096));
  await probe.close();
  if (!cached) {
    t.skip(`no nowait reads on ${tmpdir()}'s file system`);
    return;
  }
  const reg = new Registry();
  const c = CIPHERS[XTS];
  const sectors = SIZE / 512;
  const inl = await reg.create('finl', { table: `0 ${sectors} crypt ${c.cipher} ${c.key} 0 ${path} 0 2 no_read_workqueue no_write_workqueue` });
  try {
    const data = fill(new Uint8Array(8192), 11);
    await inl.write(8192, data);
    const back = new Uint8Array(8192);
    assert.equal(inl.readNow!(8192, back), true, 'the file pages are cached: done in the call');
    assert.deepEqual(back, data);
    const viaAsync = new Uint8Array(8192);
    await inl.read(8192, viaAsync);
    assert.deepEqual(viaAsync, data);
    // Writes complete in the call too: RWF_NOWAIT where the file system has it, else (ext4,
    // tmpfs) the bounded synchronous write, after at most a couple of declines while the
    // file learns that nowait writes are off and the crypt target's back-off runs out.
    const w = fill(new Uint8Array(4096), 12);
    let tries = 0;
    while (!inl.writeNow!(16384, w)) assert.ok(++tries < 4, 'writeNow keeps declining');
    const wBack = new Uint8Array(4096);
    await inl.read(16384, wBack);
    assert.deepEqual(wBack, w);
    t.diagnostic(`writeNow done after ${tries} declines`);
  } finally {
    await reg.remove('finl');
  }
  const lin = await reg.create('flin', { table: `0 ${sectors - 16} linear ${path} 16` });
  try {
    const raw = readFileSync(path).subarray(8192 + 16 * 512, 8192 + 16 * 512 + 4096);
    const back = new Uint8Array(4096);
    assert.equal(lin.readNow!(8192, back), true);
    assert.deepEqual(Buffer.from(back), raw);
  } finally {
    await reg.remove('flin');
  }
});

test('workqueue crypt over a file: the lower read/write go through readNow/writeNow when they complete (counted), with the same bytes as without', async () => {
  const io = new SyncNowait();
  const pathNow = makeFile();
  const pathAsync = makeFile();
  const fNow = await FileDevice.open(pathNow, { nowait: io });
  const fAsync = await FileDevice.open(pathAsync, { nowait: false, syncWrites: false });
  const now = await cryptOver(fNow, XTS, 'default');
  const asy = await cryptOver(fAsync, XTS, 'default');
  try {
    const data = fill(new Uint8Array(32 << 10), 21);
    await Promise.all([now.write(8192, data), asy.write(8192, data)]);
    await now.write(0, data.subarray(0, 4096), { fua: true });
    await asy.write(0, data.subarray(0, 4096), { fua: true });
    assert.ok(readFileSync(pathNow).equals(readFileSync(pathAsync)), 'the same ciphertext');
    assert.equal(fNow.nowaitStats.writes, 1, 'the FUA write took the async path');
    io.again = 1;
    const a = new Uint8Array(data.length);
    const b = new Uint8Array(data.length);
    await now.read(8192, a);
    await now.read(8192, b);
    assert.deepEqual(a, data);
    assert.deepEqual(b, data);
    assert.deepEqual({ r: fNow.nowaitStats.reads, d: fNow.nowaitStats.readsDeclined }, { r: 1, d: 1 });
  } finally {
    await now.close?.();
    await asy.close?.();
    await fNow.close();
    await fAsync.close();
  }
});
