// Damaged headers are refused with a clear LuksError, never a crash; a damaged primary LUKS2
// header is recovered from the secondary; metadata rules (overlaps, references, sizes) hold;
// requirements are honoured; unknown tokens survive rewrites; config.flags reach the table.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { LuksError } from '../../src/luks/errors.js';
import { memoryIO } from '../../src/luks/io.js';
import type { HeaderIO } from '../../src/luks/io.js';
import { formatVolume } from '../../src/luks/format.js';
import type { Json, Luks2Header } from '../../src/luks/luks2/luks2.js';
import { readLuks2, serializeArea } from '../../src/luks/luks2/luks2.js';
import { addKey, cryptTable, killSlot, readHeader, unlock } from '../../src/luks/volume.js';
import { CRYPTSETUP, cs, tempDir } from './support.js';

const enc = new TextEncoder();
const PASS = enc.encode('correct horse');
const PASS2 = enc.encode('battery staple');
const KDF = { type: 'pbkdf2' as const, hash: 'sha256', iterations: 1000 };

async function makeVolume(version: 1 | 2): Promise<{ bytes: Uint8Array; key: Uint8Array }> {
  const io = memoryIO(new Uint8Array(version === 2 ? 17 << 20 : 3 << 20));
  const { volumeKey } = await formatVolume(io, PASS, { version, cipher: 'aes-xts-plain64', keySize: 64, hash: 'sha256', kdf: KDF, sectorSize: 512, digestIterations: 1000 });
  const h = await readHeader(io);
  await addKey(io, h, 1, volumeKey, PASS2, { kdf: KDF });
  return { bytes: io.bytes, key: volumeKey };
}

const luks2 = makeVolume(2);
const luks1 = makeVolume(1);

function copy(b: Uint8Array): Uint8Array {
  return b.slice();
}

/** Rewrites both LUKS2 copies with `mutate`d JSON and valid checksums (validation bypassed). */
async function rewriteJson(bytes: Uint8Array, mutate: (j: Json) => void): Promise<Uint8Array> {
  const out = copy(bytes);
  const h = await readLuks2(memoryIO(out));
  mutate(h.json);
  out.set(serializeArea(h.bin, h.json, 1, 0, h.order), 0);
  out.set(serializeArea(h.bin, h.json, 2, h.bin.hdrSize, h.order), h.bin.hdrSize);
  return out;
}

function isLuksError(e: unknown): boolean {
  if (!(e instanceof LuksError)) {
    // Anything else is a crash in disguise: show it.
    throw e;
  }
  return e.message.length > 0;
}

async function opensWith(bytes: Uint8Array, pass: Uint8Array, key: Uint8Array): Promise<void> {
  const io = memoryIO(copy(bytes));
  const h = await readHeader(io);
  const r = await unlock(io, h, pass);
  assert.deepEqual(r.key, key);
}

const FIELDS2: [string, number, number][] = [
  ['magic', 0, 6],
  ['version', 6, 2],
  ['hdr_size', 8, 8],
  ['seqid', 16, 8],
  ['label', 24, 48],
  ['checksum_alg', 72, 32],
  ['salt', 104, 64],
  ['uuid', 168, 40],
  ['subsystem', 208, 48],
  ['hdr_offset', 256, 8],
  ['padding', 264, 184],
  ['csum', 448, 64],
  ['json', 4096, 12288],
];

test('LUKS2: a flipped byte in any field of the primary header is recovered from the secondary', async () => {
  const { bytes, key } = await luks2;
  for (const [name, off, len] of FIELDS2) {
    for (const at of [off, off + len - 1, off + (len >> 1)]) {
      const b = copy(bytes);
      b[at]! ^= 0x41;
      await opensWith(b, PASS, key).catch((e: unknown) => assert.fail(`${name}@${at}: ${String(e)}`));
      // The next write repairs the primary copy.
      const io = memoryIO(b);
      const h = (await readHeader(io)) as Luks2Header;
      await killSlot(io, h, 1);
      const again = (await readLuks2(memoryIO(io.bytes))) as Luks2Header;
      assert.ok(again.primaryValid && again.secondaryValid, `${name}@${at}: both copies valid after a write`);
    }
  }
});

test('LUKS2: the same field damaged in both copies is refused with a clear error', async () => {
  const { bytes } = await luks2;
  for (const [name, off, len] of FIELDS2) {
    if (name === 'padding') continue;
    // The csum field is 64 bytes; sha256 uses the first 32 (the rest is not checked, as in cryptsetup).
    const at = name === 'csum' ? off + 5 : off + (len >> 1);
    const b = copy(bytes);
    b[at]! ^= 0x41;
    b[16384 + at]! ^= 0x41;
    await assert.rejects(readHeader(memoryIO(b)), (e: unknown) => isLuksError(e), name);
  }
});

test('LUKS2: a wiped primary (magic gone) is still found through the secondary, at any header size', async () => {
  const { bytes, key } = await luks2;
  const b = copy(bytes);
  b.fill(0, 0, 16384);
  await opensWith(b, PASS, key);
});

test('LUKS2: truncated JSON, bad checksums, broken references and overlapping areas are refused', async () => {
  const { bytes } = await luks2;
  const cases: [string, (j: Json) => void, RegExp][] = [
    ['overlapping keyslot areas', (j) => (((j['keyslots'] as Json)['1'] as Json)['area'] as Json)['offset'] = String(32768 + 4096), /overlapping/],
    ['area outside the keyslots area', (j) => (((j['keyslots'] as Json)['1'] as Json)['area'] as Json)['offset'] = String(16777216), /outside the keyslots area/],
    ['segment inside the metadata', (j) => ((j['segments'] as Json)['0'] as Json)['offset'] = '4096', /overlaps the metadata/],
    ['digest of a missing keyslot', (j) => ((j['digests'] as Json)['0'] as Json)['keyslots'] = ['0', '1', '7'], /missing keyslot 7/],
    ['json_size mismatch', (j) => ((j['config'] as Json)['json_size'] = '4096'), /json_size/],
    ['keyslots_size not a number', (j) => ((j['config'] as Json)['keyslots_size'] = '16M'), /not a valid size/],
    ['bad sector size', (j) => ((j['segments'] as Json)['0'] as Json)['sector_size'] = 1000, /sector_size/],
    ['missing segments', (j) => delete j['segments'], /segments is missing/],
    ['keyslot id not a number', (j) => ((j['keyslots'] as Json)['x'] = {}), /not a number/],
    ['token without keyslots', (j) => ((j['tokens'] as Json)['0'] = { type: 'x' }), /token 0/],
  ];
  const { dir, cleanup } = await tempDir();
  try {
    for (const [name, mutate, re] of cases) {
      const b = await rewriteJson(bytes, mutate);
      await assert.rejects(readHeader(memoryIO(b)), (e: unknown) => isLuksError(e) && re.test((e as Error).message), name);
      if (CRYPTSETUP) {
        // cryptsetup refuses the same metadata.
        const p = `${dir}/bad.img`;
        await writeFile(p, b);
        assert.notEqual(cs(['luksDump', p]).status, 0, `cryptsetup also refuses: ${name}`);
      }
    }
  } finally {
    await cleanup();
  }
  // Truncated JSON with valid checksums.
  const t = copy(bytes);
  const h = await readLuks2(memoryIO(t));
  for (const off of [0, h.bin.hdrSize]) {
    const area = t.subarray(off, off + h.bin.hdrSize);
    const text = area.subarray(4096, area.indexOf(0, 4096));
    area.fill(0, 4096 + (text.length >> 1), h.bin.hdrSize);
    const { createHash } = await import('node:crypto');
    area.fill(0, 448, 512);
    area.set(createHash('sha256').update(area).digest(), 448);
  }
  await assert.rejects(readHeader(memoryIO(t)), (e: unknown) => isLuksError(e) && /invalid JSON/.test((e as Error).message));
});

test('LUKS2: random damage anywhere in the metadata never crashes', async () => {
  const { bytes, key } = await luks2;
  let seed = 12345;
  const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) >>> 0), seed % n);
  for (let i = 0; i < 100; i++) {
    const b = copy(bytes);
    for (let k = 0; k < 1 + rnd(4); k++) b[rnd(2 * 16384)]! ^= 1 << rnd(8);
    const io = memoryIO(b);
    let h;
    try {
      h = await readHeader(io);
    } catch (e) {
      isLuksError(e);
      continue;
    }
    try {
      const r = await unlock(io, h, PASS);
      assert.deepEqual(r.key, key);
    } catch (e) {
      isLuksError(e);
    }
  }
});

test('LUKS1: a flipped byte in any header field is refused or fails to unlock cleanly', async () => {
  const { bytes, key } = await luks1;
  const fields: [string, number, number][] = [['magic', 0, 6], ['version', 6, 2], ['cipher name', 8, 32], ['cipher mode', 40, 32], ['hash spec', 72, 32], ['payload offset', 104, 4], ['key bytes', 108, 4], ['mk digest', 112, 20], ['mk salt', 132, 32], ['mk iterations', 164, 4], ['uuid', 168, 40]];
  for (let s = 0; s < 8; s++) fields.push([`slot ${s} active`, 208 + s * 48, 4], [`slot ${s} iterations`, 212 + s * 48, 4], [`slot ${s} salt`, 216 + s * 48, 32], [`slot ${s} offset`, 248 + s * 48, 4], [`slot ${s} stripes`, 252 + s * 48, 4]);
  for (const [name, off, len] of fields) {
    for (const at of [off, off + len - 1]) {
      const b = copy(bytes);
      b[at]! ^= 0x80;
      const io = memoryIO(b);
      try {
        const h = await readHeader(io);
        const r = await unlock(io, h, PASS);
        // Only harmless bytes (uuid text, unused slots' fields) may still open, with the right key.
        assert.deepEqual(r.key, key, `${name}@${at}`);
      } catch (e) {
        assert.ok(isLuksError(e), `${name}@${at}`);
      }
    }
  }
});

test('LUKS2: a keyslot with an unknown KDF or a bad salt is loaded (as cryptsetup does) and skipped', async () => {
  const { bytes, key } = await luks2;
  for (const mutate of [(j: Json) => ((((j['keyslots'] as Json)['0'] as Json)['kdf'] as Json)['type'] = 'scrypt'), (j: Json) => ((((j['keyslots'] as Json)['0'] as Json)['kdf'] as Json)['salt'] = '!!!')]) {
    const b = await rewriteJson(bytes, mutate);
    const io = memoryIO(b);
    const h = await readHeader(io);
    await assert.rejects(unlock(io, h, PASS), (e: unknown) => e instanceof LuksError && e.code === 'ERR_LUKS_NO_KEY');
    await assert.rejects(unlock(io, h, PASS, 0), (e: unknown) => e instanceof LuksError && /kdf/.test(e.message));
    assert.deepEqual((await unlock(io, h, PASS2)).key, key);
  }
});

test('requirements: a volume mid-reencryption is refused for unlock, activation and changes', async () => {
  const { bytes, key } = await luks2;
  const b = await rewriteJson(bytes, (j) => ((j['config'] as Json)['requirements'] = { mandatory: ['online-reencrypt-v2'] }));
  const io = memoryIO(b);
  const h = await readHeader(io);
  await assert.rejects(unlock(io, h, PASS), (e: unknown) => e instanceof LuksError && e.code === 'ERR_LUKS_REQUIREMENTS' && /reencryption/.test(e.message));
  assert.throws(() => cryptTable(h, key, { device: '/x', deviceSize: 64 << 20 }), /reencryption/);
  await assert.rejects(addKey(io, h, 2, key, PASS, { kdf: KDF }), /reencryption/);
  const other = await rewriteJson(bytes, (j) => ((j['config'] as Json)['requirements'] = { mandatory: ['future-feature'] }));
  await assert.rejects(readHeader(memoryIO(other)).then((hh) => unlock(memoryIO(other), hh, PASS)), /unmet requirements \(future-feature\)/);
});

test('unknown tokens and fields survive rewrites; config.flags reach the crypt table', async () => {
  const { bytes, key } = await luks2;
  const token = { type: 'x-vendor', keyslots: ['0'], blob: { nested: [1, 'two', { three: true }] } };
  const b = await rewriteJson(bytes, (j) => {
    (j['tokens'] as Json)['3'] = token;
    (j['config'] as Json)['flags'] = ['allow-discards', 'no-read-workqueue', 'no-write-workqueue'];
    (j['config'] as Json)['x_unknown'] = 'kept';
  });
  const io = memoryIO(b);
  const h = (await readHeader(io)) as Luks2Header;
  await addKey(io, h, 4, key, enc.encode('new'), { kdf: KDF });
  await killSlot(io, h, 0);
  const after = (await readHeader(memoryIO(io.bytes))) as Luks2Header;
  assert.deepEqual((after.json['tokens'] as Json)['3'], { ...token, keyslots: [] });
  assert.equal((after.json['config'] as Json)['x_unknown'], 'kept');
  const t = cryptTable(after, key, { device: '/dev/x', deviceSize: 32 << 20 });
  assert.match(t.table, / 3 allow_discards no_read_workqueue no_write_workqueue$/);
  const extra = cryptTable(after, key, { device: '/dev/x', deviceSize: 32 << 20, flags: ['same_cpu_crypt'] });
  assert.match(extra.table, / 4 allow_discards same_cpu_crypt no_read_workqueue no_write_workqueue$/);
});

/** A HeaderIO that loses every write from the `n`th on (a crash), as a killed process would. */
function crashingIO(bytes: Uint8Array, n: number): HeaderIO & { bytes: Uint8Array } {
  const inner = memoryIO(bytes);
  let writes = 0;
  return {
    get bytes() {
      return inner.bytes;
    },
    read: (o, l) => inner.read(o, l),
    async write(o, d) {
      if (++writes >= n) throw new Error('crash');
      await inner.write(o, d);
    },
    sync: () => inner.sync(),
    size: () => inner.size(),
  };
}

for (const version of [1, 2] as const) {
  test(`LUKS${version}: a luksAddKey or luksKillSlot killed at any write leaves the old passphrase working`, async () => {
    const { bytes, key } = await (version === 2 ? luks2 : luks1);
    for (let n = 1; n <= 4; n++) {
      const io = crashingIO(copy(bytes), n);
      const h = await readHeader(io);
      await addKey(io, h, 2, key, enc.encode('new'), { kdf: KDF }).catch((e: unknown) => assert.equal((e as Error).message, 'crash'));
      await opensWith(io.bytes, PASS, key);
      await opensWith(io.bytes, PASS2, key);
      const io2 = crashingIO(copy(bytes), n);
      const h2 = await readHeader(io2);
      await killSlot(io2, h2, 1).catch((e: unknown) => assert.equal((e as Error).message, 'crash'));
      await opensWith(io2.bytes, PASS, key);
    }
  });
}
