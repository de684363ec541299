// `ucrypt seed` and examples/seed-benchmark.sh, with very short runtimes: the shape of the
// output and positive figures (the benchmark itself is docs/benchmarks.md's business).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BIN, cleanupRuntime, tempRuntime } from '../helpers/proc.js';

const SCRIPT = fileURLToPath(new URL('../../../examples/seed-benchmark.sh', import.meta.url));
const DEVICES = ['/dev/ram0', '/dev/mapper/eram0', '/dev/mapper/eram0-inline-read', '/dev/mapper/eram0-inline-write'];

function run(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<{ stdout: string; stderr: string; exit: number }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: { ...process.env, ...env }, timeout: 120000, ...(cwd ? { cwd } : {}) }, (err, stdout, stderr) => {
      resolve({ stdout, stderr, exit: err ? (typeof err.code === 'number' ? err.code : 1) : 0 });
    });
  });
}

/** MiB/s of a fio group line's aggregate bandwidth. */
function mibs(line: string): number {
  const m = /bw=([\d.]+)(B|KiB|MiB|GiB)\/s/.exec(line);
  assert.ok(m, line);
  return Number(m[1]) * { B: 1 / 1048576, KiB: 1 / 1024, MiB: 1, GiB: 1024 }[m[2] as 'B']!;
}

test('examples/seed-benchmark.sh runs as written (RUNTIME=0.3) and prints the lines the seed greps', async () => {
  const dir = await tempRuntime();
  try {
    // PATH without a ucrypt: the script falls back to this checkout's bin/ucrypt.js.
    const r = await run(SCRIPT, [], { UCRYPT_RUNTIME_DIR: dir, RUNTIME: '0.3' });
    assert.equal(r.exit, 0, r.stdout + r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 16, r.stdout);
    DEVICES.forEach((dev, i) => {
      assert.equal(lines[2 * i], `reading from ${dev}`);
      assert.match(lines[2 * i + 1]!, /^ {3}READ: bw=.*, io=.*, run=\d+-\d+msec$/);
      assert.ok(mibs(lines[2 * i + 1]!) > 0, lines[2 * i + 1]);
      assert.equal(lines[8 + 2 * i], `writing to ${dev}`);
      assert.match(lines[8 + 2 * i + 1]!, /^ {2}WRITE: bw=.*, io=.*, run=\d+-\d+msec$/);
      assert.ok(mibs(lines[8 + 2 * i + 1]!) > 0, lines[8 + 2 * i + 1]);
    });
  } finally {
    await cleanupRuntime(dir);
  }
});

test('ucrypt seed --runtime 0.3: the table, ratios, bars and SVG, over NBD and in-process, leaving nothing behind', async () => {
  const work = await mkdtemp(join(tmpdir(), 'ucrypt-seed-test-'));
  try {
    const svg = join(work, 'seed.svg');
    const r = await run(process.execPath, [BIN, 'seed', '--runtime', '0.3', '--engine', 'both', '--svg', svg, '--markdown'], { TMPDIR: work }, work);
    assert.equal(r.exit, 0, r.stdout + r.stderr);
    for (const engine of ['ucrypt over NBD', 'ucrypt in-process']) {
      const block = r.stdout.slice(r.stdout.indexOf(`\n${engine} (MiB/s`));
      const rows = block.split('\n').slice(4, 8);
      const labels = ['/dev/ram0', 'eram0 (default)', 'eram0-inline-read (no_read_workqueue)', 'eram0-inline-write (no_write_workqueue)'];
      const published = [[508, 516], [80.6, 40.4], [295, 38.9], [114, 277]];
      rows.forEach((row, i) => {
        assert.ok(row.startsWith(labels[i]!), `${engine}: ${row}`);
        const cols = row.slice(labels[3]!.length).trim().split(/\s+/);
        // ucrypt read, Linux read, ratio, (Linux ratio), ucrypt write, Linux write, ratio, (Linux ratio), us/IO r, us/IO w
        assert.equal(cols.length, 10, row);
        assert.equal(Number(cols[1]), published[i]![0]);
        assert.equal(Number(cols[5]), published[i]![1]);
        for (const k of [0, 2, 4, 6, 8, 9]) assert.ok(Number(cols[k]) > 0, `${engine} ${labels[i]} column ${k}: ${row}`);
        if (i === 0) assert.deepEqual([cols[2], cols[3], cols[6], cols[7]], ['1.00', '(1.00)', '1.00', '(1.00)']);
      });
    }
    assert.match(r.stdout, /^sequential 4k reads, MiB\/s$/m);
    assert.match(r.stdout, /^ {2}eram0-inline-write +ucrypt over NBD +█*[▏▎▍▌▋▊▉]? [\d.]+$/m);
    assert.match(r.stdout, /^ {3}READ: bw=/m);
    assert.match(r.stdout, /^\| device \| engine \| read MiB\/s \| Linux 5\.8 read \|/m);
    assert.equal((r.stdout.match(/^\| eram0 \(default\) \| (nbd|inprocess) \| /gm) ?? []).length, 2);
    const doc = await readFile(svg, 'utf8');
    assert.match(doc, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    // Four panels (MiB/s and ratio to ram0, reads and writes) of 4 devices x 3 series, and 3 legend keys.
    assert.equal((doc.match(/<rect x=/g) ?? []).length, 4 * 4 * 3 + 3);
    // The private daemon's runtime directory is gone.
    const left = (await run('ls', [work], {})).stdout.trim().split('\n').filter(Boolean);
    assert.deepEqual(left, ['seed.svg']);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});

test('ucrypt seed --json with aes-xts-plain64 in-process: every figure positive', async () => {
  const work = await mkdtemp(join(tmpdir(), 'ucrypt-seed-test-'));
  try {
    const r = await run(process.execPath, [BIN, 'seed', '--runtime', '0.2', '--engine', 'inprocess', '--cipher', 'aes-xts-plain64', '--no-svg', '--json'], {}, work);
    assert.equal(r.exit, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { setup: { cipher: string; key: string }; results: { engine: string; devices: { path: string; read: { mibs: number; iops: number; clat_us: number }; write: { mibs: number }; ratio: { read: number; write: number } }[] }[] };
    assert.equal(j.setup.cipher, 'aes-xts-plain64');
    assert.equal(j.setup.key, 'random');
    assert.equal(j.results.length, 1);
    assert.deepEqual(j.results[0]!.devices.map((d) => d.path), DEVICES);
    for (const d of j.results[0]!.devices) {
      assert.ok(d.read.mibs > 0 && d.write.mibs > 0 && d.read.iops > 0 && d.read.clat_us > 0, JSON.stringify(d));
      assert.ok(d.ratio.read > 0 && d.ratio.write > 0);
    }
    assert.match(r.stderr, /reading from \/dev\/ram0/);
    const bad = await run(process.execPath, [BIN, 'seed', '--engine', 'warp'], {}, work);
    assert.equal(bad.exit, 2);
    assert.match(bad.stderr, /expected nbd, inprocess or both/);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});
