// Load (issue 7, item 4), shared by test/load/load.test.ts (bounded) and test/long/crash.ts
// (scaled up): the real daemon in a child process, one aes-xts-plain64 crypt device per pipeline
// mode (default, no_read_workqueue, no_write_workqueue) over RAM disks, and many NBD connections
// each doing pipelined random reads and writes over a region of its own, every read compared
// with a shadow copy. Underneath, the devices are reloaded with the same table, suspended and
// resumed in a loop; a slow reader (asks for reads, never reads a reply) and dead clients
// (sockets destroyed mid-request) come and go. The daemon's RSS is sampled throughout.

import { randomBytes } from 'node:crypto';
import { CMD } from '../../src/nbd/protocol.js';
import { NbdClient } from '../../src/nbd/client.js';
import { RawClient } from '../nbd/client.js';
import type { DaemonProc } from '../crash/support.js';
import { killDaemon, nbdUri, rssOf, startDaemonProc } from '../crash/support.js';
import { join } from 'node:path';

const BLOCK = 4096;

export const LOAD_MODES: readonly (readonly string[])[] = [[], ['no_read_workqueue'], ['no_write_workqueue']];

export interface LoadOptions {
  readonly connections: number;
  readonly seconds: number;
  /** Requests in flight per connection. */
  readonly depth: number;
  /** RAM disk size per device, MiB. */
  readonly deviceMiB: number;
  /** Pause between suspend/reload/resume cycles, ms. */
  readonly churnMs: number;
  /** Parts that can be left out (to find what costs memory): all on by default. */
  readonly churn?: boolean;
  readonly slowReaders?: boolean;
  readonly deadClients?: boolean;
  /** Environment for the daemon (e.g. NODE_OPTIONS=--heapsnapshot-signal=SIGUSR2). */
  readonly daemonEnv?: NodeJS.ProcessEnv;
  /** Called once the regions were written and memBefore was taken, before the load starts (probes). */
  readonly baseline?: (d: DaemonProc) => Promise<void>;
  /** Called once the load's clients are gone and memAfter was taken, before the devices are removed. */
  readonly settled?: (d: DaemonProc) => Promise<void>;
}

/** The daemon's process.memoryUsage() (debug.memory), MiB. */
export interface MemoryMiB {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

export interface LoadStats {
  connections: number;
  reads: number;
  writes: number;
  /** Reads compared with the shadow copy (all of them). */
  iosVerified: number;
  mismatches: number;
  errors: string[];
  cycles: number;
  slowReaderRequests: number;
  deadClients: number;
  rssStartMiB: number;
  rssPeakMiB: number;
  rssEndMiB: number;
  /** RSS about every second (later when the event loop is busy), MiB. */
  rssSeriesMiB: number[];
  /** Fewest operations any connection completed in the last quarter of the run. */
  minLateOps: number;
  /** Whether every device could be removed at the end (no export left held). */
  removed: boolean;
  /** After a forced GC: once the regions were written (before the load), and once the load's clients were gone and every hold released (before the devices were removed). */
  memBefore: MemoryMiB | undefined;
  memAfter: MemoryMiB | undefined;
  /** After a forced GC once every device was removed (crypt worker threads stopped; RAM disks stay). */
  memRemoved: MemoryMiB | undefined;
  /** heapUsed + external without a GC, MiB, alongside rssSeriesMiB. */
  heapExtSeriesMiB: number[];
}

async function memoryOf(d: DaemonProc, gc: boolean): Promise<MemoryMiB> {
  const m = await d.control.call<{ rss: number; heapUsed: number; external: number; arrayBuffers: number }>('debug.memory', { gc });
  const mib = (b: number): number => Math.round(b / (1 << 20));
  return { rss: mib(m.rss), heapUsed: mib(m.heapUsed), external: mib(m.external), arrayBuffers: mib(m.arrayBuffers) };
}

function fill(buf: Buffer, seed: number): void {
  let x = seed >>> 0 || 1;
  for (let i = 0; i + 4 <= buf.length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    buf.writeUInt32LE(x >>> 0, i);
  }
}

class Conn {
  ops = 0;
  lateOps = 0;
  private readonly busy: Uint8Array;
  private readonly shadow: Buffer;

  constructor(
    readonly nbd: NbdClient,
    readonly base: number,
    readonly blocks: number,
  ) {
    this.busy = new Uint8Array(blocks);
    this.shadow = Buffer.alloc(blocks * BLOCK);
  }

  /** Writes the whole region once so every block has known contents. */
  async initialise(): Promise<void> {
    fill(this.shadow, this.base / BLOCK + 7);
    const step = 256 * BLOCK;
    for (let o = 0; o < this.shadow.length; o += step) await this.nbd.write(this.base + o, this.shadow.subarray(o, Math.min(this.shadow.length, o + step)));
  }

  async run(stop: () => boolean, late: () => boolean, depth: number, stats: LoadStats): Promise<void> {
    const worker = async (): Promise<void> => {
      const buf = Buffer.alloc(16 * BLOCK);
      while (!stop()) {
        const n = 1 + Math.floor(Math.random() * 16);
        const first = Math.floor(Math.random() * (this.blocks - n + 1));
        let free = true;
        for (let i = 0; i < n; i++) if (this.busy[first + i]) free = false;
        if (!free) {
          await new Promise((r) => setImmediate(r));
          continue;
        }
        this.busy.fill(1, first, first + n);
        const data = buf.subarray(0, n * BLOCK);
        try {
          if (Math.random() < 0.5) {
            fill(data, (Math.random() * 0xffffffff) >>> 0);
            await this.nbd.write(this.base + first * BLOCK, data, { fua: Math.random() < 0.1 });
            data.copy(this.shadow, first * BLOCK);
            stats.writes++;
          } else {
            await this.nbd.read(this.base + first * BLOCK, data);
            stats.reads++;
            stats.iosVerified++;
            if (!data.equals(this.shadow.subarray(first * BLOCK, (first + n) * BLOCK))) stats.mismatches++;
          }
          this.ops++;
          if (late()) this.lateOps++;
        } catch (e) {
          if (stats.errors.length < 10) stats.errors.push((e as Error).message);
          return;
        } finally {
          this.busy.fill(0, first, first + n);
        }
      }
    };
    await Promise.all(Array.from({ length: depth }, () => worker()));
  }
}

/** A client that pipelines 1 MiB reads and never reads a reply. */
async function slowReader(dir: string, name: string, requests: number): Promise<RawClient> {
  const c = await RawClient.connect(join(dir, 'nbd.sock'));
  await c.hello();
  await c.go(name);
  c.sock.pause();
  for (let i = 0; i < requests; i++) c.request(CMD.READ, BigInt(i + 1), (i % 8) << 20, 1 << 20);
  return c;
}

/** A client that sends requests (one WRITE with half its payload) and destroys its socket. */
async function deadClient(dir: string, name: string): Promise<void> {
  const c = await RawClient.connect(join(dir, 'nbd.sock'));
  await c.hello();
  await c.go(name);
  for (let i = 0; i < 16; i++) c.request(CMD.READ, BigInt(i + 1), i * 65536, 65536);
  const h = Buffer.alloc(28);
  h.writeUInt32BE(0x25609513, 0);
  h.writeUInt16BE(CMD.WRITE, 6);
  h.writeBigUInt64BE(99n, 8);
  h.writeBigUInt64BE(0n, 16);
  h.writeUInt32BE(1 << 20, 24);
  c.write(Buffer.concat([h, Buffer.alloc(1 << 19)]));
  await new Promise((r) => setTimeout(r, 5));
  c.sock.destroy();
}

export async function runLoad(dir: string, o: LoadOptions, log: (line: string) => void = () => {}): Promise<LoadStats> {
  const stats: LoadStats = { connections: 0, reads: 0, writes: 0, iosVerified: 0, mismatches: 0, errors: [], cycles: 0, slowReaderRequests: 0, deadClients: 0, rssStartMiB: 0, rssPeakMiB: 0, rssEndMiB: 0, rssSeriesMiB: [], minLateOps: 0, removed: false, memBefore: undefined, memAfter: undefined, memRemoved: undefined, heapExtSeriesMiB: [] };
  const daemon: DaemonProc = await startDaemonProc(dir, [], o.daemonEnv);
  const mib = (b: number): number => Math.round(b / (1 << 20));
  try {
    const ctl = daemon.control;
    await ctl.call('modprobe', { module: 'brd', params: [`rd_nr=${LOAD_MODES.length}`, `rd_size=${o.deviceMiB * 1024}`] });
    const size = o.deviceMiB << 20;
    const tables = LOAD_MODES.map((flags, i) => {
      const opt = flags.length ? ` ${flags.length} ${flags.join(' ')}` : '';
      return `0 ${size / 512} crypt aes-xts-plain64 ${randomBytes(64).toString('hex')} 0 /dev/ram${i} 0${opt}`;
    });
    const names = LOAD_MODES.map((_, i) => `load${i}`);
    for (let i = 0; i < names.length; i++) await ctl.call('dm.create', { name: names[i], table: tables[i] });
    stats.rssStartMiB = mib(await rssOf(daemon.pid));

    // Connections: round-robin over the devices, each with a disjoint region.
    const perDev = Math.ceil(o.connections / names.length);
    const regionBlocks = Math.floor(size / BLOCK / perDev);
    const conns: Conn[] = [];
    for (let i = 0; i < o.connections; i++) {
      const dev = i % names.length;
      const slot = Math.floor(i / names.length);
      const nbd = await NbdClient.connect(nbdUri(dir, names[dev]!));
      conns.push(new Conn(nbd, slot * regionBlocks * BLOCK, regionBlocks));
    }
    stats.connections = conns.length;
    await Promise.all(conns.map((c) => c.initialise()));
    stats.memBefore = await memoryOf(daemon, true);
    await o.baseline?.(daemon);
    log(`load: ${conns.length} connections over ${names.length} devices, regions of ${(regionBlocks * BLOCK) >> 10} KiB, initialised; daemon after GC: ${JSON.stringify(stats.memBefore)} MiB`);

    const t0 = Date.now();
    const end = t0 + o.seconds * 1000;
    const lateFrom = t0 + o.seconds * 750;
    const stop = (): boolean => Date.now() >= end;
    const late = (): boolean => Date.now() >= lateFrom;

    // RSS sampling.
    const sampler = (async () => {
      for (let i = 0; !stop(); i++) {
        const rss = mib(await rssOf(daemon.pid));
        stats.rssPeakMiB = Math.max(stats.rssPeakMiB, rss);
        if (i % 5 === 0) {
          stats.rssSeriesMiB.push(rss);
          const m = await memoryOf(daemon, false).catch(() => undefined);
          if (m) stats.heapExtSeriesMiB.push(m.heapUsed + m.external);
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    // Suspend / reload (same table) / resume underneath, device after device.
    const churn = (async () => {
      for (let i = 0; !stop() && o.churn !== false; i++) {
        const k = i % names.length;
        try {
          await ctl.call('dm.reload', { name: names[k], table: tables[k] });
          await ctl.call('dm.suspend', { name: names[k] });
          await new Promise((r) => setTimeout(r, 10));
          await ctl.call('dm.resume', { name: names[k] });
          stats.cycles++;
        } catch (e) {
          stats.errors.push(`churn: ${(e as Error).message}`);
          return;
        }
        await new Promise((r) => setTimeout(r, o.churnMs));
      }
    })();
    // A slow reader on every device, and a dead client every half second.
    const slow: RawClient[] = [];
    for (const n of o.slowReaders === false ? [] : names) {
      slow.push(await slowReader(dir, n, 256));
      stats.slowReaderRequests += 256;
    }
    const deaths = (async () => {
      for (let i = 0; !stop() && o.deadClients !== false; i++) {
        await deadClient(dir, names[i % names.length]!).catch((e: unknown) => stats.errors.push(`dead client: ${(e as Error).message}`));
        stats.deadClients++;
        await new Promise((r) => setTimeout(r, 500));
      }
    })();

    await Promise.all(conns.map((c) => c.run(stop, late, o.depth, stats)));
    await Promise.all([sampler, churn, deaths]);
    stats.minLateOps = Math.min(...conns.map((c) => c.lateOps));
    for (const c of conns) await c.nbd.close();
    for (const s of slow) s.sock.destroy();
    // Settled: every export released by the vanished clients (openCount back to the tables' own).
    for (let i = 0; i < 100; i++) {
      const infos = await Promise.all(names.map((n) => ctl.call<{ openCount: number }>('dm.info', { name: n })));
      if (infos.every((x) => x.openCount === 0)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    stats.memAfter = await memoryOf(daemon, true);
    await o.settled?.(daemon);
    // Every hold is released once the in-flight requests of the vanished clients finish.
    for (let attempt = 0; attempt < 100 && !stats.removed; attempt++) {
      try {
        for (const n of names) if ((await ctl.call<{ name: string }[]>('dm.list')).some((d) => d.name === n)) await ctl.call('dm.remove', { name: n });
        stats.removed = true;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    if (!stats.removed) for (const n of names) stats.errors.push(`still held: ${n}: ${JSON.stringify(await ctl.call('dm.info', { name: n }).catch((e: unknown) => String(e)))}`);
    if (stats.removed) {
      // The kcryptd threads stop 1 s after their last target left.
      await new Promise((r) => setTimeout(r, 1500));
      stats.memRemoved = await memoryOf(daemon, true);
    }
    stats.rssEndMiB = mib(await rssOf(daemon.pid));
    return stats;
  } finally {
    await killDaemon(daemon);
  }
}
