// The socket-level round: a real daemon (control socket + NBD server on unix sockets) gets
// fuzzed control lines and NBD byte streams from many connections (half-closed, reset, slow
// readers that never read), then must still serve a healthy control client and NBD client.
// UCRYPT_FUZZ_SEED reproduces a run.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ControlClient } from '../../src/daemon/client.js';
import { runtimePaths } from '../../src/daemon/paths.js';
import { startDaemon } from '../../src/daemon/server.js';
import { NbdClient } from '../../src/nbd/client.js';
import { genRequest, instantFaultClock, optionPacket, requestPacket, sanitizeArgs } from './engine.js';
import { mutateBytes, Rng } from './rng.js';

const SEED = process.env['UCRYPT_FUZZ_SEED'] ? Number(process.env['UCRYPT_FUZZ_SEED']) >>> 0 : (Math.random() * 2 ** 32) >>> 0;

function connect(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createConnection(path);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** A control line that is safe to execute: JSON requests get their path-like args replaced. */
function safeLine(rng: Rng, id: number): string {
  const line = genRequest(rng, id);
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return line.replace(/\n/g, ' ');
  }
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    if (o['op'] === 'modprobe' || o['op'] === 'rmmod') o['op'] = 'dm.list';
    return JSON.stringify(sanitizeArgs(o));
  }
  return line;
}

test('fuzz over sockets: the daemon survives fuzzed control lines and NBD streams and still serves healthy clients', { timeout: 5 * 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ucrypt-fuzz-sock-'));
  process.chdir(dir);
  instantFaultClock();
  const paths = runtimePaths({ UCRYPT_RUNTIME_DIR: join(dir, 'run') });
  const daemon = await startDaemon({ paths, log: () => undefined });
  const rng = new Rng(SEED);
  let controlLines = 0;
  let nbdPackets = 0;
  try {
    const setup = await ControlClient.connect(paths.control);
    await setup.call('modprobe', { module: 'brd', params: ['rd_nr=1', 'rd_size=1024'] });
    await setup.call('dm.create', { name: 'base', table: '0 2048 linear /dev/ram0 0' });
    setup.close();

    // control socket: 40 connections x 50 lines, some half-closed, some reset mid-line
    for (let c = 0; c < 40; c++) {
      const s = await connect(paths.control);
      s.on('error', () => undefined);
      s.on('data', () => undefined);
      const lines: string[] = [];
      for (let i = 0; i < 50; i++) lines.push(safeLine(rng, c * 100 + i));
      controlLines += lines.length;
      let text = lines.join('\n') + '\n';
      if (rng.chance(0.2)) text += Buffer.from(mutateBytes(Buffer.from(text.slice(0, 200)), rng)).toString('latin1');
      s.write(text);
      const how = rng.int(3);
      if (how === 0) s.end();
      else if (how === 1) s.destroy();
      else {
        await sleep(5);
        s.destroy();
      }
    }

    // NBD: 150 connections of fuzzed handshakes and requests, half-closed, reset, or slow readers
    const slow: Socket[] = [];
    for (let c = 0; c < 150; c++) {
      const s = await connect(paths.nbd);
      s.on('error', () => undefined);
      const parts: Buffer[] = [Buffer.from([0, 0, 0, rng.chance(0.9) ? 3 : rng.int(256)])];
      for (let k = rng.int(4); k > 0; k--) parts.push(optionPacket(rng));
      if (rng.chance(0.8)) {
        const name = 'base';
        const go = Buffer.alloc(16 + 4 + name.length + 2);
        go.write('IHAVEOPT', 0);
        go.writeUInt32BE(7, 8);
        go.writeUInt32BE(4 + name.length + 2, 12);
        go.writeUInt32BE(name.length, 16);
        go.write(name, 20);
        parts.push(go);
      }
      for (let k = rng.int(20); k > 0; k--) parts.push(requestPacket(rng, 2048 * 512));
      nbdPackets += parts.length;
      s.write(Buffer.concat(parts));
      const how = rng.int(4);
      if (how === 0) s.end();
      else if (how === 1) s.destroy();
      else if (how === 2) {
        s.pause(); // a slow reader: never reads its replies
        slow.push(s);
      } else {
        s.on('data', () => undefined);
        await sleep(1);
        s.end();
      }
    }
    await sleep(200);

    // healthy clients, while the slow readers are still connected
    const ctl = await ControlClient.connect(paths.control);
    const list = await ctl.call<{ name: string }[]>('dm.list');
    assert.ok(Array.isArray(list), 'the control socket still answers');
    // the fuzzed lines may have removed or reloaded it: a known table for the NBD check
    if (list.some((d) => d.name === 'base')) {
      await ctl.call('dm.reload', { name: 'base', table: '0 2048 linear /dev/ram0 0' });
      await ctl.call('dm.resume', { name: 'base' });
    } else await ctl.call('dm.create', { name: 'base', table: '0 2048 linear /dev/ram0 0' });
    ctl.close();
    const nbd = await NbdClient.connect(`nbd+unix:///base?socket=${paths.nbd}`, { timeoutMs: 5000 });
    const data = new Uint8Array(4096).map((_, i) => (i * 7 + SEED) & 0xff);
    await nbd.write(8192, data);
    await nbd.flush();
    const back = new Uint8Array(4096);
    await nbd.read(8192, back);
    assert.deepEqual(back, data, 'the NBD server still serves reads and writes');
    await nbd.close();
    for (const s of slow) s.destroy();
    t.diagnostic(`seed ${SEED}: ${controlLines} control lines on 40 connections, ${nbdPackets} NBD packets on 150 connections`);
  } finally {
    await daemon.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
