// Adiantum against the kernel's adiantum_xchacha{12,20}_aes_tv_template (crypto/testmgr.h), through
// the registry's Skcipher interface, plus batching, alignment and round-trip properties on 512- and
// 4096-byte sectors with one IV per sector.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { getSkcipher } from '../../../src/crypto/registry.js';
import { registerAdiantum } from '../../../src/crypto/adiantum/index.js';
import type { Skcipher, SkcipherAlgorithm } from '../../../src/crypto/types.js';
import { UcryptError } from '../../../src/errors.js';
import { hex, loadVectors, toHex, type CipherVector, type TemplateFile } from './vectors.js';

registerAdiantum();

const variants = [
  { name: 'adiantum(xchacha12,aes)', file: 'adiantum-xchacha12-aes.json' },
  { name: 'adiantum(xchacha20,aes)', file: 'adiantum-xchacha20-aes.json' },
];

function algo(name: string): SkcipherAlgorithm {
  const a = getSkcipher(name);
  assert.ok(a, `${name} is registered`);
  return a;
}

/** A copy of `src` at byte offset `shift` inside a larger buffer (to exercise unaligned views). */
function placed(src: Uint8Array, shift: number): Uint8Array {
  const buf = new Uint8Array(src.length + shift + 8);
  const view = buf.subarray(shift, shift + src.length);
  view.set(src);
  return view;
}

for (const { name, file } of variants) {
  const t = loadVectors<TemplateFile<CipherVector>>(file);

  test(`${name}: registered with the kernel's sizes`, () => {
    const a = algo(name);
    assert.equal(a.name, name);
    assert.equal(a.ivSize, 32);
    assert.equal(a.blockSize, 16);
    assert.deepEqual(a.keySizes, [32]);
  });

  t.vectors.forEach((v, i) => {
    for (const shift of [0, 1, 4]) {
      test(`${name}: kernel ${t.template}[${i}] (${v.len} bytes, buffer offset ${shift})`, () => {
        const c = algo(name).create(hex(v.key));
        const data = placed(hex(v.ptext), shift);
        c.encrypt(data, v.len, hex(v.iv));
        assert.equal(toHex(data), v.ctext);
        c.decrypt(data, v.len, hex(v.iv));
        assert.equal(toHex(data), v.ptext);
        const ct = placed(hex(v.ctext), shift);
        c.decrypt(ct, v.len, hex(v.iv));
        assert.equal(toHex(ct), v.ptext);
        c.wipe();
      });
    }
  });

  test(`${name}: kernel vectors repeated as a batch of sectors give the same ciphertexts`, () => {
    // Same key and length, several sectors with their own IVs: sector s = vector's plaintext with
    // IV s; the batch must equal one call per sector.
    const v = t.vectors.find((x) => x.len === 512)!;
    const c = algo(name).create(hex(v.key));
    const n = 5;
    const data = new Uint8Array(n * v.len);
    const ivs = new Uint8Array(n * 32);
    for (let s = 0; s < n; s++) {
      data.set(hex(v.ptext), s * v.len);
      ivs.set(s === 2 ? hex(v.iv) : randomBytes(32), s * 32);
    }
    const expected = data.slice();
    for (let s = 0; s < n; s++) c.encrypt(expected.subarray(s * v.len, (s + 1) * v.len), v.len, ivs.subarray(s * 32, (s + 1) * 32));
    c.encrypt(data, v.len, ivs);
    assert.equal(toHex(data), toHex(expected));
    assert.equal(toHex(data.subarray(2 * v.len, 3 * v.len)), v.ctext);
  });

  for (const sectorSize of [512, 4096]) {
    test(`${name}: round trip on ${sectorSize}-byte sectors, batches of several sectors`, () => {
      const key = randomBytes(32);
      const c: Skcipher = algo(name).create(key);
      for (const n of [1, 3, 8]) {
        const plain = new Uint8Array(randomBytes(n * sectorSize));
        const ivs = new Uint8Array(n * 32);
        for (let s = 0; s < n; s++) new DataView(ivs.buffer).setBigUint64(s * 32, BigInt(1000 + s), true); // plain64-like
        const data = plain.slice();
        c.encrypt(data, sectorSize, ivs);
        for (let s = 0; s < n; s++) {
          const a = data.subarray(s * sectorSize, (s + 1) * sectorSize);
          const b = plain.subarray(s * sectorSize, (s + 1) * sectorSize);
          assert.notEqual(toHex(a), toHex(b), `sector ${s} changed`);
        }
        // A fresh instance from the same key decrypts it (no state carried between calls).
        const d = algo(name).create(key);
        d.decrypt(data, sectorSize, ivs);
        assert.equal(toHex(data), toHex(plain));
        // Per-sector calls agree with the batch.
        const one = plain.slice();
        for (let s = 0; s < n; s++) c.encrypt(one.subarray(s * sectorSize, (s + 1) * sectorSize), sectorSize, ivs.subarray(s * 32, (s + 1) * 32));
        const batch = plain.slice();
        c.encrypt(batch, sectorSize, ivs);
        assert.equal(toHex(batch), toHex(one));
      }
    });

    test(`${name}: ${sectorSize}-byte sectors are wide-block: one flipped bit or IV changes the whole sector`, () => {
      const c = algo(name).create(randomBytes(32));
      const plain = new Uint8Array(2 * sectorSize);
      const ivs = new Uint8Array(64);
      ivs[32] = 1;
      const a = plain.slice();
      c.encrypt(a, sectorSize, ivs);
      // Equal plaintexts under different IVs differ.
      assert.notEqual(toHex(a.subarray(0, sectorSize)), toHex(a.subarray(sectorSize)));
      const b = plain.slice();
      b[0] = 1;
      c.encrypt(b, sectorSize, ivs);
      let same = 0;
      for (let i = 0; i < sectorSize; i += 16) if (toHex(a.subarray(i, i + 16)) === toHex(b.subarray(i, i + 16))) same++;
      assert.equal(same, 0, 'no 16-byte block of the first sector survives a one-bit change');
      assert.equal(toHex(a.subarray(sectorSize)), toHex(b.subarray(sectorSize)), 'the other sector is untouched');
    });
  }

  test(`${name}: unaligned and aligned buffers agree on 4096-byte batches`, () => {
    const c = algo(name).create(randomBytes(32));
    const plain = new Uint8Array(randomBytes(3 * 4096));
    const ivs = new Uint8Array(randomBytes(3 * 32));
    const aligned = plain.slice();
    c.encrypt(aligned, 4096, ivs);
    const odd = placed(plain, 3);
    c.encrypt(odd, 4096, ivs);
    assert.equal(toHex(odd), toHex(aligned));
    c.decrypt(odd, 4096, ivs);
    assert.equal(toHex(odd), toHex(plain));
  });
}

test('adiantum: xchacha12 and xchacha20 differ', () => {
  const key = randomBytes(32);
  const a = new Uint8Array(512);
  const b = new Uint8Array(512);
  const ivs = new Uint8Array(32);
  algo('adiantum(xchacha12,aes)').create(key).encrypt(a, 512, ivs);
  algo('adiantum(xchacha20,aes)').create(key).encrypt(b, 512, ivs);
  assert.notEqual(toHex(a), toHex(b));
});

test('adiantum: argument errors carry EINVAL', () => {
  const a = algo('adiantum(xchacha12,aes)');
  assert.throws(() => a.create(new Uint8Array(16)), (e: unknown) => e instanceof UcryptError && e.errno === 'EINVAL');
  const c = a.create(new Uint8Array(32));
  assert.throws(() => c.encrypt(new Uint8Array(1000), 512, new Uint8Array(64)), (e: unknown) => e instanceof UcryptError && e.code === 'ERR_BAD_ARGUMENT');
  assert.throws(() => c.encrypt(new Uint8Array(1024), 512, new Uint8Array(32)), UcryptError);
  assert.throws(() => c.encrypt(new Uint8Array(8), 8, new Uint8Array(32)), UcryptError);
  c.encrypt(new Uint8Array(0), 512, new Uint8Array(0));
  c.wipe();
  assert.throws(() => c.encrypt(new Uint8Array(512), 512, new Uint8Array(32)), UcryptError);
});
