// Published test vectors (test/vectors/ciphers/, see PROVENANCE.md) through every implementation
// of each cipher and through the registered sector modes, plus the reference modes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { registerBuiltinCrypto } from '../../src/crypto/index.js';
import { getBlockCipher, getSkcipher } from '../../src/crypto/registry.js';
import type { BlockCipherAlgorithm } from '../../src/crypto/types.js';
import { aes } from '../../src/crypto/ciphers/aes.js';
import { camelliaOpenssl, camelliaTs } from '../../src/crypto/ciphers/camellia.js';
import { cast6 } from '../../src/crypto/ciphers/cast6.js';
import { serpent, serpentReference } from '../../src/crypto/ciphers/serpent.js';
import { twofish } from '../../src/crypto/ciphers/twofish.js';
import { refCbc, refLrw, refXts } from './reference.js';
import { hex, readVectors, toHex, type BlockVector, type ModeVector } from './util.js';

registerBuiltinCrypto();

const blockVectors = readVectors<Record<string, BlockVector[]>>('block-ciphers.json');
const modeVectors = readVectors<ModeVector[]>('modes.json');

/** Every implementation of each cipher (DESIGN.md: every suite against every implementation). */
const implementations: Record<string, Record<string, BlockCipherAlgorithm>> = {
  aes: { openssl: aes },
  serpent: { typescript: serpent },
  twofish: { typescript: twofish },
  cast6: { typescript: cast6 },
  camellia: { typescript: camelliaTs, ...(camelliaOpenssl ? { openssl: camelliaOpenssl } : {}) },
};

for (const [cipher, impls] of Object.entries(implementations)) {
  for (const [implName, algo] of Object.entries(impls)) {
    test(`${cipher} (${implName}): published vectors`, () => {
      const vectors = blockVectors[cipher];
      assert.ok(vectors && vectors.length > 0, `vectors for ${cipher}`);
      for (const v of vectors) {
        const c = algo.create(hex(v.key));
        const pt = hex(v.plaintext);
        const out = new Uint8Array(pt.length);
        c.encryptBlocks(pt, out);
        assert.equal(toHex(out), v.ciphertext, v.source);
        const back = new Uint8Array(pt.length);
        c.decryptBlocks(out, back);
        assert.equal(toHex(back), v.plaintext, `${v.source} (decrypt)`);
        // In place, and three copies in one call.
        const three = new Uint8Array(3 * pt.length);
        for (let i = 0; i < 3; i++) three.set(pt, i * pt.length);
        c.encryptBlocks(three, three);
        for (let i = 0; i < 3; i++) assert.equal(toHex(three.subarray(i * pt.length, (i + 1) * pt.length)), v.ciphertext);
        c.decryptBlocks(three, three);
        for (let i = 0; i < 3; i++) assert.equal(toHex(three.subarray(i * pt.length, (i + 1) * pt.length)), v.plaintext);
      }
    });
  }
}

test('the registered block ciphers are the implementations tested above', () => {
  assert.equal(getBlockCipher('aes'), aes);
  assert.equal(getBlockCipher('serpent'), serpent);
  assert.equal(getBlockCipher('twofish'), twofish);
  assert.equal(getBlockCipher('cast6'), cast6);
  assert.equal(getBlockCipher('camellia'), camelliaOpenssl ?? camelliaTs);
});

test('serpent reference implementation: kernel vectors', () => {
  for (const v of blockVectors['serpent']!) {
    const pt = hex(v.plaintext);
    for (let o = 0; o < pt.length; o += 16) {
      const ct = serpentReference(hex(v.key), pt.subarray(o, o + 16), false);
      assert.equal(toHex(ct), v.ciphertext.slice(2 * o, 2 * o + 32), v.source);
      assert.equal(toHex(serpentReference(hex(v.key), ct, true)), v.plaintext.slice(2 * o, 2 * o + 32));
    }
  }
});

test('serpent is tnepres (NESSIE order) with key, block and result byte-reversed', () => {
  const rev = (s: string): Uint8Array => hex(s).reverse();
  for (const v of blockVectors['tnepres']!) {
    const c = serpent.create(rev(v.key));
    const out = new Uint8Array(16);
    c.encryptBlocks(rev(v.plaintext), out);
    assert.equal(toHex(out.reverse()), v.ciphertext, v.source);
  }
});

const references = { xts: refXts, lrw: refLrw, cbc: refCbc } as const;

for (const v of modeVectors) {
  test(`${v.algorithm}: ${v.source}`, () => {
    const algo = getSkcipher(v.algorithm);
    assert.ok(algo, v.algorithm);
    const key = hex(v.key);
    const iv = hex(v.iv);
    const pt = hex(v.plaintext);
    const len = pt.length;
    const sk = algo.create(key);
    // One sector.
    const data = Uint8Array.from(pt);
    sk.encrypt(data, len, iv);
    assert.equal(toHex(data), v.ciphertext);
    sk.decrypt(data, len, iv);
    assert.equal(toHex(data), v.plaintext);
    // Five copies in one batched request, each with the vector's IV.
    const batch = new Uint8Array(5 * len);
    const ivs = new Uint8Array(5 * 16);
    for (let i = 0; i < 5; i++) {
      batch.set(pt, i * len);
      ivs.set(iv, 16 * i);
    }
    sk.encrypt(batch, len, ivs);
    for (let i = 0; i < 5; i++) assert.equal(toHex(batch.subarray(i * len, (i + 1) * len)), v.ciphertext, `sector ${i}`);
    sk.decrypt(batch, len, ivs);
    for (let i = 0; i < 5; i++) assert.equal(toHex(batch.subarray(i * len, (i + 1) * len)), v.plaintext, `sector ${i}`);
    // The reference mode over the registered cipher agrees.
    const mode = v.algorithm.slice(0, v.algorithm.indexOf('(')) as keyof typeof references;
    const cipher = getBlockCipher(v.algorithm.slice(v.algorithm.indexOf('(') + 1, -1))!;
    const ref = references[mode];
    assert.equal(toHex(ref(cipher, key, pt, len, iv, false)), v.ciphertext, 'reference encrypt');
    assert.equal(toHex(ref(cipher, key, hex(v.ciphertext), len, iv, true)), v.plaintext, 'reference decrypt');
  });
}

test('xts(camellia) and lrw(camellia): the TypeScript and OpenSSL Camellia agree inside the modes', { skip: !camelliaOpenssl }, () => {
  const key64 = hex('27182818284590452353602874713526624977572470936999595749669676273141592653589793238462643383279502884197169399375105820974944592');
  const data = new Uint8Array(4096).map((_, i) => i * 7);
  const ivs = new Uint8Array(128).map((_, i) => i);
  for (const [mode, key] of [
    ['xts', key64],
    ['lrw', key64.subarray(0, 48)],
  ] as const) {
    const a = Uint8Array.from(data);
    const b = Uint8Array.from(data);
    const t = mode === 'xts' ? refXts : refLrw;
    getSkcipher(`${mode}(camellia)`)!.create(key).encrypt(a, 512, ivs);
    b.set(t(camelliaTs, key, data, 512, ivs, false));
    assert.equal(toHex(a), toHex(b), mode);
  }
});
