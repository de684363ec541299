// Argon2 backends: the native addon (package argon2, optional) and hash-wasm compute the same
// RFC 9106 (version 0x13) outputs, as the reference implementation's own test vectors, each
// other (1-4 lanes) and cryptsetup-made volumes (--pbkdf-parallel 1, 2, 4; cryptsetup keeps at
// most one lane per online CPU) show for each backend in turn.
// With UCRYPT_REQUIRE_NATIVE=1 (scripts/test.sh) a native backend that does not load fails.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { openFileIO } from '../../src/luks/file.js';
import type { Argon2Backend, Argon2Params } from '../../src/luks/pbkdf.js';
import { argon2Backend, loadArgon2Backend, useArgon2Backend } from '../../src/luks/pbkdf.js';
import { readHeader, unlock } from '../../src/luks/volume.js';
import { Registry, csOk, csVolumeKey, image, keyFile, needCryptsetup, tempDir, ucs } from './support.js';

const REQUIRE_NATIVE = process.env['UCRYPT_REQUIRE_NATIVE'] === '1';
const enc = new TextEncoder();
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

async function backends(): Promise<Argon2Backend[]> {
  const list = [await loadArgon2Backend('hash-wasm')];
  try {
    list.unshift(await loadArgon2Backend('argon2'));
  } catch (e) {
    if (REQUIRE_NATIVE) throw new Error(`UCRYPT_REQUIRE_NATIVE=1 but the argon2 addon did not load: ${(e as Error).message}`);
  }
  return list;
}

test('argon2: the native backend is the default when it loads (UCRYPT_ARGON2=wasm forces hash-wasm)', async () => {
  const all = await backends();
  useArgon2Backend(undefined);
  const chosen = await argon2Backend();
  assert.equal(chosen.name, process.env['UCRYPT_ARGON2'] === 'wasm' ? 'hash-wasm' : all[0]!.name);
});

// phc-winner-argon2 src/test.c, version 0x13: password "password", salt "somesalt", 32 bytes.
const VECTORS: { p: Omit<Argon2Params, 'password' | 'salt'>; hex: string }[] = [
  { p: { type: 'argon2i', time: 2, memory: 65536, lanes: 1, length: 32 }, hex: 'c1628832147d9720c5bd1cfd61367078729f6dfb6f8fea9ff98158e0d7816ed0' },
  { p: { type: 'argon2id', time: 2, memory: 65536, lanes: 1, length: 32 }, hex: '09316115d5cf24ed5a15a31a3ba326e5cf32edc24702987c02b6566f61913cf7' },
];

test('argon2: reference test vectors through every backend', async () => {
  for (const b of await backends()) {
    for (const v of VECTORS) {
      const out = await b.hash({ ...v.p, password: enc.encode('password'), salt: enc.encode('somesalt') });
      assert.equal(hex(out), v.hex, `${b.name} ${v.p.type}`);
    }
  }
});

test('argon2: backends agree on LUKS2-shaped inputs (lanes 1-4, minimum memory, binary passphrases, odd lengths)', async () => {
  const all = await backends();
  if (all.length < 2) return;
  const cases: Argon2Params[] = [
    { type: 'argon2id', password: randomBytes(64), salt: randomBytes(32), time: 4, memory: 1024, lanes: 4, length: 64 },
    { type: 'argon2i', password: new Uint8Array(1), salt: randomBytes(32), time: 4, memory: 32, lanes: 1, length: 32 },
    { type: 'argon2i', password: enc.encode('passphrase'), salt: randomBytes(32), time: 5, memory: 256, lanes: 2, length: 48 },
    { type: 'argon2id', password: enc.encode('x'), salt: randomBytes(8), time: 4, memory: 96, lanes: 3, length: 17 },
  ];
  for (const c of cases) {
    const outs = await Promise.all(all.map((b) => b.hash(c)));
    for (let i = 1; i < outs.length; i++) assert.equal(hex(outs[i]!), hex(outs[0]!), `${all[i]!.name} vs ${all[0]!.name}: ${c.type} t=${c.time} m=${c.memory} p=${c.lanes}`);
  }
});

test('argon2: cryptsetup-made LUKS2 argon2i/argon2id volumes (--pbkdf-parallel 1, 2, 4) unlock through every backend', { timeout: 120_000 }, async (t) => {
  if (!needCryptsetup(t)) return;
  const { dir, cleanup } = await tempDir();
  try {
    const all = await backends();
    for (const [type, lanes] of [['argon2id', 4], ['argon2i', 2], ['argon2id', 1]] as const) {
      const img = await image(dir, `${type}-${lanes}.img`, 20);
      const k = await keyFile(dir, `k-${type}-${lanes}`, `passphrase ${type} ${lanes}`);
      csOk(['luksFormat', '--batch-mode', '--type', 'luks2', '--pbkdf', type, '--pbkdf-memory', '1024', '--pbkdf-parallel', String(lanes), '--pbkdf-force-iterations', '4', '--key-file', k, img]);
      const expected = csVolumeKey(img, k);
      const io = await openFileIO(img, false);
      try {
        const h = await readHeader(io);
        for (const b of all) {
          useArgon2Backend(b);
          assert.equal(hex((await unlock(io, h, new Uint8Array(await readFile(k)))).key), expected, `${b.name}: ${type} with --pbkdf-parallel ${lanes}`);
        }
      } finally {
        await io.close();
      }
    }
  } finally {
    useArgon2Backend(undefined);
    await cleanup();
  }
});

test('argon2: luksFormat --pbkdf-parallel 4 stores as many threads as cryptsetup does (at most one per online CPU)', { timeout: 60_000 }, async (t) => {
  if (!needCryptsetup(t)) return;
  const { dir, cleanup } = await tempDir();
  try {
    const k = await keyFile(dir, 'k', 'threads');
    const args = ['--type', 'luks2', '--pbkdf', 'argon2id', '--pbkdf-memory', '256', '--pbkdf-parallel', '4', '--pbkdf-force-iterations', '4', '--key-file', k];
    const theirs = await image(dir, 'cs.img', 20);
    csOk(['luksFormat', '--batch-mode', ...args, theirs]);
    const ours = await image(dir, 'uc.img', 20);
    assert.equal((await ucs(new Registry(), ['luksFormat', '--batch-mode', ...args, ours])).exit, 0);
    const threads = (dump: string): string | undefined => /Threads:\s*(\d+)/.exec(dump)?.[1];
    assert.equal(threads(csOk(['luksDump', ours])), threads(csOk(['luksDump', theirs])));
  } finally {
    await cleanup();
  }
});
