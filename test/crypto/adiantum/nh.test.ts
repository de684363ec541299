// NHPoly1305 against the kernel's nhpoly1305_tv_template (from github.com/google/adiantum),
// and a BigInt model of NH (UMAC-style, as in crypto/nhpoly1305.c) for odd lengths.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { NHPOLY1305_KEY_SIZE, NhPoly1305 } from '../../../src/crypto/adiantum/nh.js';
import { hex, loadVectors, toHex, type HashVector, type TemplateFile } from './vectors.js';

const kernel = loadVectors<TemplateFile<HashVector>>('nhpoly1305.json');
kernel.vectors.forEach((v, i) => {
  test(`kernel ${kernel.template}[${i}] (${v.psize} bytes)`, () => {
    assert.equal(v.ksize, NHPOLY1305_KEY_SIZE);
    const h = new NhPoly1305(hex(v.key!));
    assert.equal(toHex(h.digest(hex(v.plaintext))), v.digest);
    // Reuse of the same instance gives the same answer (state is reset per message).
    assert.equal(toHex(h.digest(hex(v.plaintext))), v.digest);
  });
});

/** NHPoly1305 from the definitions with BigInt: NH per 1024-byte chunk, Poly1305 core without s. */
function referenceNhPoly1305(key: Uint8Array, msg: Uint8Array): string {
  const le = (b: Uint8Array): bigint => BigInt('0x' + (Buffer.from(b).reverse().toString('hex') || '0'));
  const p = (1n << 130n) - 5n;
  const r = le(key.subarray(0, 16)) & 0x0ffffffc0ffffffc0ffffffc0fffffffn;
  const k = (i: number): bigint => le(key.subarray(16 + 4 * i, 20 + 4 * i));
  const padded = new Uint8Array(Math.ceil(msg.length / 16) * 16);
  padded.set(msg);
  const w = (i: number): bigint => le(padded.subarray(4 * i, 4 * i + 4));
  const M32 = (1n << 32n) - 1n;
  const M64 = (1n << 64n) - 1n;
  let h = 0n;
  for (let c = 0; c < padded.length; c += 1024) {
    const words = Math.min(1024, padded.length - c) / 4;
    const base = c / 4;
    const sums = [0n, 0n, 0n, 0n];
    for (let u = 0; u < words; u += 4) {
      for (let pass = 0; pass < 4; pass++) {
        const kk = u + 4 * pass;
        sums[pass] = (sums[pass]! + ((w(base + u) + k(kk)) & M32) * ((w(base + u + 2) + k(kk + 2)) & M32)
          + ((w(base + u + 1) + k(kk + 1)) & M32) * ((w(base + u + 3) + k(kk + 3)) & M32)) & M64;
      }
    }
    h = ((h + sums[0]! + (sums[1]! << 64n) + (1n << 128n)) * r) % p;
    h = ((h + sums[2]! + (sums[3]! << 64n) + (1n << 128n)) * r) % p;
  }
  const out = h & ((1n << 128n) - 1n);
  return Buffer.from(out.toString(16).padStart(32, '0'), 'hex').reverse().toString('hex');
}

test('nhpoly1305 matches a BigInt model on random keys and lengths (incl. partial units)', () => {
  for (const len of [0, 1, 15, 16, 17, 100, 1008, 1023, 1024, 1025, 1040, 2047, 2048, 3000, 4080]) {
    const key = new Uint8Array(randomBytes(NHPOLY1305_KEY_SIZE));
    const msg = new Uint8Array(randomBytes(len));
    assert.equal(toHex(new NhPoly1305(key).digest(msg)), referenceNhPoly1305(key, msg), `len ${len}`);
  }
});

test('nhpoly1305 with all-ones key and message (largest NH products and sums)', () => {
  const key = new Uint8Array(NHPOLY1305_KEY_SIZE).fill(0xff);
  for (const len of [16, 1024, 4080, 4096]) {
    const msg = new Uint8Array(len).fill(0xff);
    assert.equal(toHex(new NhPoly1305(key).digest(msg)), referenceNhPoly1305(key, msg), `len ${len}`);
  }
  const key2 = new Uint8Array(NHPOLY1305_KEY_SIZE).fill(0xfe);
  const msg2 = new Uint8Array(4080).fill(0xfe);
  assert.equal(toHex(new NhPoly1305(key2).digest(msg2)), referenceNhPoly1305(key2, msg2));
});
