// The NBD server's RAM disk fast path (requests served in the tick that parsed them) and its
// socket input (Node's onread: reads into a shared buffer, WRITE payloads received straight into
// their own buffer): requests cut at every kind of boundary round-trip, a half-received WRITE is
// never applied, unread replies stop the server reading (the memory bound), and the connection
// cap refuses clients beyond it while the others keep working.

import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseBrdParams } from '../../src/backends/ram/brd.js';
import { Registry } from '../../src/dm/registry.js';
import { MAX_INFLIGHT_BYTES, NbdServer, nbdRequestChannel } from '../../src/nbd/server.js';
import { CMD, REP } from '../../src/nbd/protocol.js';
import { nativeAddon } from '../../src/crypto/native/index.js';
import { RawClient } from './client.js';

const MiB = 1 << 20;
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function setup(opts: { maxConnections?: number; rdSizeKiB?: number } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'ucrypt-nbd-fast-'));
  const registry = new Registry();
  registry.modprobeBrd(parseBrdParams(['rd_nr=2', `rd_size=${opts.rdSizeKiB ?? 16384}`]));
  const log: string[] = [];
  const server = new NbdServer({ registry, log: (l) => log.push(l), ...(opts.maxConnections ? { maxConnections: opts.maxConnections } : {}) });
  const path = join(dir, 'nbd.sock');
  await server.listen({ kind: 'unix', path });
  return {
    registry, server, path, log,
    async close() {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function connected(path: string, name = 'ram0', structured = false): Promise<RawClient> {
  const c = await RawClient.connect(path);
  await c.hello();
  const r = await c.go(name, { structured });
  assert.equal(r.at(-1)!.type, REP.ACK);
  return c;
}

/** Whether the server busy-polls here (the native recvNowait, not turned off); skips t if not. */
function canBusyPoll(t: TestContext): boolean {
  if ('recvNowait' in (nativeAddon() ?? {}) && process.env['UCRYPT_NBD_POLL_US'] !== '0') return true;
  t.skip('no native recvNowait (addon not built) or busy poll turned off');
  return false;
}

/**
 * Runs `body` in another Node process (a client the server can poll for) with `c`, an NbdClient
 * connected to ram0 on the unix socket at `path`; its exit code.
 */
function runClient(path: string, body: string): Promise<number | null> {
  const clientModule = new URL('../../src/nbd/client.js', import.meta.url).href;
  const script = `
      const { NbdClient } = await import(${JSON.stringify(clientModule)});
      const c = await NbdClient.connect(${JSON.stringify(`nbd+unix:///ram0?socket=${path}`)});
${body}`;
  return new Promise<number | null>((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('exit', resolve);
  });
}

function header(type: number, cookie: bigint, offset: number, length: number): Buffer {
  const h = Buffer.alloc(28);
  h.writeUInt32BE(0x25609513, 0);
  h.writeUInt16BE(type, 6);
  h.writeBigUInt64BE(cookie, 8);
  h.writeBigUInt64BE(BigInt(offset), 16);
  h.writeUInt32BE(length, 24);
  return h;
}

test('RAM disk fast path: requests cut at random points (headers, payloads across reads) round-trip', async () => {
  const env = await setup();
  try {
    for (const structured of [false, true]) {
      const c = await connected(env.path, 'ram0', structured);
      const r = rng(structured ? 7 : 3);
      const size = 16 * MiB;
      const shadow = Buffer.alloc(size);
      let cookie = 0n;
      for (let round = 0; round < 40; round++) {
        // A burst of writes (4 KiB to 2 MiB) sent as one byte stream cut at random points with
        // pauses, so parts arrive in separate socket reads; then the same ranges read back.
        const ranges: [number, number][] = [];
        const stream: Buffer[] = [];
        for (let i = 0; i < 1 + Math.floor(r() * 6); i++) {
          const len = (r() < 0.3 ? 1 + Math.floor(r() * 512) : 1 + Math.floor(r() * 8)) * 4096;
          const off = Math.floor(r() * ((size - len) / 512)) * 512;
          const data = Buffer.allocUnsafe(len);
          for (let j = 0; j < len; j += 4) data.writeUInt32LE((r() * 0x100000000) >>> 0, j);
          data.copy(shadow, off);
          ranges.push([off, len]);
          stream.push(header(CMD.WRITE, ++cookie, off, len), data);
        }
        const all = Buffer.concat(stream);
        for (let pos = 0; pos < all.length;) {
          const n = Math.min(all.length - pos, r() < 0.3 ? 1 + Math.floor(r() * 40) : 1 + Math.floor(r() * 300_000));
          c.write(all.subarray(pos, pos + n));
          pos += n;
          if (r() < 0.3) await delay(1);
        }
        for (let i = 0; i < ranges.length; i++) assert.equal((await c.reply()).error, 0);
        for (const [off, len] of ranges) {
          const id = ++cookie;
          c.request(CMD.READ, id, off, len);
          const rep = await c.reply();
          assert.equal(rep.cookie, id);
          assert.ok(rep.data!.equals(shadow.subarray(off, off + len)), `round ${round}: ${off}+${len}`);
        }
      }
      c.close();
    }
    assert.deepEqual(env.server.inputModes, { onread: 2, stream: 0 }, 'accepted sockets are taken over with onread');
  } finally {
    await env.close();
  }
});

test('RAM disk fast path: a WRITE whose payload never fully arrives is not applied', async () => {
  const env = await setup();
  try {
    for (const how of ['destroy', 'half-close'] as const) {
      const c = await connected(env.path, 'ram1');
      // Header and 300 KiB of a 1 MiB payload: part lands in the shared read buffer, part
      // straight in the payload's own buffer.
      c.write(Buffer.concat([header(CMD.WRITE, 1n, 0, MiB), Buffer.alloc(300 << 10, 1)]));
      await delay(50);
      if (how === 'destroy') c.close();
      else {
        c.sock.end();
        assert.ok(await c.closedByServer(), 'the server closes after a half-close mid-payload');
      }
      await delay(50);
      const buf = new Uint8Array(MiB);
      await env.registry.ramDisk(1)!.read(0, buf);
      assert.ok(buf.every((x) => x === 0), 'nothing of the partial payload was written');
    }
  } finally {
    await env.close();
  }
});

test('RAM disk fast path: a client that reads no replies stops the server reading (unsent replies bound)', async (t) => {
  const env = await setup({ rdSizeKiB: 4096 });
  let started = 0;
  const onReq = (): void => void started++;
  nbdRequestChannel.subscribe(onReq);
  try {
    const c = await connected(env.path);
    c.sock.pause();
    const n = 160;
    for (let i = 0; i < n; i++) c.request(CMD.READ, BigInt(i + 1), (i % 4) * MiB, MiB);
    let last = -1;
    for (let i = 0; i < 50 && started !== last; i++) {
      last = started;
      await delay(100);
    }
    // 64 MiB of unsent replies, plus what the kernel's socket buffers hold, plus the last one.
    t.diagnostic(`${started} of ${n} 1 MiB reads started while the client read nothing`);
    assert.ok(started < n, `started ${started} of ${n}`);
    assert.ok(started <= MAX_INFLIGHT_BYTES / MiB + 8, `started ${started}`);
    c.sock.resume();
    for (let i = 0; i < n; i++) assert.equal((await c.reply()).error, 0);
    assert.equal(started, n);
    c.close();
  } finally {
    nbdRequestChannel.unsubscribe(onReq);
    await env.close();
  }
});

test('--max-connections: clients beyond the cap are closed at once, with a log line; the others keep working', async () => {
  const env = await setup({ maxConnections: 3 });
  try {
    const held = [await connected(env.path), await connected(env.path), await RawClient.connect(env.path)];
    await held[2]!.hello(); // still in the handshake: it counts too
    assert.equal(env.server.connections, 3);
    for (let i = 0; i < 3; i++) {
      const extra = await RawClient.connect(env.path);
      assert.ok(await extra.closedByServer(), 'refused without a greeting');
    }
    await delay(1100); // refusals in the same second are counted into one line
    assert.ok(env.log.some((l) => /nbd: refused 1 connection: 3 already open \(--max-connections\)/.test(l)), env.log.join('\n'));
    assert.ok(env.log.some((l) => /nbd: refused 2 connections: 3 already open/.test(l)), env.log.join('\n'));
    // The held connections still work.
    held[0]!.request(CMD.WRITE, 1n, 0, 4096, 0, Buffer.alloc(4096, 9));
    assert.equal((await held[0]!.reply()).error, 0);
    held[1]!.request(CMD.READ, 2n, 0, 4096);
    assert.ok((await held[1]!.reply()).data!.every((x) => x === 9));
    // A slot frees when a client leaves.
    held[0]!.close();
    for (let i = 0; i < 50 && env.server.connections > 2; i++) await delay(20);
    const again = await connected(env.path);
    again.request(CMD.READ, 3n, 0, 512);
    assert.equal((await again.reply()).error, 0);
    for (const c of [again, held[1]!, held[2]!]) c.close();
  } finally {
    await env.close();
  }
});

test('--max-connections must be a positive integer', () => {
  const registry = new Registry();
  assert.throws(() => new NbdServer({ registry, maxConnections: 0 }), /--max-connections 0: expected a positive integer/);
  assert.throws(() => new NbdServer({ registry, maxConnections: 1.5 }), /expected a positive integer/);
});

test('a plain unix socket client sees the greeting byte for byte (socket taken over with onread)', async () => {
  const env = await setup();
  try {
    const s = createConnection(env.path);
    const got = await new Promise<Buffer>((resolve, reject) => {
      s.once('data', resolve);
      s.once('error', reject);
    });
    assert.equal(got.subarray(0, 8).toString('latin1'), 'NBDMAGIC');
    s.destroy();
  } finally {
    await env.close();
  }
});

test('inline crypt over a RAM disk (readNow/writeNow) served in the parsing tick: same data and ciphertext as the async path', async () => {
  const env = await setup({ rdSizeKiB: 4096 });
  const key = '0123456789abcdef'.repeat(8);
  try {
    await env.registry.create('inl', { table: `0 4096 crypt aes-xts-plain64 ${key} 0 /dev/ram0 0 2 no_read_workqueue no_write_workqueue` });
    await env.registry.create('wq', { table: `0 4096 crypt aes-xts-plain64 ${key} 0 /dev/ram1 0` });
    const r = rng(11);
    const data = Buffer.allocUnsafe(MiB);
    for (let j = 0; j < data.length; j += 4) data.writeUInt32LE((r() * 0x100000000) >>> 0, j);
    for (const name of ['inl', 'wq']) {
      const c = await connected(env.path, name, true);
      let cookie = 0n;
      for (let off = 0; off < MiB; off += 64 << 10) c.request(CMD.WRITE, ++cookie, off, 64 << 10, off === 0 ? 1 : 0, data.subarray(off, off + (64 << 10)));
      for (let i = 0; i < 16; i++) assert.equal((await c.reply()).error, 0);
      c.request(CMD.READ, ++cookie, 0, MiB);
      assert.ok((await c.reply()).data!.equals(data), `${name}: read back`);
      c.close();
    }
    const a = Buffer.alloc(MiB);
    const b = Buffer.alloc(MiB);
    await env.registry.ramDisk(0)!.read(0, a);
    await env.registry.ramDisk(1)!.read(0, b);
    assert.ok(a.equals(b), 'the same ciphertext through both paths');
    assert.ok(!a.equals(data));
  } finally {
    await env.close();
  }
});

test('TCP sockets are taken over with onread too: a 2 MiB write in pieces and reads round-trip', async () => {
  const env = await setup();
  try {
    await env.server.listen({ kind: 'tcp', host: '127.0.0.1', port: 0 });
    const l = env.server.listening.find((x) => x.kind === 'tcp')!;
    const sock = createConnection({ host: '127.0.0.1', port: l.kind === 'tcp' ? l.port : 0 });
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    const c = RawClient.wrap(sock);
    await c.hello();
    assert.equal((await c.go('ram0')).at(-1)!.type, REP.ACK);
    const data = Buffer.alloc(2 * MiB);
    for (let i = 0; i < data.length; i += 4) data.writeUInt32LE(i * 2654435761 >>> 0, i);
    const all = Buffer.concat([header(CMD.WRITE, 1n, MiB, data.length), data]);
    for (let pos = 0; pos < all.length; pos += 100_003) {
      c.write(all.subarray(pos, pos + 100_003));
      await delay(1);
    }
    assert.equal((await c.reply()).error, 0);
    c.request(CMD.READ, 2n, MiB, data.length);
    assert.ok((await c.reply()).data!.equals(data));
    c.close();
    assert.deepEqual(env.server.inputModes, { onread: 1, stream: 0 });
  } finally {
    await env.close();
  }
});

// Busy poll at iodepth 1 (Connection.busyPoll): a client in another process sends one request
// at a time; the server waits for the next one by polling the socket (recv MSG_DONTWAIT)
// instead of going back to epoll. What it reads that way is served like anything else: every
// write reads back, and requests found by polling were counted (a client in this process could
// never be polled for: it cannot send while the server spins).
test('busy poll at iodepth 1: requests found by polling are served and every write reads back', async (t) => {
  const env = await setup();
  try {
    if (!canBusyPoll(t)) return;
    const script = `
      const w = Buffer.alloc(4096), r = Buffer.alloc(4096);
      for (let i = 0; i < 2000; i++) {
        const off = ((i * 7919) % 4096) * 4096;
        w.fill(0); w.writeUInt32LE(i, 0); w.writeUInt32LE(off, 8);
        await c.write(off, w);
        await c.read(off, r);
        if (!r.equals(w)) throw new Error('mismatch at ' + off);
      }
      await c.close();`;
    const before = { ...env.server.busyPoll };
    const code = await runClient(env.path, script);
    assert.equal(code, 0, 'the client saw every write read back');
    const hits = env.server.busyPoll.hits - before.hits;
    const misses = env.server.busyPoll.misses - before.misses;
    console.log(`# busy poll: ${hits} requests found by polling, ${misses} polls timed out, of 4000`);
    assert.ok(hits + misses > 0, 'the server polled between requests');
    // Written data is also what the disk holds (the server's own view).
    const dev = (await env.registry.device('ram0'))!;
    const back = Buffer.alloc(4096);
    await dev.read(((1999 * 7919) % 4096) * 4096, back);
    assert.equal(back.readUInt32LE(0), 1999);
  } finally {
    await env.close();
  }
});

// Large WRITE payloads arrive in rounds of the client's socket send buffer; the server receives
// the rest of a payload by polling (Connection.pollPayload) instead of an epoll wait per round.
// A client in another process (so it can refill while the server polls) sends 1 MiB writes at
// iodepth 4; every one reads back, and payloads were completed by polling.
test('payload busy poll: 1 MiB writes from another process at iodepth 4 are received by polling and read back', async (t) => {
  const env = await setup({ rdSizeKiB: 65536 });
  try {
    if (!canBusyPoll(t)) return;
    const script = `
      const MiB = 1 << 20;
      const block = (i) => { const b = Buffer.alloc(MiB); for (let k = 0; k < MiB; k += 4) b.writeUInt32LE((i * 2654435761 + k) >>> 0, k); return b; };
      for (let round = 0; round < 8; round++) {
        const ws = [];
        for (let j = 0; j < 4; j++) { const i = round * 4 + j; ws.push(c.write((i % 64) * MiB, block(i))); }
        await Promise.all(ws);
      }
      for (let i = 0; i < 32; i++) {
        const r = Buffer.alloc(MiB);
        await c.read((i % 64) * MiB, r);
        if (!r.equals(block(i))) throw new Error('mismatch in block ' + i);
      }
      await c.close();`;
    const before = { ...env.server.payloadPoll };
    const code = await runClient(env.path, script);
    assert.equal(code, 0, 'the client saw every write read back');
    const hits = env.server.payloadPoll.hits - before.hits;
    const misses = env.server.payloadPoll.misses - before.misses;
    console.log(`# payload poll: ${hits} of 32 payloads completed by polling, ${misses} polls timed out`);
    assert.ok(hits + misses > 0, 'the server polled for payload data');
    const dev = (await env.registry.device('ram0'))!;
    const back = Buffer.alloc(512);
    await dev.read(31 * MiB, back);
    assert.equal(back.readUInt32LE(8), (31 * 2654435761 + 8) >>> 0, 'the last block is on the disk');
  } finally {
    await env.close();
  }
});

test('accepted sockets get a send buffer for whole 1 MiB replies: SO_SNDBUF 4 MiB, capped at net.core.wmem_max, doubled by the kernel', async (t) => {
  const setSendBuffer = nativeAddon()?.['setSendBuffer'] as ((fd: number, bytes: number) => number) | undefined;
  if (setSendBuffer === undefined || process.env['UCRYPT_NBD_SNDBUF'] !== undefined) {
    assert.ok(process.env['UCRYPT_REQUIRE_NATIVE'] !== '1' || process.env['UCRYPT_NBD_SNDBUF'] !== undefined, 'UCRYPT_REQUIRE_NATIVE=1 but the addon has no setSendBuffer');
    t.skip('no native setSendBuffer, or UCRYPT_NBD_SNDBUF set');
    return;
  }
  const wmemMax = Number((await import('node:fs')).readFileSync('/proc/sys/net/core/wmem_max', 'utf8').trim());
  const env = await setup();
  try {
    const c = await connected(env.path);
    assert.equal(env.server.sendBuffer, 2 * Math.min(4 * MiB, wmemMax));
    // A 2 MiB READ reply arrives whole and right.
    c.request(CMD.WRITE, 1n, 0, 2 * MiB, 0, Buffer.alloc(2 * MiB, 0x5a));
    assert.equal((await c.reply()).error, 0);
    c.request(CMD.READ, 2n, 0, 2 * MiB);
    assert.ok((await c.reply()).data!.equals(Buffer.alloc(2 * MiB, 0x5a)));
    c.close();
  } finally {
    await env.close();
  }
  // The native call itself: errors are negative errnos, misuse throws.
  assert.equal(setSendBuffer(1 << 30, 65536) < 0, true, 'a closed descriptor: -EBADF');
  assert.throws(() => setSendBuffer(-1, 65536), TypeError);
});
