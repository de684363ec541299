// The NBD server against a raw-socket client: every option and command, error replies, oversized
// and out-of-range requests, bad magic, half-closed sockets, pipelining with out-of-order
// completion, backpressure, TLS (PSK, so no certificate tools are needed), busy exports.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { parseBrdParams } from '../../src/backends/ram/brd.js';
import { Registry } from '../../src/dm/registry.js';
import type { NbdTlsOptions } from '../../src/nbd/server.js';
import { MAX_INFLIGHT, NbdServer, nbdReplyChannel, nbdRequestChannel, parseListen } from '../../src/nbd/server.js';
import { CMD, CMD_FLAG, INFO, NBD_ERR, OPT, REP, REPLY_TYPE, STATE_HOLE, STATE_ZERO, TF } from '../../src/nbd/protocol.js';
import { RawClient, infoRequest, infos, metaRequest } from './client.js';

const MiB = 1 << 20;

interface Env {
  registry: Registry;
  server: NbdServer;
  path: string;
  dir: string;
  close(): Promise<void>;
}

async function setup(tls?: NbdTlsOptions): Promise<Env> {
  const dir = await mkdtemp(join(tmpdir(), 'ucrypt-nbd-'));
  const registry = new Registry();
  registry.modprobeBrd(parseBrdParams(['rd_nr=2', 'rd_size=4096']));
  const server = new NbdServer({ registry, ...(tls ? { tls } : {}) });
  const path = join(dir, 'nbd.sock');
  await server.listen({ kind: 'unix', path });
  return {
    registry,
    server,
    path,
    dir,
    async close() {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function connected(env: Env, name = 'ram0', opts: { structured?: boolean; meta?: boolean } = {}): Promise<RawClient> {
  const c = await RawClient.connect(env.path);
  await c.hello();
  const r = await c.go(name, opts);
  assert.equal(r.at(-1)!.type, REP.ACK, `GO ${name}`);
  return c;
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('listen specs', () => {
  assert.deepEqual(parseListen('tcp:127.0.0.1:10809'), { kind: 'tcp', host: '127.0.0.1', port: 10809 });
  assert.deepEqual(parseListen('tcp:[::1]:1'), { kind: 'tcp', host: '::1', port: 1 });
  assert.deepEqual(parseListen('unix:/tmp/x.sock'), { kind: 'unix', path: '/tmp/x.sock' });
  assert.throws(() => parseListen('tcp:host'), /expected unix:PATH or tcp:HOST:PORT/);
  assert.throws(() => parseListen('udp:1'), /expected/);
});

test('greeting, client flags, LIST, INFO with NAME/DESCRIPTION/BLOCK_SIZE, unknown options continue', async () => {
  const env = await setup();
  try {
    await env.registry.create('lin', { table: '0 2048 linear /dev/ram1 0' });
    const c = await RawClient.connect(env.path);
    assert.equal(await c.hello(), 3, 'FIXED_NEWSTYLE | NO_ZEROES');
    const list = await c.option(OPT.LIST);
    assert.deepEqual(list.map((r) => r.type), [REP.SERVER, REP.SERVER, REP.SERVER, REP.ACK]);
    const names = list.slice(0, 3).map((r) => r.data.toString('utf8', 4, 4 + r.data.readUInt32BE(0)));
    assert.deepEqual(names, ['ram0', 'ram1', 'lin']);
    assert.equal((await c.option(OPT.LIST, Buffer.from('x')))[0]!.type, REP.ERR_INVALID);
    // Unknown options get ERR_UNSUP and the handshake continues.
    assert.equal((await c.option(99, Buffer.from('whatever')))[0]!.type, REP.ERR_UNSUP);
    assert.equal((await c.option(OPT.STARTTLS))[0]!.type, REP.ERR_UNSUP, 'no TLS configured');
    const info = await c.option(OPT.INFO, infoRequest('ram0', [INFO.NAME, INFO.DESCRIPTION, INFO.BLOCK_SIZE]));
    assert.equal(info.at(-1)!.type, REP.ACK);
    const m = infos(info);
    assert.equal(Number(m.get(INFO.EXPORT)!.readBigUInt64BE(0)), 4 * MiB);
    const flags = m.get(INFO.EXPORT)!.readUInt16BE(8);
    for (const f of [TF.HAS_FLAGS, TF.SEND_FLUSH, TF.SEND_FUA, TF.SEND_TRIM, TF.SEND_WRITE_ZEROES, TF.SEND_FAST_ZERO, TF.SEND_CACHE, TF.CAN_MULTI_CONN]) assert.ok(flags & f, `flag ${f}`);
    assert.equal(flags & TF.READ_ONLY, 0);
    assert.equal(m.get(INFO.NAME)!.toString(), 'ram0');
    assert.equal(m.get(INFO.DESCRIPTION)!.toString(), 'RAM disk /dev/ram0');
    const bs = m.get(INFO.BLOCK_SIZE)!;
    assert.deepEqual([bs.readUInt32BE(0), bs.readUInt32BE(4), bs.readUInt32BE(8)], [512, 4096, 32 * MiB]);
    // Unknown export, malformed requests: errors, and the session goes on.
    assert.equal((await c.option(OPT.INFO, infoRequest('nope', [])))[0]!.type, REP.ERR_UNKNOWN);
    assert.equal((await c.option(OPT.GO, Buffer.from([0, 0, 0, 9, 1])))[0]!.type, REP.ERR_INVALID);
    const bad = infoRequest('ram0', [1]);
    assert.equal((await c.option(OPT.INFO, bad.subarray(0, bad.length - 1)))[0]!.type, REP.ERR_INVALID);
    // The mapped device's description and GO.
    const lin = infos(await c.option(OPT.INFO, infoRequest('lin', [INFO.DESCRIPTION])));
    assert.equal(lin.get(INFO.DESCRIPTION)!.toString(), 'device-mapper device /dev/mapper/lin');
    assert.equal(Number(lin.get(INFO.EXPORT)!.readBigUInt64BE(0)), MiB);
    const go = await c.option(OPT.GO, infoRequest('lin', []));
    assert.equal(go.at(-1)!.type, REP.ACK);
    c.request(CMD.READ, 1n, 0, 512);
    const r = await c.reply();
    assert.equal(r.error, 0);
    assert.equal(r.data!.length, 512);
    c.close();
  } finally {
    await env.close();
  }
});

test('handshake violations end the session: unknown client flags, bad option magic, unknown EXPORT_NAME, ABORT', async () => {
  const env = await setup();
  try {
    let c = await RawClient.connect(env.path);
    await c.hello(0x10);
    assert.ok(await c.closedByServer(), 'unknown client flag');
    c = await RawClient.connect(env.path);
    await c.hello();
    c.sendOption(OPT.LIST, Buffer.alloc(0), 0x1234n);
    assert.ok(await c.closedByServer(), 'bad IHAVEOPT');
    c = await RawClient.connect(env.path);
    await c.hello();
    c.sendOption(OPT.EXPORT_NAME, Buffer.from('nope'));
    assert.ok(await c.closedByServer(), 'EXPORT_NAME of an unknown export');
    c = await RawClient.connect(env.path);
    await c.hello();
    c.sendOption(OPT.ABORT);
    assert.equal((await c.optionReply()).type, REP.ACK);
    assert.ok(await c.closedByServer());
    // Non-fixed newstyle: anything but EXPORT_NAME is fatal.
    c = await RawClient.connect(env.path);
    await c.hello(0);
    c.sendOption(OPT.LIST);
    assert.ok(await c.closedByServer());
    // A client that half-closes during the handshake.
    c = await RawClient.connect(env.path);
    await c.hello();
    c.sock.end();
    assert.ok(await c.closedByServer());
  } finally {
    await env.close();
  }
});

test('EXPORT_NAME with and without NO_ZEROES, default export', async () => {
  const env = await setup();
  try {
    for (const cf of [1, 3]) {
      const c = await RawClient.connect(env.path);
      await c.hello(cf);
      c.sendOption(OPT.EXPORT_NAME, Buffer.from('ram1'));
      const r = await c.read(cf === 3 ? 10 : 134);
      assert.equal(Number(r.readBigUInt64BE(0)), 4 * MiB);
      assert.ok(r.readUInt16BE(8) & TF.HAS_FLAGS);
      if (cf === 1) assert.ok(r.subarray(10).every((x) => x === 0));
      c.request(CMD.FLUSH, 7n, 0, 0);
      const r2 = await c.reply();
      assert.deepEqual([r2.cookie, r2.error], [7n, 0]);
      c.close();
    }
    // "" is the default export only when there is exactly one export.
    const c = await RawClient.connect(env.path);
    await c.hello();
    assert.equal((await c.option(OPT.INFO, infoRequest('', [])))[0]!.type, REP.ERR_UNKNOWN);
    c.close();
  } finally {
    await env.close();
  }
});

test('STRUCTURED_REPLY and meta contexts', async () => {
  const env = await setup();
  try {
    const c = await RawClient.connect(env.path);
    await c.hello();
    assert.equal((await c.option(OPT.LIST_META_CONTEXT, metaRequest('ram0', [])))[0]!.type, REP.ERR_INVALID, 'needs structured replies');
    assert.equal((await c.option(OPT.STRUCTURED_REPLY, Buffer.from('x')))[0]!.type, REP.ERR_INVALID);
    assert.equal((await c.option(OPT.STRUCTURED_REPLY))[0]!.type, REP.ACK);
    assert.equal((await c.option(OPT.STRUCTURED_REPLY))[0]!.type, REP.ERR_INVALID, 'repeated');
    for (const q of [[], ['base:'], ['base:allocation'], ['base:allocation', 'x-other:thing']]) {
      const r = await c.option(OPT.LIST_META_CONTEXT, metaRequest('ram0', q));
      assert.deepEqual(r.map((x) => x.type), [REP.META_CONTEXT, REP.ACK], JSON.stringify(q));
      assert.equal(r[0]!.data.toString('utf8', 4), 'base:allocation');
    }
    assert.deepEqual((await c.option(OPT.LIST_META_CONTEXT, metaRequest('ram0', ['qemu:dirty-bitmap:x']))).map((x) => x.type), [REP.ACK]);
    assert.equal((await c.option(OPT.SET_META_CONTEXT, metaRequest('nope', ['base:allocation'])))[0]!.type, REP.ERR_UNKNOWN);
    const bad = metaRequest('ram0', ['base:allocation']);
    assert.equal((await c.option(OPT.SET_META_CONTEXT, bad.subarray(0, bad.length - 2)))[0]!.type, REP.ERR_INVALID);
    const set = await c.option(OPT.SET_META_CONTEXT, metaRequest('ram0', ['base:allocation']));
    assert.deepEqual(set.map((x) => x.type), [REP.META_CONTEXT, REP.ACK]);
    const id = set[0]!.data.readUInt32BE(0);
    c.structured = true;
    const go = await c.option(OPT.GO, infoRequest('ram0', []));
    assert.ok(infos(go).get(INFO.EXPORT)!.readUInt16BE(8) & TF.SEND_DF);
    // A fresh disk is one hole that reads as zeros.
    c.request(CMD.BLOCK_STATUS, 1n, 0, 4 * MiB);
    let r = await c.reply();
    assert.equal(r.error, 0);
    assert.equal(r.chunks[0]!.type, REPLY_TYPE.BLOCK_STATUS);
    assert.equal(r.chunks[0]!.data.readUInt32BE(0), id);
    assert.deepEqual(extents(r.chunks[0]!.data), [[4 * MiB, STATE_HOLE | STATE_ZERO]]);
    // Data at 8 KiB..12 KiB; a 512-byte write allocates its whole page.
    c.request(CMD.WRITE, 2n, 8192, 512, 0, Buffer.alloc(512, 1));
    assert.equal((await c.reply()).error, 0);
    c.request(CMD.BLOCK_STATUS, 3n, 0, 16384);
    r = await c.reply();
    assert.deepEqual(extents(r.chunks[0]!.data), [[8192, 3], [4096, 0], [4096, 3]]);
    c.request(CMD.BLOCK_STATUS, 4n, 0, 16384, CMD_FLAG.REQ_ONE);
    assert.deepEqual(extents((await c.reply()).chunks[0]!.data), [[8192, 3]]);
    c.request(CMD.BLOCK_STATUS, 5n, 4 * MiB - 512, 1024);
    assert.equal((await c.reply()).error, NBD_ERR.EINVAL, 'beyond the end');
    // Trim frees the page again.
    c.request(CMD.TRIM, 6n, 8192, 4096);
    assert.equal((await c.reply()).error, 0);
    c.request(CMD.BLOCK_STATUS, 7n, 0, 16384);
    assert.deepEqual(extents((await c.reply()).chunks[0]!.data), [[16384, 3]]);
    c.close();
  } finally {
    await env.close();
  }
});

function extents(payload: Buffer): number[][] {
  const out: number[][] = [];
  for (let i = 4; i < payload.length; i += 8) out.push([payload.readUInt32BE(i), payload.readUInt32BE(i + 4)]);
  return out;
}

for (const structured of [false, true]) {
  test(`commands and error replies (${structured ? 'structured' : 'simple'} replies)`, async () => {
    const env = await setup();
    try {
      const c = await connected(env, 'ram0', { structured });
      const data = Buffer.alloc(64 * 1024);
      for (let i = 0; i < data.length; i++) data[i] = (i * 7 + 3) & 255;
      c.request(CMD.WRITE, 1n, 4096, data.length, CMD_FLAG.FUA, data);
      assert.deepEqual(await pick(c), { cookie: 1n, error: 0 });
      c.request(CMD.READ, 2n, 4096, data.length);
      let r = await c.reply();
      assert.equal(r.error, 0);
      assert.ok(r.data!.equals(data));
      if (structured) assert.deepEqual(r.chunks.map((x) => [x.type, x.flags]), [[REPLY_TYPE.OFFSET_DATA, 1]]);
      if (structured) {
        c.request(CMD.READ, 21n, 4096, 512, CMD_FLAG.DF);
        assert.equal((await c.reply()).error, 0, 'DF is accepted with structured replies');
      }
      c.request(CMD.FLUSH, 3n, 0, 0);
      assert.equal((await c.reply()).error, 0);
      c.request(CMD.CACHE, 4n, 0, MiB);
      assert.equal((await c.reply()).error, 0);
      c.request(CMD.WRITE_ZEROES, 5n, 4096, 4096, CMD_FLAG.NO_HOLE);
      assert.equal((await c.reply()).error, 0);
      c.request(CMD.WRITE_ZEROES, 6n, 8192, 512, CMD_FLAG.FAST_ZERO | CMD_FLAG.FUA);
      assert.equal((await c.reply()).error, 0, 'RAM disks zero fast');
      c.request(CMD.READ, 7n, 4096, 8192);
      r = await c.reply();
      assert.ok(r.data!.subarray(0, 4096 + 512).every((x) => x === 0));
      assert.ok(r.data!.subarray(4096 + 512).equals(data.subarray(4096 + 512, 8192)));
      c.request(CMD.TRIM, 8n, 0, 4 * MiB, CMD_FLAG.FUA);
      assert.equal((await c.reply()).error, 0);
      // Errors, each followed by a request that still works.
      const bad: [string, () => void, number][] = [
        ['read beyond the end', () => c.request(CMD.READ, 10n, 4 * MiB - 512, 1024), NBD_ERR.EINVAL],
        ['write beyond the end', () => c.request(CMD.WRITE, 11n, 4 * MiB, 512, 0, Buffer.alloc(512)), NBD_ERR.ENOSPC],
        ['write-zeroes beyond the end', () => c.request(CMD.WRITE_ZEROES, 12n, 4 * MiB, 512), NBD_ERR.ENOSPC],
        ['trim beyond the end', () => c.request(CMD.TRIM, 13n, 2 ** 40, 512), NBD_ERR.EINVAL],
        ['unaligned read', () => c.request(CMD.READ, 14n, 100, 512), NBD_ERR.EINVAL],
        ['unaligned write', () => c.request(CMD.WRITE, 15n, 0, 100, 0, Buffer.alloc(100)), NBD_ERR.EINVAL],
        ['oversized read', () => c.request(CMD.READ, 16n, 0, 33 * MiB), NBD_ERR.EINVAL],
        ['oversized write (payload skipped)', () => c.request(CMD.WRITE, 17n, 0, 33 * MiB, 0, Buffer.alloc(33 * MiB, 9)), NBD_ERR.EINVAL],
        ['unknown command', () => c.request(42, 18n, 0, 0), NBD_ERR.EINVAL],
        ['bad flags', () => c.request(CMD.READ, 19n, 0, 512, CMD_FLAG.NO_HOLE), NBD_ERR.EINVAL],
        ['flush with a length', () => c.request(CMD.FLUSH, 20n, 0, 512), NBD_ERR.EINVAL],
        ['block status without a context', () => c.request(CMD.BLOCK_STATUS, 22n, 0, 512), NBD_ERR.EINVAL],
        ['zero-length read', () => c.request(CMD.READ, 23n, 0, 0), NBD_ERR.EINVAL],
      ];
      if (!structured) bad.push(['DF without structured replies', () => c.request(CMD.READ, 24n, 0, 512, CMD_FLAG.DF), NBD_ERR.EINVAL]);
      for (const [what, send, errno] of bad) {
        send();
        r = await c.reply();
        assert.equal(r.error, errno, what);
        assert.equal(r.data, undefined, `${what}: no data`);
        if (structured) assert.ok(r.message.length > 0, `${what}: a message`);
        c.request(CMD.READ, 99n, 0, 512);
        assert.equal((await c.reply()).error, 0, `after ${what}`);
      }
      // The oversized write's payload was not written.
      c.request(CMD.READ, 25n, 0, 4096);
      assert.ok((await c.reply()).data!.every((x) => x === 0));
      // DISC: no reply, the server closes.
      c.request(CMD.DISC, 26n, 0, 0);
      assert.ok(await c.closedByServer());
    } finally {
      await env.close();
    }
  });
}

async function pick(c: RawClient): Promise<{ cookie: bigint; error: number }> {
  const r = await c.reply();
  return { cookie: r.cookie, error: r.error };
}

test('read-only devices: READ_ONLY, no TRIM/WRITE_ZEROES flags, writes refused with EPERM', async () => {
  const env = await setup();
  try {
    await env.registry.create('ro', { table: '0 2048 linear /dev/ram0 0', readOnly: true });
    const c = await RawClient.connect(env.path);
    await c.hello();
    const go = await c.go('ro', { structured: true });
    const flags = infos(go).get(INFO.EXPORT)!.readUInt16BE(8);
    assert.ok(flags & TF.READ_ONLY);
    assert.equal(flags & (TF.SEND_TRIM | TF.SEND_WRITE_ZEROES | TF.SEND_FAST_ZERO), 0);
    c.request(CMD.WRITE, 1n, 0, 512, 0, Buffer.alloc(512));
    assert.equal((await c.reply()).error, NBD_ERR.EPERM);
    c.request(CMD.WRITE_ZEROES, 2n, 0, 512);
    assert.equal((await c.reply()).error, NBD_ERR.EPERM);
    c.request(CMD.READ, 3n, 0, 512);
    assert.equal((await c.reply()).error, 0);
    c.close();
  } finally {
    await env.close();
  }
});

test('FAST_ZERO fails fast with ENOTSUP where zeroing is not cheap; TRIM refused without discard', async () => {
  const env = await setup();
  try {
    const file = join(env.dir, 'disk.img');
    await writeFile(file, Buffer.alloc(MiB, 5));
    await env.registry.create('f', { table: `0 2048 linear ${file} 0` });
    const dev = await env.registry.device('f');
    const c = await connected(env, 'f');
    if (!dev!.limits.writeZeroes) {
      c.request(CMD.WRITE_ZEROES, 1n, 0, 4096, CMD_FLAG.FAST_ZERO);
      assert.equal((await c.reply()).error, NBD_ERR.ENOTSUP);
      c.request(CMD.READ, 2n, 0, 512);
      assert.ok((await c.reply()).data!.every((x) => x === 5), 'unchanged');
    }
    c.request(CMD.WRITE_ZEROES, 3n, 0, 4096);
    assert.equal((await c.reply()).error, 0);
    c.request(CMD.READ, 4n, 0, 4096);
    assert.ok((await c.reply()).data!.every((x) => x === 0));
    if (!dev!.limits.discard) {
      c.request(CMD.TRIM, 5n, 0, 4096);
      assert.equal((await c.reply()).error, NBD_ERR.EINVAL);
    }
    c.close();
  } finally {
    await env.close();
  }
});

test('diagnostics channels see each request and its reply', async () => {
  const env = await setup();
  const seen: string[] = [];
  const onReq = (m: unknown): void => void seen.push(`req ${(m as { type: number }).type}`);
  const onRep = (m: unknown): void => void seen.push(`rep ${(m as { type: number }).type} ${(m as { error: number }).error}`);
  nbdRequestChannel.subscribe(onReq);
  nbdReplyChannel.subscribe(onRep);
  try {
    const c = await connected(env);
    c.request(CMD.READ, 1n, 0, 512);
    await c.reply();
    c.request(CMD.READ, 2n, 1, 512);
    await c.reply();
    assert.deepEqual(seen, ['req 0', 'rep 0 0', `rep 0 ${NBD_ERR.EINVAL}`]);
    c.close();
  } finally {
    nbdRequestChannel.unsubscribe(onReq);
    nbdReplyChannel.unsubscribe(onRep);
    await env.close();
  }
});

test('bad request magic ends the connection', async () => {
  const env = await setup();
  try {
    const c = await connected(env);
    c.write(Buffer.alloc(28, 0xee));
    assert.ok(await c.closedByServer());
  } finally {
    await env.close();
  }
});

test('pipelined requests complete out of order; replies as they complete', async () => {
  const env = await setup();
  try {
    const rd = env.registry.ramDisk(0)!;
    const orig = rd.read.bind(rd);
    rd.readNow = () => false; // through the patched read, not the synchronous path
    rd.read = async (off, buf) => {
      if (off === 0) await delay(400);
      return orig(off, buf);
    };
    const c = await connected(env, 'ram0', { structured: true });
    // Byte-at-a-time delivery of a request must parse the same.
    const h = Buffer.alloc(28);
    h.writeUInt32BE(0x25609513, 0);
    h.writeUInt16BE(CMD.READ, 6);
    h.writeBigUInt64BE(1n, 8);
    h.writeUInt32BE(512, 24);
    c.readLengths.set(1n, 512);
    for (const b of h) c.write(Buffer.from([b]));
    for (let i = 2; i <= 10; i++) c.request(CMD.READ, BigInt(i), i * 4096, 4096);
    const order: bigint[] = [];
    for (let i = 0; i < 10; i++) order.push((await c.reply()).cookie);
    assert.equal(order.at(-1), 1n, 'the slow read is answered last');
    assert.deepEqual([...order].sort((a, b) => Number(a - b)), [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n, 10n]);
    c.close();
  } finally {
    await env.close();
  }
});

test('backpressure: at most MAX_INFLIGHT requests are started; all are answered', async () => {
  const env = await setup();
  try {
    const rd = env.registry.ramDisk(0)!;
    const orig = rd.write.bind(rd);
    let running = 0;
    let peak = 0;
    let gate!: () => void;
    const opened = new Promise<void>((r) => (gate = r));
    rd.writeNow = () => false; // through the patched write, not the synchronous path
    rd.write = async (off, buf, flags) => {
      running++;
      peak = Math.max(peak, running);
      await opened;
      running--;
      return orig(off, buf, flags);
    };
    const c = await connected(env);
    const n = 200;
    for (let i = 0; i < n; i++) c.request(CMD.WRITE, BigInt(i), (i % 1000) * 4096, 4096, 0, Buffer.alloc(4096, i & 255));
    for (let i = 0; i < 60 && peak < MAX_INFLIGHT - 1; i++) await delay(50);
    await delay(100);
    assert.ok(peak <= MAX_INFLIGHT, `peak ${peak}`);
    assert.ok(peak >= MAX_INFLIGHT - 1, `peak ${peak}`);
    gate();
    const seen = new Set<bigint>();
    for (let i = 0; i < n; i++) {
      const r = await c.reply();
      assert.equal(r.error, 0);
      seen.add(r.cookie);
    }
    assert.equal(seen.size, n);
    c.close();
  } finally {
    await env.close();
  }
});

test('a half-closed client still gets every reply, then the server closes', async () => {
  const env = await setup();
  try {
    const c = await connected(env);
    for (let i = 0; i < 20; i++) c.request(CMD.WRITE, BigInt(i), i * 4096, 4096, 0, Buffer.alloc(4096, 1));
    c.request(CMD.READ, 100n, 0, 4096);
    c.sock.end();
    let reads = 0;
    for (let i = 0; i < 21; i++) {
      const r = await c.reply();
      assert.equal(r.error, 0);
      if (r.cookie === 100n) reads++;
    }
    assert.equal(reads, 1);
    assert.ok(await c.closedByServer());
  } finally {
    await env.close();
  }
});

test('exports are held open: dmsetup remove and rmmod are busy while connected; a vanished client loses no started write', async () => {
  const env = await setup();
  try {
    await env.registry.create('lin', { table: '0 2048 linear /dev/ram1 0' });
    const c = await connected(env, 'lin');
    await assert.rejects(env.registry.remove('lin'), { errno: 'EBUSY' });
    assert.throws(() => env.registry.rmmodBrd(), /in use/);
    // A slow write, then the client vanishes before the reply.
    const rd = env.registry.ramDisk(1)!;
    const orig = rd.write.bind(rd);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    rd.writeNow = () => false; // through the patched write, also under linear's writeNow
    rd.write = async (off, buf, flags) => {
      await gate;
      return orig(off, buf, flags);
    };
    c.request(CMD.WRITE, 1n, 0, 4096, 0, Buffer.alloc(4096, 0xab));
    await delay(50);
    c.close();
    await delay(50);
    await assert.rejects(env.registry.remove('lin'), { errno: 'EBUSY' }, 'held until the write finishes');
    release();
    await delay(50);
    const buf = new Uint8Array(4096);
    await rd.read(0, buf);
    assert.ok(buf.every((x) => x === 0xab));
    await env.registry.remove('lin');
    const c2 = await connected(env, 'ram0');
    c2.close();
    await delay(50);
    env.registry.rmmodBrd();
  } finally {
    await env.close();
  }
});

test('a client that vanishes in the middle of a WRITE payload releases the export', async () => {
  const env = await setup();
  try {
    await env.registry.create('lin', { table: '0 2048 linear /dev/ram1 0' });
    for (const how of ['destroy', 'half-close'] as const) {
      const c = await connected(env, 'lin');
      const h = Buffer.alloc(28);
      h.writeUInt32BE(0x25609513, 0);
      h.writeUInt16BE(CMD.WRITE, 6);
      h.writeUInt32BE(65536, 24);
      c.write(Buffer.concat([h, Buffer.alloc(1000, 1)]));
      await delay(50);
      if (how === 'destroy') c.close();
      else {
        c.sock.end();
        assert.ok(await c.closedByServer(), 'the server closes after a half-close mid-payload');
      }
      await delay(50);
      await env.registry.remove('lin');
      await env.registry.create('lin', { table: '0 2048 linear /dev/ram1 0' });
      const buf = new Uint8Array(1024);
      await env.registry.ramDisk(1)!.read(0, buf);
      assert.ok(buf.every((x) => x === 0), 'nothing of the partial payload was written');
    }
  } finally {
    await env.close();
  }
});

test('requests wait across suspend and complete on resume', async () => {
  const env = await setup();
  try {
    await env.registry.create('lin', { table: '0 2048 linear /dev/ram1 0' });
    const c = await connected(env, 'lin');
    await env.registry.suspend('lin');
    c.request(CMD.WRITE, 1n, 0, 512, 0, Buffer.alloc(512, 7));
    let got = false;
    const p = c.reply().then((r) => {
      got = true;
      return r;
    });
    await delay(150);
    assert.equal(got, false, 'no reply while suspended');
    await env.registry.resume('lin');
    assert.equal((await p).error, 0);
    c.close();
  } finally {
    await env.close();
  }
});

test('many connections at once, multi-conn flush', async () => {
  const env = await setup();
  try {
    const clients = await Promise.all(Array.from({ length: 16 }, () => connected(env, 'ram1', { structured: true })));
    await Promise.all(clients.map(async (c, i) => {
      c.request(CMD.WRITE, 1n, i * 65536, 65536, 0, Buffer.alloc(65536, i + 1));
      assert.equal((await c.reply()).error, 0);
    }));
    clients[0]!.request(CMD.FLUSH, 2n, 0, 0);
    assert.equal((await clients[0]!.reply()).error, 0);
    await Promise.all(clients.map(async (c, i) => {
      c.request(CMD.READ, 3n, ((i + 1) % 16) * 65536, 65536);
      assert.ok((await c.reply()).data!.every((x) => x === ((i + 1) % 16) + 1));
      c.close();
    }));
  } finally {
    await env.close();
  }
});

test('TLS require (PSK): only STARTTLS before TLS; the session restarts clean over TLS', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ucrypt-psk-'));
  const key = Buffer.alloc(32, 0x5a);
  const pskFile = join(dir, 'keys.psk');
  await writeFile(pskFile, `alice:${key.toString('hex')}\n`);
  const env = await setup({ mode: 'require', psk: pskFile });
  try {
    let c = await RawClient.connect(env.path);
    await c.hello();
    assert.equal((await c.option(OPT.LIST))[0]!.type, REP.ERR_TLS_REQD);
    assert.equal((await c.option(OPT.INFO, infoRequest('ram0', [])))[0]!.type, REP.ERR_TLS_REQD);
    assert.equal((await c.option(OPT.STRUCTURED_REPLY))[0]!.type, REP.ERR_TLS_REQD);
    assert.equal((await c.option(99))[0]!.type, REP.ERR_TLS_REQD);
    assert.equal((await c.option(OPT.STARTTLS, Buffer.from('x')))[0]!.type, REP.ERR_INVALID);
    c.sendOption(OPT.EXPORT_NAME, Buffer.from('ram0'));
    assert.ok(await c.closedByServer(), 'EXPORT_NAME before TLS hangs up');

    c = await RawClient.connect(env.path);
    await c.hello();
    assert.equal((await c.option(OPT.STARTTLS))[0]!.type, REP.ACK);
    c.sock.removeAllListeners('data');
    const t = tlsConnect({ socket: c.sock, pskCallback: () => ({ identity: 'alice', psk: key }), checkServerIdentity: () => undefined });
    await new Promise<void>((resolve, reject) => {
      t.once('secureConnect', () => resolve());
      t.once('error', reject);
    });
    const tc = RawClient.wrap(t);
    assert.equal((await tc.option(OPT.STARTTLS))[0]!.type, REP.ERR_INVALID, 'STARTTLS twice');
    const r = await tc.go('ram0', { structured: true, meta: true });
    assert.equal(r.at(-1)!.type, REP.ACK);
    tc.request(CMD.WRITE, 1n, 0, 4096, 0, Buffer.alloc(4096, 3));
    assert.equal((await tc.reply()).error, 0);
    tc.request(CMD.READ, 2n, 0, 4096);
    assert.ok((await tc.reply()).data!.every((x) => x === 3));
    tc.request(CMD.BLOCK_STATUS, 3n, 0, 8192);
    assert.equal((await tc.reply()).error, 0);
    tc.request(CMD.DISC, 4n, 0, 0);
    assert.ok(await tc.closedByServer());

    // A wrong key: the TLS handshake fails and the session ends.
    c = await RawClient.connect(env.path);
    await c.hello();
    assert.equal((await c.option(OPT.STARTTLS))[0]!.type, REP.ACK);
    c.sock.removeAllListeners('data');
    const bad = tlsConnect({ socket: c.sock, pskCallback: () => ({ identity: 'alice', psk: Buffer.alloc(32, 1) }), checkServerIdentity: () => undefined });
    await new Promise<void>((resolve) => {
      bad.once('secureConnect', () => resolve());
      bad.once('error', () => resolve());
      bad.once('close', () => resolve());
    });
    await delay(100);
    assert.ok(bad.destroyed || !bad.authorized);
    bad.destroy();
  } finally {
    await env.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('server close: in-flight requests finish, then the sockets close', async () => {
  const env = await setup();
  const c = await connected(env);
  c.request(CMD.WRITE, 1n, 0, 4096, 0, Buffer.alloc(4096, 1));
  assert.equal((await c.reply()).error, 0);
  await env.close();
  assert.ok(await c.closedByServer());
});
