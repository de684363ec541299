// Block cipher behaviour beyond the published vectors: the kernel's key-size rules, in-place and
// misaligned buffers, round trips, fast vs reference Serpent, TypeScript vs OpenSSL Camellia,
// AES against node:crypto directly, wiping.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv } from 'node:crypto';
import { UcryptError } from '../../src/errors.js';
import { aes } from '../../src/crypto/ciphers/aes.js';
import { camellia, camelliaOpenssl, camelliaTs } from '../../src/crypto/ciphers/camellia.js';
import { cast6 } from '../../src/crypto/ciphers/cast6.js';
import { cipherNull } from '../../src/crypto/ciphers/null.js';
import { serpent, serpentReference } from '../../src/crypto/ciphers/serpent.js';
import { twofish } from '../../src/crypto/ciphers/twofish.js';
import type { BlockCipherAlgorithm } from '../../src/crypto/types.js';
import { bytes, toHex } from './util.js';

const range = (a: number, b: number, step = 1): number[] => {
  const out: number[] = [];
  for (let i = a; i <= b; i += step) out.push(i);
  return out;
};

/** Key lengths each kernel setkey accepts (crypto/aes_generic.c, serpent_generic.c, ...). */
const kernelKeySizes: [BlockCipherAlgorithm, number[]][] = [
  [aes, [16, 24, 32]],
  [serpent, range(0, 32)],
  [twofish, [16, 24, 32]],
  [camelliaTs, [16, 24, 32]],
  [camellia, [16, 24, 32]],
  [cast6, range(16, 32, 4)],
  [cipherNull, [0]],
];

const all16: BlockCipherAlgorithm[] = [aes, serpent, twofish, camelliaTs, ...(camelliaOpenssl ? [camelliaOpenssl] : []), cast6];

for (const [algo, sizes] of kernelKeySizes) {
  test(`${algo.name}: accepts exactly the kernel's key sizes ${sizes.length > 4 ? `${sizes[0]}..${sizes.at(-1)}` : sizes.join('/')}`, () => {
    assert.deepEqual([...algo.keySizes], sizes);
    for (let len = 0; len <= 80; len++) {
      const key = bytes(len, len + 1);
      if (sizes.includes(len)) {
        const c = algo.create(key);
        const buf = new Uint8Array(4 * algo.blockSize);
        c.encryptBlocks(buf, buf);
        c.decryptBlocks(buf, buf);
        assert.equal(toHex(buf), '00'.repeat(buf.length));
      } else {
        assert.throws(
          () => algo.create(key),
          (err: unknown) =>
            err instanceof UcryptError &&
            err.errno === 'EINVAL' &&
            err.code === 'ERR_BAD_ARGUMENT' &&
            err.message.includes(`${len}-byte key`) &&
            (len === 0 || !err.message.includes(toHex(key))),
          `${algo.name} must refuse ${len}-byte keys`,
        );
      }
    }
  });
}

for (const algo of all16) {
  test(`${algo.name}: round trips, in place and through misaligned views, for every key size`, () => {
    for (const len of algo.keySizes) {
      const key = bytes(len, 1000 + len);
      const c = algo.create(key);
      const pt = bytes(16 * 37, len);
      const ct = new Uint8Array(pt.length);
      c.encryptBlocks(pt, ct);
      assert.notEqual(toHex(ct), toHex(pt));
      const inPlace = Uint8Array.from(pt);
      c.encryptBlocks(inPlace, inPlace);
      assert.equal(toHex(inPlace), toHex(ct), 'src === dst');
      // Views at odd offsets into bigger buffers.
      const big = new Uint8Array(pt.length + 7);
      const view = big.subarray(3, 3 + pt.length);
      view.set(pt);
      c.encryptBlocks(view, view);
      assert.equal(toHex(view), toHex(ct), 'misaligned');
      c.decryptBlocks(view, view);
      assert.equal(toHex(view), toHex(pt));
      const back = new Uint8Array(pt.length);
      c.decryptBlocks(ct, back);
      assert.equal(toHex(back), toHex(pt));
      // ECB: equal blocks give equal blocks; a one-block call matches the batched one.
      const one = new Uint8Array(16);
      c.encryptBlocks(pt.subarray(16, 32), one);
      assert.equal(toHex(one), toHex(ct.subarray(16, 32)));
    }
  });
}

test('serpent: the bitsliced cipher matches the table-driven reference on random keys and blocks', () => {
  for (let i = 0; i < 200; i++) {
    const key = bytes(i % 33, 7 * i + 1);
    const block = bytes(16, 7 * i + 2);
    const c = serpent.create(key);
    const out = new Uint8Array(16);
    c.encryptBlocks(block, out);
    assert.equal(toHex(out), toHex(serpentReference(key, block, false)), `encrypt, ${key.length}-byte key`);
    c.decryptBlocks(block, out);
    assert.equal(toHex(out), toHex(serpentReference(key, block, true)), `decrypt, ${key.length}-byte key`);
  }
});

test('serpent: short keys are padded with one 1 bit (0x01) then zeros', () => {
  // A 31-byte key equals the 32-byte key with 0x01 appended (spec 2.4, serpent_generic.c).
  const key = bytes(31, 99);
  const padded = new Uint8Array(32);
  padded.set(key);
  padded[31] = 1;
  const a = new Uint8Array(16);
  const b = new Uint8Array(16);
  serpent.create(key).encryptBlocks(bytes(16, 5), a);
  serpent.create(padded).encryptBlocks(bytes(16, 5), b);
  assert.equal(toHex(a), toHex(b));
});

test('camellia: the TypeScript implementation matches OpenSSL camellia-*-ecb', { skip: !camelliaOpenssl }, () => {
  for (const len of [16, 24, 32]) {
    for (let i = 0; i < 20; i++) {
      const key = bytes(len, 50 * len + i);
      const data = bytes(256, i);
      const a = new Uint8Array(256);
      const b = new Uint8Array(256);
      camelliaTs.create(key).encryptBlocks(data, a);
      camelliaOpenssl!.create(key).encryptBlocks(data, b);
      assert.equal(toHex(a), toHex(b));
      camelliaTs.create(key).decryptBlocks(data, a);
      camelliaOpenssl!.create(key).decryptBlocks(data, b);
      assert.equal(toHex(a), toHex(b));
    }
  }
});

test('aes: matches node:crypto aes-*-ecb, including buffers longer than one chunk', () => {
  for (const len of [16, 24, 32]) {
    const key = bytes(len, len);
    const data = bytes(200 * 1024, len);
    const ours = new Uint8Array(data.length);
    aes.create(key).encryptBlocks(data, ours);
    const c = createCipheriv(`aes-${8 * len}-ecb`, key, null);
    c.setAutoPadding(false);
    assert.ok(Buffer.from(ours).equals(c.update(data)));
  }
});

test('cipher_null: the identity with block size 1 and no key', () => {
  const c = cipherNull.create(new Uint8Array(0));
  assert.equal(c.blockSize, 1);
  const data = bytes(33, 1);
  const out = new Uint8Array(33);
  c.encryptBlocks(data, out);
  assert.equal(toHex(out), toHex(data));
  c.decryptBlocks(out, out);
  assert.equal(toHex(out), toHex(data));
});

test('ECB calls refuse partial blocks and unequal lengths', () => {
  for (const algo of all16) {
    const c = algo.create(bytes(algo.keySizes.at(-1)!, 1));
    assert.throws(() => c.encryptBlocks(new Uint8Array(15), new Uint8Array(15)), /whole 16-byte blocks/);
    assert.throws(() => c.decryptBlocks(new Uint8Array(32), new Uint8Array(16)), /whole 16-byte blocks/);
  }
});

test('wipe(): a wiped cipher refuses further use', () => {
  for (const algo of all16) {
    const c = algo.create(bytes(algo.keySizes.at(-1)!, 2));
    c.wipe();
    assert.throws(() => c.encryptBlocks(new Uint8Array(16), new Uint8Array(16)), /wiped/);
  }
});
