// Property tests with seeded random inputs (UCRYPT_FUZZ_SEED reproduces; the seed is printed):
//   table -> status('table') -> table is a fixed point for every target type;
//   encrypt -> decrypt is the identity for every skcipher, any key size, sector size and IVs;
//   LUKS header write -> parse gives back what was written (LUKS1 and LUKS2, binary and JSON).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from '../../src/dm/registry.js';
import { getSkcipher, listBlockCiphers } from '../../src/crypto/registry.js';
import { registerBuiltinCrypto } from '../../src/crypto/index.js';
import { parseLuks1, serializeLuks1 } from '../../src/luks/luks1/luks1.js';
import { parseBinaryHeader, serializeArea } from '../../src/luks/luks2/luks2.js';
import { registerBuiltinTargets } from '../../src/targets/index.js';
import { instantFaultClock, luksSeeds } from './engine.js';
import { Rng } from './rng.js';

const SEED = process.env['UCRYPT_FUZZ_SEED'] ? Number(process.env['UCRYPT_FUZZ_SEED']) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

const CRYPT_CIPHERS: [string, number[]][] = [
  ['aes-xts-plain64', [32, 64]],
  ['aes-cbc-essiv:sha256', [16, 24, 32]],
  ['aes-cbc-plain', [16, 32]],
  ['serpent-xts-plain64', [32, 64]],
  ['twofish-cbc-benbi', [16, 32]],
  ['camellia-ecb', [16, 32]],
  ['cast6-cbc-plain64be', [16, 32]],
  ['aes-cbc-null', [32]],
  ['aes-xts-eboiv', [64]],
  ['capi:xts(aes)-plain64', [64]],
  ['xchacha12,aes-adiantum-plain64', [32]],
];
const CRYPT_FLAGS = ['allow_discards', 'same_cpu_crypt', 'submit_from_crypt_cpus', 'no_read_workqueue', 'no_write_workqueue', 'iv_large_sectors'];

function genValidTable(rng: Rng): string {
  const dev = rng.pick(['/dev/ram0', '/dev/ram1', '1:0', '1:1']);
  const off = rng.int(64) * 8;
  switch (rng.int(6)) {
    case 0:
      return `0 64 linear ${dev} ${off}`;
    case 1:
      return rng.chance(0.5) ? '0 64 zero' : '0 64 error';
    case 2: {
      const [cipher, sizes] = rng.pick(CRYPT_CIPHERS);
      const key = hex(rng.bytes(rng.pick(sizes)));
      const flags = CRYPT_FLAGS.filter(() => rng.chance(0.3));
      if (!cipher.includes('essiv') && !cipher.includes('adiantum') && rng.chance(0.3)) flags.push('sector_size:4096');
      const opt = flags.length ? ` ${flags.length} ${flags.join(' ')}` : '';
      return `0 64 crypt ${cipher} ${key} ${rng.int(4) * 8} ${dev} ${off}${opt}`;
    }
    case 3: {
      const feats: string[] = [];
      const w = rng.int(3);
      if (w === 1) feats.push('drop_writes');
      if (w === 2) feats.push('error_writes');
      const readErr = rng.chance(0.3);
      if (readErr) feats.push('error_reads');
      if (rng.chance(0.4)) {
        const dir = w === 0 && rng.chance(0.5) ? 'w' : 'r';
        if (!(dir === 'r' && readErr)) feats.push('corrupt_bio_byte', String(1 + rng.int(4096)), dir, String(rng.int(256)), String(rng.pick([0, 1, 1 << 17])));
      }
      if (!readErr && rng.chance(0.3)) feats.push('random_read_corrupt', String(1 + rng.int(1e9)));
      if (w === 0 && rng.chance(0.3)) feats.push('random_write_corrupt', String(1 + rng.int(1e9)));
      const f = feats.length ? ` ${feats.length} ${feats.join(' ')}` : '';
      return `0 64 flakey ${dev} ${off} ${rng.int(100)} ${1 + rng.int(100)}${f}`;
    }
    case 4: {
      const n = rng.pick([1, 2, 3]);
      const sets = Array.from({ length: n }, () => `${rng.pick(['/dev/ram0', '1:1'])} ${rng.int(64) * 8} ${rng.int(5000)}`);
      return `0 64 delay ${sets.join(' ')}`;
    }
    default:
      return `0 32 linear ${dev} ${off}\n32 32 zero`;
  }
}

test('property: table -> status(table) -> table is a fixed point for every target type', async (t) => {
  registerBuiltinTargets();
  instantFaultClock();
  const reg = new Registry();
  reg.modprobeBrd({ rd_nr: 2, rd_size: 1024 });
  const rng = new Rng(SEED);
  const seen = new Set<string>();
  for (let i = 0; i < 400; i++) {
    const table = genValidTable(rng);
    await reg.create('p', { table });
    const line = reg.lines('p', { status: false, showKeys: true }).join('\n');
    await reg.remove('p');
    await reg.create('p', { table: line });
    const again = reg.lines('p', { status: false, showKeys: true }).join('\n');
    await reg.remove('p');
    assert.equal(again, line, `seed ${SEED}: ${table} -> ${line} -> ${again}`);
    for (const l of line.split('\n')) seen.add(l.split(' ')[2]!);
  }
  assert.deepEqual([...seen].sort(), ['crypt', 'delay', 'error', 'flakey', 'linear', 'zero']);
  t.diagnostic(`seed ${SEED}: 400 tables`);
});

test('property: encrypt -> decrypt is the identity for every skcipher', (t) => {
  registerBuiltinCrypto();
  const rng = new Rng(SEED);
  const names = ['adiantum(xchacha12,aes)', 'adiantum(xchacha20,aes)'];
  for (const c of listBlockCiphers()) for (const m of ['ecb', 'cbc', 'xts', 'lrw']) names.push(`${m}(${c})`);
  let checked = 0;
  for (const name of names) {
    const algo = getSkcipher(name);
    if (!algo) continue;
    for (let r = 0; r < 8; r++) {
      const key = rng.bytes(rng.pick(algo.keySizes));
      const cipher = algo.create(key);
      try {
        const sectorSize = rng.pick([512, 1024, 4096]);
        const sectors = 1 + rng.int(4);
        const plain = rng.bytes(sectorSize * sectors);
        const ivs = rng.bytes(algo.ivSize * sectors);
        const data = plain.slice();
        cipher.encrypt(data, sectorSize, ivs);
        if (!name.includes('cipher_null')) assert.notDeepEqual(data, plain, `${name} changes the data`);
        cipher.decrypt(data, sectorSize, ivs);
        assert.deepEqual(data, plain, `seed ${SEED}: ${name} key ${key.length} bytes, sector ${sectorSize}`);
      } finally {
        cipher.wipe();
      }
    }
    checked++;
  }
  assert.ok(checked >= 20, `${checked} skciphers`);
  t.diagnostic(`seed ${SEED}: ${checked} skciphers x 8 keys`);
});

test('property: LUKS1 header write -> parse returns what was written', async (t) => {
  const rng = new Rng(SEED);
  const seeds = await luksSeeds();
  for (let i = 0; i < 500; i++) {
    const h = parseLuks1(rng.pick(seeds.luks1));
    h.cipherName = rng.pick(['aes', 'serpent', 'twofish']);
    h.cipherMode = rng.pick(['xts-plain64', 'cbc-essiv:sha256', 'cbc-plain']);
    h.hashSpec = rng.pick(['sha1', 'sha256', 'sha512']);
    h.payloadOffset = rng.u32();
    h.mkDigest = rng.bytes(20);
    h.mkDigestSalt = rng.bytes(32);
    h.mkDigestIterations = rng.u32();
    h.uuid = [8, 4, 4, 4, 12].map((n) => hex(rng.bytes(n / 2))).join('-');
    for (const s of h.slots) {
      s.iterations = rng.u32();
      s.salt = rng.bytes(32);
    }
    const back = parseLuks1(serializeLuks1(h));
    assert.deepEqual(back, h, `seed ${SEED} #${i}`);
  }
  t.diagnostic(`seed ${SEED}: 500 LUKS1 headers`);
});

test('property: LUKS2 header write -> parse returns what was written (binary and JSON)', async (t) => {
  const rng = new Rng(SEED);
  const seeds = await luksSeeds();
  for (let i = 0; i < 300; i++) {
    const s = rng.pick(seeds.luks2Areas);
    const p = parseBinaryHeader(s.area, 0, 1);
    p.bin.seqid = BigInt(rng.u32());
    p.bin.label = rng.pick(['', 'data', 'x'.repeat(47)]);
    p.bin.subsystem = rng.pick(['', 'ucrypt']);
    p.bin.salt = rng.bytes(64);
    const tokens = p.json['tokens'] as Record<string, unknown>;
    if (rng.chance(0.5)) tokens[String(rng.int(32))] = { type: 'ucrypt-test', keyslots: [String(rng.int(8))], value: hex(rng.bytes(8)) };
    const area = serializeArea(p.bin, p.json, 1, 0, p.order);
    const back = parseBinaryHeader(area, 0, 1);
    assert.deepEqual(back.bin, p.bin, `seed ${SEED} #${i}: binary header`);
    assert.deepEqual(back.json, p.json, `seed ${SEED} #${i}: JSON`);
  }
  t.diagnostic(`seed ${SEED}: 300 LUKS2 headers`);
});
