// The unlock fast paths against their references: the AF diffuser's own SHA-256 and the
// one-shot hashes against createHash, and node:crypto's aes-xts-plain64 for keyslot areas
// against the crypt target's engine (which serves every other spec).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { afMerge, afSplit, sha256Piece } from '../../src/luks/af.js';
import { cryptArea, sectorCipher } from '../../src/luks/storage.js';

/** AF_merge as the LUKS1 spec writes it, with createHash for every piece. */
function referenceMerge(material: Uint8Array, keySize: number, stripes: number, hash: string): Uint8Array {
  const digestSize = createHash(hash).digest().length;
  const d = Buffer.alloc(keySize);
  for (let s = 0; s < stripes; s++) {
    for (let i = 0; i < keySize; i++) d[i]! ^= material[s * keySize + i]!;
    if (s === stripes - 1) break;
    for (let i = 0, off = 0; off < keySize; i++, off += digestSize) {
      const len = Math.min(digestSize, keySize - off);
      const iv = Buffer.alloc(4);
      iv.writeUInt32BE(i);
      createHash(hash).update(iv).update(d.subarray(off, off + len)).digest().copy(d, off, 0, len);
    }
  }
  return d;
}

test('AF: the SHA-256 piece equals createHash for every piece length and index', () => {
  for (let len = 1; len <= 32; len++) {
    for (const index of [0, 1, 2, 7, 0x01020304]) {
      const block = randomBytes(len + 8);
      const expected = createHash('sha256').update(Buffer.from([index >>> 24, (index >>> 16) & 255, (index >>> 8) & 255, index & 255])).update(block.subarray(3, 3 + len)).digest().subarray(0, len);
      const got = Uint8Array.from(block);
      sha256Piece(index, got, 3, len);
      assert.deepEqual(Buffer.from(got.subarray(3, 3 + len)), expected, `len ${len} index ${index}`);
      assert.deepEqual(Buffer.from(got.subarray(0, 3)), block.subarray(0, 3));
      assert.deepEqual(Buffer.from(got.subarray(3 + len)), block.subarray(3 + len));
    }
  }
});

test('AF: merge equals the createHash reference (sha1, sha256, sha512, ripemd160; 16-64 byte keys) and undoes split', () => {
  for (const hash of ['sha1', 'sha256', 'sha512', 'ripemd160']) {
    for (const keySize of [16, 32, 48, 64]) {
      const material = randomBytes(keySize * 50);
      assert.deepEqual(Buffer.from(afMerge(material, keySize, 50, hash)), referenceMerge(material, keySize, 50, hash), `${hash} ${keySize}`);
      const key = randomBytes(keySize);
      assert.deepEqual(Buffer.from(afMerge(afSplit(key, 4000, hash), keySize, 4000, hash)), key, `${hash} ${keySize} round trip`);
    }
  }
});

test('keyslot areas: aes-xts-plain64 through node:crypto equals the crypt engine, both ways; identical key halves fall back', async () => {
  for (const keySize of [32, 64]) {
    const key = randomBytes(keySize);
    const plain = randomBytes(512 * 300);
    const engine = await sectorCipher('aes-xts-plain64', key);
    try {
      const viaEngine = Uint8Array.from(plain);
      engine.engine.convert('encrypt', viaEngine, 0);
      const fast = Uint8Array.from(plain);
      await cryptArea('encrypt', 'aes-xts-plain64', key, fast);
      assert.deepEqual(Buffer.from(fast), Buffer.from(viaEngine), `encrypt, ${keySize * 8}-bit key`);
      await cryptArea('decrypt', 'aes-xts-plain64', key, fast);
      assert.deepEqual(Buffer.from(fast), plain, `decrypt, ${keySize * 8}-bit key`);
    } finally {
      engine.close();
    }
  }
  const half = randomBytes(32);
  const same = Buffer.concat([half, half]);
  const data = randomBytes(1024);
  const copy = Uint8Array.from(data);
  await cryptArea('encrypt', 'aes-xts-plain64', same, copy);
  assert.notDeepEqual(Buffer.from(copy), data);
  await cryptArea('decrypt', 'aes-xts-plain64', same, copy);
  assert.deepEqual(Buffer.from(copy), data);
});
