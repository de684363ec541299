// IV generators on their own (src/crypto/ivgen): lookup by name, the IVs of the simple
// generators against BigInt computations of the kernel's definitions, the constructors' checks
// with the kernel's ti->error texts, the raw MD5 and CRC32 helpers, and the Elephant diffuser.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { getIvMode, IvError, listIvModes, lookupHash, essivTemplate } from '../../../src/crypto/ivgen/index.js';
import type { IvParams } from '../../../src/crypto/ivgen/index.js';
import { MD5_INIT, md5Block } from '../../../src/crypto/ivgen/md5-block.js';
import { crc32le } from '../../../src/crypto/ivgen/crc32.js';
import { getSkcipher } from '../../../src/crypto/registry.js';
import type { Skcipher } from '../../../src/crypto/types.js';
import { referenceIv } from './reference.js';
import { capturePlaintext } from './helpers.js';

function params(over: Partial<IvParams> = {}): IvParams {
  const bulk: Skcipher = { ivSize: 16, blockSize: 16, encrypt: () => undefined, decrypt: () => undefined, wipe: () => undefined };
  return { ivSize: 16, sectorSize: 512, keySize: 32, keyParts: 1, keyExtraSize: 0, tfmsCount: 1, aead: false, cipherBlockSize: 16, bulk: () => bulk, ...over };
}

function sectorsOf(list: readonly bigint[]): Uint32Array {
  const s = new Uint32Array(list.length * 2);
  list.forEach((v, i) => {
    s[2 * i] = Number(v & 0xffffffffn);
    s[2 * i + 1] = Number((v >> 32n) & 0xffffffffn);
  });
  return s;
}

test('IV modes by name, in the kernel order; unknown names are not found', () => {
  assert.deepEqual(listIvModes(), ['plain', 'plain64', 'plain64be', 'essiv', 'benbi', 'null', 'eboiv', 'elephant', 'lmk', 'tcw', 'random']);
  assert.equal(getIvMode('nosuch'), undefined);
  assert.equal(getIvMode('PLAIN64'), undefined, 'names are case-sensitive (strcmp)');
});

const SECTORS = [0n, 1n, 7n, 0xfffffffen, 0xffffffffn, 0x100000000n, 0x123456789abcdefn, 0xffffffffffffffffn];

for (const mode of ['plain', 'plain64', 'plain64be', 'null', 'benbi']) {
  for (const ivSize of [16, 32]) {
    test(`${mode}: IVs of ${ivSize} bytes match the definition`, () => {
      const gen = getIvMode(mode)!.create(params({ ivSize }), undefined);
      const ivs = new Uint8Array(SECTORS.length * ivSize).fill(0xee);
      gen.generate('encrypt', ivs, new Uint8Array(0), sectorsOf(SECTORS), SECTORS.length);
      SECTORS.forEach((s, i) => {
        const want = mode === 'benbi' ? benbi16(s, ivSize) : referenceIv(mode, s, ivSize);
        assert.deepEqual(Buffer.from(ivs.subarray(i * ivSize, (i + 1) * ivSize)), want, `sector ${s}`);
      });
    });
  }
}

/** benbi for a 16-byte block cipher: be64((sector << 5) + 1) at the end of the IV. */
function benbi16(s: bigint, ivSize: number): Buffer {
  const b = Buffer.alloc(ivSize);
  b.writeBigUInt64BE(((s << 5n) + 1n) & 0xffffffffffffffffn, ivSize - 8);
  return b;
}

test('benbi shift follows the cipher block size; the kernel checks it', () => {
  const gen = getIvMode('benbi')!.create(params({ cipherBlockSize: 8, ivSize: 8 }), undefined);
  const ivs = new Uint8Array(8);
  gen.generate('encrypt', ivs, new Uint8Array(0), sectorsOf([3n]), 1);
  assert.deepEqual(Buffer.from(ivs), Buffer.from([0, 0, 0, 0, 0, 0, 0, 3 * 64 + 1]));
  assert.throws(() => getIvMode('benbi')!.create(params({ cipherBlockSize: 24 }), undefined), (e: unknown) => e instanceof IvError && e.message === 'cypher blocksize is not a power of 2');
  assert.throws(() => getIvMode('benbi')!.create(params({ cipherBlockSize: 1024 }), undefined), (e: unknown) => e instanceof IvError && e.message === 'cypher blocksize is > 512');
});

test('constructor checks carry the kernel texts', () => {
  const cases: [string, Partial<IvParams>, string][] = [
    ['lmk', { sectorSize: 4096 }, 'Unsupported sector size for LMK'],
    ['tcw', { sectorSize: 4096, keySize: 64 }, 'Unsupported sector size for TCW'],
    ['tcw', { keySize: 32 }, 'Wrong key size for TCW'],
    ['eboiv', { aead: true }, 'AEAD transforms not supported for EBOIV'],
    ['eboiv', { ivSize: 32 }, 'Block size of EBOIV cipher does not match IV size of block cipher'],
    ['elephant', { ivSize: 32 }, 'Block size of EBOIV cipher does not match IV size of block cipher'],
  ];
  for (const [mode, over, message] of cases) {
    assert.throws(() => getIvMode(mode)!.create(params(over), undefined), (e: unknown) => e instanceof IvError && e.message === message, `${mode}: ${message}`);
  }
});

test('key layouts (crypt_ctr_ivmode)', () => {
  const layout = (mode: string, keySize: number, ivSize = 16, tfms = 1) => {
    const l = { keyParts: tfms, keyExtraSize: 0, integrityIvSize: 0, preprocess: false };
    const ok = getIvMode(mode)!.layout?.(l, keySize, ivSize, tfms) ?? true;
    return { ok, ...l };
  };
  assert.deepEqual(layout('lmk', 1024, 16, 64), { ok: true, keyParts: 64, keyExtraSize: 0, integrityIvSize: 0, preprocess: false });
  assert.deepEqual(layout('lmk', 1040, 16, 64), { ok: true, keyParts: 65, keyExtraSize: 16, integrityIvSize: 0, preprocess: false });
  assert.deepEqual(layout('tcw', 64), { ok: true, keyParts: 3, keyExtraSize: 32, integrityIvSize: 0, preprocess: false });
  assert.deepEqual(layout('elephant', 64), { ok: true, keyParts: 2, keyExtraSize: 32, integrityIvSize: 0, preprocess: true });
  assert.equal(layout('elephant', 128).ok, false, 'an Elephant key over 32 bytes');
  assert.deepEqual(layout('random', 64), { ok: true, keyParts: 1, keyExtraSize: 0, integrityIvSize: 16, preprocess: false });
});

test('raw MD5 block function matches MD5 on whole padded messages', () => {
  const st = Uint32Array.from(MD5_INIT);
  const w = new Uint32Array(16);
  const block = new Uint8Array(64);
  block[0] = 0x80;
  md5Block(st, block, 0, w);
  const digest = Buffer.alloc(16);
  for (let i = 0; i < 4; i++) digest.writeUInt32LE(st[i]!, 4 * i);
  assert.equal(digest.toString('hex'), createHash('md5').update('').digest('hex'));

  const msg = capturePlaintext(55);
  const padded = new Uint8Array(64);
  padded.set(msg);
  padded[55] = 0x80;
  padded[56] = (55 * 8) & 0xff; // bit length, little-endian
  padded[57] = (55 * 8) >> 8;
  const st2 = Uint32Array.from(MD5_INIT);
  md5Block(st2, padded, 0, w);
  const d2 = Buffer.alloc(16);
  for (let i = 0; i < 4; i++) d2.writeUInt32LE(st2[i]!, 4 * i);
  assert.equal(d2.toString('hex'), createHash('md5').update(msg).digest('hex'));
});

test('crc32_le is the IEEE CRC without the inversions', () => {
  const check = Buffer.from('123456789');
  assert.equal((crc32le(0xffffffff, check, 0, check.length) ^ 0xffffffff) >>> 0, 0xcbf43926);
  assert.equal(crc32le(0, new Uint8Array(4), 0, 4), 0);
});

test('lmk: write IVs come from the plaintext, the read path restores block 0', () => {
  const p = params({ keySize: 1040, keyParts: 65, keyExtraSize: 16, tfmsCount: 64 });
  const gen = getIvMode('lmk')!.create(p, undefined);
  const key = new Uint8Array(1040).map((_, i) => i);
  gen.init!(key);
  const data = capturePlaintext(1024);
  const sectors = sectorsOf([5n, 6n]);
  const ivs = new Uint8Array(32);
  gen.generate('encrypt', ivs, data, sectors, 2);
  assert.ok(ivs.some((b) => b !== 0));
  // Simulate CBC decryption with a zero IV: block 0 comes out XORed with the real IV.
  const read = Buffer.from(data);
  for (let i = 0; i < 16; i++) {
    read[i]! ^= ivs[i]!;
    read[512 + i]! ^= ivs[16 + i]!;
  }
  const rivs = new Uint8Array(32);
  gen.generate('decrypt', rivs, read, sectors, 2);
  assert.ok(rivs.every((b) => b === 0), 'reads decrypt with a zero IV');
  gen.post!('decrypt', rivs, read, sectors, 2);
  assert.deepEqual(read, data);
  assert.ok(gen.secrets!()[0]!.some((b) => b !== 0));
  gen.wipe!();
  assert.ok(gen.secrets!()[0]!.every((b) => b === 0));
});

test('tcw: whitening is undone before decryption and IVs are seed XOR sector', () => {
  const gen = getIvMode('tcw')!.create(params({ keySize: 64, keyParts: 3, keyExtraSize: 32 }), undefined);
  gen.init!(new Uint8Array(64).map((_, i) => i));
  const data = capturePlaintext(512);
  const sectors = sectorsOf([0x100000001n]);
  const ivs = new Uint8Array(16);
  const out = Buffer.from(data);
  gen.generate('encrypt', ivs, out, sectors, 1);
  assert.deepEqual(out, data, 'writes are whitened after encryption, not before');
  const seed = Buffer.from(new Uint8Array(16).map((_, i) => 32 + i));
  const sector = Buffer.alloc(8);
  sector.writeBigUInt64LE(0x100000001n);
  assert.deepEqual(Buffer.from(ivs), Buffer.from(seed.map((b, i) => b ^ sector[i % 8]!)));
  gen.post!('encrypt', ivs, out, sectors, 1);
  assert.notDeepEqual(out, data);
  // The whitening is the same 8 bytes over the whole sector.
  const x = out.map((b, i) => b ^ data[i]!);
  for (let i = 8; i < 512; i++) assert.equal(x[i], x[i % 8]);
  gen.generate('decrypt', new Uint8Array(16), out, sectors, 1);
  assert.deepEqual(out, data);
});

test('elephant: the diffuser transform is undone by the read path', () => {
  for (const sectorSize of [512, 4096]) {
    const bulk = getSkcipher('cbc(aes)')!.create(new Uint8Array(32).fill(1));
    const gen = getIvMode('elephant')!.create(params({ sectorSize, keySize: 64, keyParts: 2, keyExtraSize: 32, bulk: () => bulk }), undefined);
    gen.init!(new Uint8Array(64).map((_, i) => i));
    const data = capturePlaintext(2 * sectorSize);
    const work = Buffer.from(data);
    const sectors = sectorsOf([9n, 10n]);
    const ivs = new Uint8Array(32);
    gen.generate('encrypt', ivs, work, sectors, 2);
    assert.notDeepEqual(work, data, 'the write path diffuses the plaintext before CBC');
    gen.post!('decrypt', ivs, work, sectors, 2);
    assert.deepEqual(work, data, `sector size ${sectorSize}`);
  }
});

test('hash lookup for essiv', () => {
  const sha = lookupHash('sha256');
  assert.ok('hash' in sha && sha.hash.digestSize === 32);
  assert.deepEqual(lookupHash('nosuch'), { errno: 'ENOENT' });
  assert.deepEqual(lookupHash('hmac(sha256)'), { errno: 'EINVAL' }, 'keyed: essiv refuses it');
  assert.deepEqual(lookupHash('hmac(nosuch)'), { errno: 'ENOENT' });
  const r = lookupHash('rmd160');
  assert.ok('hash' in r && r.hash.digestSize === 20);
});

test('essiv template checks (essiv_create)', () => {
  const cbc = getSkcipher('cbc(aes)')!;
  assert.ok('algo' in essivTemplate(cbc, 'cbc(aes)', 'sha256'));
  assert.deepEqual(essivTemplate(cbc, 'cbc(aes)', 'nosuch'), { errno: 'ENOENT' });
  assert.deepEqual(essivTemplate(cbc, 'cbc(aes)', 'sha512'), { errno: 'EINVAL' }, 'a 64-byte digest is outside AES key sizes');
  assert.deepEqual(essivTemplate(cbc, 'aes', 'sha256'), { errno: 'EINVAL' }, 'no cipher name to parse');
  const ad = getSkcipher('adiantum(xchacha12,aes)');
  if (ad) assert.deepEqual(essivTemplate(ad, 'adiantum(xchacha12,aes)', 'sha256'), { errno: 'EINVAL' });
});
