// The native crypto addon (src/crypto/native, native/ucrypt_crypto.c) against the JavaScript
// modes and node:crypto, sector by sector: every key size, 512- and 4096-byte sectors, both
// directions, in place, SharedArrayBuffer-backed and misaligned data and IVs, both IV paths
// (written in place / context re-initialised), wipe, request errors, and worker_threads. The
// JavaScript fallback is checked too (UCRYPT_NATIVE=0 in a worker).
//
// With UCRYPT_REQUIRE_NATIVE=1 (scripts/test.sh sets it) a missing addon fails the tests;
// otherwise they report which path is active and check whichever one it is.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { registerBuiltinCrypto } from '../../src/crypto/index.js';
import { getBlockCipher, getSkcipher } from '../../src/crypto/registry.js';
import { cbcTemplate } from '../../src/crypto/modes/cbc.js';
import { xtsTemplate } from '../../src/crypto/modes/xts.js';
import { createNativeSkcipher, isNativeSkcipher, nativeCrypto, nativeIvInPlace, nativeTakesKey, type NativeMode } from '../../src/crypto/native/index.js';
import type { Skcipher } from '../../src/crypto/types.js';
import { toHex } from './util.js';

registerBuiltinCrypto();

const status = nativeCrypto();
const REQUIRE = process.env['UCRYPT_REQUIRE_NATIVE'] === '1';
const native = status.loaded;

const CASES: readonly { mode: NativeMode; keyBytes: number; openssl: string }[] = [
  { mode: 'xts', keyBytes: 32, openssl: 'aes-128-xts' },
  { mode: 'xts', keyBytes: 64, openssl: 'aes-256-xts' },
  { mode: 'cbc', keyBytes: 16, openssl: 'aes-128-cbc' },
  { mode: 'cbc', keyBytes: 24, openssl: 'aes-192-cbc' },
  { mode: 'cbc', keyBytes: 32, openssl: 'aes-256-cbc' },
];
const SECTORS = [512, 4096] as const;

function jsSkcipher(mode: NativeMode, key: Uint8Array): Skcipher {
  const aes = getBlockCipher('aes')!;
  return (mode === 'xts' ? xtsTemplate(aes) : cbcTemplate(aes))!.create(key);
}

/** node:crypto, one createCipheriv per sector. */
function opensslSectors(name: string, key: Uint8Array, data: Uint8Array, sectorSize: number, ivs: Uint8Array, encrypt: boolean): string {
  const out: Buffer[] = [];
  for (let s = 0; s < data.length / sectorSize; s++) {
    const iv = ivs.subarray(16 * s, 16 * s + 16);
    const c = encrypt ? createCipheriv(name, key, iv) : createDecipheriv(name, key, iv);
    c.setAutoPadding(false);
    out.push(c.update(data.subarray(s * sectorSize, (s + 1) * sectorSize)));
  }
  return Buffer.concat(out).toString('hex');
}

/** Keys whose halves differ (OpenSSL's xts refuses identical ones). */
function key(n: number): Uint8Array {
  for (;;) {
    const k = randomBytes(n);
    if (k.subarray(0, n / 2).compare(k.subarray(n / 2)) !== 0) return Uint8Array.from(k);
  }
}

function run(sk: Skcipher, data: Uint8Array, sectorSize: number, ivs: Uint8Array, encrypt: boolean): string {
  const work = Uint8Array.from(data);
  if (encrypt) sk.encrypt(work, sectorSize, ivs);
  else sk.decrypt(work, sectorSize, ivs);
  return toHex(work);
}

test('native crypto: which path is active (UCRYPT_REQUIRE_NATIVE=1 requires the addon)', (t) => {
  t.diagnostic(
    status.loaded ? `native addon loaded: ${status.path} (${status.openssl})` : `JavaScript path active: ${status.reason}`,
  );
  if (REQUIRE) assert.ok(status.loaded, `UCRYPT_REQUIRE_NATIVE=1 but the native addon is not loaded: ${status.loaded ? '' : status.reason}`);
  for (const { mode, keyBytes } of CASES) {
    const sk = getSkcipher(`${mode}(aes)`)!.create(key(keyBytes));
    assert.equal(isNativeSkcipher(sk), native, `${mode}(aes) with a ${keyBytes}-byte key`);
    sk.wipe();
  }
});

test('native = JavaScript path = node:crypto per sector, every key size, 512 and 4096-byte sectors, both directions, in place', { skip: !native && 'addon not loaded' }, () => {
  for (const { mode, keyBytes, openssl } of CASES) {
    const k = key(keyBytes);
    const js = jsSkcipher(mode, k);
    const variants = [createNativeSkcipher(mode, k)!, createNativeSkcipher(mode, k, { reinit: true })!];
    assert.ok(variants.every((v) => v && isNativeSkcipher(v)));
    for (const ss of SECTORS) {
      const n = (64 * 1024) / ss;
      const data = Uint8Array.from(randomBytes(n * ss));
      const ivs = Uint8Array.from(randomBytes(16 * n));
      for (const encrypt of [true, false]) {
        const expect = opensslSectors(openssl, k, data, ss, ivs, encrypt);
        assert.equal(run(js, data, ss, ivs, encrypt), expect, `JS ${openssl} ${ss} ${encrypt ? 'enc' : 'dec'}`);
        for (const [i, sk] of variants.entries()) {
          assert.equal(run(sk, data, ss, ivs, encrypt), expect, `native#${i} ${openssl} ${ss} ${encrypt ? 'enc' : 'dec'}`);
          // Twice in a row: nothing of one request carries over into the next.
          assert.equal(run(sk, data, ss, ivs, encrypt), expect, `native#${i} ${openssl} ${ss} again`);
        }
      }
      // Round trip in place.
      const work = Uint8Array.from(data);
      variants[0]!.encrypt(work, ss, ivs);
      variants[0]!.decrypt(work, ss, ivs);
      assert.equal(toHex(work), toHex(data));
    }
    for (const v of variants) v.wipe();
    js.wipe();
  }
});

test('native: the IV is written in place where the self-test allows it, else the context is re-initialised', { skip: !native && 'addon not loaded' }, (t) => {
  const sk = createNativeSkcipher('xts', key(64))!;
  t.diagnostic(`IV written in place: ${nativeIvInPlace(sk)}`);
  const forced = createNativeSkcipher('xts', key(64), { reinit: true })!;
  assert.equal(nativeIvInPlace(forced), false);
  assert.equal(nativeIvInPlace(jsSkcipher('xts', key(64))), false);
  sk.wipe();
  forced.wipe();
});

test('native: SharedArrayBuffer-backed and misaligned data and IVs', { skip: !native && 'addon not loaded' }, () => {
  for (const { mode, keyBytes, openssl } of CASES) {
    const k = key(keyBytes);
    const sk = createNativeSkcipher(mode, k)!;
    for (const ss of SECTORS) {
      const n = 5;
      const data = Uint8Array.from(randomBytes(n * ss));
      const ivs = Uint8Array.from(randomBytes(16 * n));
      for (const encrypt of [true, false]) {
        const expect = opensslSectors(openssl, k, data, ss, ivs, encrypt);
        // Shared data and IVs, at odd offsets inside the SharedArrayBuffers.
        for (const off of [0, 1, 3, 7]) {
          const sab = new Uint8Array(new SharedArrayBuffer(data.length + 16), off, data.length);
          sab.set(data);
          const sivs = new Uint8Array(new SharedArrayBuffer(ivs.length + 16), 16 - off, ivs.length);
          sivs.set(ivs);
          if (encrypt) sk.encrypt(sab, ss, sivs);
          else sk.decrypt(sab, ss, sivs);
          assert.equal(toHex(sab), expect, `${openssl} ${ss} shared at +${off}`);
        }
        // Misaligned subarrays of ordinary buffers, with guard bytes either side left alone.
        for (const off of [1, 2, 5, 13]) {
          const big = new Uint8Array(data.length + 32).fill(0xa5);
          big.set(data, off);
          const view = big.subarray(off, off + data.length);
          const ivBig = new Uint8Array(ivs.length + 8);
          ivBig.set(ivs, 3);
          if (encrypt) sk.encrypt(view, ss, ivBig.subarray(3));
          else sk.decrypt(view, ss, ivBig.subarray(3));
          assert.equal(toHex(view), expect, `${openssl} ${ss} misaligned +${off}`);
          assert.ok(big.subarray(0, off).every((b) => b === 0xa5) && big.subarray(off + data.length).every((b) => b === 0xa5), 'guard bytes');
        }
        // A Buffer from the pool (arbitrary byteOffset).
        const buf = Buffer.from(data);
        if (encrypt) sk.encrypt(buf, ss, ivs);
        else sk.decrypt(buf, ss, ivs);
        assert.equal(buf.toString('hex'), expect);
      }
    }
    sk.wipe();
  }
});

test('native: keys OpenSSL does not take use the JavaScript path with the kernel results', () => {
  // xts(aes) with AES-192 halves (48 bytes) and with identical halves: the kernel accepts both.
  assert.equal(nativeTakesKey('xts', new Uint8Array(48)), false);
  const same = new Uint8Array(64).fill(0x42);
  assert.equal(nativeTakesKey('xts', same), false);
  assert.equal(createNativeSkcipher('xts', same), undefined);
  const half = randomBytes(16);
  for (const k of [key(48), same, Uint8Array.from(Buffer.concat([half, half]))]) {
    const sk = getSkcipher('xts(aes)')!.create(k);
    assert.equal(isNativeSkcipher(sk), false, `${k.length}-byte key`);
    const data = Uint8Array.from(randomBytes(4096 * 2));
    const ivs = Uint8Array.from(randomBytes(32));
    assert.equal(run(sk, data, 4096, ivs, true), run(jsSkcipher('xts', k), data, 4096, ivs, true));
  }
  // Wrong key sizes still get the JavaScript path's error.
  assert.throws(() => getSkcipher('xts(aes)')!.create(new Uint8Array(40)), /40-byte key is not accepted/);
  assert.throws(() => getSkcipher('cbc(aes)')!.create(new Uint8Array(20)), /20-byte key is not accepted/);
});

test('native: request errors as the JavaScript path; wipe refuses further use', { skip: !native && 'addon not loaded' }, () => {
  for (const mode of ['xts', 'cbc'] as const) {
    const sk = createNativeSkcipher(mode, key(32))!;
    assert.throws(() => sk.encrypt(new Uint8Array(1000), 512, new Uint8Array(32)), /whole number of 512-byte sectors/);
    assert.throws(() => sk.encrypt(new Uint8Array(1000), 500, new Uint8Array(32)), /not a positive multiple of the 16-byte block/);
    assert.throws(() => sk.encrypt(new Uint8Array(1024), 512, new Uint8Array(31)), /need 32 bytes of IVs/);
    sk.encrypt(new Uint8Array(0), 512, new Uint8Array(0));
    sk.wipe();
    sk.wipe();
    assert.throws(() => sk.encrypt(new Uint8Array(512), 512, new Uint8Array(16)), /wiped/);
    assert.throws(() => sk.decrypt(new Uint8Array(512), 512, new Uint8Array(16)), /wiped/);
  }
});

test('native: many keys created and dropped without wipe are freed by the garbage collector', { skip: !native && 'addon not loaded' }, () => {
  const data = new Uint8Array(512);
  const ivs = new Uint8Array(16);
  for (let i = 0; i < 2000; i++) createNativeSkcipher('xts', key(64))!.encrypt(data, 512, ivs);
});

interface WorkerResult {
  loaded: boolean;
  native: boolean;
  hex: string;
}

/** Encrypts in a worker thread with the registry's xts(aes) and cbc(aes). */
function inWorker(env: Record<string, string | undefined>, k: Uint8Array, data: Uint8Array, ivs: Uint8Array): Promise<WorkerResult[]> {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    (async () => {
      const idx = await import(workerData.index);
      const reg = await import(workerData.registry);
      const nat = await import(workerData.native);
      idx.registerBuiltinCrypto();
      const out = [];
      for (const name of ['xts(aes)', 'cbc(aes)']) {
        const sk = reg.getSkcipher(name).create(name === 'xts(aes)' ? workerData.key : workerData.key.subarray(0, 32));
        const work = Uint8Array.from(workerData.data);
        sk.encrypt(work, 512, workerData.ivs);
        out.push({ loaded: nat.nativeCrypto().loaded, native: nat.isNativeSkcipher(sk), hex: Buffer.from(work).toString('hex') });
        sk.wipe();
      }
      parentPort.postMessage(out);
    })().catch((e) => { throw e; });
  `;
  const url = (p: string): string => new URL(p, import.meta.url).href;
  const w = new Worker(code, {
    eval: true,
    env: { ...process.env, ...env },
    workerData: {
      index: url('../../src/crypto/index.js'),
      registry: url('../../src/crypto/registry.js'),
      native: url('../../src/crypto/native/index.js'),
      key: k,
      data,
      ivs,
    },
  });
  return new Promise((resolve, reject) => {
    w.once('message', (m: WorkerResult[]) => resolve(m));
    w.once('error', reject);
    w.once('exit', (c) => (c === 0 ? undefined : reject(new Error(`worker exited with ${c}`))));
  });
}

test('worker_threads: the addon loads in several workers at once; UCRYPT_NATIVE=0 falls back to JavaScript', async () => {
  const k = key(64);
  const data = Uint8Array.from(randomBytes(512 * 16));
  const ivs = Uint8Array.from(randomBytes(16 * 16));
  const expect = [
    opensslSectors('aes-256-xts', k, data, 512, ivs, true),
    opensslSectors('aes-256-cbc', k.subarray(0, 32), data, 512, ivs, true),
  ];
  const results = await Promise.all([inWorker({}, k, data, ivs), inWorker({}, k, data, ivs), inWorker({ UCRYPT_NATIVE: '0' }, k, data, ivs)]);
  for (const [i, r] of results.entries()) {
    const fallback = i === 2;
    for (const [j, x] of r.entries()) {
      assert.equal(x.hex, expect[j], `worker ${i} ${j === 0 ? 'xts' : 'cbc'}`);
      assert.equal(x.loaded, fallback ? false : native, `worker ${i} loaded`);
      assert.equal(x.native, fallback ? false : native, `worker ${i} native`);
    }
  }
});
