// Every pipeline mode and flag returns the same data: writes leave byte-identical ciphertext on
// the lower device to an inline reference target (no_read_workqueue + no_write_workqueue, the
// crypto on the calling thread), and reads return the plaintext, sequential and random, at
// iodepth 1 and 32, for aes-xts-plain64 and capi:ecb(cipher_null). Each runs over a wrapped
// lower device (the generic path: the main thread does the lower I/O) and straight over a RAM
// disk with half the callers' buffers in SharedArrayBuffers (workers read and write the disk's
// pages themselves, and encrypt from / decrypt into the caller's memory).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { stopKworkers } from '../../src/pipeline/kcryptd.js';
import type { CipherName, Mode } from './support.js';
import { CIPHERS, MODES, TestDisk, cryptOver, fill, rng, runDepth } from './support.js';

const DISK = 1 << 20;
const SLOT = 32 << 10;
const SLOTS = DISK / SLOT;

after(() => stopKworkers());

interface Io {
  readonly offset: number;
  readonly data: Uint8Array;
}

/** Non-overlapping writes (concurrent overlapping writes have no defined order, as in Linux). */
function plan(pattern: 'seq' | 'rand', seed: number, shared = false): Io[] {
  const r = rng(seed);
  const order = Array.from({ length: SLOTS }, (_, i) => i);
  if (pattern === 'rand') {
    for (let i = order.length - 1; i > 0; i--) {
      const j = r() % (i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
  }
  return order.map((slot, i) => {
    const len = pattern === 'seq' ? SLOT : 4096 * (1 + (r() % (SLOT / 4096)));
    return { offset: slot * SLOT, data: fill(alloc(len, shared && i % 2 === 0, i), seed * 1000 + i) };
  });
}

/** A buffer in plain or shared memory (shared ones at an offset inside a larger SAB, sometimes). */
function alloc(len: number, shared: boolean, i = 0): Uint8Array {
  if (!shared) return new Uint8Array(len);
  const pad = (i % 3) * 4096;
  return new Uint8Array(new SharedArrayBuffer(len + pad), pad, len);
}

for (const cipher of Object.keys(CIPHERS) as CipherName[]) {
  for (const mode of Object.keys(MODES) as Mode[]) {
    for (const [lower, pattern] of [['wrapped', 'seq'], ['wrapped', 'rand'], ['ram', 'seq'], ['ram', 'rand']] as const) {
      for (const depth of [1, 32]) {
        const over = lower === 'ram' ? ' over a bare RAM disk, shared buffers' : '';
        test(`${cipher} ${mode}${over}: ${pattern} writes and reads at iodepth ${depth} match the inline reference`, async () => {
          const shared = lower === 'ram';
          const ios = plan(pattern, 7 + depth, shared);
          const refDisk = new TestDisk(DISK);
          const ref = await cryptOver(refDisk, cipher, 'both');
          const disk = new TestDisk(DISK);
          const t = await cryptOver(shared ? disk.ram : disk, cipher, mode);
          try {
            for (const io of ios) await ref.write(io.offset, io.data);
            const copies = ios.map((io) => new Uint8Array(io.data));
            await runDepth(
              ios.map((io) => () => t.write(io.offset, io.data)),
              depth,
            );
            ios.forEach((io, i) => assert.deepEqual(io.data, copies[i], 'a write leaves the caller buffer alone'));
            const a = new Uint8Array(DISK);
            const b = new Uint8Array(DISK);
            await refDisk.ram.read(0, a);
            await disk.ram.read(0, b);
            assert.ok(Buffer.from(a).equals(b), 'the lower device holds the reference ciphertext');
            if (cipher === 'aes-xts-plain64') assert.ok(!Buffer.from(b.subarray(0, 4096)).equals(ios.find((io) => io.offset === 0)!.data.subarray(0, 4096)));
            // Read back every write (same order and depth), plus 4 KiB reads at random offsets.
            const back = ios.map((io, i) => alloc(io.data.length, shared && i % 2 === 1, i));
            await runDepth(
              ios.map((io, i) => () => t.read(io.offset, back[i]!)),
              depth,
            );
            ios.forEach((io, i) => assert.ok(Buffer.from(back[i]!).equals(io.data), `read back at ${io.offset}`));
            const r = rng(depth);
            const small = Array.from({ length: 32 }, (_, i) => ({ off: (r() % (DISK / 4096)) * 4096, buf: alloc(4096, shared && i % 2 === 0, i) }));
            await runDepth(
              small.map((s) => () => t.read(s.off, s.buf)),
              depth,
            );
            const expect = new Uint8Array(4096);
            for (const s of small) {
              await ref.read(s.off, expect);
              assert.ok(Buffer.from(s.buf).equals(expect), `4k read at ${s.off}`);
            }
          } finally {
            t.close();
            ref.close();
          }
        });
      }
    }
  }
}

test('reads into SharedArrayBuffer memory are decrypted in place; requests over 1 MiB are split', async () => {
  const size = 4 << 20;
  for (const cipher of Object.keys(CIPHERS) as CipherName[]) {
    const disk = new TestDisk(size);
    const t = await cryptOver(disk, cipher, 'default');
    const refDisk = new TestDisk(size);
    const ref = await cryptOver(refDisk, cipher, 'both');
    try {
      const data = fill(new Uint8Array(3 << 20), 99);
      await Promise.all([t.write(4096, data), ref.write(4096, data)]);
      const a = new Uint8Array(size);
      const b = new Uint8Array(size);
      await refDisk.ram.read(0, a);
      await disk.ram.read(0, b);
      assert.ok(Buffer.from(a).equals(b), `${cipher}: split write matches the reference`);
      const shared = new Uint8Array(new SharedArrayBuffer(3 << 20));
      await t.read(4096, shared);
      assert.ok(Buffer.from(shared).equals(data), `${cipher}: shared-memory read`);
      const sub = new Uint8Array(new SharedArrayBuffer(64 << 10), 8192, 16384);
      await t.read(8192, sub);
      assert.ok(Buffer.from(sub).equals(data.subarray(4096, 4096 + 16384)), `${cipher}: read into a view at an offset of a shared buffer`);
    } finally {
      t.close();
      ref.close();
    }
  }
});
