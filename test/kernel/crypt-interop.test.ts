// dm-crypt interoperability with the real kernel, both directions, in one VM boot
// (test/kernel/jobs/crypt-interop.sh; needs the harness: scripts/test.sh sets it up as root and
// sets UCRYPT_KERNEL_TESTS=1).
//
//   ucrypt -> kernel: for every table line, ucrypt writes seeded random data through its crypt
//     device onto /dev/ram0; the raw image and the plaintext's sha256 go to the shared folder;
//     the kernel loads the image onto its /dev/ram0, creates the same table with dmsetup and
//     reads the plaintext back through /dev/mapper: its sha256 must match.
//   kernel -> ucrypt: the kernel writes fresh /dev/urandom data through dm-crypt with the same
//     table and saves the raw image and the plaintext's sha256; ucrypt decrypts the image through
//     its crypt device: the sha256 must match.
//
// Keys, data and the device offsets come from UCRYPT_INTEROP_SEED (default below); set
// UCRYPT_INTEROP_KEEP=1 to keep the shared folder (it is also kept when the test fails).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from '../../src/index.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const live = process.env['UCRYPT_KERNEL_TESTS'] === '1';
const SEED = process.env['UCRYPT_INTEROP_SEED'] ?? 'ucrypt-crypt-interop-1';
const RAM_KB = 2048; // /dev/ram0 on both sides: 4096 sectors
const NAME = 'interop';

/** A deterministic byte stream: sha256(seed | label | counter) blocks. */
function seeded(label: string, n: number): Buffer {
  const out = Buffer.alloc(n);
  for (let i = 0, off = 0; off < n; i++, off += 32) {
    createHash('sha256').update(`${SEED}|${label}|${i}`).digest().copy(out, off);
  }
  return out;
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

interface Case {
  readonly id: string;
  /** dm-crypt cipher spec. */
  readonly cipher: string;
  /** Key length in bytes. */
  readonly keyBytes: number;
  readonly ivOffset?: bigint;
  /** Start sector on /dev/ram0. */
  readonly offset?: number;
  /** Optional parameters, e.g. ['sector_size:4096', 'iv_large_sectors']. */
  readonly opts?: readonly string[];
  /** Device length in sectors (default 128: 64 KiB). */
  readonly len?: number;
}

const S4K = ['sector_size:4096'];
const S4K_LARGE = ['sector_size:4096', 'iv_large_sectors'];

const CASES: readonly Case[] = [
  // plain64 / plain / plain64be, benbi, null
  { id: 'aes-xts-plain64', cipher: 'aes-xts-plain64', keyBytes: 64 },
  { id: 'aes-xts-plain64-128-off', cipher: 'aes-xts-plain64', keyBytes: 32, ivOffset: 1_000_003n, offset: 24 },
  { id: 'aes-xts-plain64-4k', cipher: 'aes-xts-plain64', keyBytes: 64, opts: S4K },
  { id: 'aes-xts-plain64-4k-large', cipher: 'aes-xts-plain64', keyBytes: 64, opts: S4K_LARGE, ivOffset: 4096n, offset: 64 },
  { id: 'aes-cbc-plain64', cipher: 'aes-cbc-plain64', keyBytes: 32 },
  { id: 'aes-cbc-plain-wrap', cipher: 'aes-cbc-plain', keyBytes: 16, ivOffset: 4294967232n },
  { id: 'aes-cbc-plain64be', cipher: 'aes-cbc-plain64be', keyBytes: 24, ivOffset: 77n },
  { id: 'aes-lrw-benbi', cipher: 'aes-lrw-benbi', keyBytes: 48 },
  { id: 'aes-cbc-null', cipher: 'aes-cbc-null', keyBytes: 16 },
  { id: 'capi-xts-aes-plain64', cipher: 'capi:xts(aes)-plain64', keyBytes: 32 },
  { id: 'aes2-xts-plain64', cipher: 'aes:2-xts-plain64', keyBytes: 128, ivOffset: 5n },
  // essiv
  { id: 'aes-cbc-essiv-sha256', cipher: 'aes-cbc-essiv:sha256', keyBytes: 32 },
  { id: 'aes-cbc-essiv-sha256-128-off', cipher: 'aes-cbc-essiv:sha256', keyBytes: 16, ivOffset: 123_456_789n, offset: 8 },
  { id: 'aes4-cbc-essiv-sha256', cipher: 'aes:4-cbc-essiv:sha256', keyBytes: 64, ivOffset: 3n },
  { id: 'aes-cbc-essiv-sha256-4k', cipher: 'aes-cbc-essiv:sha256', keyBytes: 32, opts: S4K },
  // lmk (loop-AES)
  { id: 'lmk-v2', cipher: 'aes:64-cbc-lmk', keyBytes: 64 * 16 },
  { id: 'lmk-v3', cipher: 'aes:64-cbc-lmk', keyBytes: 65 * 16, ivOffset: 1n << 33n },
  { id: 'lmk-v3-256', cipher: 'aes:64-cbc-lmk', keyBytes: 65 * 32 },
  { id: 'lmk-v2-single', cipher: 'aes-cbc-lmk', keyBytes: 16 },
  // tcw (TrueCrypt)
  { id: 'tcw-aes128', cipher: 'aes-cbc-tcw', keyBytes: 48 },
  { id: 'tcw-aes256-wrap', cipher: 'aes-cbc-tcw', keyBytes: 64, ivOffset: 4294967232n, offset: 16 },
  { id: 'tcw-serpent', cipher: 'serpent-cbc-tcw', keyBytes: 64 },
  // elephant (BitLocker with diffuser)
  { id: 'elephant-128', cipher: 'aes-cbc-elephant', keyBytes: 32 },
  { id: 'elephant-256', cipher: 'aes-cbc-elephant', keyBytes: 64, ivOffset: 99n },
  { id: 'elephant-256-4k-large', cipher: 'aes-cbc-elephant', keyBytes: 64, opts: S4K_LARGE, ivOffset: 800n },
  // eboiv (BitLocker without diffuser)
  { id: 'eboiv-128', cipher: 'aes-cbc-eboiv', keyBytes: 16, ivOffset: 1000n },
  { id: 'eboiv-256-4k', cipher: 'aes-cbc-eboiv', keyBytes: 32, opts: S4K },
  { id: 'eboiv-256-4k-large', cipher: 'aes-cbc-eboiv', keyBytes: 32, opts: S4K_LARGE, offset: 8 },
  // adiantum
  { id: 'adiantum12-4k', cipher: 'capi:adiantum(xchacha12,aes)-plain64', keyBytes: 32, opts: S4K },
  { id: 'adiantum12-4k-large', cipher: 'capi:adiantum(xchacha12,aes)-plain64', keyBytes: 32, opts: S4K_LARGE, ivOffset: 65536n },
  { id: 'adiantum20-4k', cipher: 'capi:adiantum(xchacha20,aes)-plain64', keyBytes: 32, opts: S4K },
  { id: 'adiantum12-512', cipher: 'capi:adiantum(xchacha12,aes)-plain64', keyBytes: 32 },
  // serpent / twofish / camellia / cast6
  { id: 'serpent-xts-plain64', cipher: 'serpent-xts-plain64', keyBytes: 64 },
  { id: 'twofish-xts-plain64-4k', cipher: 'twofish-xts-plain64', keyBytes: 64, opts: S4K },
  { id: 'twofish-cbc-essiv-sha256', cipher: 'twofish-cbc-essiv:sha256', keyBytes: 32, ivOffset: 17n },
  { id: 'serpent-cbc-essiv-sha256', cipher: 'serpent-cbc-essiv:sha256', keyBytes: 32 },
  { id: 'camellia-xts-plain64', cipher: 'camellia-xts-plain64', keyBytes: 64 },
  { id: 'cast6-cbc-plain64', cipher: 'cast6-cbc-plain64', keyBytes: 32 },
];

interface Line {
  readonly c: Case;
  readonly len: number;
  readonly offset: number;
  /** Sectors of /dev/ram0 the image covers: offset + len. */
  readonly imgSectors: number;
  readonly table: string;
}

function line(c: Case): Line {
  const len = c.len ?? 128;
  const offset = c.offset ?? 0;
  const key = seeded(`key:${c.id}`, c.keyBytes).toString('hex');
  const opts = c.opts && c.opts.length > 0 ? ` ${c.opts.length} ${c.opts.join(' ')}` : '';
  const table = `0 ${len} crypt ${c.cipher} ${key} ${c.ivOffset ?? 0n} /dev/ram0 ${offset}${opts}`;
  return { c, len, offset, imgSectors: offset + len, table };
}

/** A registry with the kernel's /dev/ram0 and the case's device: `fn` gets the crypt device. */
async function withDevice<T>(l: Line, image: Buffer | undefined, fn: (reg: Registry) => Promise<T>): Promise<T> {
  const reg = new Registry();
  reg.modprobeBrd({ rd_nr: 1, rd_size: RAM_KB });
  if (image) reg.ramDisk(0)!.writeSync(0, image);
  await reg.create(NAME, { table: l.table });
  try {
    return await fn(reg);
  } finally {
    await reg.remove(NAME);
  }
}

/** ucrypt writes `plain` through the case's table; returns the raw /dev/ram0 image. */
async function ucryptEncrypt(l: Line, plain: Buffer): Promise<Buffer> {
  let reg: Registry | undefined;
  await withDevice(l, undefined, async (r) => {
    reg = r;
    const dev = (await r.device(NAME))!;
    await dev.write(0, plain);
    await dev.flush();
  });
  const img = Buffer.alloc(l.imgSectors * 512);
  reg!.ramDisk(0)!.readSync(0, img);
  return img;
}

/** ucrypt reads the plaintext of the kernel's image through the case's table. */
async function ucryptDecrypt(l: Line, image: Buffer): Promise<Buffer> {
  return withDevice(l, image, async (r) => {
    const dev = (await r.device(NAME))!;
    const out = Buffer.alloc(l.len * 512);
    await dev.read(0, out);
    return out;
  });
}

function runJob(shared: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('bash', [join(REPO, 'test/kernel/run.sh'), join(REPO, 'test/kernel/jobs/crypt-interop.sh'), shared], {
      env: { ...process.env, UCRYPT_KERNEL_TIMEOUT: process.env['UCRYPT_KERNEL_TIMEOUT'] ?? '1200', UCRYPT_JOB_INTEROP_RAM_KB: String(RAM_KB) },
      maxBuffer: 64 << 20,
    }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const readText = async (p: string): Promise<string | undefined> => (existsSync(p) ? (await readFile(p, 'utf8')).trim() : undefined);

test('dm-crypt interop with the live kernel: ucrypt -> kernel and kernel -> ucrypt', { skip: live ? false : 'UCRYPT_KERNEL_TESTS=1 not set (scripts/test.sh sets it up as root)', timeout: 30 * 60_000 }, async (t) => {
  const lines = CASES.map(line);
  assert.equal(new Set(lines.map((l) => l.c.id)).size, lines.length, 'case ids are unique');
  for (const l of lines) assert.ok(l.imgSectors * 512 <= RAM_KB * 1024, `${l.c.id} fits on /dev/ram0`);

  const shared = await mkdtemp(join(tmpdir(), 'ucrypt-interop-'));
  let keep = process.env['UCRYPT_INTEROP_KEEP'] === '1';
  try {
    // ucrypt -> kernel: images and plaintext hashes
    await mkdir(join(shared, 'u2k'));
    const t0 = Date.now();
    const u2kSha = new Map<string, string>();
    const u2kError = new Map<string, string>();
    for (const l of lines) {
      const plain = seeded(`data:${l.c.id}`, l.len * 512);
      try {
        const img = await ucryptEncrypt(l, plain);
        await writeFile(join(shared, 'u2k', `${l.c.id}.img`), img);
        u2kSha.set(l.c.id, sha256(plain));
        await writeFile(join(shared, 'u2k', `${l.c.id}.sha256`), `${sha256(plain)}\n`);
      } catch (e) {
        u2kError.set(l.c.id, e instanceof Error ? e.message : String(e));
      }
    }
    await writeFile(join(shared, 'list'), lines.map((l) => `${l.c.id}|${l.len}|${l.imgSectors}|${l.table}\n`).join(''));
    const tU = Date.now() - t0;

    // the kernel: both halves in one boot
    const t1 = Date.now();
    const run = await runJob(shared);
    const tK = Date.now() - t1;
    t.diagnostic(`seed ${SEED}; ${lines.length} cases; ucrypt encrypt ${tU} ms; VM boot + job ${(tK / 1000).toFixed(1)} s; kernel ${(await readText(join(shared, 'k2u', 'uname'))) ?? '?'}`);
    assert.ok(run.code === 0 || run.code === 3, `kernel job failed (exit ${run.code}); shared folder ${shared}\n${run.stdout}\n${run.stderr.slice(-4000)}`);

    const failures: string[] = [];
    const t2 = Date.now();
    for (const l of lines) {
      const id = l.c.id;
      const k2u = join(shared, 'k2u');
      await t.test(`${id} ucrypt -> kernel`, async () => {
        try {
          assert.equal(u2kError.get(id), undefined, `ucrypt could not write ${l.table}`);
          const result = await readText(join(k2u, `${id}.u2k.result`));
          const log = (await readText(join(k2u, `${id}.log`))) ?? '';
          assert.equal(result, 'OK', `kernel: ${result}; log:\n${log}`);
          assert.equal(await readText(join(k2u, `${id}.u2k.sha256`)), u2kSha.get(id), 'kernel read back a different plaintext');
        } catch (e) {
          failures.push(`${id} ucrypt->kernel`);
          throw e;
        }
      });
      await t.test(`${id} kernel -> ucrypt`, async () => {
        try {
          const result = await readText(join(k2u, `${id}.k2u.result`));
          const log = (await readText(join(k2u, `${id}.log`))) ?? '';
          assert.equal(result, 'OK', `kernel: ${result}; log:\n${log}`);
          const want = await readText(join(k2u, `${id}.k2u.sha256`));
          assert.match(want ?? '', /^[0-9a-f]{64}$/);
          const img = await readFile(join(k2u, `${id}.k2u.img`));
          assert.equal(img.length, l.imgSectors * 512, 'image size');
          assert.equal(img.subarray(0, l.offset * 512).some((b) => b !== 0), false, 'kernel wrote before the mapped area');
          const plain = await ucryptDecrypt(l, img);
          assert.equal(sha256(plain), want, 'ucrypt decrypted the kernel\'s image to a different plaintext');
        } catch (e) {
          failures.push(`${id} kernel->ucrypt`);
          throw e;
        }
      });
    }
    t.diagnostic(`ucrypt decrypt ${Date.now() - t2} ms`);
    if (failures.length > 0) keep = true;
    assert.deepEqual(failures, [], `failed cases (shared folder kept: ${shared})`);
  } catch (e) {
    keep = true;
    throw e;
  } finally {
    if (keep) t.diagnostic(`shared folder kept: ${shared}`);
    else await rm(shared, { recursive: true, force: true });
  }
});
