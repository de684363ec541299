// Poly1305 against the kernel's poly1305_tv_template (RFC 7539/8439 A.3 and more; the kernel's
// shash takes the 32-byte key as the first 32 bytes of the message), RFC 8439 2.5.2, and the tag
// of node:crypto's chacha20-poly1305 AEAD recomputed from our ChaCha20 and Poly1305.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { chachaXor } from '../../../src/crypto/adiantum/chacha.js';
import { poly1305Mac } from '../../../src/crypto/adiantum/poly1305.js';
import { hex, loadVectors, toHex, type HashVector, type TemplateFile } from './vectors.js';

const kernel = loadVectors<TemplateFile<HashVector>>('poly1305.json');
kernel.vectors.forEach((v, i) => {
  test(`kernel ${kernel.template}[${i}] (${v.psize - 32}-byte message)`, () => {
    const all = hex(v.plaintext);
    assert.equal(toHex(poly1305Mac(all.subarray(0, 32), all.subarray(32))), v.digest);
  });
});

const rfc = loadVectors<{ poly1305: { section: string; key: string; message: string; tag: string }[] }>('rfc8439.json');
for (const v of rfc.poly1305) {
  test(`poly1305: ${v.section}`, () => {
    assert.equal(toHex(poly1305Mac(hex(v.key), hex(v.message))), v.tag);
  });
}

function pad16(n: number): Uint8Array {
  return new Uint8Array((16 - (n % 16)) % 16);
}

test('poly1305 reproduces node:crypto chacha20-poly1305 tags (RFC 8439 2.8) on random inputs', () => {
  for (let i = 0; i < 48; i++) {
    const key = randomBytes(32);
    const nonce = randomBytes(12);
    const aad = randomBytes((i * 7) % 40);
    const pt = randomBytes(i === 0 ? 0 : (i * 53) % 600);
    const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
    c.setAAD(aad, { plaintextLength: pt.length });
    const ct = Buffer.concat([c.update(pt), c.final()]);
    const tag = c.getAuthTag();
    const otk = new Uint8Array(32);
    const iv = new Uint8Array(16);
    iv.set(nonce, 4);
    chachaXor(key, iv, 20, otk);
    const lens = Buffer.alloc(16);
    lens.writeUInt32LE(aad.length, 0);
    lens.writeUInt32LE(ct.length, 8);
    const macData = Buffer.concat([aad, pad16(aad.length), ct, pad16(ct.length), lens]);
    assert.equal(toHex(poly1305Mac(otk, macData)), tag.toString('hex'), `case ${i}`);
  }
});

/** Straight from RFC 8439 section 2.5.1 with BigInt: a reference for the limb arithmetic. */
function referenceMac(key: Uint8Array, msg: Uint8Array): string {
  const le = (b: Uint8Array): bigint => BigInt('0x' + (Buffer.from(b).reverse().toString('hex') || '0'));
  const p = (1n << 130n) - 5n;
  const r = le(key.subarray(0, 16)) & 0x0ffffffc0ffffffc0ffffffc0fffffffn;
  const s = le(key.subarray(16, 32));
  let h = 0n;
  for (let i = 0; i < msg.length; i += 16) {
    const block = msg.subarray(i, Math.min(i + 16, msg.length));
    h = ((h + le(block) + (1n << BigInt(8 * block.length))) * r) % p;
  }
  const tag = (h + s) & ((1n << 128n) - 1n);
  return Buffer.from(tag.toString(16).padStart(32, '0'), 'hex').reverse().toString('hex');
}

test('poly1305 matches a BigInt reference on edge keys and messages', () => {
  const keys: Uint8Array[] = [new Uint8Array(32).fill(0xff), new Uint8Array(32), hex('02' + '00'.repeat(15) + 'ff'.repeat(16)), new Uint8Array(randomBytes(32))];
  const msgs: Uint8Array[] = [16, 32, 48, 64, 256, 17, 1, 0, 1000].flatMap((n) => [new Uint8Array(n).fill(0xff), new Uint8Array(randomBytes(n))]);
  msgs.push(hex('fb' + 'ff'.repeat(15)), hex('ff'.repeat(16) + 'fb' + 'fe'.repeat(15) + '01'.repeat(16)));
  for (const key of keys) {
    for (const msg of msgs) assert.equal(toHex(poly1305Mac(key, msg)), referenceMac(key, msg), `key ${toHex(key)} msg ${msg.length}`);
  }
});

test('poly1305 matches the BigInt reference on random inputs', () => {
  for (let i = 0; i < 200; i++) {
    const key = new Uint8Array(randomBytes(32));
    const msg = new Uint8Array(randomBytes(i % 97));
    assert.equal(toHex(poly1305Mac(key, msg)), referenceMac(key, msg));
  }
});
