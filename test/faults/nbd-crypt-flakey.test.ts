// Errors injected underneath a crypt device reach an NBD client as errors (EIO), never as wrong
// data: crypt over flakey (error_reads, then all I/O failing), served by the NBD server.

import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NbdClient, NbdError } from '../../src/nbd/client.js';
import { NbdServer } from '../../src/nbd/server.js';
import { setFaultClock } from '../../src/targets/flakey/fault-env.js';
import { newRegistry, pattern } from '../dm/support.js';
import { FakeClock } from './support.js';

const KEY = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';
afterEach(() => setFaultClock(undefined));

async function nbdEio(p: Promise<unknown>): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof NbdError && e.errno === 5);
}

test('crypt over flakey, served over NBD: injected errors reach the client as EIO, good data otherwise', async () => {
  const clock = new FakeClock();
  setFaultClock(clock);
  const dir = mkdtempSync(join(tmpdir(), 'ucrypt-nbd-flakey-'));
  const reg = newRegistry();
  await reg.create('fl', { table: '0 2048 flakey /dev/ram0 0 1 1 1 error_reads' });
  await reg.create('c', { table: `0 2048 crypt aes-xts-plain64 ${KEY} 0 /dev/mapper/fl 0` });
  const server = new NbdServer({ registry: reg });
  const sock = join(dir, 'nbd.sock');
  await server.listen({ kind: 'unix', path: sock });
  const client = await NbdClient.connect(`nbd+unix:///c?socket=${sock}`, { timeoutMs: 5000 });
  try {
    const data = pattern(30, 65536);
    await client.write(0, data);
    await client.flush();
    const back = new Uint8Array(65536);
    await client.read(0, back);
    assert.deepEqual(back, data);
    clock.advance(1000); // down: reads fail below the crypt device
    await nbdEio(client.read(0, new Uint8Array(4096)));
    await nbdEio(client.read(4096, new Uint8Array(65536 - 4096)));
    await client.write(8192, data.subarray(8192, 12288)); // writes still pass with error_reads
    clock.advance(1000); // up again: the same data, never garbage
    await client.read(0, back);
    assert.deepEqual(back, data);
  } finally {
    await client.close();
    await server.close();
    await reg.removeAll();
    await rm(dir, { recursive: true, force: true });
  }
});
