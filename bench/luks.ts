// Unlock time: ucrypt vs `cryptsetup open --test-passphrase` on the same volumes.
//
//   node dist/bench/luks.js [--runs N] [--iter-time MS]
//
// Makes LUKS1 (PBKDF2-sha256) and LUKS2 (PBKDF2-sha256, Argon2id 64 MiB / 1 thread) volumes
// with cryptsetup (--iter-time, default 1000 ms: the usual cost, so the KDF dominates as it does
// in practice), then times each side's unlock of slot 0 from a key file, best of N runs:
// ucrypt as a process (`node bin/ucrypt.js cryptsetup open --test-passphrase`, start-up
// included, like cryptsetup's) and in-process (the library's unlock alone). Goal: within 1.2x.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { openFileIO } from '../src/luks/file.js';
import { readHeader, unlock } from '../src/luks/volume.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, 'iter-time': { type: 'string', default: '1000' } } });
const runs = Number(values.runs);
const iterTime = values['iter-time'];
const BIN = fileURLToPath(new URL('../../bin/ucrypt.js', import.meta.url));

function time(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

function must(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
}

const dir = mkdtempSync(join(tmpdir(), 'ucrypt-bench-luks-'));
try {
  const key = join(dir, 'key');
  writeFileSync(key, 'benchmark passphrase');
  const cases: [string, string[]][] = [
    ['LUKS1 pbkdf2-sha256', ['--type', 'luks1', '--hash', 'sha256']],
    ['LUKS2 pbkdf2-sha256', ['--type', 'luks2', '--pbkdf', 'pbkdf2', '--hash', 'sha256']],
    ['LUKS2 argon2id 64MiB/1', ['--type', 'luks2', '--pbkdf', 'argon2id', '--pbkdf-memory', '65536', '--pbkdf-parallel', '1']],
  ];
  console.log(`unlock of slot 0, best of ${runs} (ms); volumes made by cryptsetup with --iter-time ${iterTime}`);
  console.log(`${'volume'.padEnd(24)} ${'cryptsetup'.padStart(11)} ${'ucrypt cli'.padStart(11)} ${'ratio'.padStart(6)} ${'library'.padStart(9)} ${'ratio'.padStart(6)}`);
  for (const [name, args] of cases) {
    const img = join(dir, 'vol.img');
    must('truncate', ['-s', '20M', img]);
    must('cryptsetup', ['luksFormat', '--batch-mode', ...args, '--iter-time', iterTime, '--key-file', key, img]);
    let cs = Infinity;
    let cli = Infinity;
    let lib = Infinity;
    for (let i = 0; i < runs; i++) {
      cs = Math.min(cs, time(() => must('cryptsetup', ['open', '--test-passphrase', '--key-slot', '0', '--key-file', key, img])));
      cli = Math.min(cli, time(() => must(process.execPath, [BIN, 'cryptsetup', 'open', '--test-passphrase', '--key-slot', '0', '--key-file', key, img])));
      const io = await openFileIO(img, false);
      const t0 = process.hrtime.bigint();
      await unlock(io, await readHeader(io), new TextEncoder().encode('benchmark passphrase'), 0);
      lib = Math.min(lib, Number(process.hrtime.bigint() - t0) / 1e6);
      await io.close();
    }
    console.log(`${name.padEnd(24)} ${cs.toFixed(0).padStart(11)} ${cli.toFixed(0).padStart(11)} ${(cli / cs).toFixed(2).padStart(6)} ${lib.toFixed(0).padStart(9)} ${(lib / cs).toFixed(2).padStart(6)}`);
    rmSync(img);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
