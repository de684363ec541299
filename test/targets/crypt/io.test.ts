// The crypt data path: round trips for every IV generator over every cipher and mode the crypto
// registry offers, byte-exact comparisons with an independent node:crypto reference (one OpenSSL
// call per sector, IVs from the kernel's definitions), sector sizes, key counts, iv_offset
// wrap-around, the bounce buffer, discards, flush/FUA and write-zeroes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BlockDevice, WriteFlags } from '../../../src/block/device.js';
import { getSkcipher, listBlockCiphers } from '../../../src/crypto/registry.js';
import { UcryptError } from '../../../src/errors.js';
import { capturePlaintext, ctr, k, khex, mustCtr, ramdisk } from './helpers.js';
import { referenceEncrypt } from './reference.js';

const R = '/dev/ram0';

/** Writes `plain` through a fresh target, returns the ciphertext on the disk and the read-back. */
async function roundTrip(params: string, plain: Uint8Array, lenSectors = plain.length / 512): Promise<{ cipher: Buffer; back: Buffer }> {
  const d = ramdisk();
  const t = await mustCtr(params, lenSectors, d);
  try {
    const copy = Buffer.from(plain);
    await t.write(0, plain);
    assert.ok(copy.equals(plain), 'the caller buffer is not modified by a write');
    const cipher = Buffer.alloc(plain.length);
    await d.disk.read(0, cipher);
    const back = Buffer.alloc(plain.length);
    await t.read(0, back);
    return { cipher, back };
  } finally {
    t.close?.();
  }
}

// ---- every IV generator x every available cipher/mode -------------------------------------

interface Combo {
  readonly spec: string;
  readonly key: number;
  readonly sectorSizes: readonly number[];
  readonly same?: boolean;
}

/** A valid key length for a mode over a cipher (the largest the cipher takes, at most 32). */
function keyLen(mode: string, sizes: readonly number[]): number {
  const fit = sizes.filter((s) => s <= 32);
  const base = fit.length ? Math.max(...fit) : sizes[0]!;
  if (mode === 'xts') return 2 * base;
  if (mode === 'lrw') return base + 16;
  return base;
}

function combos(): Combo[] {
  const out: Combo[] = [];
  for (const cipher of listBlockCiphers()) {
    for (const mode of ['ecb', 'cbc', 'xts', 'lrw']) {
      const algo = getSkcipher(`${mode}(${cipher})`);
      if (!algo) continue;
      const key = keyLen(mode, mode === 'xts' ? algo.keySizes.map((s) => s / 2) : mode === 'lrw' ? algo.keySizes.map((s) => s - 16) : algo.keySizes);
      const same = cipher === 'cipher_null' && mode === 'ecb';
      if (mode === 'ecb') {
        out.push({ spec: `${cipher}-ecb`, key, sectorSizes: [512, 4096], same });
        continue;
      }
      for (const iv of ['plain', 'plain64', 'plain64be', 'essiv:sha256', 'benbi', 'null', 'eboiv', 'elephant']) {
        // elephant: two equal halves, the second an AES key (so at most 32 bytes each).
        const half = Math.max(0, ...algo.keySizes.filter((s) => s <= 32 && [16, 24, 32].includes(s)));
        out.push({ spec: `${cipher}-${mode}-${iv}`, key: iv === 'elephant' ? 2 * half : key, sectorSizes: [512, 4096] });
      }
      if (mode === 'cbc' && algo.ivSize === 16) {
        // lmk and tcw are CBC schemes (lmk's read path undoes a CBC IV on the first block).
        out.push({ spec: `${cipher}:64-${mode}-lmk`, key: 64 * key, sectorSizes: [512] });
        out.push({ spec: `${cipher}:64-${mode}-lmk`, key: 65 * key, sectorSizes: [512] });
        out.push({ spec: `${cipher}-${mode}-tcw`, key: key + 16 + 16, sectorSizes: [512] });
      }
      out.push({ spec: `${cipher}:4-${mode}-plain64`, key: 4 * key, sectorSizes: [512, 4096] });
    }
  }
  for (const a of ['adiantum(xchacha12,aes)', 'adiantum(xchacha20,aes)']) {
    if (getSkcipher(a)) out.push({ spec: `capi:${a}-plain64`, key: 32, sectorSizes: [512, 4096] });
  }
  return out;
}

test('the registry offers aes in ecb, cbc, xts and lrw, and adiantum', () => {
  for (const name of ['ecb(aes)', 'cbc(aes)', 'xts(aes)', 'lrw(aes)', 'adiantum(xchacha12,aes)', 'adiantum(xchacha20,aes)']) {
    assert.ok(getSkcipher(name), `${name} is not available from the crypto registry`);
  }
});

const plain = capturePlaintext(32768);

for (const c of combos()) {
  for (const ss of c.sectorSizes) {
    for (const large of ss === 512 ? [false] : [false, true]) {
      const opts = ss === 512 ? '' : large ? ` 2 sector_size:${ss} iv_large_sectors` : ` 1 sector_size:${ss}`;
      const params = `${c.spec} ${c.key ? khex(c.key) : '-'} 8 ${R} 0${opts}`;
      test(`round trip ${c.spec} (${c.key}-byte key) sector_size ${ss}${large ? ' iv_large_sectors' : ''}`, async () => {
        const probe = await ctr(params, 64);
        if (!probe.ok) {
          // The only combinations refused are those the kernel refuses too: essiv, eboiv and
          // elephant over cipher_null (no key to derive a salt from, no block to encrypt an IV).
          assert.match(c.spec, /cipher_null/, `${params} was refused: ${probe.message}`);
          assert.match(c.spec, /essiv|eboiv|elephant/, `${params} was refused: ${probe.message}`);
          return;
        }
        probe.target.close?.();
        const { cipher, back } = await roundTrip(params, plain, 64);
        assert.ok(back.equals(plain), 'read back what was written');
        assert.equal(cipher.equals(plain), c.same === true, c.same ? 'cipher_null leaves data as is' : 'the disk holds ciphertext');
      });
    }
  }
}

// ---- byte-exact against node:crypto --------------------------------------------------------

interface RefCase {
  readonly spec: string;
  readonly mode: 'ecb' | 'cbc' | 'xts';
  readonly iv: string;
  readonly key: number;
  readonly ivOffset?: bigint;
  readonly sectorSize?: number;
  readonly ivLarge?: boolean;
  readonly hash?: string;
}

const REF: readonly RefCase[] = [
  { spec: 'aes-xts-plain64', mode: 'xts', iv: 'plain64', key: 64 },
  { spec: 'aes-xts-plain64', mode: 'xts', iv: 'plain64', key: 32 },
  { spec: 'aes-xts-plain', mode: 'xts', iv: 'plain', key: 64, ivOffset: 4294967290n },
  { spec: 'aes-xts-plain64', mode: 'xts', iv: 'plain64', key: 64, ivOffset: 4294967290n },
  { spec: 'aes-xts-plain64be', mode: 'xts', iv: 'plain64be', key: 64, ivOffset: 4294967290n },
  { spec: 'aes-cbc-plain64', mode: 'cbc', iv: 'plain64', key: 16, ivOffset: 18446744073709551610n },
  { spec: 'aes-cbc-plain', mode: 'cbc', iv: 'plain', key: 24, ivOffset: 1000n },
  { spec: 'aes-cbc-null', mode: 'cbc', iv: 'null', key: 16 },
  { spec: 'aes-cbc-benbi', mode: 'cbc', iv: 'benbi', key: 16, ivOffset: 4294967290n },
  { spec: 'aes-cbc-essiv:sha256', mode: 'cbc', iv: 'essiv', key: 32, ivOffset: 4294967290n },
  { spec: 'aes-cbc-essiv:sha256', mode: 'cbc', iv: 'essiv', key: 16 },
  { spec: 'aes-cbc-essiv:md5', mode: 'cbc', iv: 'essiv', key: 16, hash: 'md5' },
  { spec: 'aes-cbc-eboiv', mode: 'cbc', iv: 'eboiv', key: 32, ivOffset: 4294967290n },
  { spec: 'aes-cbc-eboiv', mode: 'cbc', iv: 'eboiv', key: 32, sectorSize: 4096 },
  { spec: 'aes-cbc-eboiv', mode: 'cbc', iv: 'eboiv', key: 32, sectorSize: 4096, ivLarge: true },
  { spec: 'aes-ecb', mode: 'ecb', iv: '', key: 32 },
  { spec: 'aes-xts-plain64', mode: 'xts', iv: 'plain64', key: 64, sectorSize: 1024 },
  { spec: 'aes-xts-plain64', mode: 'xts', iv: 'plain64', key: 64, sectorSize: 2048, ivLarge: true },
  { spec: 'aes-xts-plain64', mode: 'xts', iv: 'plain64', key: 64, sectorSize: 4096, ivOffset: 16n, ivLarge: true },
  { spec: 'aes-cbc-plain64be', mode: 'cbc', iv: 'plain64be', key: 16, sectorSize: 4096, ivLarge: true, ivOffset: 8n },
];

for (const r of REF) {
  const ss = r.sectorSize ?? 512;
  const feats = [...(ss !== 512 ? [`sector_size:${ss}`] : []), ...(r.ivLarge ? ['iv_large_sectors'] : [])];
  const params = `${r.spec} ${khex(r.key)} ${r.ivOffset ?? 0n} ${R} 0${feats.length ? ` ${feats.length} ${feats.join(' ')}` : ''}`;
  test(`same bytes as node:crypto: ${params.replace(/ [0-9a-f]{32,} /, ' <key> ')}`, async () => {
    const { cipher, back } = await roundTrip(params, plain, 64);
    const want = referenceEncrypt(r.mode, r.iv, k(r.key), plain, {
      ...(r.ivOffset !== undefined ? { ivOffset: r.ivOffset } : {}),
      sectorSize: ss,
      ivLarge: r.ivLarge ?? false,
      ...(r.hash ? { hash: r.hash } : {}),
    });
    assert.ok(cipher.equals(want), 'ciphertext on the disk equals the reference');
    assert.ok(back.equals(plain));
  });
}

test('keycount: sector s uses subkey (s + iv_offset) mod keycount', async () => {
  const key = k(64);
  const { cipher } = await roundTrip(`aes:4-cbc-plain64 ${key.toString('hex')} 1 ${R} 0`, plain, 64);
  const want = Buffer.alloc(plain.length);
  for (let s = 0; s < 64; s++) {
    const sub = key.subarray(((s + 1) & 3) * 16, ((s + 1) & 3) * 16 + 16);
    const one = referenceEncrypt('cbc', 'plain64', sub, plain.subarray(s * 512, s * 512 + 512), { ivOffset: BigInt(s + 1) });
    want.set(one, s * 512);
  }
  assert.ok(cipher.equals(want));
});

test('keycount with essiv: every subkey has its own salt', async () => {
  const key = k(32);
  const { cipher } = await roundTrip(`aes:2-cbc-essiv:sha256 ${key.toString('hex')} 0 ${R} 0`, plain, 64);
  const want = Buffer.alloc(plain.length);
  for (let s = 0; s < 64; s++) {
    const sub = key.subarray((s & 1) * 16, (s & 1) * 16 + 16);
    want.set(referenceEncrypt('cbc', 'essiv', sub, plain.subarray(s * 512, s * 512 + 512), { ivOffset: BigInt(s) }), s * 512);
  }
  assert.ok(cipher.equals(want));
});

test('offset: the ciphertext lands offset sectors into the device, IVs still count from the target', async () => {
  const d = ramdisk();
  const t = await mustCtr(`aes-xts-plain64 ${khex(64)} 0 ${R} 1024`, 64, d);
  await t.write(0, plain);
  const raw = Buffer.alloc(plain.length);
  await d.disk.read(1024 * 512, raw);
  assert.ok(raw.equals(referenceEncrypt('xts', 'plain64', k(64), plain)));
  const before = Buffer.alloc(1024 * 512);
  await d.disk.read(0, before);
  assert.ok(before.every((b) => b === 0), 'nothing written before the offset');
  t.close?.();
});

test('requests of any size and position give the same ciphertext as one large write', async () => {
  for (const params of [`aes:4-cbc-plain64 ${khex(64)} 1 ${R} 0`, `aes-xts-plain64 ${khex(64)} 0 ${R} 0 1 sector_size:4096`, `aes:64-cbc-lmk ${khex(1040)} 5 ${R} 0`]) {
    const whole = await roundTrip(params, plain, 64);
    const d = ramdisk();
    const t = await mustCtr(params, 64, d);
    const unit = params.includes('4096') ? 4096 : 512;
    for (let end = plain.length; end > 0; end -= unit * 3) {
      const start = Math.max(0, end - unit * 3);
      await t.write(start, plain.subarray(start, end));
    }
    for (let off = 0; off < plain.length; off += unit) {
      const one = Buffer.alloc(unit);
      await t.read(off, one);
      assert.ok(one.equals(plain.subarray(off, off + unit)), `read at ${off}`);
    }
    const raw = Buffer.alloc(plain.length);
    await d.disk.read(0, raw);
    // Pieces were written back to front in 3-sector chunks.
    assert.ok(raw.equals(whole.cipher), params.split(' ')[0]);
    t.close?.();
  }
});

test('I/O not aligned to sector_size fails with EIO (crypt_map kills the bio)', async () => {
  const t = await mustCtr(`aes-xts-plain64 ${khex(64)} 0 ${R} 0 1 sector_size:4096`, 64);
  await assert.rejects(t.write(512, new Uint8Array(4096)), (e: unknown) => e instanceof UcryptError && e.errno === 'EIO');
  await assert.rejects(t.read(0, new Uint8Array(512)), (e: unknown) => e instanceof UcryptError && e.errno === 'EIO');
  t.close?.();
});

/** A device that records what reaches it. */
function spy(dev: BlockDevice): { dev: BlockDevice; calls: string[] } {
  const calls: string[] = [];
  const proxy: BlockDevice = {
    get size() {
      return dev.size;
    },
    get limits() {
      return dev.limits;
    },
    read: (o, b) => dev.read(o, b),
    write: (o: number, b: Uint8Array, f?: WriteFlags) => {
      calls.push(`write ${o} ${b.length}${f?.fua ? ' fua' : ''}`);
      return dev.write(o, b, f);
    },
    flush: () => {
      calls.push('flush');
      return dev.flush();
    },
    discard: (o, l) => {
      calls.push(`discard ${o} ${l}`);
      return dev.discard(o, l);
    },
    writeZeroes: (o, l, f) => {
      calls.push(`writeZeroes ${o} ${l}`);
      return dev.writeZeroes(o, l, f);
    },
  };
  return { dev: proxy, calls };
}

async function spied(params: string): Promise<{ t: Awaited<ReturnType<typeof mustCtr>>; calls: string[]; disk: BlockDevice }> {
  const d = ramdisk();
  const s = spy(d.disk);
  const { cryptTarget } = await import('../../../src/targets/crypt/crypt.js');
  const { splitArgs } = await import('../../../src/dm/table.js');
  const t = await cryptTarget.create(splitArgs(params), { begin: 0, len: 64, readOnly: false, getDevice: async () => ({ dev: s.dev, devName: '1:0', kname: 'ram0' }) });
  return { t, calls: s.calls, disk: d.disk };
}

test('flush and FUA pass through to the device', async () => {
  const { t, calls } = await spied(`aes-xts-plain64 ${khex(64)} 0 ${R} 8`);
  await t.write(512, plain.subarray(0, 1024), { fua: true });
  await t.flush();
  assert.deepEqual(calls, [`write ${9 * 512} 1024 fua`, 'flush']);
  t.close?.();
});

test('discards pass to the device (at the offset) only with allow_discards', async () => {
  const on = await spied(`aes-xts-plain64 ${khex(64)} 0 ${R} 8 1 allow_discards`);
  await on.t.write(0, plain);
  await on.t.discard(4096, 8192);
  assert.deepEqual(on.calls.slice(1), [`discard ${8 * 512 + 4096} 8192`]);
  const raw = Buffer.alloc(8192);
  await on.disk.read(8 * 512 + 4096, raw);
  assert.ok(raw.every((b) => b === 0), 'brd freed the discarded pages');
  on.t.close?.();

  const off = await spied(`aes-xts-plain64 ${khex(64)} 0 ${R} 8`);
  await assert.rejects(off.t.discard(0, 4096), (e: unknown) => e instanceof UcryptError && e.errno === 'ENOTSUP');
  assert.deepEqual(off.calls, []);
  off.t.close?.();
});

test('write-zeroes writes encrypted zeros (dm-crypt has no write-zeroes of its own)', async () => {
  const { t, calls, disk } = await spied(`aes-xts-plain64 ${khex(64)} 0 ${R} 0`);
  await t.write(0, plain);
  await t.writeZeroes(1024, 2048);
  assert.ok(calls.every((c) => c.startsWith('write ')), calls.join(', '));
  const back = Buffer.alloc(2048);
  await t.read(1024, back);
  assert.ok(back.every((b) => b === 0));
  const raw = Buffer.alloc(2048);
  await disk.read(1024, raw);
  assert.ok(raw.equals(referenceEncrypt('xts', 'plain64', k(64), new Uint8Array(4096)).subarray(1024, 3072)));
  t.close?.();
});

test('concurrent writes use separate bounce buffers', async () => {
  const d = ramdisk();
  const t = await mustCtr(`aes-xts-plain64 ${khex(64)} 0 ${R} 0`, 64, d);
  await Promise.all(Array.from({ length: 8 }, (_, i) => t.write(i * 4096, plain.subarray(i * 4096, (i + 1) * 4096))));
  const raw = Buffer.alloc(plain.length);
  await d.disk.read(0, raw);
  assert.ok(raw.equals(referenceEncrypt('xts', 'plain64', k(64), plain)));
  t.close?.();
});
