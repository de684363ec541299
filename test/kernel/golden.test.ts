// The committed vectors must still be what the real kernel says: these regenerate the dmsetup
// core session and the dm-crypt conformance vectors in the kernel test harness and compare them
// with the committed files record by record / case by case. They need the harness
// (scripts/test.sh sets it up as root and sets UCRYPT_KERNEL_TESTS=1).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const live = process.env['UCRYPT_KERNEL_TESTS'] === '1';

interface Rec {
  cmd: string;
  stdout: string;
  stderr: string;
  exit: number;
  dmesg: string[];
}

test('dmsetup-core-golden.json matches a fresh capture on the live kernel', { skip: live ? false : 'UCRYPT_KERNEL_TESTS=1 not set (scripts/test.sh sets it up as root)', timeout: 15 * 60_000 }, async () => {
  const out = await mkdtemp(join(tmpdir(), 'ucrypt-golden-'));
  try {
    await new Promise<void>((resolve, reject) => {
      execFile('bash', [join(REPO, 'test/kernel/capture-dmsetup.sh'), out], { env: { ...process.env, UCRYPT_JOB_CRYPT: '0' }, maxBuffer: 64 << 20 }, (err, _stdout, stderr) => (err ? reject(new Error(`capture failed: ${stderr}`)) : resolve()));
    });
    const fresh = JSON.parse(await readFile(join(out, 'dmsetup-core-golden.json'), 'utf8')) as Rec[];
    const committed = JSON.parse(await readFile(join(REPO, 'test/vectors/dmsetup/dmsetup-core-golden.json'), 'utf8')) as Rec[];
    assert.equal(fresh.length, committed.length);
    for (const [i, c] of committed.entries()) {
      const f = fresh[i]!;
      assert.deepEqual({ cmd: f.cmd, stdout: f.stdout, stderr: f.stderr, exit: f.exit, dmesg: f.dmesg }, { cmd: c.cmd, stdout: c.stdout, stderr: c.stderr, exit: c.exit, dmesg: c.dmesg }, `record ${i + 1}: ${c.cmd}`);
    }
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

/** A case of test/vectors/crypt/kernel-crypt-vectors.json (see PROVENANCE.md there). */
type CryptCase = Record<string, unknown> & { id: string; table: string };

interface CryptVectors extends Record<string, unknown> {
  valid: CryptCase[];
  invalid: CryptCase[];
}

/** Run metadata: when and with which package versions; not part of what the kernel said. */
const CRYPT_META = new Set(['captured', 'environment']);
/**
 * Per-case fields left out: the raw kernel log (compared normalised, as kernelLogNormalized and
 * dmLines) and the ciphertext itself (compared as ciphertextSha256; the first differing byte is
 * reported when it differs).
 */
const CRYPT_CASE_SKIP = new Set(['kernelLog', 'ciphertextBase64']);

/**
 * Kernel lines that come from the emulated machine being slow (a loaded host under TCG), not
 * from device-mapper or the crypto API: dropped from the kernel logs on both sides (and shown as
 * diagnostics). capture-crypt.sh counts them as a validation error when they land in a case's
 * data path, so its exit status is forgiven for those alone.
 */
const KERNEL_NOISE: readonly RegExp[] = [
  /^hrtimer: interrupt took \d+ ns$/,
  /^clocksource: /,
  /^tsc: Marking TSC unstable/,
  /^sched_clock: Marking unstable/,
];
const isNoise = (l: string): boolean => KERNEL_NOISE.some((re) => re.test(l));
const LOG_FIELDS = new Set(['kernelLogNormalized', 'kernelLogDataPath']);
const quiet = (v: unknown): unknown => {
  if (!Array.isArray(v)) return v;
  const kept = (v as unknown[]).filter((l) => typeof l !== 'string' || !isNoise(l));
  return kept.length > 0 ? kept : undefined;
};

const show = (v: unknown): string => {
  const s = JSON.stringify(v) ?? 'undefined';
  return s.length > 400 ? `${s.slice(0, 400)}...` : s;
};

function diffCase(c: CryptCase, f: CryptCase): string[] {
  const out: string[] = [];
  const keys = new Set([...Object.keys(c), ...Object.keys(f)]);
  for (const k of keys) {
    if (CRYPT_CASE_SKIP.has(k)) continue;
    const [cv, fv] = LOG_FIELDS.has(k) ? [quiet(c[k]), quiet(f[k])] : [c[k], f[k]];
    if (JSON.stringify(cv) === JSON.stringify(fv)) continue;
    let extra = '';
    if (k === 'ciphertextSha256' && typeof c['ciphertextBase64'] === 'string' && typeof f['ciphertextBase64'] === 'string') {
      const a = Buffer.from(c['ciphertextBase64'], 'base64');
      const b = Buffer.from(f['ciphertextBase64'], 'base64');
      let i = 0;
      while (i < a.length && i < b.length && a[i] === b[i]) i++;
      extra = ` (first difference at byte ${i}, sector ${i >> 9}; lengths ${a.length}/${b.length})`;
    }
    out.push(`${c.id} ${k}: committed ${show(cv)}, fresh ${show(fv)}${extra}`);
  }
  return out;
}

test('kernel-crypt-vectors.json matches a fresh capture on the live kernel', { skip: live ? false : 'UCRYPT_KERNEL_TESTS=1 not set (scripts/test.sh sets it up as root)', timeout: 40 * 60_000 }, async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'ucrypt-golden-crypt-'));
  try {
    const started = Date.now();
    // capture-crypt.sh writes the files even when its own validation fails (then it exits 1):
    // compare what it wrote first, then report its exit.
    const capture = await new Promise<{ err: Error | null; stderr: string }>((resolve) => {
      execFile('bash', [join(REPO, 'test/kernel/capture-crypt.sh'), out], { env: { ...process.env, UCRYPT_KERNEL_TIMEOUT: process.env['UCRYPT_KERNEL_TIMEOUT'] ?? '2100' }, maxBuffer: 64 << 20 }, (err, _stdout, stderr) => resolve({ err, stderr }));
    });
    t.diagnostic(`capture took ${((Date.now() - started) / 1000).toFixed(0)} s`);
    const file = join(out, 'kernel-crypt-vectors.json');
    assert.ok(existsSync(file), `capture wrote no vectors: ${capture.stderr.slice(-4000)}`);
    const fresh = JSON.parse(await readFile(file, 'utf8')) as CryptVectors;
    const committed = JSON.parse(await readFile(join(REPO, 'test/vectors/crypt/kernel-crypt-vectors.json'), 'utf8')) as CryptVectors;

    const diffs: string[] = [];
    for (const k of new Set([...Object.keys(committed), ...Object.keys(fresh)])) {
      if (CRYPT_META.has(k) || k === 'valid' || k === 'invalid') continue;
      if (JSON.stringify(committed[k]) !== JSON.stringify(fresh[k])) diffs.push(`${k}: committed ${show(committed[k])}, fresh ${show(fresh[k])}`);
    }
    for (const group of ['valid', 'invalid'] as const) {
      const byId = new Map(fresh[group].map((r) => [r.id, r]));
      for (const c of committed[group]) {
        const f = byId.get(c.id);
        if (!f) {
          diffs.push(`${c.id} (${group} in the committed vectors): missing from the ${group} cases of the fresh capture: ${c.table}`);
          continue;
        }
        byId.delete(c.id);
        diffs.push(...diffCase(c, f));
      }
      for (const f of byId.values()) diffs.push(`${f.id} (${group} in the fresh capture): not among the committed ${group} cases: ${f.table}`);
    }
    t.diagnostic(`${committed.valid.length} valid + ${committed.invalid.length} invalid cases compared; kernel ${String((fresh['environment'] as Record<string, unknown> | undefined)?.['kernelRelease'])}`);
    for (const r of [...fresh.valid, ...fresh.invalid]) {
      const noise = [r['kernelLogNormalized'], r['kernelLogDataPath']].flatMap((v) => (Array.isArray(v) ? (v as unknown[]) : [])).filter((l): l is string => typeof l === 'string' && isNoise(l));
      if (noise.length > 0) t.diagnostic(`case ${r.id}: ignored kernel line(s) from the emulated machine: ${noise.join(' | ')}`);
    }
    assert.deepEqual(diffs, [], `the fresh capture differs from test/vectors/crypt/kernel-crypt-vectors.json in ${diffs.length} place(s)`);
    if (capture.err) {
      // Its validation errors, one per line after the header; only data-path noise is forgiven.
      const failed = capture.stderr.split('\n').findIndex((l) => l.includes('VALIDATION FAILED'));
      const errors = failed < 0 ? [] : capture.stderr.split('\n').slice(failed + 1).filter((l) => l.startsWith('  ')).map((l) => l.trim());
      const real = errors.filter((e) => {
        const m = /^\d+: kernel log lines during the data path: (.*)$/.exec(e);
        return !m || !m[1]!.split(' | ').every(isNoise);
      });
      assert.ok(failed >= 0 && real.length === 0, `capture-crypt.sh failed: ${capture.stderr.slice(-4000)}`);
    }
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});
