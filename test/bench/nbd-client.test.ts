// The NBD client against the project's server (in this process) and, when installed, nbdkit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from '../../src/dm/registry.js';
import { NbdServer } from '../../src/nbd/server.js';
import { NbdClient, NbdError, formatNbdUri, parseNbdUri } from '../../src/nbd/client.js';

async function serve(): Promise<{ uri: string; registry: Registry; close(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'ucrypt-nbdc-'));
  const registry = new Registry();
  registry.modprobeBrd({ rd_nr: 1, rd_size: 8192 });
  const server = new NbdServer({ registry });
  const path = join(dir, 'nbd.sock');
  await server.listen({ kind: 'unix', path });
  return {
    uri: `nbd+unix:///ram0?socket=${path}`,
    registry,
    async close() {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

test('URIs: unix and TCP, with defaults', () => {
  assert.deepEqual(parseNbdUri('nbd+unix:///eram0?socket=/run/x/nbd.sock'), { transport: 'unix', socket: '/run/x/nbd.sock', name: 'eram0' });
  assert.deepEqual(parseNbdUri('nbd://localhost:10810/eram0-inline-read'), { transport: 'tcp', host: 'localhost', port: 10810, name: 'eram0-inline-read' });
  assert.deepEqual(parseNbdUri('nbd://[::1]/x'), { transport: 'tcp', host: '::1', port: 10809, name: 'x' });
  assert.equal(formatNbdUri(parseNbdUri('nbd://[::1]:1/x')), 'nbd://[::1]:1/x');
  assert.throws(() => parseNbdUri('nbd+unix:///x'), /socket=PATH/);
  assert.throws(() => parseNbdUri('nbds://h/x'), /TLS/);
  assert.throws(() => parseNbdUri('http://h/x'), /not an NBD URI/);
});

test('handshake, pipelined reads and writes at depth 32, flush, errors, unknown export', async () => {
  const s = await serve();
  try {
    const c = await NbdClient.connect(s.uri);
    assert.equal(c.size, 8192 * 1024);
    assert.equal(c.readOnly, false);
    assert.ok(c.blockSize && c.blockSize.minimum >= 1);
    const data = randomBytes(256 * 4096);
    await Promise.all(Array.from({ length: 256 }, (_, i) => c.write(i * 4096, data.subarray(i * 4096, (i + 1) * 4096))));
    await c.flush();
    const back = Buffer.alloc(data.length);
    // Out-of-order completion is fine: each reply lands in its own request's buffer.
    const bufs = Array.from({ length: 32 }, () => Buffer.alloc(8 * 4096));
    await Promise.all(bufs.map((b, i) => c.read(i * b.length, b)));
    Buffer.concat(bufs).copy(back);
    assert.ok(back.equals(data));
    // Also visible in the registry's device: the server really wrote it.
    const dev = (await s.registry.device('/dev/ram0'))!;
    const direct = new Uint8Array(4096);
    await dev.read(4096 * 7, direct);
    assert.ok(Buffer.from(direct).equals(data.subarray(4096 * 7, 4096 * 8)));
    // A request past the end fails alone; the connection goes on.
    await assert.rejects(c.read(c.size, Buffer.alloc(4096)), (e: unknown) => e instanceof NbdError && (e.errno === 22 || e.errno === 28));
    await c.read(0, Buffer.alloc(512));
    await c.close();
    await assert.rejects(c.read(0, Buffer.alloc(512)), /closed/);
    await assert.rejects(NbdClient.connect(s.uri.replace('ram0', 'nope')), (e: unknown) => e instanceof NbdError && /not found|no export/.test(e.message));
  } finally {
    await s.close();
  }
});

test('a server that goes away fails every pending request', async () => {
  const s = await serve();
  const c = await NbdClient.connect(s.uri);
  await s.close();
  await assert.rejects(c.read(0, Buffer.alloc(4096)));
});

const haveNbdkit = spawnSync('nbdkit', ['--version']).status === 0;
test('interoperates with nbdkit (memory plugin)', { skip: haveNbdkit ? false : 'nbdkit is not installed' }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ucrypt-nbdkit-'));
  const sock = join(dir, 'nbdkit.sock');
  const child = spawn('nbdkit', ['-f', '-U', sock, 'memory', '16M'], { stdio: 'ignore' });
  try {
    for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
    // nbdkit creates the socket before it listens: retry a refused connection for a while.
    let c: NbdClient | undefined;
    for (let i = 0; !c; i++) {
      try {
        c = await NbdClient.connect(`nbd+unix:///?socket=${sock}`);
      } catch (err) {
        if (i >= 100) throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    assert.equal(c.size, 16 << 20);
    const data = randomBytes(65536);
    await c.write(65536, data, { fua: true });
    const back = Buffer.alloc(65536);
    await c.read(65536, back);
    assert.ok(back.equals(data));
    await c.close();
  } finally {
    child.kill();
    await rm(dir, { recursive: true, force: true });
  }
});
