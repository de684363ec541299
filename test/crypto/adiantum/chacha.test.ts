// ChaCha20 (RFC 8439), HChaCha20 (draft-irtf-cfrg-xchacha) and XChaCha12/20 against the kernel's
// testmgr.h templates, the RFC's own vectors, and node:crypto's `chacha20` on random inputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { chachaXor, hchacha, xchachaXor } from '../../../src/crypto/adiantum/chacha.js';
import { hex, loadVectors, toHex, type CipherVector, type TemplateFile } from './vectors.js';

interface Rfc {
  chacha20Block: { section: string; key: string; nonce: string; counter: number; keystream: string }[];
  chacha20Encrypt: { section: string; key: string; nonce: string; counter: number; plaintext: string; ciphertext: string }[];
  poly1305KeyGen: { section: string; key: string; nonce: string; oneTimeKey: string }[];
  hchacha20: { section: string; key: string; input: string; subkey: string }[];
}
const rfc = loadVectors<Rfc>('rfc8439.json');

function ietfIv(counter: number, nonce: string): Uint8Array {
  const iv = new Uint8Array(16);
  new DataView(iv.buffer).setUint32(0, counter, true);
  iv.set(hex(nonce), 4);
  return iv;
}

for (const v of rfc.chacha20Block) {
  test(`chacha20 block function: ${v.section}`, () => {
    const out = new Uint8Array(64);
    chachaXor(hex(v.key), ietfIv(v.counter, v.nonce), 20, out);
    assert.equal(toHex(out), v.keystream);
  });
}

for (const v of rfc.chacha20Encrypt) {
  test(`chacha20 encryption: ${v.section}`, () => {
    const data = hex(v.plaintext);
    chachaXor(hex(v.key), ietfIv(v.counter, v.nonce), 20, data);
    assert.equal(toHex(data), v.ciphertext);
    chachaXor(hex(v.key), ietfIv(v.counter, v.nonce), 20, data);
    assert.equal(toHex(data), v.plaintext);
  });
}

for (const v of rfc.poly1305KeyGen) {
  test(`chacha20 Poly1305 key generation: ${v.section}`, () => {
    const out = new Uint8Array(32);
    chachaXor(hex(v.key), ietfIv(0, v.nonce), 20, out);
    assert.equal(toHex(out), v.oneTimeKey);
  });
}

for (const v of rfc.hchacha20) {
  test(`hchacha20: ${v.section}`, () => {
    assert.equal(toHex(hchacha(hex(v.key), hex(v.input), 20)), v.subkey);
  });
}

const templates: [string, number, boolean][] = [
  ['chacha20.json', 20, false],
  ['xchacha20.json', 20, true],
  ['xchacha12.json', 12, true],
];
for (const [file, rounds, x] of templates) {
  const t = loadVectors<TemplateFile<CipherVector>>(file);
  t.vectors.forEach((v, i) => {
    test(`kernel ${t.template}[${i}] (${v.len} bytes)`, () => {
      const data = hex(v.ptext);
      const crypt = x ? xchachaXor : chachaXor;
      crypt(hex(v.key), hex(v.iv), rounds, data);
      assert.equal(toHex(data), v.ctext);
      crypt(hex(v.key), hex(v.iv), rounds, data);
      assert.equal(toHex(data), v.ptext);
    });
  });
}

test('chacha20 agrees with node:crypto chacha20 on random keys, IVs and lengths', () => {
  for (let i = 0; i < 64; i++) {
    const key = randomBytes(32);
    const iv = randomBytes(16);
    iv.writeUInt32LE(i * 977, 0); // keep the 32-bit counter away from wrapping
    const len = i === 0 ? 0 : (i * 37) % 700;
    const data = new Uint8Array(randomBytes(len));
    const expected = createCipheriv('chacha20', key, iv).update(data);
    chachaXor(key, iv, 20, data);
    assert.equal(toHex(data), expected.toString('hex'), `case ${i}`);
  }
});

test('xchacha20 = chacha20 under the HChaCha20 subkey with nonce tail and position', () => {
  const key = randomBytes(32);
  const iv = randomBytes(32);
  iv.writeUInt32LE(5, 24);
  iv.writeUInt32LE(0, 28);
  const data = new Uint8Array(randomBytes(300));
  const sub = hchacha(key, iv.subarray(0, 16), 20);
  const ietf = Buffer.concat([iv.subarray(24, 28), iv.subarray(28, 32), iv.subarray(16, 24)]);
  const expected = createCipheriv('chacha20', sub, ietf).update(data);
  xchachaXor(key, iv, 20, data);
  assert.equal(toHex(data), expected.toString('hex'));
});
