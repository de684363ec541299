// Crash consistency on the file backend, shared by test/crash/crash.test.ts (a few kills) and
// test/long/crash.ts (many): the real daemon in a child process serves a crypt device
// (aes-xts-plain64 over an image file) over NBD; a client pipelines writes of self-describing
// 4 KiB blocks, records which versions were made durable (acknowledged with FUA, or acknowledged
// before a FLUSH that then completed), and the daemon is SIGKILLed at a random moment. After a
// restart every block must hold a version at least as new as its durable one (else: a lost
// write) and at most the newest one issued, with intact contents (else: garbage).
//
//   block (4096 B): magic u32 | block u32 | version u32 | crc32 of bytes 16.. u32 | filler(block, version)

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { ControlClient } from '../../src/daemon/client.js';
import { socketAnswers } from '../../src/daemon/server.js';
import { NbdClient } from '../../src/nbd/client.js';
import { BIN } from '../helpers/proc.js';

export const BLOCK = 4096;
const MAGIC = 0x75637279; // 'ucry'

/** A `ucrypt daemon` in the foreground, as a child process we can kill. */
export interface DaemonProc {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly dir: string;
  readonly control: ControlClient;
  readonly exited: Promise<void>;
}

export async function startDaemonProc(dir: string, extraArgs: readonly string[] = [], env: NodeJS.ProcessEnv = {}): Promise<DaemonProc> {
  const child = spawn(process.execPath, [BIN, 'daemon', ...extraArgs], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...env, UCRYPT_RUNTIME_DIR: dir },
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let gone = false;
  void exited.then(() => (gone = true));
  for (let i = 0; i < 400 && !gone; i++) {
    if (await socketAnswers(join(dir, 'control.sock'), 200)) {
      const control = await ControlClient.connect(join(dir, 'control.sock'));
      return { child, pid: child.pid!, dir, control, exited };
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  child.kill('SIGKILL');
  throw new Error(`the daemon did not start: ${stderr}`);
}

export async function killDaemon(d: DaemonProc): Promise<void> {
  d.child.kill('SIGKILL');
  await d.exited;
  d.control.close();
}

/** Resident set size of a process in bytes (VmRSS), 0 when it is gone. */
export async function rssOf(pid: number): Promise<number> {
  const s = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const m = /VmRSS:\s+(\d+) kB/.exec(s);
  return m ? Number(m[1]) * 1024 : 0;
}

export function nbdUri(dir: string, name: string): string {
  return `nbd+unix:///${name}?socket=${join(dir, 'nbd.sock')}`;
}

/** Fills `out` (one block) with version `version` of block `block`. */
export function fillBlock(out: Buffer, block: number, version: number): void {
  // xorshift32 filler seeded by (block, version): cheap and different for every version.
  let x = (Math.imul(block + 1, 0x9e3779b1) ^ Math.imul(version + 1, 0x85ebca6b)) >>> 0 || 1;
  for (let i = 16; i < BLOCK; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out.writeUInt32LE(x >>> 0, i);
  }
  out.writeUInt32LE(MAGIC, 0);
  out.writeUInt32LE(block, 4);
  out.writeUInt32LE(version, 8);
  out.writeUInt32LE(crc32(out.subarray(16, BLOCK)), 12);
}

/** The version a block holds, or -1 when it is not a recognisable block of ours at that index. */
export function blockVersion(b: Buffer, block: number, scratch: Buffer): number {
  if (b.readUInt32LE(0) !== MAGIC || b.readUInt32LE(4) !== block) return -1;
  const version = b.readUInt32LE(8);
  if (crc32(b.subarray(16, BLOCK)) !== b.readUInt32LE(12)) return -1;
  fillBlock(scratch, block, version);
  return scratch.equals(b) ? version : -1;
}

export interface CrashStats {
  crashes: number;
  /** Writes acknowledged (each covers 1-4 blocks). */
  writesAcked: number;
  /** Block versions that were durable (FUA or flushed) when the daemon was killed, checked after restart. */
  durableChecked: number;
  /** Blocks read back and checked after restarts. */
  blocksVerified: number;
  lostWrites: number;
  garbageBlocks: number;
  flushes: number;
}

export function newStats(): CrashStats {
  return { crashes: 0, writesAcked: 0, durableChecked: 0, blocksVerified: 0, lostWrites: 0, garbageBlocks: 0, flushes: 0 };
}

/** The pipeline modes rotated through the rounds (crypt optional parameters). */
export const CRASH_FLAGS: readonly (readonly string[])[] = [[], ['no_read_workqueue'], ['no_write_workqueue'], ['no_read_workqueue', 'no_write_workqueue'], ['same_cpu_crypt'], ['submit_from_crypt_cpus']];

export class CrashRig {
  readonly key = randomBytes(64).toString('hex');
  readonly blocks: number;
  /** Newest version known on disk for sure (durable) and newest issued, per block. */
  readonly durable: Uint32Array;
  readonly issued: Uint32Array;
  private nextVersion = 1;
  readonly stats = newStats();
  log: (line: string) => void = () => {};

  constructor(
    readonly dir: string,
    readonly image: string,
    size: number,
  ) {
    this.blocks = size / BLOCK;
    this.durable = new Uint32Array(this.blocks);
    this.issued = new Uint32Array(this.blocks);
  }

  table(flags: readonly string[]): string {
    const opt = flags.length ? ` ${flags.length} ${flags.join(' ')}` : '';
    return `0 ${(this.blocks * BLOCK) / 512} crypt aes-xts-plain64 ${this.key} 0 ${this.image} 0${opt}`;
  }

  async start(flags: readonly string[]): Promise<{ daemon: DaemonProc; nbd: NbdClient }> {
    const daemon = await startDaemonProc(this.dir);
    await daemon.control.call('dm.create', { name: 'c', table: this.table(flags) });
    const nbd = await NbdClient.connect(nbdUri(this.dir, 'c'));
    return { daemon, nbd };
  }

  /** Writes version 0 of every block and flushes (the device starts recognisable). */
  async initialise(nbd: NbdClient): Promise<void> {
    const chunk = Buffer.alloc(64 * BLOCK);
    for (let b = 0; b < this.blocks; b += 64) {
      const n = Math.min(64, this.blocks - b);
      for (let i = 0; i < n; i++) fillBlock(chunk.subarray(i * BLOCK, (i + 1) * BLOCK), b + i, 0);
      await nbd.write(b * BLOCK, chunk.subarray(0, n * BLOCK));
    }
    await nbd.flush();
  }

  /**
   * Reads every block back and checks it against what was durable and what was issued. Counts
   * lost writes and garbage; then takes what is on disk as the new baseline (after a FLUSH).
   */
  async verify(nbd: NbdClient): Promise<{ lost: number; garbage: number }> {
    const chunk = Buffer.alloc(256 * BLOCK);
    const scratch = Buffer.alloc(BLOCK);
    let lost = 0;
    let garbage = 0;
    for (let b = 0; b < this.blocks; b += 256) {
      const n = Math.min(256, this.blocks - b);
      await nbd.read(b * BLOCK, chunk.subarray(0, n * BLOCK));
      for (let i = 0; i < n; i++) {
        const blk = b + i;
        const v = blockVersion(chunk.subarray(i * BLOCK, (i + 1) * BLOCK), blk, scratch);
        this.stats.blocksVerified++;
        if (this.durable[blk]! > 0) this.stats.durableChecked++;
        if (v < 0 || v > this.issued[blk]!) {
          garbage++;
          this.log(`block ${blk}: garbage (read version ${v}, durable ${this.durable[blk]}, issued ${this.issued[blk]})`);
        } else if (v < this.durable[blk]!) {
          lost++;
          this.log(`block ${blk}: lost write (read version ${v}, durable ${this.durable[blk]}, issued ${this.issued[blk]})`);
        }
        if (v >= 0) {
          this.durable[blk] = v;
          this.issued[blk] = v;
        }
      }
    }
    await nbd.flush();
    this.stats.lostWrites += lost;
    this.stats.garbageBlocks += garbage;
    return { lost, garbage };
  }

  /**
   * Pipelined writes (iodepth `depth`, 1-4 blocks each, a third with FUA) and a FLUSH every
   * `flushEvery` acknowledged writes, until `stop()` says so or the connection dies. No two
   * requests in flight touch the same block, so each block's versions on disk only grow.
   */
  async workload(nbd: NbdClient, stop: () => boolean, depth = 32, flushEvery = 24): Promise<void> {
    const busy = new Uint8Array(this.blocks);
    let ackedSinceFlush: { first: number; n: number; versions: number[] }[] = [];
    let dead = false;
    let sinceFlush = 0;
    let flushing = false;
    const pool: Buffer[] = Array.from({ length: depth }, () => Buffer.alloc(4 * BLOCK));
    const flush = async (): Promise<void> => {
      flushing = true;
      const covered = ackedSinceFlush;
      ackedSinceFlush = [];
      try {
        await nbd.flush();
        this.stats.flushes++;
        for (const w of covered) this.markDurable(w.first, w.n, w.versions);
      } catch {
        dead = true;
      } finally {
        flushing = false;
      }
    };
    const worker = async (slot: number): Promise<void> => {
      const buf = pool[slot]!;
      while (!dead && !stop()) {
        const n = 1 + Math.floor(Math.random() * 4);
        const first = Math.floor(Math.random() * (this.blocks - n + 1));
        let free = true;
        for (let i = 0; i < n; i++) if (busy[first + i]) free = false;
        if (!free) {
          await new Promise((r) => setImmediate(r));
          continue;
        }
        const versions: number[] = [];
        for (let i = 0; i < n; i++) {
          busy[first + i] = 1;
          const v = this.nextVersion++;
          versions.push(v);
          this.issued[first + i] = v;
          fillBlock(buf.subarray(i * BLOCK, (i + 1) * BLOCK), first + i, v);
        }
        const fua = Math.random() < 1 / 3;
        try {
          await nbd.write(first * BLOCK, buf.subarray(0, n * BLOCK), { fua });
          this.stats.writesAcked++;
          if (fua) this.markDurable(first, n, versions);
          else ackedSinceFlush.push({ first, n, versions });
          if (++sinceFlush >= flushEvery && !flushing) {
            sinceFlush = 0;
            void flush();
          }
        } catch {
          dead = true;
        } finally {
          for (let i = 0; i < n; i++) busy[first + i] = 0;
        }
      }
    };
    await Promise.all(Array.from({ length: depth }, (_, i) => worker(i)));
  }

  private markDurable(first: number, n: number, versions: readonly number[]): void {
    for (let i = 0; i < n; i++) {
      const b = first + i;
      if (versions[i]! > this.durable[b]!) this.durable[b] = versions[i]!;
    }
  }

  /**
   * One crash round: start the daemon with `flags`, verify what the last round left, run the
   * workload and SIGKILL the daemon after `killAfterMs`. Returns that round's verification.
   */
  async round(flags: readonly string[], killAfterMs: number): Promise<{ lost: number; garbage: number }> {
    const { daemon, nbd } = await this.start(flags);
    const result = await this.verify(nbd);
    let stopped = false;
    const work = this.workload(nbd, () => stopped);
    await new Promise((r) => setTimeout(r, killAfterMs));
    await killDaemon(daemon);
    stopped = true;
    await work;
    await nbd.close().catch(() => undefined);
    this.stats.crashes++;
    return result;
  }

  /** The final check after the last crash: restart, verify, stop cleanly. */
  async finish(): Promise<{ lost: number; garbage: number }> {
    const { daemon, nbd } = await this.start([]);
    const result = await this.verify(nbd);
    await nbd.close();
    await daemon.control.call('dm.remove', { name: 'c' });
    await killDaemon(daemon);
    return result;
  }
}
