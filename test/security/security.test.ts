// Security (issue 7, item 5): other users are refused by the runtime directory and socket
// permissions (Node has no SO_PEERCRED, so file permissions are the control: docs/reliability.md);
// TLS is enforced on TCP with --tls=require; per-connection request limits bound the daemon's
// memory; keys never show in logs, errors, process command lines or masked tables; key buffers
// are wiped on remove and `key wipe`; passphrases are never taken from the command line.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from '../../src/dm/registry.js';
import { coreDumpWarning } from '../../src/daemon/server.js';
import { NbdClient } from '../../src/nbd/client.js';
import { CMD, OPT, REP } from '../../src/nbd/protocol.js';
import { cryptKeyBuffers } from '../../src/targets/crypt/crypt.js';
import { openFileIO } from '../../src/luks/file.js';
import { readHeader, unlock } from '../../src/luks/volume.js';
import { RawClient } from '../nbd/client.js';
import { killDaemon, rssOf, startDaemonProc } from '../crash/support.js';
import { BIN, ucrypt } from '../helpers/proc.js';

const ROOT = process.getuid?.() === 0;

/** A runtime directory under a world-traversable parent, so only the daemon's own modes protect it. */
async function openParent(): Promise<{ root: string; dir: string }> {
  const root = await mkdtemp(join(tmpdir(), 'ucrypt-sec-'));
  await chmod(root, 0o755);
  return { root, dir: join(root, 'run') };
}

/** Connects to a unix socket as uid/gid 65534 (nobody) in a child process; returns the error code or 'connected'. */
function connectAsNobody(path: string): string {
  const js = `process.setgid(65534); process.setuid(65534);
    const s = require('node:net').createConnection(${JSON.stringify(path)});
    s.on('connect', () => { console.log('connected'); s.destroy(); });
    s.on('error', (e) => console.log(e.code));`;
  const r = spawnSync(process.execPath, ['-e', js], { encoding: 'utf8', timeout: 10000 });
  return r.stdout.trim() || r.stderr.trim();
}

function readAsNobody(path: string): string {
  const js = `process.setgid(65534); process.setuid(65534);
    try { require('node:fs').readdirSync(${JSON.stringify(path)}); console.log('listed'); } catch (e) { console.log(e.code); }`;
  return spawnSync(process.execPath, ['-e', js], { encoding: 'utf8', timeout: 10000 }).stdout.trim();
}

test('the control socket, the NBD socket and the runtime directory refuse another user, even with tampered socket modes', { skip: ROOT ? false : 'needs root to switch to uid 65534' }, async () => {
  const { root, dir } = await openParent();
  const d = await startDaemonProc(dir);
  try {
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    assert.equal(connectAsNobody(join(dir, 'control.sock')), 'EACCES');
    assert.equal(connectAsNobody(join(dir, 'nbd.sock')), 'EACCES');
    assert.equal(readAsNobody(dir), 'EACCES');
    // Someone loosened the sockets: the directory still keeps others out.
    await chmod(join(dir, 'control.sock'), 0o666);
    await chmod(join(dir, 'nbd.sock'), 0o666);
    assert.equal(connectAsNobody(join(dir, 'control.sock')), 'EACCES');
    assert.equal(connectAsNobody(join(dir, 'nbd.sock')), 'EACCES');
    // Sanity: the same child reaches a socket it may use (the refusals above are permissions).
    await chmod(dir, 0o755);
    assert.equal(connectAsNobody(join(dir, 'control.sock')), 'connected');
  } finally {
    await killDaemon(d);
  }
  // A daemon started on a loosened directory makes it private again, and its sockets 0600.
  await chmod(dir, 0o777);
  const d2 = await startDaemonProc(dir);
  try {
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    assert.equal((await stat(join(dir, 'control.sock'))).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir, 'nbd.sock'))).mode & 0o777, 0o600);
    assert.equal(connectAsNobody(join(dir, 'control.sock')), 'EACCES');
  } finally {
    await killDaemon(d2);
    await rm(root, { recursive: true, force: true });
  }
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

test('--tls=require on TCP: no export is reachable without STARTTLS', async () => {
  const { root, dir } = await openParent();
  const psk = join(root, 'keys.psk');
  await writeFile(psk, `alice:${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  const port = await freePort();
  const d = await startDaemonProc(dir, ['--listen', `tcp:127.0.0.1:${port}`, '--tls=require', `--tls-psk=${psk}`]);
  try {
    await d.control.call('modprobe', { module: 'brd', params: ['rd_nr=1', 'rd_size=1024'] });
    // A plain client is refused.
    await assert.rejects(NbdClient.connect(`nbd://127.0.0.1:${port}/ram0`), /TLS is required|refused/);
    // Raw: GO and INFO answer ERR_TLS_REQD; EXPORT_NAME ends the session.
    const c = RawClient.wrap(createConnection(port, '127.0.0.1'));
    await c.hello();
    const go = await c.go('ram0');
    assert.equal(go.at(-1)!.type, REP.ERR_TLS_REQD);
    const list = await c.option(OPT.LIST);
    assert.equal(list.at(-1)!.type, REP.ERR_TLS_REQD);
    c.sendOption(OPT.EXPORT_NAME, Buffer.from('ram0'));
    assert.equal(await c.closedByServer(), true);
  } finally {
    await killDaemon(d);
    await rm(root, { recursive: true, force: true });
  }
});

test('request limits: a client pipelining 32 MiB writes without reading replies, and oversized requests, leave the daemon RSS bounded', { timeout: 120_000 }, async () => {
  const { root, dir } = await openParent();
  const d = await startDaemonProc(dir);
  try {
    await d.control.call('modprobe', { module: 'brd', params: ['rd_nr=1', 'rd_size=65536'] });
    const c = await RawClient.connect(join(dir, 'nbd.sock'));
    await c.hello();
    await c.go('ram0');
    c.sock.pause(); // never reads a reply
    const before = await rssOf(d.pid);
    let peak = before;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, await rssOf(d.pid));
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    // Oversized requests first: refused without allocating their length.
    c.request(CMD.READ, 1n, 0, 0xffffffff);
    c.request(CMD.READ, 2n, 0, 64 << 20);
    const payload = Buffer.alloc(32 << 20, 0x5a);
    const header = Buffer.alloc(28);
    header.writeUInt32BE(0x25609513, 0);
    header.writeUInt16BE(CMD.WRITE, 6);
    header.writeUInt32BE(payload.length, 24);
    const deadline = Date.now() + 8000;
    let sent = 0;
    for (; sent < 10000 && Date.now() < deadline; sent++) {
      header.writeBigUInt64BE(BigInt(sent + 10), 8);
      header.writeBigUInt64BE(BigInt((sent % 2) * payload.length), 16);
      c.sock.write(header);
      if (!c.sock.write(payload)) {
        // The daemon stopped reading: wait for it (or for the deadline).
        await Promise.race([new Promise((r) => c.sock.once('drain', r)), new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())))]);
      }
    }
    sampling = false;
    await sampler;
    const grew = (peak - before) / (1 << 20);
    console.log(`# request limits: ${sent} x 32 MiB writes offered in 8 s, daemon RSS ${Math.round(before / (1 << 20))} -> peak ${Math.round(peak / (1 << 20))} MiB`);
    // 64 MiB of RAM disk, 64 MiB in flight, a 32 MiB request being assembled, and the stream's
    // chunks: far below what 10,000 x 32 MiB (320 GiB) would take.
    assert.ok(grew < 512, `RSS grew by ${grew.toFixed(0)} MiB`);
    assert.ok(sent >= 2, 'writes were offered');
    c.sock.destroy();
    // The daemon still serves a healthy client.
    const ok = await NbdClient.connect(`nbd+unix:///ram0?socket=${join(dir, 'nbd.sock')}`);
    const b = Buffer.alloc(4096);
    await ok.read(0, b);
    await ok.close();
  } finally {
    await killDaemon(d);
    await rm(root, { recursive: true, force: true });
  }
});

/** Every process's command line (NUL-separated argv joined by spaces). */
async function allCommandLines(): Promise<string[]> {
  const out: string[] = [];
  for (const p of await readdir('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    const c = await readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '');
    if (c) out.push(c.split('\0').join(' '));
  }
  return out;
}

function run(dir: string, args: string[], stdin?: string): Promise<{ stdout: string; stderr: string; exit: number }> {
  return ucrypt(dir, args, stdin);
}

test('keys never reach logs, errors, dmesg, status, masked tables or any command line; passphrases are never argv', { timeout: 120_000 }, async () => {
  const { root, dir } = await openParent();
  try {
    const img = join(root, 'disk.img');
    await writeFile(img, '');
    await truncate(img, 8 << 20);
    const key = randomBytes(64).toString('hex');
    const needles = [key, key.toUpperCase(), key.slice(0, 32), key.slice(64)];
    const seen: string[] = [];
    const check = (what: string, text: string): void => {
      for (const n of needles) if (text.toLowerCase().includes(n.toLowerCase())) seen.push(`${what}: ${text.slice(0, 200)}`);
    };
    assert.equal((await run(dir, ['daemon', '--background'])).exit, 0);
    // The user's own choice puts the key on the CLI's argv (as with dmsetup); the daemon never does.
    const table = `0 16384 crypt aes-xts-plain64 ${key} 0 ${img} 0`;
    assert.equal((await run(dir, ['dmsetup', 'create', 'c'], `${table}\n`)).exit, 0);
    const outputs = [
      await run(dir, ['dmsetup', 'table']),
      await run(dir, ['dmsetup', 'table', 'c', '--inactive']),
      await run(dir, ['dmsetup', 'status']),
      await run(dir, ['dmsetup', 'info', 'c']),
      await run(dir, ['dmsetup', 'ls', '--tree']),
      // Failures that carry the key in their input.
      await run(dir, ['dmsetup', 'create', 'bad1'], `0 16384 crypt aes-xts-plain64 ${key.slice(0, 62)} 0 ${img} 0\n`),
      await run(dir, ['dmsetup', 'create', 'bad2'], `0 16384 crypt aes-nonsense-plain64 ${key} 0 ${img} 0\n`),
      await run(dir, ['dmsetup', 'create', 'bad3'], `0 16384 crypt aes-xts-plain64 ${key} x ${img} 0\n`),
      await run(dir, ['dmsetup', 'create', 'bad4'], `0 16384 crypt aes-xts-plain64 ${key} 0 /nonexistent 0\n`),
      await run(dir, ['dmsetup', 'create', 'bad5'], `0 16384 crypt aes-xts-plain64 ${key} 0 ${img} 0 1 bogus_flag\n`),
      await run(dir, ['dmsetup', 'reload', 'c'], `0 99999999 crypt aes-xts-plain64 ${key} 0 ${img} 0\n`),
      await run(dir, ['dmsetup', 'message', 'c', '0', 'key', 'set', key]), // refused: not suspended
      await run(dir, ['dmsetup', 'create', 'c'], `${table}\n`), // exists
    ];
    for (const r of outputs) check('output', r.stdout + r.stderr);
    assert.ok(outputs.slice(5).every((r) => r.exit !== 0), 'the bad requests failed');
    const masked = (await run(dir, ['dmsetup', 'table', 'c'])).stdout;
    assert.match(masked, / aes-xts-plain64 0{128} /);
    // Sanity: the needle is right (--showkeys prints it).
    assert.ok((await run(dir, ['dmsetup', 'table', 'c', '--showkeys'])).stdout.includes(key));
    // No running process carries the key on its command line (the daemon spawns none with it).
    for (const c of await allCommandLines()) check('cmdline', c);
    check('dmesg', (await run(dir, ['dmesg'])).stdout);
    assert.equal((await run(dir, ['dmsetup', 'remove', 'c'])).exit, 0);
    assert.equal((await run(dir, ['daemon', '--stop'])).exit, 0);
    check('daemon.log', await readFile(join(dir, 'daemon.log'), 'utf8'));
    assert.deepEqual(seen, []);
  } finally {
    await run(dir, ['daemon', '--stop']);
    await rm(root, { recursive: true, force: true });
  }
});

test('cryptsetup: passphrases only from a key file, the terminal or stdin; the volume key never on a command line or in the log', { timeout: 120_000 }, async () => {
  const { root, dir } = await openParent();
  try {
    const img = join(root, 'luks.img');
    await writeFile(img, '');
    await truncate(img, 32 << 20);
    const secret = `pass-${randomBytes(8).toString('hex')}`;
    for (const opt of ['--passphrase', '--password', '--key', '--new-passphrase']) {
      const r = await run(dir, ['cryptsetup', 'open', img, 'x', opt, secret]);
      assert.notEqual(r.exit, 0, `${opt} is refused`);
      assert.ok(!r.stderr.includes(secret) && !r.stdout.includes(secret), `${opt}: the value is not echoed`);
    }
    const keyFile = join(root, 'pass');
    await writeFile(keyFile, secret, { mode: 0o600 });
    const fmt = await run(dir, ['cryptsetup', 'luksFormat', img, keyFile, '--pbkdf', 'pbkdf2', '--pbkdf-force-iterations', '1000', '-q']);
    assert.equal(fmt.exit, 0, fmt.stderr);
    const open = await run(dir, ['cryptsetup', 'open', img, 'v', '-d', keyFile]);
    assert.equal(open.exit, 0, open.stderr);
    const io = await openFileIO(img, false);
    const volumeKey = Buffer.from((await unlock(io, await readHeader(io), new TextEncoder().encode(secret))).key).toString('hex');
    await io.close();
    const texts = [...(await allCommandLines()), (await run(dir, ['cryptsetup', 'status', 'v'])).stdout, (await run(dir, ['dmsetup', 'table', 'v'])).stdout, (await run(dir, ['dmesg'])).stdout];
    const wrong = await run(dir, ['cryptsetup', 'open', img, 'w'], 'wrong passphrase\n');
    assert.equal(wrong.exit, 2);
    texts.push(wrong.stdout + wrong.stderr);
    assert.ok((await run(dir, ['dmsetup', 'table', 'v', '--showkeys'])).stdout.includes(volumeKey), 'sanity: the key we look for is the one in use');
    assert.equal((await run(dir, ['cryptsetup', 'close', 'v'])).exit, 0);
    await run(dir, ['daemon', '--stop']);
    texts.push(await readFile(join(dir, 'daemon.log'), 'utf8').catch(() => ''));
    for (const t of texts) {
      assert.ok(!t.includes(volumeKey), `volume key leaked: ${t.slice(0, 200)}`);
      assert.ok(!t.includes(secret), `passphrase leaked: ${t.slice(0, 200)}`);
    }
  } finally {
    await run(dir, ['daemon', '--stop']);
    await rm(root, { recursive: true, force: true });
  }
});

test('key buffers are zero after remove and after `key wipe`, in every pipeline mode', async () => {
  const reg = new Registry();
  reg.modprobeBrd({ rd_nr: 1, rd_size: 4096 });
  for (const flags of ['', ' 1 no_read_workqueue', ' 1 no_write_workqueue', ' 2 no_read_workqueue no_write_workqueue']) {
    const key = randomBytes(64).toString('hex');
    await reg.create('k', { table: `0 4096 crypt aes-xts-plain64 ${key} 0 /dev/ram0 0${flags}` });
    const dev = (await reg.device('/dev/mapper/k'))!;
    await dev.write(0, Buffer.alloc(65536, 1));
    const target = () => reg.get('k', 'info').live!.targets[0]!.target;
    let bufs = cryptKeyBuffers(target());
    assert.ok(bufs.length > 0 && bufs.some((b) => b.some((x) => x !== 0)), 'the target holds its key');
    await reg.suspend('k');
    await reg.message('k', 0, ['key', 'wipe']);
    for (const b of bufs) assert.ok(b.every((x) => x === 0), `${flags}: wiped by key wipe`);
    await reg.message('k', 0, ['key', 'set', key]);
    await reg.resume('k');
    bufs = cryptKeyBuffers(target());
    assert.ok(bufs.some((b) => b.some((x) => x !== 0)));
    await reg.remove('k');
    for (const b of bufs) assert.ok(b.every((x) => x === 0), `${flags}: wiped on remove`);
  }
});

test('the daemon warns when core dumps are enabled (Node cannot turn them off itself)', async () => {
  assert.equal(coreDumpWarning('Limit   Soft Limit   Hard Limit   Units\nMax core file size        0                    unlimited            bytes\n'), undefined);
  assert.match(coreDumpWarning('Max core file size        unlimited            unlimited            bytes\n') ?? '', /core dumps are enabled .*ulimit -c 0/);
  const { root, dir } = await openParent();
  try {
    const r = await new Promise<string>((resolve) => {
      const child = execFile('sh', ['-c', `ulimit -c unlimited 2>/dev/null || ulimit -c 1024; exec "${process.execPath}" "${BIN}" daemon`], { env: { ...process.env, UCRYPT_RUNTIME_DIR: dir } });
      let err = '';
      child.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        if (/NBD exports on/.test(err)) child.kill('SIGTERM');
      });
      child.on('exit', () => resolve(err));
    });
    assert.match(r, /warning: core dumps are enabled/);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
