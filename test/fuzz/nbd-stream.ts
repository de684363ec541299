// The NBD server's handshake and transmission state machines fed whole client byte streams in
// process (a Duplex in place of the socket): valid, random and mutated options and requests,
// huge lengths, out-of-range offsets, chunked at random, then half-closed, reset, or left open
// with a slow reader. A connection must close (or be closable) within HANG_MS; anything thrown
// out of the server (an uncaught exception) is a crash; afterwards a healthy client is served.

import { Duplex } from 'node:stream';
import { setImmediate as immediate } from 'node:timers/promises';
import { Registry } from '../../src/dm/registry.js';
import { NbdServer } from '../../src/nbd/server.js';
import { registerBuiltinTargets } from '../../src/targets/index.js';
import { HANG_MS, instantFaultClock, optionPacket, requestPacket, type FuzzResult, type Fuzzer } from './engine.js';
import { Rng } from './rng.js';

class FakeSocket extends Duplex {
  received = 0;
  constructor(private readonly slow: boolean) {
    super({ writableHighWaterMark: slow ? 256 : 16384 });
  }
  override _read(): void {}
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.received += chunk.length;
    if (this.slow) setTimeout(cb, 1);
    else cb();
  }
  setNoDelay(): this {
    return this;
  }
}

function goPacket(name: string): Buffer {
  const data = Buffer.alloc(4 + name.length + 2);
  data.writeUInt32BE(name.length, 0);
  data.write(name, 4);
  const h = Buffer.alloc(16);
  h.write('IHAVEOPT', 0);
  h.writeUInt32BE(7, 8);
  h.writeUInt32BE(data.length, 12);
  return Buffer.concat([h, data]);
}

function closed(s: FakeSocket): Promise<boolean> {
  if (s.destroyed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), HANG_MS);
    s.once('close', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/** A clean session on a fresh connection: GO base, READ 4096 at 0, DISC; true when answered. */
export async function healthyInProcess(server: NbdServer): Promise<boolean> {
  const s = new FakeSocket(false);
  const out: Buffer[] = [];
  s._write = (chunk: Buffer, _e, cb) => {
    out.push(Buffer.from(chunk));
    cb();
  };
  (server as unknown as { accept(sock: unknown): void }).accept(s);
  const flags = Buffer.alloc(4);
  flags.writeUInt32BE(3);
  const req = Buffer.alloc(28);
  req.writeUInt32BE(0x25609513, 0);
  req.writeUInt16BE(0, 6);
  req.writeUInt32BE(0xabcd, 12);
  req.writeUInt32BE(4096, 24);
  s.push(Buffer.concat([flags, goPacket('base'), req]));
  for (let i = 0; i < 200; i++) {
    await immediate();
    const all = Buffer.concat(out);
    // the simple reply to our READ: magic 0x67446698, error 0, cookie, 4096 bytes
    const at = all.indexOf(Buffer.from([0x67, 0x44, 0x66, 0x98]));
    if (at >= 0 && all.length >= at + 16 + 4096) {
      s.destroy();
      return all.readUInt32BE(at + 4) === 0 && all.readUInt32BE(at + 12) === 0xabcd;
    }
  }
  s.destroy();
  return false;
}

export function nbdStreamFuzzer(): Fuzzer & { packetsPerConnection: number } {
  return {
    name: 'NBD handshake + transmission state machines (in-process streams)',
    packetsPerConnection: 0,
    async run(n, seed) {
      registerBuiltinTargets();
      instantFaultClock();
      const res: FuzzResult = { name: this.name, inputs: 0, crashes: [], ms: 0 };
      const reg = new Registry();
      reg.modprobeBrd({ rd_nr: 1, rd_size: 1024 });
      await reg.create('base', { table: '0 2048 linear /dev/ram0 0' });
      await reg.create('ro', { table: '0 64 zero', readOnly: true });
      const server = new NbdServer({ registry: reg, log: () => undefined });
      const uncaught: unknown[] = [];
      const onUncaught = (e: unknown): void => void uncaught.push(e);
      process.on('uncaughtException', onUncaught);
      process.on('unhandledRejection', onUncaught);
      const rng = new Rng(seed);
      const t0 = performance.now();
      let conn = 0;
      const pending: Promise<void>[] = [];
      try {
        while (res.inputs < n) {
          const idx = conn++;
          const parts: Buffer[] = [];
          const flags = Buffer.alloc(4);
          flags.writeUInt32BE(rng.chance(0.9) ? rng.pick([1, 3, 3, 3]) : rng.u32());
          parts.push(flags);
          for (let k = rng.int(4); k > 0; k--) parts.push(optionPacket(rng));
          if (rng.chance(0.7)) parts.push(goPacket(rng.chance(0.9) ? 'base' : rng.pick(['ro', '', 'nosuch'])));
          for (let k = rng.int(10); k > 0; k--) parts.push(requestPacket(rng, 2048 * 512));
          if (rng.chance(0.05)) parts.push(Buffer.from(rng.bytes(rng.int(256))));
          res.inputs += parts.length;
          const stream = Buffer.concat(parts);
          const slow = rng.chance(0.1);
          const s = new FakeSocket(slow);
          (server as unknown as { accept(sock: unknown): void }).accept(s);
          const ending = rng.pick(['end', 'end', 'destroy', 'open'] as const);
          // feed in random chunks, letting the server run between some of them
          const feed = async (): Promise<void> => {
            let off = 0;
            while (off < stream.length && !s.destroyed) {
              const k = 1 + rng.int(rng.chance(0.5) ? 64 : 4096);
              s.push(stream.subarray(off, off + k));
              off += k;
              if (rng.chance(0.3)) await immediate();
            }
            if (ending === 'end') s.push(null);
            else if (ending === 'destroy') s.destroy();
            else {
              await immediate();
              s.destroy(); // the client vanished without a word
            }
            if (!(await closed(s))) {
              res.crashes.push({ fuzzer: res.name, seed, index: idx, input: stream.toString('base64').slice(0, 600), error: `hang: the connection was not closed within ${HANG_MS} ms after the client ${ending === 'end' ? 'half-closed' : 'went away'}` });
              s.destroy();
            }
          };
          pending.push(feed());
          if (pending.length >= 16) await Promise.all(pending.splice(0));
        }
        await Promise.all(pending);
        for (const e of uncaught) res.crashes.push({ fuzzer: res.name, seed, index: -1, input: '', error: `uncaught: ${e instanceof Error ? `${e.constructor.name}: ${e.message}\n${e.stack ?? ''}` : String(e)}` });
        if (!(await healthyInProcess(server))) res.crashes.push({ fuzzer: res.name, seed, index: -1, input: '', error: 'a healthy client was not served after the fuzzing' });
      } finally {
        process.off('uncaughtException', onUncaught);
        process.off('unhandledRejection', onUncaught);
        await server.close();
        await reg.removeAll().catch(() => undefined);
      }
      this.packetsPerConnection = res.inputs / Math.max(1, conn);
      res.ms = performance.now() - t0;
      return res;
    },
  };
}
