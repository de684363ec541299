// `ucrypt cryptsetup`: cryptsetup's verbs, options, prompts, messages and exit codes for LUKS1,
// LUKS2 and plain volumes. The format work is src/luks (pure); this is glue: files, passphrases,
// and the daemon (open/close/status/refresh go through control ops, like cryptsetup's ioctls).
//
// Exit codes (cryptsetup(8) RETURN CODES): 0 ok, 1 wrong parameters, 2 no permission (bad
// passphrase), 3 out of memory, 4 wrong device specified, 5 device already exists or is busy.

import { createHash } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { errorMessage, UcryptError } from '../errors.js';
import type { CliIO, Control } from './io.js';
import { LuksError, NO_KEY_MESSAGE } from '../luks/errors.js';
import { openFileIO } from '../luks/file.js';
import type { FileHeaderIO } from '../luks/file.js';
import type { HeaderIO } from '../luks/io.js';
import type { LuksHeader } from '../luks/volume.js';
import { activeSlots, addKey, changeKey, cryptTable, dump, firstFreeSlot, killSlot, maxSlots, probeLuks, readHeader, segmentView, unlock, uuidOf, writeHeader } from '../luks/volume.js';
import { formatVolume } from '../luks/format.js';
import type { FormatOptions } from '../luks/format.js';
import { luks2JsonText } from '../luks/luks2/luks2.js';
import type { Luks2KdfOptions } from '../luks/luks2/luks2.js';
import { argon2CostFor, argon2TimeFor, nodeHashName, pbkdf2IterationsFor, pbkdf2Rate } from '../luks/pbkdf.js';
import { sectorCipher } from '../luks/storage.js';
import { hexDump } from '../luks/util.js';

const VERSION = 'cryptsetup 2.6.1 (ucrypt)';

const OPTIONS = {
  type: { type: 'string', short: 'M' },
  cipher: { type: 'string', short: 'c' },
  'key-size': { type: 'string', short: 's' },
  hash: { type: 'string', short: 'h' },
  pbkdf: { type: 'string' },
  'pbkdf-memory': { type: 'string' },
  'pbkdf-parallel': { type: 'string' },
  'iter-time': { type: 'string', short: 'i' },
  'pbkdf-force-iterations': { type: 'string' },
  'sector-size': { type: 'string' },
  label: { type: 'string' },
  subsystem: { type: 'string' },
  uuid: { type: 'string' },
  header: { type: 'string' },
  'key-file': { type: 'string', short: 'd' },
  'keyfile-size': { type: 'string', short: 'l' },
  'keyfile-offset': { type: 'string' },
  'new-keyfile': { type: 'string' },
  'key-slot': { type: 'string', short: 'S' },
  readonly: { type: 'boolean', short: 'r' },
  'allow-discards': { type: 'boolean' },
  'perf-same_cpu_crypt': { type: 'boolean' },
  'perf-submit_from_crypt_cpus': { type: 'boolean' },
  'perf-no_read_workqueue': { type: 'boolean' },
  'perf-no_write_workqueue': { type: 'boolean' },
  'perf-high_priority': { type: 'boolean' },
  persistent: { type: 'boolean' },
  'test-passphrase': { type: 'boolean' },
  'dump-volume-key': { type: 'boolean' },
  'dump-master-key': { type: 'boolean' },
  'dump-json-metadata': { type: 'boolean' },
  'batch-mode': { type: 'boolean', short: 'q' },
  verbose: { type: 'boolean', short: 'v' },
  debug: { type: 'boolean' },
  offset: { type: 'string', short: 'o' },
  skip: { type: 'string', short: 'p' },
  size: { type: 'string', short: 'b' },
  'disable-locks': { type: 'boolean' },
  'disable-keyring': { type: 'boolean' },
  'disable-external-tokens': { type: 'boolean' },
  'force-password': { type: 'boolean' },
  help: { type: 'boolean' },
  version: { type: 'boolean', short: 'V' },
} as const;

type Opts = ReturnType<typeof parse>['values'];

function parse(argv: readonly string[]) {
  return parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
}

const USAGE = `${VERSION}
Usage: ucrypt cryptsetup [OPTION...] <action> <action-specific>

<action> is one of:
	open <device> [--type <type>] [<name>] - open device as <name>
	close <name> - close device (remove mapping)
	status <name> - show device status
	refresh <name> - refresh device with new activation flags
	benchmark [--cipher <cipher>] - benchmark cipher
	luksFormat <device> [<new key file>] - formats a LUKS device
	luksAddKey <device> [<new key file>] - add key to LUKS device
	luksRemoveKey <device> [<key file>] - removes supplied key or key file from LUKS device
	luksChangeKey <device> [<key file>] - changes supplied key or key file of LUKS device
	luksKillSlot <device> <key slot> - wipes key with number <key slot> from LUKS device
	luksUUID <device> - print UUID of LUKS device
	isLuks <device> - tests <device> for LUKS partition header
	luksDump <device> - dump LUKS partition information
	luksOpen, luksClose: open and close with --type luks

Passphrases are read from the terminal (no echo), from --key-file (- for stdin) or from standard
input, never from the command line.
`;

/** A failure cryptsetup reports with a message and an exit code. */
class Fail extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

const enc = new TextEncoder();

// ---- passphrases ----------------------------------------------------------------------------

interface Keys {
  /** Reads a passphrase: key file, terminal without echo, or one line of standard input. */
  read(prompt: string, keyFile: string | undefined, verify: boolean): Promise<Uint8Array>;
}

function makeKeys(io: CliIO, opts: Opts): Keys {
  let stdinLines: string[] | undefined;
  let stdinAll: Uint8Array | undefined;
  const keyfileSize = opts['keyfile-size'] === undefined ? undefined : num(opts['keyfile-size'], 'keyfile-size');
  const keyfileOffset = opts['keyfile-offset'] === undefined ? 0 : num(opts['keyfile-offset'], 'keyfile-offset');
  return {
    async read(prompt, keyFile, verify) {
      if (keyFile !== undefined) {
        let data: Uint8Array;
        if (keyFile === '-') {
          // A key file on stdin may be binary: read bytes from the process's stdin; an
          // in-process CLI (tests) only has text.
          stdinAll ??= io.env === process.env ? await rawStdin() : enc.encode(await io.readStdin());
          data = stdinAll;
        } else {
          try {
            data = new Uint8Array(await readFile(keyFile));
          } catch {
            throw new Fail(`Failed to open key file.`, 1);
          }
        }
        data = data.subarray(keyfileOffset, keyfileSize === undefined ? undefined : keyfileOffset + keyfileSize);
        if (data.length === 0) throw new Fail('Nothing to read on input.', 1);
        return data;
      }
      if (process.stdin.isTTY && io.env === process.env) {
        const p = await ttyPassphrase(prompt);
        if (verify) {
          const again = await ttyPassphrase('Verify passphrase: ');
          if (p !== again) throw new Fail('Passphrases do not match.', 2);
        }
        return enc.encode(p);
      }
      if (stdinLines === undefined) stdinLines = (await io.readStdin()).split('\n');
      const line = stdinLines.shift();
      if (line === undefined || (line === '' && stdinLines.length === 0)) throw new Fail('Nothing to read on input.', 1);
      return enc.encode(line);
    },
  };
}

async function rawStdin(): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return new Uint8Array(Buffer.concat(chunks));
}

/** Reads a line from the terminal with echo off (raw mode), as cryptsetup's tools_get_key. */
function ttyPassphrase(prompt: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const stdin = process.stdin;
    // Echo goes off before the prompt shows, so nothing typed after the prompt is echoed.
    stdin.setRawMode(true);
    process.stderr.write(prompt);
    stdin.resume();
    let buf = '';
    const done = (err?: Error): void => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (err) reject(err);
      else resolvePromise(buf);
    };
    const onData = (chunk: Buffer): void => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new Fail('Operation interrupted.', 1));
        if (ch === '\u007f' || ch === '\b') buf = buf.slice(0, -1);
        else buf += ch;
      }
    };
    stdin.on('data', onData);
  });
}

// ---- helpers --------------------------------------------------------------------------------

function num(s: string, what: string): number {
  if (!/^[0-9]+$/.test(s)) throw new Fail(`Invalid value for --${what}: ${s}.`, 1);
  return Number(s);
}

function slotArg(opts: Opts): number | undefined {
  return opts['key-slot'] === undefined ? undefined : num(opts['key-slot'], 'key-slot');
}

async function withDevice<T>(path: string, writable: boolean, fn: (io: FileHeaderIO) => Promise<T>): Promise<T> {
  const io = await openFileIO(path, writable);
  try {
    return await fn(io);
  } finally {
    await io.close();
  }
}

async function loadHeader(io: HeaderIO, path: string): Promise<LuksHeader> {
  if ((await probeLuks(io)) === undefined) {
    // LUKS2 can still be found through the secondary header when the primary's magic is gone.
    try {
      return await readHeader(io);
    } catch {
      throw new Fail(`Device ${path} is not a valid LUKS device.`, 1);
    }
  }
  return readHeader(io);
}

function kdfOptions(opts: Opts, h: LuksHeader | undefined, keySize: number): Luks2KdfOptions {
  const luks1 = h?.version === 1;
  const type = (opts.pbkdf ?? (luks1 ? 'pbkdf2' : 'argon2id')) as Luks2KdfOptions['type'];
  if (type !== 'pbkdf2' && type !== 'argon2i' && type !== 'argon2id') throw new Fail(`Unknown PBKDF type ${type}.`, 1);
  if (luks1 && type !== 'pbkdf2') throw new Fail(`PBKDF ${type} cannot be used for LUKS1 keyslot.`, 1);
  const hash = opts.hash ?? (h?.version === 1 ? h.hashSpec : 'sha256');
  try {
    nodeHashName(hash);
  } catch {
    throw new Fail(`Hash algorithm ${hash} not supported.`, 1);
  }
  const iterTime = opts['iter-time'] === undefined ? 2000 : num(opts['iter-time'], 'iter-time');
  const forced = opts['pbkdf-force-iterations'] === undefined ? undefined : num(opts['pbkdf-force-iterations'], 'pbkdf-force-iterations');
  if (type === 'pbkdf2') {
    if (forced !== undefined && forced < 1000) throw new Fail('Forced iteration count is too low for pbkdf2 (minimum is 1000).', 1);
    return { type, hash, iterations: forced ?? pbkdf2IterationsFor(hash, keySize, iterTime) };
  }
  const memory = opts['pbkdf-memory'] === undefined ? 1048576 : num(opts['pbkdf-memory'], 'pbkdf-memory');
  const requested = opts['pbkdf-parallel'] === undefined ? 4 : num(opts['pbkdf-parallel'], 'pbkdf-parallel');
  if (memory < 32 || memory > 4194304) throw new Fail('Invalid PBKDF parameters (memory cost).', 1);
  if (requested < 1 || requested > 4) throw new Fail('Invalid PBKDF parameters (parallel cost).', 1);
  // As cryptsetup: at most one thread per online CPU, given or default (2 lanes on 2 CPUs).
  const cpus = Math.min(requested, availableParallelism());
  if (forced !== undefined && forced < 4) throw new Fail(`Forced iteration count is too low for ${type} (minimum is 4).`, 1);
  return { type, hash, memory, cpus, ...(forced !== undefined ? { time: forced } : {}) };
}

async function resolveKdf(k: Luks2KdfOptions, opts: Opts): Promise<Luks2KdfOptions> {
  if (k.type === 'pbkdf2' || k.time !== undefined) return k;
  const iterTime = opts['iter-time'] === undefined ? 2000 : num(opts['iter-time'], 'iter-time');
  return { ...k, ...(await argon2CostFor(k.type, k.memory ?? 1048576, k.cpus ?? 1, iterTime)) };
}

// ---- verbs ------------------------------------------------------------------------------------

type Verb = (args: string[], opts: Opts, io: CliIO, keys: Keys) => Promise<number>;

function need(args: string[], n: number, what: string): void {
  if (args.length < n) throw new Fail(`Command requires ${what} as argument.`, 1);
}

const luksFormat: Verb = async (args, opts, io, keys) => {
  need(args, 1, 'device');
  const device = args[0]!;
  const headerPath = opts.header ?? device;
  const type = opts.type ?? 'luks2';
  if (type !== 'luks1' && type !== 'luks2' && type !== 'luks') throw new Fail(`Unknown LUKS type ${type}.`, 1);
  const version = type === 'luks1' ? 1 : 2;
  const cipherSpec = opts.cipher ?? 'aes-xts-plain64';
  const keyBits = opts['key-size'] === undefined ? (/-xts-/.test(cipherSpec) ? 512 : 256) : num(opts['key-size'], 'key-size');
  if (keyBits % 8 !== 0) throw new Fail('Key size must be a multiple of 8 bits', 1);
  if (!opts['batch-mode']) {
    io.err(`\nWARNING!\n========\nThis will overwrite data on ${headerPath} irrevocably.\n\n`);
    // Without a terminal there is nobody to confirm: cryptsetup then refuses unless -q.
    if (!(process.stdin.isTTY && io.env === process.env)) throw new Fail('Operation aborted.', 1);
    const answer = await ttyLine("Are you sure? (Type 'yes' in capital letters): ");
    if (answer !== 'YES') throw new Fail('Operation aborted.', 1);
  }
  const passphrase = await keys.read(`Enter passphrase for ${headerPath}: `, opts['key-file'] ?? args[1], true);
  const kdf = await resolveKdf(kdfOptions(opts, version === 1 ? ({ version: 1, hashSpec: opts.hash ?? 'sha256' } as LuksHeader) : undefined, keyBits / 8), opts);
  let sectorSize = opts['sector-size'] === undefined ? undefined : num(opts['sector-size'], 'sector-size');
  if (version === 1 && sectorSize !== undefined && sectorSize !== 512) throw new Fail('Unsupported encryption sector size.', 1);
  const dataSize = (await stat(device).catch(() => undefined))?.size;
  if (dataSize === undefined) throw new Fail(`Device ${device} does not exist or access denied.`, 4);
  // cryptsetup 2.6 picks 4096-byte sectors for LUKS2 on an image file (its loop device's
  // optimal I/O size) when the data area allows it.
  if (version === 2 && sectorSize === undefined) sectorSize = dataSize % 4096 === 0 ? 4096 : 512;
  if (opts.header !== undefined && !(await stat(headerPath).catch(() => undefined))) {
    // cryptsetup creates a missing detached header file.
    await writeFile(headerPath, new Uint8Array(0), { mode: 0o600 });
  }
  const fo: FormatOptions = {
    version,
    cipher: cipherSpec,
    keySize: keyBits / 8,
    hash: opts.hash ?? 'sha256',
    kdf,
    sectorSize: sectorSize ?? 512,
    label: opts.label,
    subsystem: opts.subsystem,
    uuid: opts.uuid,
    detached: opts.header !== undefined,
    keySlot: slotArg(opts),
  };
  await withDevice(headerPath, true, async (hio) => {
    await formatVolume(hio, passphrase, fo);
  });
  return 0;
};

function ttyLine(prompt: string): Promise<string> {
  return new Promise((res) => {
    process.stderr.write(prompt);
    process.stdin.resume();
    process.stdin.once('data', (d: Buffer) => {
      process.stdin.pause();
      res(d.toString('utf8').replace(/\r?\n$/, ''));
    });
  });
}

async function unlockOrFail(io: HeaderIO, h: LuksHeader, passphrase: Uint8Array, slot: number | undefined): Promise<{ key: Uint8Array; slot: number }> {
  try {
    return await unlock(io, h, passphrase, slot);
  } catch (e) {
    if (e instanceof LuksError) throw new Fail(e.message, e.exitCode);
    throw e;
  }
}

function perfFlags(opts: Opts): string[] {
  const f: string[] = [];
  if (opts['allow-discards']) f.push('allow_discards');
  if (opts['perf-same_cpu_crypt']) f.push('same_cpu_crypt');
  if (opts['perf-submit_from_crypt_cpus']) f.push('submit_from_crypt_cpus');
  if (opts['perf-no_read_workqueue']) f.push('no_read_workqueue');
  if (opts['perf-no_write_workqueue']) f.push('no_write_workqueue');
  if (opts['perf-high_priority']) f.push('high_priority');
  return f;
}

/** crypt_plain_hash (lib/crypt_plain.c): the passphrase hashed in rounds, each prefixed by round x 'A'. */
function plainHash(hash: string, passphrase: Uint8Array, keySize: number): Uint8Array {
  const key = new Uint8Array(keySize);
  if (hash === 'plain') {
    key.set(passphrase.subarray(0, keySize));
    return key;
  }
  const [hashName, lim] = hash.split(':') as [string, string | undefined];
  const pass = lim === undefined ? passphrase : passphrase.subarray(0, Number(lim));
  const name = nodeHashName(hashName);
  let off = 0;
  for (let round = 0; off < keySize; round++) {
    const h = createHash(name);
    h.update('A'.repeat(round));
    h.update(pass);
    const d = h.digest();
    const n = Math.min(d.length, keySize - off);
    key.set(d.subarray(0, n), off);
    off += n;
  }
  return key;
}

const open: Verb = async (args, opts, io, keys) => {
  need(args, 1, 'device');
  const device = args[0]!;
  const name = args[1];
  const test = opts['test-passphrase'] === true;
  if (!test && name === undefined) throw new Fail('Command requires device and mapped name as arguments.', 1);
  const type = opts.type ?? 'luks';
  if (type === 'plain') {
    if (test) throw new Fail('Option --test-passphrase is allowed only for open of LUKS, TCRYPT, BITLK and FVAULT2 devices.', 1);
    const cipher = opts.cipher ?? 'aes-cbc-essiv:sha256';
    const keySize = (opts['key-size'] === undefined ? 256 : num(opts['key-size'], 'key-size')) / 8;
    const keyFile = opts['key-file'];
    const pass = await keys.read(`Enter passphrase for ${device}: `, keyFile, false);
    const key = keyFile !== undefined && keyFile !== '-' && opts.hash === undefined ? pass.subarray(0, keySize) : plainHash(opts.hash ?? 'ripemd160', pass, keySize);
    if (key.length < keySize) throw new Fail('Cannot read requested amount of data.', 1);
    const dev = resolve(device);
    const size = (await stat(dev).catch(() => undefined))?.size;
    if (size === undefined) throw new Fail(`Device ${device} does not exist or access denied.`, 4);
    const offset = opts.offset === undefined ? 0 : num(opts.offset, 'offset');
    const skip = opts.skip === undefined ? 0 : num(opts.skip, 'skip');
    const sectorSize = opts['sector-size'] === undefined ? 512 : num(opts['sector-size'], 'sector-size');
    let sectors = opts.size === undefined ? Math.floor(size / 512) - offset : num(opts.size, 'size');
    sectors -= sectors % (sectorSize / 512);
    if (sectors <= 0) throw new Fail(`Device ${device} is too small.`, 4);
    const features = [...perfFlags(opts), ...(sectorSize !== 512 ? [`sector_size:${sectorSize}`] : [])];
    const table = `0 ${sectors} crypt ${cipher} ${Buffer.from(key).toString('hex')} ${skip} ${dev} ${offset}${features.length ? ` ${features.length} ${features.join(' ')}` : ''}`;
    await activate(io, name!, table, `CRYPT-PLAIN-${name!}`, opts.readonly === true);
    return 0;
  }
  if (type !== 'luks' && type !== 'luks1' && type !== 'luks2') throw new Fail(`Unknown device type ${type}.`, 1);
  const headerPath = opts.header ?? device;
  return withDevice(headerPath, false, async (hio) => {
    const h = await loadHeader(hio, headerPath);
    if ((type === 'luks1' && h.version !== 1) || (type === 'luks2' && h.version !== 2)) throw new Fail(`Device ${headerPath} is not a valid LUKS device.`, 1);
    const pass = await keys.read(`Enter passphrase for ${device}: `, opts['key-file'], false);
    const { key, slot } = await unlockOrFail(hio, h, pass, slotArg(opts));
    if (test) {
      if (opts.verbose) io.out(`Key slot ${slot} unlocked.\nCommand successful.\n`);
      return 0;
    }
    const dev = resolve(device);
    const size = (await stat(dev).catch(() => undefined))?.size;
    if (size === undefined) throw new Fail(`Device ${device} does not exist or access denied.`, 4);
    const t = cryptTable(h, key, { device: dev, deviceSize: size, flags: perfFlags(opts) });
    key.fill(0);
    await activate(io, name!, t.table, `CRYPT-LUKS${h.version}-${uuidOf(h).replace(/-/g, '')}-${name!}`, opts.readonly === true);
    if (opts.verbose) io.out(`Key slot ${slot} unlocked.\nCommand successful.\n`);
    return 0;
  });
};

async function activate(io: CliIO, name: string, table: string, uuid: string, readOnly: boolean): Promise<void> {
  const c = await io.control();
  try {
    await c.call('crypt.open', { name, table, uuid, readOnly });
  } catch (e) {
    if (e instanceof UcryptError && e.errno === 'EBUSY') throw new Fail(`Device ${name} already exists.`, 5);
    throw new Fail(`Cannot activate device ${name}: ${errorMessage(e)}`, 1);
  }
}

interface CryptStatus {
  uuid: string;
  readOnly: boolean;
  table: string;
  devices: string[];
  /** Kernel names of the devices the table uses (`loop0` for an attached file). */
  knames?: string[];
  openCount: number;
}

async function cryptStatus(c: Control, name: string): Promise<CryptStatus | undefined> {
  try {
    return await c.call<CryptStatus>('crypt.status', { name });
  } catch {
    return undefined;
  }
}

const close: Verb = async (args, _opts, io) => {
  need(args, 1, 'device');
  const name = args[0]!.replace(/^\/dev\/mapper\//, '');
  const c = await io.control();
  if (!(await cryptStatus(c, name))) throw new Fail(`Device ${name} is not active.`, 4);
  try {
    await c.call('dm.remove', { name });
  } catch (e) {
    if (e instanceof UcryptError && e.errno === 'EBUSY') throw new Fail(`Device ${name} is still in use.`, 5);
    throw new Fail(errorMessage(e), 1);
  }
  return 0;
};

const FLAG_NAMES: Record<string, string> = {
  allow_discards: 'discards',
  same_cpu_crypt: 'same_cpu_crypt',
  submit_from_crypt_cpus: 'submit_from_crypt_cpus',
  no_read_workqueue: 'no_read_workqueue',
  no_write_workqueue: 'no_write_workqueue',
  high_priority: 'high_priority',
};

const status: Verb = async (args, _opts, io) => {
  need(args, 1, 'device');
  const name = args[0]!.replace(/^\/dev\/mapper\//, '');
  const st = await cryptStatus(await io.control(), name);
  if (!st) {
    io.out(`/dev/mapper/${name} is inactive.\n`);
    return 4;
  }
  const f = st.table.split(/\s+/);
  // <start> <len> crypt <cipher> <key> <iv_offset> <dev> <offset> [n features...]
  const [, len, target, cipher, key, , dev, offset] = f;
  io.out(`/dev/mapper/${name} is active${st.openCount > 0 ? ' and is in use' : ''}.\n`);
  const m = /^CRYPT-(LUKS1|LUKS2|PLAIN)-/.exec(st.uuid);
  io.out(`  type:    ${m ? m[1] : 'n/a'}\n`);
  if (target !== 'crypt') return 0;
  io.out(`  cipher:  ${cipher}\n`);
  io.out(`  keysize: ${((key ?? '').length / 2) * 8} bits\n`);
  io.out('  key location: dm-crypt\n');
  const kname = st.knames?.[0];
  if (kname?.startsWith('loop') && st.devices[0]) {
    // A file is attached like a loop device: cryptsetup shows both.
    io.out(`  device:  /dev/${kname}\n`);
    io.out(`  loop:    ${st.devices[0]}\n`);
  } else io.out(`  device:  ${st.devices[0] ?? dev}\n`);
  const feats = f.slice(9);
  const ss = feats.find((x) => x.startsWith('sector_size:'));
  io.out(`  sector size:  ${ss ? ss.slice(12) : 512}\n`);
  io.out(`  offset:  ${offset} sectors\n`);
  io.out(`  size:    ${len} sectors\n`);
  io.out(`  mode:    ${st.readOnly ? 'readonly' : 'read/write'}\n`);
  const flags = feats.filter((x) => FLAG_NAMES[x]).map((x) => FLAG_NAMES[x]);
  if (flags.length > 0) io.out(`  flags:   ${flags.join(' ')}\n`);
  return 0;
};

const refresh: Verb = async (args, opts, io, keys) => {
  need(args, 1, 'device');
  const name = args[0]!.replace(/^\/dev\/mapper\//, '');
  const c = await io.control();
  const st = await cryptStatus(c, name);
  if (!st) throw new Fail(`Device ${name} is not active.`, 4);
  const f = st.table.split(/\s+/);
  const dev = f[6]!;
  if (!/^CRYPT-LUKS[12]-/.test(st.uuid)) throw new Fail('Only LUKS devices can be refreshed by ucrypt.', 1);
  const dataPath = st.devices[0] ?? dev;
  const headerPath = opts.header ?? dataPath;
  return withDevice(headerPath, opts.persistent === true, async (hio) => {
    const h = await loadHeader(hio, headerPath);
    const pass = await keys.read(`Enter passphrase for ${headerPath}: `, opts['key-file'], false);
    const { key } = await unlockOrFail(hio, h, pass, slotArg(opts));
    const flags = perfFlags(opts);
    if (opts.persistent) {
      if (h.version !== 2) throw new Fail('Persistent flags are supported only for LUKS2.', 1);
      const cfg = h.json['config'] as Record<string, unknown>;
      const names = Object.entries({ allow_discards: 'allow-discards', same_cpu_crypt: 'same-cpu-crypt', submit_from_crypt_cpus: 'submit-from-crypt-cpus', no_read_workqueue: 'no-read-workqueue', no_write_workqueue: 'no-write-workqueue', high_priority: 'high_priority' });
      cfg['flags'] = names.filter(([k]) => flags.includes(k)).map(([, v]) => v);
      if ((cfg['flags'] as string[]).length === 0) delete cfg['flags'];
      await writeHeader(hio, h);
    }
    const size = (await stat(dataPath).catch(() => undefined))?.size ?? 0;
    const t = cryptTable(h, key, { device: dataPath, deviceSize: size, flags, ignorePersistentFlags: !opts.persistent && flags.length > 0 });
    key.fill(0);
    try {
      await c.call('crypt.refresh', { name, table: t.table });
    } catch (e) {
      throw new Fail(`Cannot refresh device ${name}: ${errorMessage(e)}`, 1);
    }
    return 0;
  });
};

const luksDump: Verb = async (args, opts, io, keys) => {
  need(args, 1, 'device');
  const device = args[0]!;
  const headerPath = opts.header ?? device;
  return withDevice(headerPath, false, async (hio) => {
    const h = await loadHeader(hio, headerPath);
    if (opts['dump-json-metadata']) {
      if (h.version !== 2) throw new Fail('Dump operation is not supported for this device type.', 1);
      io.out(luks2JsonText(h));
      return 0;
    }
    if (opts['dump-volume-key'] || opts['dump-master-key']) {
      if (!opts['batch-mode']) {
        io.err('\nWARNING!\n========\nThe header dump with volume key is sensitive information\nthat allows access to encrypted partition without a passphrase.\nThis dump should be stored encrypted in a safe place.\n\n');
        if (!(process.stdin.isTTY && io.env === process.env)) throw new Fail('Operation aborted.', 1);
        if ((await ttyLine("Are you sure? (Type 'yes' in capital letters): ")) !== 'YES') throw new Fail('Operation aborted.', 1);
      }
      const pass = await keys.read(`Enter passphrase for ${device}: `, opts['key-file'], false);
      const { key } = await unlockOrFail(hio, h, pass, slotArg(opts));
      const seg = segmentView(h);
      const cipherParts = /^([^-]+)-(.*)$/.exec(seg.cipher);
      io.out(`LUKS header information for ${headerPath}\n`);
      io.out(`Cipher name:   \t${cipherParts ? cipherParts[1] : seg.cipher}\n`);
      io.out(`Cipher mode:   \t${cipherParts ? cipherParts[2] : ''}\n`);
      io.out(`Payload offset:\t${seg.offset / 512}\n`);
      io.out(`UUID:          \t${uuidOf(h)}\n`);
      io.out(`MK bits:       \t${key.length * 8}\n`);
      io.out(`MK dump:\t${hexDump(key, 16, '\t\t')}\n`);
      key.fill(0);
      return 0;
    }
    io.out(dump(h, headerPath));
    return 0;
  });
};

/** Verifies a passphrase and returns the volume key, for the key management verbs. */
async function existingKey(hio: HeaderIO, h: LuksHeader, keys: Keys, prompt: string, keyFile: string | undefined, slot?: number): Promise<{ key: Uint8Array; slot: number }> {
  const pass = await keys.read(prompt, keyFile, false);
  return unlockOrFail(hio, h, pass, slot);
}

const luksAddKey: Verb = async (args, opts, _io, keys) => {
  need(args, 1, 'device');
  const device = args[0]!;
  const headerPath = opts.header ?? device;
  return withDevice(headerPath, true, async (hio) => {
    const h = await loadHeader(hio, headerPath);
    let key: Uint8Array;
    try {
      ({ key } = await existingKey(hio, h, keys, 'Enter any existing passphrase: ', opts['key-file']));
    } catch (e) {
      // cryptsetup 2.6 luksAddKey fails on a wrong passphrase with exit code 2 and no message.
      if (e instanceof Fail && e.message === NO_KEY_MESSAGE) throw new Fail('', 2);
      throw e;
    }
    const slot = slotArg(opts) ?? firstFreeSlot(h);
    if (slot >= maxSlots(h)) throw new Fail(`Key slot ${slot} is invalid.`, 1);
    if (activeSlots(h).includes(slot)) throw new Fail(`Key slot ${slot} is full, please select another one.`, 1);
    const newPass = await keys.read('Enter new passphrase for key slot: ', opts['new-keyfile'] ?? args[1], true);
    const kdf = await resolveKdf(kdfOptions(opts, h, key.length), opts);
    try {
      await addKey(hio, h, slot, key, newPass, { kdf });
    } finally {
      key.fill(0);
    }
    return 0;
  });
};

const luksRemoveKey: Verb = async (args, opts, io, keys) => {
  need(args, 1, 'device');
  const device = args[0]!;
  const headerPath = opts.header ?? device;
  return withDevice(headerPath, true, async (hio) => {
    const h = await loadHeader(hio, headerPath);
    const { key, slot } = await existingKey(hio, h, keys, 'Enter passphrase to be deleted: ', opts['key-file'] ?? args[1]);
    key.fill(0);
    if (activeSlots(h).length === 1 && !opts['batch-mode']) {
      io.err('\nWARNING!\n========\nThis is the last keyslot. Device will become unusable after purging this key.\n\n');
      if (!(process.stdin.isTTY && io.env === process.env)) throw new Fail('Operation aborted, the keyslot was NOT wiped.', 1);
      if ((await ttyLine("Are you sure? (Type 'yes' in capital letters): ")) !== 'YES') throw new Fail('Operation aborted, the keyslot was NOT wiped.', 1);
    }
    await killSlot(hio, h, slot);
    return 0;
  });
};

const luksKillSlot: Verb = async (args, opts, io, keys) => {
  need(args, 2, 'device and key slot');
  const device = args[0]!;
  const slot = num(args[1]!, 'key slot');
  const headerPath = opts.header ?? device;
  return withDevice(headerPath, true, async (hio) => {
    const h = await loadHeader(hio, headerPath);
    if (slot >= maxSlots(h)) throw new Fail(`Key slot ${slot} is invalid.`, 1);
    if (!activeSlots(h).includes(slot)) throw new Fail(`Keyslot ${slot} is not active.`, 1);
    if (!opts['batch-mode'] || opts['key-file'] !== undefined) {
      // cryptsetup asks for a remaining passphrase unless in batch mode (or when the last slot goes).
      if (activeSlots(h).length === 1 && !opts['batch-mode']) {
        io.err('\nWARNING!\n========\nThis is the last keyslot. Device will become unusable after purging this key.\n\n');
        throw new Fail('Operation aborted, the keyslot was NOT wiped.', 1);
      }
      const others = activeSlots(h).filter((s) => s !== slot);
      const pass = await keys.read('Enter any remaining passphrase: ', opts['key-file'], false);
      let ok = false;
      for (const s of others) {
        try {
          (await unlock(hio, h, pass, s)).key.fill(0);
          ok = true;
          break;
        } catch {
          // next
        }
      }
      if (!ok) throw new Fail(NO_KEY_MESSAGE, 2);
    }
    await killSlot(hio, h, slot);
    return 0;
  });
};

const luksChangeKey: Verb = async (args, opts, _io, keys) => {
  need(args, 1, 'device');
  const device = args[0]!;
  const headerPath = opts.header ?? device;
  return withDevice(headerPath, true, async (hio) => {
    const h = await loadHeader(hio, headerPath);
    const { key, slot } = await existingKey(hio, h, keys, 'Enter passphrase to be changed: ', opts['key-file'], slotArg(opts));
    const newPass = await keys.read('Enter new passphrase: ', opts['new-keyfile'] ?? args[1], true);
    const kdf = await resolveKdf(kdfOptions(opts, h, key.length), opts);
    try {
      await changeKey(hio, h, slot, key, newPass, { kdf });
    } finally {
      key.fill(0);
    }
    return 0;
  });
};

const isLuks: Verb = async (args, opts, io) => {
  need(args, 1, 'device');
  const device = args[0]!;
  const path = opts.header ?? device;
  try {
    await withDevice(path, false, async (hio) => {
      const h = await readHeader(hio);
      if ((opts.type === 'luks1' && h.version !== 1) || (opts.type === 'luks2' && h.version !== 2)) throw new Error('type');
    });
  } catch {
    if (opts.verbose) io.err(`Device ${device} is not a valid LUKS device.\n`);
    return 1;
  }
  if (opts.verbose) io.out('Command successful.\n');
  return 0;
};

const luksUUID: Verb = async (args, opts, io) => {
  need(args, 1, 'device');
  const path = opts.header ?? args[0]!;
  return withDevice(path, opts.uuid !== undefined, async (hio) => {
    const h = await loadHeader(hio, path);
    if (opts.uuid === undefined) {
      io.out(`${uuidOf(h)}\n`);
      return 0;
    }
    if (!/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(opts.uuid)) throw new Fail('Wrong LUKS UUID format provided.', 1);
    if (h.version === 1) {
      const { serializeLuks1 } = await import('../luks/luks1/luks1.js');
      h.uuid = opts.uuid;
      await hio.write(0, serializeLuks1(h));
      await hio.sync();
    } else {
      h.bin.uuid = opts.uuid;
      await writeHeader(hio, h);
    }
    return 0;
  });
};

const benchmark: Verb = async (_args, opts, io) => {
  io.out('# Tests are approximate using memory only (no storage IO).\n');
  if (opts.cipher === undefined) {
    for (const hash of ['sha1', 'sha256', 'sha512', 'ripemd160', 'whirlpool']) {
      try {
        const r = pbkdf2Rate(hash, 32);
        io.out(`PBKDF2-${hash.padEnd(9)} ${String(r).padStart(8)} iterations per second for 256-bit key\n`);
      } catch {
        io.out(`PBKDF2-${hash.padEnd(9)}      N/A\n`);
      }
    }
    for (const t of ['argon2i', 'argon2id'] as const) {
      const cpus = Math.min(4, availableParallelism());
      const time = await argon2TimeFor(t, 65536, cpus, 2000);
      io.out(`${t.padEnd(9)} ${String(time).padStart(5)} iterations, ${65536} memory, ${cpus} parallel threads (CPUs) for 256-bit key (requested 2000 ms time)\n`);
    }
  }
  const list: [string, number][] = opts.cipher
    ? [[opts.cipher, opts['key-size'] === undefined ? (/-xts-/.test(opts.cipher) ? 512 : 256) : num(opts['key-size'], 'key-size')]]
    : [['aes-cbc', 128], ['serpent-cbc', 128], ['twofish-cbc', 128], ['aes-cbc', 256], ['serpent-cbc', 256], ['twofish-cbc', 256], ['aes-xts', 256], ['serpent-xts', 256], ['twofish-xts', 256], ['aes-xts', 512], ['serpent-xts', 512], ['twofish-xts', 512]];
  io.out('#     Algorithm |       Key |      Encryption |      Decryption\n');
  const buf = new Uint8Array(1 << 20);
  for (const [c, bits] of list) {
    const spec = c.split('-').length >= 3 ? c : `${c}-plain64`;
    let t;
    try {
      t = await sectorCipher(spec, new Uint8Array(bits / 8).fill(7));
    } catch {
      io.out(`${c.padStart(15)} ${`${bits}b`.padStart(10)}       N/A\n`);
      continue;
    }
    const speed = (dir: 'encrypt' | 'decrypt'): string => {
      let bytes = 0;
      const t0 = process.hrtime.bigint();
      let ms = 0;
      while (ms < 200) {
        t!.engine.convert(dir, buf, 0);
        bytes += buf.length;
        ms = Number(process.hrtime.bigint() - t0) / 1e6;
      }
      return `${((bytes / (1 << 20)) * (1000 / ms)).toFixed(1)} MiB/s`;
    };
    io.out(`${c.split('-').slice(0, 2).join('-').padStart(15)} ${`${bits}b`.padStart(10)} ${speed('encrypt').padStart(16)} ${speed('decrypt').padStart(16)}\n`);
    t.close();
  }
  return 0;
};

const VERBS: Record<string, Verb> = {
  luksFormat,
  open,
  luksOpen: (a, o, io, k) => open(a, { ...o, type: o.type ?? 'luks' }, io, k),
  close,
  luksClose: close,
  remove: close,
  status,
  refresh,
  luksDump,
  luksAddKey,
  luksRemoveKey,
  luksKillSlot,
  luksChangeKey,
  isLuks,
  luksUUID,
  benchmark,
};

export async function cryptsetup(argv: readonly string[], io: CliIO): Promise<number> {
  let parsed;
  try {
    parsed = parse(argv);
  } catch (err) {
    io.err(`${errorMessage(err)}\n`);
    return 1;
  }
  const { values: opts, positionals } = parsed;
  if (opts.version) {
    io.out(`${VERSION}\n`);
    return 0;
  }
  const [verb, ...args] = positionals;
  if (opts.help || verb === undefined) {
    (verb === undefined && !opts.help ? io.err : io.out)(USAGE);
    return verb === undefined && !opts.help ? 1 : 0;
  }
  const fn = Object.hasOwn(VERBS, verb) ? VERBS[verb] : undefined;
  if (!fn) {
    io.err(`Unknown action.\n`);
    return 1;
  }
  try {
    const rc = await fn(args, opts, io, makeKeys(io, opts));
    if (opts.verbose && rc === 0 && verb !== 'open' && verb !== 'isLuks') io.out('Command successful.\n');
    return rc;
  } catch (err) {
    // A LuksError from the format code is reported as any other failure, with its exit code.
    const e = err instanceof LuksError ? new Fail(err.message, err.exitCode) : err;
    if (e instanceof Fail) {
      if (e.message !== '') io.err(`${e.message}\n`);
      if (opts.verbose) io.err(`Command failed with code ${-e.exitCode} (${e.exitCode === 2 ? 'Operation not permitted' : 'wrong or missing parameters'}).\n`);
      return e.exitCode;
    }
    io.err(`${errorMessage(e)}\n`);
    return 1;
  }
}
