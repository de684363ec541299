// The sector modes: name resolution, node:crypto cross-checks where OpenSSL has the mode, the
// batched paths against one-sector-at-a-time calls and against the spec-literal reference modes
// (test/crypto/reference.ts) for every cipher x mode, key-size rules, request validation,
// alignment, SharedArrayBuffer data and the cbc encryption paths.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { UcryptError } from '../../src/errors.js';
import { registerBuiltinCrypto } from '../../src/crypto/index.js';
import { getBlockCipher, getSkcipher } from '../../src/crypto/registry.js';
import type { BlockCipherAlgorithm, SkcipherAlgorithm } from '../../src/crypto/types.js';
import { camelliaOpenssl, camelliaTs } from '../../src/crypto/ciphers/camellia.js';
import { cbcTemplate } from '../../src/crypto/modes/cbc.js';
import { lrwTemplate } from '../../src/crypto/modes/lrw.js';
import { xtsTemplate } from '../../src/crypto/modes/xts.js';
import { refCbc, refEcb, refLrw, refXts } from './reference.js';
import { bytes, toHex } from './util.js';

registerBuiltinCrypto();

const CIPHERS = ['aes', 'serpent', 'twofish', 'camellia', 'cast6'] as const;
const MODES = ['ecb', 'cbc', 'xts', 'lrw'] as const;

function cipherAlgo(name: string): BlockCipherAlgorithm {
  const c = getBlockCipher(name);
  assert.ok(c, name);
  return c;
}

function skAlgo(name: string): SkcipherAlgorithm {
  const a = getSkcipher(name);
  assert.ok(a, name);
  return a;
}

/** Reference result for mode(cipher). */
function reference(mode: string, cipher: BlockCipherAlgorithm, key: Uint8Array, data: Uint8Array, sectorSize: number, ivs: Uint8Array, decrypt: boolean): Uint8Array {
  switch (mode) {
    case 'ecb':
      return refEcb(cipher, key, data, decrypt);
    case 'cbc':
      return refCbc(cipher, key, data, sectorSize, ivs, decrypt);
    case 'xts':
      return refXts(cipher, key, data, sectorSize, ivs, decrypt);
    case 'lrw':
      return refLrw(cipher, key, data, sectorSize, ivs, decrypt);
    default:
      throw new Error(mode);
  }
}

test('names resolve as the kernel spells them, with the kernel key-size and IV rules', () => {
  for (const c of CIPHERS) {
    const cipher = cipherAlgo(c);
    for (const m of MODES) {
      const a = skAlgo(`${m}(${c})`);
      assert.equal(a.name, `${m}(${c})`);
      assert.equal(a.blockSize, 16);
      assert.equal(a.ivSize, m === 'ecb' ? 0 : 16);
      const expected = m === 'xts' ? cipher.keySizes.map((k) => 2 * k) : m === 'lrw' ? cipher.keySizes.map((k) => k + 16) : [...cipher.keySizes];
      assert.deepEqual([...a.keySizes], expected, a.name);
    }
  }
  assert.deepEqual([...skAlgo('xts(aes)').keySizes], [32, 48, 64]);
  assert.deepEqual([...skAlgo('lrw(aes)').keySizes], [32, 40, 48]);
  assert.deepEqual([...skAlgo('ecb(cipher_null)').keySizes], [0]);
  assert.equal(skAlgo('ecb(cipher_null)').blockSize, 1);
  // xts and lrw need 16-byte blocks (crypto/xts.c, crypto/lrw.c).
  assert.equal(getSkcipher('xts(cipher_null)'), undefined);
  assert.equal(getSkcipher('lrw(cipher_null)'), undefined);
  assert.equal(getSkcipher('xts(des)'), undefined);
  assert.equal(getSkcipher('gcm(aes)'), undefined);
});

test('key sizes outside the rules are refused with EINVAL', () => {
  for (const name of ['xts(aes)', 'lrw(aes)', 'cbc(aes)', 'ecb(aes)', 'xts(serpent)', 'lrw(twofish)', 'cbc(cast6)', 'ecb(cipher_null)']) {
    const a = skAlgo(name);
    for (let len = 0; len <= 96; len++) {
      if (a.keySizes.includes(len)) {
        a.create(bytes(len, len)).wipe();
        continue;
      }
      assert.throws(
        () => a.create(bytes(len, len)),
        (err: unknown) => err instanceof UcryptError && err.errno === 'EINVAL' && err.message.startsWith(name),
        `${name} must refuse ${len} bytes`,
      );
    }
  }
});

test('xts accepts identical key halves (the kernel refuses them only in FIPS mode)', () => {
  const half = bytes(32, 3);
  const key = new Uint8Array(64);
  key.set(half);
  key.set(half, 32);
  const data = bytes(1024, 4);
  const ivs = bytes(32, 5);
  const out = Uint8Array.from(data);
  skAlgo('xts(aes)').create(key).encrypt(out, 512, ivs);
  assert.equal(toHex(out), toHex(refXts(cipherAlgo('aes'), key, data, 512, ivs, false)));
});

/** node:crypto's implementation of one sector, for the modes OpenSSL has. */
function opensslSector(name: string, key: Uint8Array, iv: Uint8Array | null, sector: Uint8Array, decrypt: boolean): Buffer {
  const c = decrypt ? createDecipheriv(name, key, iv) : createCipheriv(name, key, iv);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(sector), c.final()]);
}

const opensslCases: { mode: string; cipher: string; openssl: (keyLen: number) => string; keys: number[] }[] = [
  { mode: 'xts', cipher: 'aes', openssl: (k) => `aes-${(k / 2) * 8}-xts`, keys: [32, 64] },
  { mode: 'cbc', cipher: 'aes', openssl: (k) => `aes-${k * 8}-cbc`, keys: [16, 24, 32] },
  { mode: 'ecb', cipher: 'aes', openssl: (k) => `aes-${k * 8}-ecb`, keys: [16, 24, 32] },
  ...(camelliaOpenssl
    ? [
        { mode: 'cbc', cipher: 'camellia', openssl: (k: number) => `camellia-${k * 8}-cbc`, keys: [16, 24, 32] },
        { mode: 'ecb', cipher: 'camellia', openssl: (k: number) => `camellia-${k * 8}-ecb`, keys: [16, 24, 32] },
      ]
    : []),
];

for (const { mode, cipher, openssl, keys } of opensslCases) {
  test(`${mode}(${cipher}) matches node:crypto ${openssl(keys.at(-1)!)} sector by sector on random data`, () => {
    const algo = skAlgo(`${mode}(${cipher})`);
    for (const keyLen of keys) {
      for (const [sectorSize, sectors] of [
        [512, 300],
        [4096, 40],
        [16, 9],
      ] as const) {
        const key = bytes(keyLen, keyLen * sectorSize);
        const data = bytes(sectorSize * sectors, sectorSize + keyLen);
        const ivs = bytes(16 * sectors, sectorSize * 3 + keyLen);
        const sk = algo.create(key);
        const work = Uint8Array.from(data);
        sk.encrypt(work, sectorSize, ivs);
        for (let s = 0; s < sectors; s++) {
          const iv = mode === 'ecb' ? null : ivs.subarray(16 * s, 16 * s + 16);
          const expect = opensslSector(openssl(keyLen), key, iv, data.subarray(s * sectorSize, (s + 1) * sectorSize), false);
          assert.ok(expect.equals(work.subarray(s * sectorSize, (s + 1) * sectorSize)), `${keyLen}-byte key, ${sectorSize}-byte sector ${s}`);
        }
        sk.decrypt(work, sectorSize, ivs);
        assert.equal(toHex(work), toHex(data), 'decrypt');
        // And decrypting OpenSSL's ciphertext.
        const fromOpenssl = new Uint8Array(data.length);
        for (let s = 0; s < sectors; s++) {
          const iv = mode === 'ecb' ? null : ivs.subarray(16 * s, 16 * s + 16);
          fromOpenssl.set(opensslSector(openssl(keyLen), key, iv, data.subarray(s * sectorSize, (s + 1) * sectorSize), false), s * sectorSize);
        }
        sk.decrypt(fromOpenssl, sectorSize, ivs);
        assert.equal(toHex(fromOpenssl), toHex(data), 'decrypt OpenSSL ciphertext');
      }
    }
  });
}

for (const c of CIPHERS) {
  for (const m of MODES) {
    const name = `${m}(${c})`;
    test(`${name}: batched = one sector at a time = reference, encrypt and decrypt, every key size`, () => {
      const algo = skAlgo(name);
      const cipher = cipherAlgo(c);
      const slow = c !== 'aes' && c !== 'camellia';
      for (const keyLen of algo.keySizes.filter((_, i, a) => !slow || i === 0 || i === a.length - 1)) {
        // 160 sectors of 512 bytes cross the 64 KiB chunk boundary; then a few 4096-byte sectors.
        for (const [sectorSize, sectors] of [
          [512, slow ? 70 : 160],
          [4096, 3],
        ] as const) {
          const key = bytes(keyLen, 31 * keyLen + sectorSize);
          const data = bytes(sectorSize * sectors, keyLen + sectorSize);
          const ivs = bytes(16 * sectors, 7 * keyLen + sectorSize);
          const sk = algo.create(key);
          const batched = Uint8Array.from(data);
          sk.encrypt(batched, sectorSize, ivs);
          const single = Uint8Array.from(data);
          for (let s = 0; s < sectors; s++) {
            const other = algo.create(key);
            other.encrypt(single.subarray(s * sectorSize, (s + 1) * sectorSize), sectorSize, ivs.subarray(16 * s, 16 * s + 16));
          }
          assert.equal(toHex(batched), toHex(single), `${keyLen}-byte key, ${sectorSize}: batched vs single`);
          assert.equal(toHex(batched), toHex(reference(m, cipher, key, data, sectorSize, ivs, false)), `${keyLen}-byte key, ${sectorSize}: reference`);
          const dec = Uint8Array.from(batched);
          sk.decrypt(dec, sectorSize, ivs);
          assert.equal(toHex(dec), toHex(data), 'round trip');
          assert.equal(toHex(reference(m, cipher, key, batched, sectorSize, ivs, true)), toHex(data), 'reference decrypt');
          const singleDec = Uint8Array.from(batched);
          for (let s = 0; s < sectors; s++) {
            sk.decrypt(singleDec.subarray(s * sectorSize, (s + 1) * sectorSize), sectorSize, ivs.subarray(16 * s, 16 * s + 16));
          }
          assert.equal(toHex(singleDec), toHex(data), 'single-sector decrypt');
        }
      }
    });
  }
}

test('camellia modes: the TypeScript Camellia and the registered one give the same sectors', () => {
  for (const m of ['cbc', 'xts', 'lrw'] as const) {
    const tmpl = m === 'cbc' ? cbcTemplate : m === 'xts' ? xtsTemplate : lrwTemplate;
    const a = tmpl(camelliaTs)!;
    const b = skAlgo(`${m}(camellia)`);
    const key = bytes(a.keySizes.at(-1)!, 9);
    const data = bytes(8192, 10);
    const ivs = bytes(256, 11);
    const x = Uint8Array.from(data);
    const y = Uint8Array.from(data);
    a.create(key).encrypt(x, 512, ivs);
    b.create(key).encrypt(y, 512, ivs);
    assert.equal(toHex(x), toHex(y), m);
  }
});

test('cbc: the lanes and per-sector encryption paths agree for OpenSSL ciphers', () => {
  for (const c of ['aes', ...(camelliaOpenssl ? ['camellia'] : [])]) {
    const cipher = cipherAlgo(c);
    for (const n of [1, 2, 7, 8, 15, 16, 17, 100]) {
      const key = bytes(32, n);
      const data = bytes(512 * n, n + 1);
      const ivs = bytes(16 * n, n + 2);
      const results = (['auto', 'lanes', 'per-sector'] as const).map((path) => {
        const d = Uint8Array.from(data);
        cbcTemplate(cipher, path)!.create(key).encrypt(d, 512, ivs);
        return toHex(d);
      });
      assert.equal(results[1], results[0], `${c}: lanes vs auto, ${n} sectors`);
      assert.equal(results[2], results[0], `${c}: per-sector vs auto, ${n} sectors`);
    }
  }
});

test('lrw: the block counter wraps from all ones to zero as in the kernel (lrw_next_index)', () => {
  const cipher = cipherAlgo('aes');
  const key = bytes(32, 77);
  const ivs = new Uint8Array(48).fill(0xff);
  ivs[15] = 0xfd; // sector 0 starts 3 blocks before the wrap
  ivs[31] = 0xff;
  ivs.fill(0xff, 32, 44);
  ivs.fill(0, 44, 48); // sector 2: a carry across a 32-bit word
  const data = bytes(3 * 128, 78);
  const out = Uint8Array.from(data);
  skAlgo('lrw(aes)').create(key).encrypt(out, 128, ivs);
  assert.equal(toHex(out), toHex(refLrw(cipher, key, data, 128, ivs, false)));
});

test('ecb(cipher_null) is a no-op; cbc(cipher_null) chains 1-byte blocks', () => {
  const sk = skAlgo('ecb(cipher_null)').create(new Uint8Array(0));
  const data = bytes(4096, 1);
  const work = Uint8Array.from(data);
  sk.encrypt(work, 512, new Uint8Array(0));
  assert.equal(toHex(work), toHex(data));
  sk.decrypt(work, 512, new Uint8Array(0));
  assert.equal(toHex(work), toHex(data));
  const cbc = skAlgo('cbc(cipher_null)');
  assert.equal(cbc.ivSize, 1);
  const ivs = bytes(8, 2);
  const c = Uint8Array.from(data);
  cbc.create(new Uint8Array(0)).encrypt(c, 512, ivs);
  assert.equal(toHex(c), toHex(refCbc(cipherAlgo('cipher_null'), new Uint8Array(0), data, 512, ivs, false)));
  cbc.create(new Uint8Array(0)).decrypt(c, 512, ivs);
  assert.equal(toHex(c), toHex(data));
});

test('misaligned and SharedArrayBuffer-backed data give the same sectors', () => {
  for (const name of ['xts(aes)', 'cbc(aes)', 'lrw(aes)', 'xts(twofish)', 'cbc(serpent)']) {
    const algo = skAlgo(name);
    const key = bytes(algo.keySizes.at(-1)!, 5);
    const data = bytes(4 * 512, 6);
    const ivs = bytes(64, 7);
    const expect = Uint8Array.from(data);
    algo.create(key).encrypt(expect, 512, ivs);
    for (const offset of [1, 2, 3]) {
      const big = new Uint8Array(data.length + 8);
      const view = big.subarray(offset, offset + data.length);
      view.set(data);
      const sk = algo.create(key);
      sk.encrypt(view, 512, ivs);
      assert.equal(toHex(view), toHex(expect), `${name} at offset ${offset}`);
      sk.decrypt(view, 512, ivs);
      assert.equal(toHex(view), toHex(data));
    }
    const shared = new Uint8Array(new SharedArrayBuffer(data.length));
    shared.set(data);
    algo.create(key).encrypt(shared, 512, ivs);
    assert.equal(toHex(shared), toHex(expect), `${name} on a SharedArrayBuffer`);
  }
});

test('requests are validated: whole sectors, whole blocks, enough IVs; extra IV bytes are ignored', () => {
  const sk = skAlgo('xts(aes)').create(bytes(64, 1));
  assert.throws(() => sk.encrypt(new Uint8Array(1000), 512, new Uint8Array(32)), /whole number of 512-byte sectors/);
  assert.throws(() => sk.encrypt(new Uint8Array(1000), 500, new Uint8Array(32)), /not a positive multiple of the 16-byte block/);
  assert.throws(() => sk.encrypt(new Uint8Array(1024), 512, new Uint8Array(31)), /need 32 bytes of IVs/);
  assert.throws(() => sk.encrypt(new Uint8Array(1024), 0, new Uint8Array(32)), UcryptError);
  const a = bytes(1024, 2);
  const b = Uint8Array.from(a);
  sk.encrypt(a, 512, bytes(32, 3));
  const longIvs = new Uint8Array(100);
  longIvs.set(bytes(32, 3));
  sk.encrypt(b, 512, longIvs);
  assert.equal(toHex(a), toHex(b));
  // An empty request is fine.
  sk.encrypt(new Uint8Array(0), 512, new Uint8Array(0));
});

test('wipe(): a wiped skcipher refuses further use', () => {
  for (const m of MODES) {
    const algo = skAlgo(`${m}(aes)`);
    const sk = algo.create(bytes(algo.keySizes[0]!, 1));
    sk.wipe();
    assert.throws(() => sk.encrypt(new Uint8Array(512), 512, new Uint8Array(16)), /wiped/);
  }
});
