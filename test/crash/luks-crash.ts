// A LUKS header update cut at a random moment, two ways (shared with test/long/crash.ts):
// - power loss, in-process: a HeaderIO that, at the Nth write, drops an arbitrary subset of the
//   4 KiB pages written since the last sync (write-back caches persist pages in any order; a
//   page is the unit that lands whole), the interrupted write included;
// - kill -9 of the real `ucrypt cryptsetup luksAddKey` at a random moment.
// Either way the header must parse and the old passphrase must unlock the same volume key; the
// new one works whenever the command had reported success.

import { spawn } from 'node:child_process';
import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatVolume } from '../../src/luks/format.js';
import { openFileIO } from '../../src/luks/file.js';
import type { HeaderIO } from '../../src/luks/io.js';
import { memoryIO } from '../../src/luks/io.js';
import { addKey, changeKey, killSlot, readHeader, unlock } from '../../src/luks/volume.js';
import { BIN } from '../helpers/proc.js';

const enc = new TextEncoder();
export const OLD_PASS = enc.encode('old passphrase');
export const NEW_PASS = enc.encode('new passphrase');
export const KDF = { type: 'pbkdf2' as const, hash: 'sha256', iterations: 1000 };
const PAGE = 4096;

export async function makeVolume(version: 1 | 2): Promise<{ bytes: Uint8Array; key: Uint8Array }> {
  const io = memoryIO(new Uint8Array(version === 2 ? 17 << 20 : 3 << 20));
  const { volumeKey } = await formatVolume(io, OLD_PASS, { version, cipher: 'aes-xts-plain64', keySize: 64, hash: 'sha256', kdf: KDF, sectorSize: 512, digestIterations: 1000 });
  return { bytes: io.bytes, key: volumeKey };
}

export class Crash extends Error {}

/** The power-loss model above; `image()` is what the disk holds after the crash. */
export function powerLossIO(initial: Uint8Array, crashAtWrite: number, random: () => number): HeaderIO & { image(): Uint8Array; crashed: boolean; writes: number } {
  const disk = initial.slice();
  const cache = memoryIO(initial.slice());
  let dirty = new Set<number>();
  const io = {
    crashed: false,
    writes: 0,
    read: (o: number, l: number) => cache.read(o, l),
    async write(o: number, d: Uint8Array) {
      if (io.crashed) throw new Crash('crashed');
      await cache.write(o, d);
      for (let p = Math.floor(o / PAGE); p * PAGE < o + d.length; p++) dirty.add(p);
      if (++io.writes >= crashAtWrite) {
        io.crashed = true;
        // Any subset of the dirty pages made it to the disk before the power went.
        for (const p of dirty) if (random() < 0.5) disk.set(cache.bytes.subarray(p * PAGE, (p + 1) * PAGE), p * PAGE);
        dirty = new Set();
        throw new Crash('power lost');
      }
    },
    async sync() {
      if (io.crashed) throw new Crash('crashed');
      for (const p of dirty) disk.set(cache.bytes.subarray(p * PAGE, (p + 1) * PAGE), p * PAGE);
      dirty = new Set();
    },
    size: () => cache.size(),
    image: () => (io.crashed ? disk : cache.bytes),
  };
  return io;
}

export interface LuksCrashResult {
  /** Header updates cut (each followed by a successful reopen). */
  cut: number;
  /** Updates that ran to completion (the crash point was past the last write). */
  completed: number;
}

async function opens(bytes: Uint8Array, pass: Uint8Array, key: Uint8Array): Promise<boolean> {
  const io = memoryIO(bytes.slice());
  const h = await readHeader(io);
  try {
    const r = await unlock(io, h, pass);
    if (Buffer.compare(r.key, key) !== 0) throw new Error('unlocked a different volume key');
    return true;
  } catch (e) {
    if (/No key available/.test((e as Error).message)) return false;
    throw e;
  }
}

/**
 * `rounds` header updates (luksAddKey, luksChangeKey or luksKillSlot of the second slot) cut by a
 * power loss at a random write; throws on the first volume that no longer opens.
 */
export async function luksPowerLoss(version: 1 | 2, rounds: number, random: () => number = Math.random): Promise<LuksCrashResult> {
  const base = await makeVolume(version);
  // A second slot to kill and change.
  const withTwo = memoryIO(base.bytes.slice());
  await addKey(withTwo, await readHeader(withTwo), 1, base.key, NEW_PASS, { kdf: KDF });
  const res: LuksCrashResult = { cut: 0, completed: 0 };
  const run = async (op: number, crashAt: number): Promise<ReturnType<typeof powerLossIO>> => {
    const io = powerLossIO(op === 0 ? base.bytes : withTwo.bytes, crashAt, random);
    const h = await readHeader(io);
    try {
      if (op === 0) await addKey(io, h, 1, base.key, NEW_PASS, { kdf: KDF });
      else if (op === 1) await changeKey(io, h, 1, base.key, enc.encode('changed'), { kdf: KDF });
      else await killSlot(io, h, 1);
    } catch (e) {
      if (!(e instanceof Crash)) throw e;
    }
    return io;
  };
  // How many writes each operation makes uncut, so the crash points cover all of them (and one past).
  const writes: number[] = [];
  for (let op = 0; op < 3; op++) writes.push((await run(op, Infinity)).writes);
  for (let i = 0; i < rounds; i++) {
    const op = i % 3;
    const io = await run(op, 1 + Math.floor(random() * (writes[op]! + 1)));
    if (io.crashed) res.cut++;
    else res.completed++;
    const image = io.image();
    if (!(await opens(image, OLD_PASS, base.key))) throw new Error(`LUKS${version}: op ${op} cut at write ${io.writes}: the old passphrase no longer opens the volume`);
    if (!io.crashed && op === 0 && !(await opens(image, NEW_PASS, base.key))) throw new Error(`LUKS${version}: a completed luksAddKey does not open with the new passphrase`);
  }
  return res;
}

/** How long one `ucrypt cryptsetup luksAddKey` takes here (ms), to aim the kills. */
export async function luksAddKeyCli(image: string, oldKey: string, newKey: string, killAfterMs?: number): Promise<{ exit: number | null; killed: boolean; ms: number }> {
  const t0 = Date.now();
  const child = spawn(process.execPath, [BIN, 'cryptsetup', 'luksAddKey', image, newKey, '-d', oldKey, '--pbkdf', 'pbkdf2', '--pbkdf-force-iterations', '1000', '-q'], { stdio: 'ignore' });
  let killed = false;
  const timer = killAfterMs === undefined ? undefined : setTimeout(() => {
    killed = child.kill('SIGKILL');
  }, killAfterMs);
  const exit = await new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  clearTimeout(timer);
  return { exit, killed: killed && exit === null, ms: Date.now() - t0 };
}

/**
 * `rounds` runs of the real CLI's luksAddKey killed at random moments over the same image file
 * (each round adds to what the previous ones left); the header must always open with the old
 * passphrase. Returns how many runs were killed mid-way and how many completed.
 */
export async function luksKillCli(dir: string, version: 1 | 2, rounds: number): Promise<LuksCrashResult & { killedBeforeEnd: number }> {
  const base = await makeVolume(version);
  const image = join(dir, `luks${version}.img`);
  const pristine = join(dir, `luks${version}.orig`);
  await writeFile(pristine, base.bytes);
  const oldKey = join(dir, 'old.key');
  const newKey = join(dir, 'new.key');
  await writeFile(oldKey, OLD_PASS);
  await writeFile(newKey, NEW_PASS);
  await copyFile(pristine, image);
  let fullMs = Infinity;
  for (let i = 0; i < 2; i++) {
    await copyFile(pristine, image);
    const full = await luksAddKeyCli(image, oldKey, newKey);
    if (full.exit !== 0) throw new Error(`luksAddKey failed (${full.exit})`);
    fullMs = Math.min(fullMs, full.ms);
  }
  const res = { cut: 0, completed: 0, killedBeforeEnd: 0 };
  for (let i = 0; i < rounds; i++) {
    await copyFile(pristine, image);
    // Node's start-up takes most of a run: aim at its second half, where the header is written.
    const at = fullMs * (0.5 + Math.random() * 0.5);
    const r = await luksAddKeyCli(image, oldKey, newKey, at);
    if (r.killed) res.killedBeforeEnd++;
    if (r.exit === 0) res.completed++;
    else res.cut++;
    const io = await openFileIO(image, false);
    try {
      const h = await readHeader(io);
      const old = await unlock(io, h, OLD_PASS);
      if (Buffer.compare(old.key, base.key) !== 0) throw new Error('the old passphrase unlocked a different key');
      if (r.exit === 0) {
        const n = await unlock(io, h, NEW_PASS);
        if (Buffer.compare(n.key, base.key) !== 0) throw new Error('the new passphrase unlocked a different key');
      }
    } catch (e) {
      throw new Error(`LUKS${version}: luksAddKey killed after ${Math.round(at)} ms (exit ${r.exit}): ${(e as Error).message}`);
    } finally {
      await io.close();
    }
  }
  return res;
}
