// Unlock time: ucrypt vs `cryptsetup open --test-passphrase` on the same volumes.
//
//   node dist/bench/luks.js [--runs N] [--iter-time MS] [--only REGEX] [--json FILE]
//
// Makes LUKS1 (PBKDF2-sha256) and LUKS2 (PBKDF2-sha256; Argon2id 64 MiB with --pbkdf-parallel 1
// and 4; Argon2i 64 MiB / 4; cryptsetup's default Argon2id, 1 GiB / 4; cryptsetup stores at most
// one thread per online CPU, so 4 means 2 lanes on a 2-CPU machine) volumes with
// cryptsetup (--iter-time, default 1000 ms: the usual cost, so the KDF dominates as it does in
// practice), then times each side's unlock of slot 0 from a key file, N runs alternating which
// side goes first: ucrypt as a process (`node bin/ucrypt.js cryptsetup open --test-passphrase`,
// start-up included, like cryptsetup's) and in-process (the library's unlock alone). Reports
// the best and the median wall time of each and the ratio of the bests (the machine may be
// shared: the best is the least disturbed run), plus the children's CPU time (user + system,
// all threads) of the best run. Goal: within 1.2x. UCRYPT_ARGON2=wasm measures the hash-wasm
// fallback instead of the native Argon2 (--only argon2 keeps the Argon2 cases).

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { openFileIO } from '../src/luks/file.js';
import { argon2Backend } from '../src/luks/pbkdf.js';
import { readHeader, unlock } from '../src/luks/volume.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, 'iter-time': { type: 'string', default: '1000' }, json: { type: 'string' }, only: { type: 'string' } } });
const runs = Number(values.runs);
const iterTime = values['iter-time'];
const BIN = fileURLToPath(new URL('../../bin/ucrypt.js', import.meta.url));
const PASSPHRASE = 'benchmark passphrase';

/** CPU seconds of waited-for children (utime + stime of children, /proc/self/stat fields 16-17). */
function childCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[13]) + Number(f[14])) * 1000) / 100; // USER_HZ is 100 on Linux
}

interface Sample {
  wall: number;
  cpu: number;
}

function timed(cmd: string, args: string[]): Sample {
  const c0 = childCpuMs();
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  const wall = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return { wall, cpu: childCpuMs() - c0 };
}

function must(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
}

const best = (xs: Sample[]): Sample => xs.reduce((a, b) => (b.wall < a.wall ? b : a));
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const dir = mkdtempSync(join(tmpdir(), 'ucrypt-bench-luks-'));
try {
  const key = join(dir, 'key');
  writeFileSync(key, PASSPHRASE);
  const cases: [string, string[]][] = [
    ['LUKS1 pbkdf2-sha256', ['--type', 'luks1', '--hash', 'sha256']],
    ['LUKS2 pbkdf2-sha256', ['--type', 'luks2', '--pbkdf', 'pbkdf2', '--hash', 'sha256']],
    ['LUKS2 argon2id 64MiB/1', ['--type', 'luks2', '--pbkdf', 'argon2id', '--pbkdf-memory', '65536', '--pbkdf-parallel', '1']],
    ['LUKS2 argon2id 64MiB/4', ['--type', 'luks2', '--pbkdf', 'argon2id', '--pbkdf-memory', '65536', '--pbkdf-parallel', '4']],
    ['LUKS2 argon2i 64MiB/4', ['--type', 'luks2', '--pbkdf', 'argon2i', '--pbkdf-memory', '65536', '--pbkdf-parallel', '4']],
    ['LUKS2 argon2id 1GiB/4', ['--type', 'luks2', '--pbkdf', 'argon2id', '--pbkdf-memory', '1048576', '--pbkdf-parallel', '4']],
  ];
  const backend = (await argon2Backend()).name;
  console.log(`unlock of slot 0, ${runs} runs alternating (ms): best, median; CPU ms of the best run; volumes made by cryptsetup with --iter-time ${iterTime}; Argon2: ${backend}`);
  const hdr = `${'volume'.padEnd(24)} ${'cryptsetup'.padStart(10)} ${'med'.padStart(6)} ${'cpu'.padStart(6)} ${'ucrypt cli'.padStart(10)} ${'med'.padStart(6)} ${'cpu'.padStart(6)} ${'ratio'.padStart(6)} ${'library'.padStart(8)} ${'ratio'.padStart(6)}`;
  console.log(hdr);
  const rows = [];
  const only = values.only === undefined ? undefined : new RegExp(values.only);
  for (const [name, args] of cases.filter(([n]) => only === undefined || only.test(n))) {
    const img = join(dir, 'vol.img');
    must('truncate', ['-s', '20M', img]);
    must('cryptsetup', ['luksFormat', '--batch-mode', ...args, '--iter-time', iterTime, '--key-file', key, img]);
    const open = ['open', '--test-passphrase', '--key-slot', '0', '--key-file', key, img];
    const cs: Sample[] = [];
    const cli: Sample[] = [];
    const lib: number[] = [];
    for (let i = 0; i < runs; i++) {
      const pair = [(): number => cs.push(timed('cryptsetup', open)), (): number => cli.push(timed(process.execPath, [BIN, 'cryptsetup', ...open]))];
      if (i % 2 === 1) pair.reverse();
      for (const f of pair) f();
      const io = await openFileIO(img, false);
      const t0 = process.hrtime.bigint();
      await unlock(io, await readHeader(io), new TextEncoder().encode(PASSPHRASE), 0);
      lib.push(Number(process.hrtime.bigint() - t0) / 1e6);
      await io.close();
    }
    const bc = best(cs);
    const bu = best(cli);
    const bl = Math.min(...lib);
    const row = {
      volume: name,
      cryptsetup: { best: Math.round(bc.wall), median: Math.round(median(cs.map((s) => s.wall))), cpu: Math.round(bc.cpu), samples: cs.map((s) => Math.round(s.wall)) },
      ucryptCli: { best: Math.round(bu.wall), median: Math.round(median(cli.map((s) => s.wall))), cpu: Math.round(bu.cpu), samples: cli.map((s) => Math.round(s.wall)) },
      library: { best: Math.round(bl), samples: lib.map(Math.round) },
      ratioCli: +(bu.wall / bc.wall).toFixed(2),
      ratioLibrary: +(bl / bc.wall).toFixed(2),
    };
    rows.push(row);
    const n = (v: number, w: number): string => v.toFixed(0).padStart(w);
    console.log(`${name.padEnd(24)} ${n(bc.wall, 10)} ${n(row.cryptsetup.median, 6)} ${n(bc.cpu, 6)} ${n(bu.wall, 10)} ${n(row.ucryptCli.median, 6)} ${n(bu.cpu, 6)} ${row.ratioCli.toFixed(2).padStart(6)} ${n(bl, 8)} ${row.ratioLibrary.toFixed(2).padStart(6)}`);
    rmSync(img);
  }
  const doc = {
    benchmark: 'luks-unlock',
    date: new Date().toISOString(),
    node: process.version,
    cpus: `${cpus().length} x ${cpus()[0]?.model ?? '?'}`,
    loadAverage: loadavg().map((x) => +x.toFixed(2)),
    cryptsetup: spawnSync('cryptsetup', ['--version'], { encoding: 'utf8' }).stdout.trim(),
    argon2: backend,
    iterTimeMs: Number(iterTime),
    runs,
    rows,
  };
  if (values.json) writeFileSync(values.json, `${JSON.stringify(doc, null, 2)}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
