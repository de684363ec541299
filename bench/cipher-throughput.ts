// Single-core sector-encryption throughput of the built-in ciphers and modes, next to OpenSSL.
//
//   node dist/bench/cipher-throughput.js [--seconds S] [--quick] [--json FILE]
//
// 1. Verifies before timing: xts(aes) with a 64-byte key on one 1 MiB request of 512- and of
//    4096-byte sectors against node:crypto aes-256-xts sector by sector; every mode OpenSSL has
//    (cbc/ecb aes and camellia) likewise; every other cipher x mode against the published vectors
//    in test/vectors/ciphers/modes.json where there are some, and by a decrypt round trip.
// 2. Runs `openssl speed -evp aes-256-xts -bytes 1048576 -seconds 3` (and, for context, the same
//    with 4096- and 512-byte data units unless --quick) and parses its MB/s.
// 3. Times xts(aes) at 512 and 4096-byte sectors over 1 MiB requests on each path side by side:
//    the native addon (src/crypto/native; IV written into OpenSSL's context, and re-initialising
//    the context per sector) and the JavaScript mode over node:crypto ECB; then every cipher x
//    mode as the registry resolves it, best of several trials by CPU time (this process only)
//    and by wall time. UCRYPT_NATIVE=0 times the registry without the addon.
// Prints a table and a JSON document (also written to --json FILE).

import { spawnSync } from 'node:child_process';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { registerBuiltinCrypto } from '../src/crypto/index.js';
import { getBlockCipher, getSkcipher } from '../src/crypto/registry.js';
import { cbcTemplate } from '../src/crypto/modes/cbc.js';
import { xtsTemplate } from '../src/crypto/modes/xts.js';
import { createNativeSkcipher, isNativeSkcipher, nativeCrypto, nativeIvInPlace } from '../src/crypto/native/index.js';
import type { Skcipher } from '../src/crypto/types.js';

const MiB = 1024 * 1024;

interface Args {
  seconds: number;
  quick: boolean;
  json: string | undefined;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { seconds: 0.4, quick: false, json: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') args.quick = true;
    else if (a === '--seconds') args.seconds = Number(argv[++i]);
    else if (a === '--json') args.json = argv[++i];
    else if (a === '--help' || a === '-h') {
      console.log('usage: node dist/bench/cipher-throughput.js [--seconds S] [--quick] [--json FILE]');
      process.exit(0);
    } else {
      console.error(`cipher-throughput: unknown argument ${a}`);
      process.exit(2);
    }
  }
  return args;
}

function fail(message: string): never {
  console.error(`cipher-throughput: verification failed: ${message}`);
  process.exit(1);
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

/** Encrypts one request and compares every sector with node:crypto's `name`. */
function verifyAgainstOpenssl(sk: Skcipher, opensslName: string, key: Uint8Array, sectorSize: number, ecb: boolean): void {
  const data = randomBytes(MiB);
  const n = MiB / sectorSize;
  const ivs = randomBytes(16 * n);
  const work = Uint8Array.from(data);
  sk.encrypt(work, sectorSize, ivs);
  for (let s = 0; s < n; s++) {
    const c = createCipheriv(opensslName, key, ecb ? null : ivs.subarray(16 * s, 16 * s + 16));
    c.setAutoPadding(false);
    const expect = c.update(data.subarray(s * sectorSize, (s + 1) * sectorSize));
    if (!equal(expect, work.subarray(s * sectorSize, (s + 1) * sectorSize))) {
      fail(`${opensslName}: sector ${s} of a ${sectorSize}-byte-sector request differs from node:crypto`);
    }
  }
  // And decryption of node:crypto's ciphertext.
  for (let s = 0; s < n; s++) {
    const d = createDecipheriv(opensslName, key, ecb ? null : ivs.subarray(16 * s, 16 * s + 16));
    d.setAutoPadding(false);
    if (!equal(d.update(work.subarray(s * sectorSize, (s + 1) * sectorSize)), data.subarray(s * sectorSize, (s + 1) * sectorSize))) {
      fail(`${opensslName}: node:crypto does not decrypt sector ${s} back`);
    }
  }
  sk.decrypt(work, sectorSize, ivs);
  if (!equal(work, data)) fail(`${opensslName}: decrypt round trip`);
}

interface ModeVector {
  algorithm: string;
  key: string;
  iv: string;
  plaintext: string;
  ciphertext: string;
}

function loadVectors(): ModeVector[] {
  try {
    return JSON.parse(readFileSync(new URL('../../test/vectors/ciphers/modes.json', import.meta.url), 'utf8')) as ModeVector[];
  } catch {
    return [];
  }
}

function verifyVectors(name: string, vectors: ModeVector[]): number {
  let n = 0;
  for (const v of vectors.filter((x) => x.algorithm === name)) {
    const pt = Buffer.from(v.plaintext, 'hex');
    const work = Uint8Array.from(pt);
    getSkcipher(name)!.create(Buffer.from(v.key, 'hex')).encrypt(work, pt.length, Buffer.from(v.iv, 'hex'));
    if (Buffer.from(work).toString('hex') !== v.ciphertext) fail(`${name}: published vector differs`);
    n++;
  }
  return n;
}

function verifyRoundTrip(sk: Skcipher, name: string): void {
  const data = randomBytes(64 * 1024);
  const ivs = randomBytes(16 * 16 * (sk.ivSize > 0 ? 1 : 0));
  const work = Uint8Array.from(data);
  sk.encrypt(work, 4096, ivs);
  if (equal(work, data) && !name.includes('cipher_null')) fail(`${name}: encryption left the data unchanged`);
  sk.decrypt(work, 4096, ivs);
  if (!equal(work, data)) fail(`${name}: decrypt round trip`);
}

interface Timing {
  /** MiB/s by this process's CPU time (user + system), best trial. */
  cpuMiBps: number;
  /** MiB/s by wall-clock time, best trial. */
  wallMiBps: number;
}

/** Best of several trials of repeated `op` over `bytes` bytes each, about `seconds` in total. */
function measure(op: () => void, bytes: number, seconds: number): Timing {
  // Warm up (JIT) and estimate one call.
  let t = process.hrtime.bigint();
  let calls = 0;
  while (Number(process.hrtime.bigint() - t) < 50e6 || calls < 3) {
    op();
    calls++;
  }
  const perCall = Number(process.hrtime.bigint() - t) / 1e9 / calls;
  const trials = 5;
  const reps = Math.max(1, Math.round(seconds / trials / perCall));
  let cpu = 0;
  let wall = 0;
  for (let r = 0; r < trials; r++) {
    const c0 = process.cpuUsage();
    t = process.hrtime.bigint();
    for (let i = 0; i < reps; i++) op();
    const w = Number(process.hrtime.bigint() - t) / 1e9;
    const c = process.cpuUsage(c0);
    const cs = (c.user + c.system) / 1e6;
    cpu = Math.max(cpu, (reps * bytes) / MiB / Math.max(cs, 1e-9));
    wall = Math.max(wall, (reps * bytes) / MiB / w);
  }
  return { cpuMiBps: round(cpu), wallMiBps: round(wall) };
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}

interface OpensslResult {
  command: string;
  /** MB/s as openssl prints it (1000s of bytes per second / 1000). */
  MBps: number;
  MiBps: number;
}

function opensslSpeed(bytes: number, seconds: number): OpensslResult | string {
  const args = ['speed', '-evp', 'aes-256-xts', '-bytes', String(bytes), '-seconds', String(seconds)];
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  if (r.error) return `openssl is not available (${(r.error as NodeJS.ErrnoException).code ?? r.error.message})`;
  if (r.status !== 0) return `openssl speed failed (exit ${r.status}): ${r.stderr.trim().split('\n').at(-1)}`;
  // Last line: "AES-256-XTS    6978273.28k" (1000s of bytes per second).
  const m = /^AES-256-XTS\s+([\d.]+)k\s*$/im.exec(r.stdout);
  if (!m) return `could not parse openssl speed output: ${r.stdout.trim().split('\n').at(-1)}`;
  const kBps = Number(m[1]);
  return { command: `openssl ${args.join(' ')}`, MBps: round(kBps / 1000), MiBps: round((kBps * 1000) / MiB) };
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

function lpad(s: string, n: number): string {
  return s.length >= n ? s : ' '.repeat(n - s.length) + s;
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  registerBuiltinCrypto();
  const vectors = loadVectors();

  // 1. Verification.
  const native = nativeCrypto();
  const xtsKey = randomBytes(64);
  const xts = getSkcipher('xts(aes)')!.create(xtsKey);
  // Every path timed below, by name (the registry's xts(aes) is one of them).
  const xtsPaths: Record<string, Skcipher> = {};
  const nativeXts = createNativeSkcipher('xts', xtsKey);
  const nativeXtsReinit = createNativeSkcipher('xts', xtsKey, { reinit: true });
  if (nativeXts && nativeIvInPlace(nativeXts)) xtsPaths['native'] = nativeXts;
  else if (nativeXts) xtsPaths['native (re-init per sector)'] = nativeXts;
  if (nativeXtsReinit && nativeXts && nativeIvInPlace(nativeXts)) xtsPaths['native (re-init per sector)'] = nativeXtsReinit;
  xtsPaths['javascript'] = xtsTemplate(getBlockCipher('aes')!)!.create(xtsKey);
  const verified: string[] = [];
  for (const [path, sk] of Object.entries(xtsPaths)) {
    for (const ss of [512, 4096]) verifyAgainstOpenssl(sk, 'aes-256-xts', xtsKey, ss, false);
    verified.push(`xts(aes), ${path} path = node:crypto aes-256-xts on 1 MiB requests of 512- and 4096-byte sectors`);
  }
  for (const ss of [512, 4096]) verifyAgainstOpenssl(xts, 'aes-256-xts', xtsKey, ss, false);
  for (const [mode, cipher] of [
    ['cbc', 'aes'],
    ['ecb', 'aes'],
    ['cbc', 'camellia'],
    ['ecb', 'camellia'],
  ] as const) {
    const key = randomBytes(32);
    verifyAgainstOpenssl(getSkcipher(`${mode}(${cipher})`)!.create(key), `${cipher}-256-${mode}`, key, 4096, mode === 'ecb');
    verified.push(`${mode}(${cipher}) = node:crypto ${cipher}-256-${mode}`);
  }
  const cbcNativeKey = randomBytes(32);
  const cbcNative = createNativeSkcipher('cbc', cbcNativeKey);
  if (cbcNative) {
    for (const ss of [512, 4096]) verifyAgainstOpenssl(cbcNative, 'aes-256-cbc', cbcNativeKey, ss, false);
    verified.push('cbc(aes), native path = node:crypto aes-256-cbc');
  }
  const combos: string[] = [];
  for (const cipher of ['aes', 'serpent', 'twofish', 'camellia', 'cast6']) {
    for (const mode of ['xts', 'cbc', 'lrw', 'ecb']) combos.push(`${mode}(${cipher})`);
  }
  combos.push('ecb(cipher_null)');
  for (const name of combos) {
    const algo = getSkcipher(name);
    if (!algo) fail(`${name} is not registered`);
    verifyRoundTrip(algo.create(randomBytes(algo.keySizes.at(-1)!)), name);
    const n = verifyVectors(name, vectors);
    if (n > 0) verified.push(`${name}: ${n} published vectors`);
  }
  verified.push(`every cipher x mode (${combos.length}) decrypts its own output`);

  // 2. OpenSSL.
  const openssl = opensslSpeed(MiB, 3);
  const opensslContext: Record<string, OpensslResult | string> = {};
  if (!args.quick && typeof openssl !== 'string') {
    for (const b of [4096, 512]) opensslContext[String(b)] = opensslSpeed(b, 1);
  }

  // 3. Ours: xts(aes) on every path, then the registry's choice for every cipher x mode.
  const xtsByPath: Record<string, Record<string, { encrypt: Timing; decrypt: Timing }>> = {};
  for (const [path, sk] of Object.entries(xtsPaths)) {
    const byss: Record<string, { encrypt: Timing; decrypt: Timing }> = {};
    for (const ss of [512, 4096]) {
      const data = randomBytes(MiB);
      const ivs = randomBytes((16 * MiB) / ss);
      byss[String(ss)] = {
        encrypt: measure(() => sk.encrypt(data, ss, ivs), MiB, 3 * args.seconds),
        decrypt: measure(() => sk.decrypt(data, ss, ivs), MiB, 3 * args.seconds),
      };
    }
    xtsByPath[path] = byss;
  }
  // The registry's path (what the crypt target uses).
  const activePath = isNativeSkcipher(xts) ? (nativeIvInPlace(xts) ? 'native' : 'native (re-init per sector)') : 'javascript';
  const xtsAes = xtsByPath[activePath] ?? xtsByPath['javascript']!;
  const all: { name: string; keyBytes: number; sectorSize: number; encrypt: Timing; decrypt: Timing }[] = [];
  for (const name of combos) {
    const algo = getSkcipher(name)!;
    const keyBytes = algo.keySizes.at(-1)!;
    const sk = algo.create(randomBytes(keyBytes));
    const fast = name.includes('(aes)') || name.includes('(camellia)') || name.includes('cipher_null');
    for (const ss of args.quick ? [4096] : [512, 4096]) {
      const data = randomBytes(MiB);
      const ivs = randomBytes((16 * MiB) / ss);
      const secs = fast ? args.seconds : args.seconds / 2;
      all.push({
        name,
        keyBytes,
        sectorSize: ss,
        encrypt: measure(() => sk.encrypt(data, ss, ivs), MiB, secs),
        decrypt: measure(() => sk.decrypt(data, ss, ivs), MiB, secs),
      });
    }
  }
  // cbc(aes) encryption: OpenSSL's cbc per sector vs the lane-parallel ECB path, by batch size.
  const cbcPaths: { sectors: number; sectorSize: number; perSector: Timing; lanes: Timing; native: Timing | null }[] = [];
  const aesAlgo = getBlockCipher('aes')!;
  for (const [sectors, ss] of [
    [1, 4096],
    [4, 4096],
    [8, 4096],
    [16, 4096],
    [256, 4096],
    [1, 512],
    [8, 512],
    [2048, 512],
  ] as const) {
    const key = randomBytes(32);
    const data = randomBytes(sectors * ss);
    const ivs = randomBytes(16 * sectors);
    const per = cbcTemplate(aesAlgo, 'per-sector')!.create(key);
    const lanes = cbcTemplate(aesAlgo, 'lanes')!.create(key);
    const nat = createNativeSkcipher('cbc', key);
    cbcPaths.push({
      sectors,
      sectorSize: ss,
      perSector: measure(() => per.encrypt(data, ss, ivs), data.length, args.seconds / 2),
      lanes: measure(() => lanes.encrypt(data, ss, ivs), data.length, args.seconds / 2),
      native: nat ? measure(() => nat.encrypt(data, ss, ivs), data.length, args.seconds / 2) : null,
    });
  }

  const ref = typeof openssl === 'string' ? undefined : openssl.MiBps;
  const ratio = (x: number): number | null => (ref ? Math.round((1000 * x) / ref) / 1000 : null);
  const withRatios = (byss: Record<string, { encrypt: Timing; decrypt: Timing }>): Record<string, unknown> =>
    Object.fromEntries(
      Object.entries(byss).map(([ss, t]) => [
        ss,
        { ...t, ratioToOpenssl: { encryptCpu: ratio(t.encrypt.cpuMiBps), decryptCpu: ratio(t.decrypt.cpuMiBps) } },
      ]),
    );
  const result = {
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    native: native.loaded ? { loaded: true, path: native.path, openssl: native.openssl } : { loaded: false, reason: native.reason },
    activeXtsPath: activePath,
    verified,
    openssl: typeof openssl === 'string' ? { unavailable: openssl } : openssl,
    opensslDataUnits: opensslContext,
    xtsAes256: withRatios(xtsAes),
    xtsAes256Paths: Object.fromEntries(Object.entries(xtsByPath).map(([p, byss]) => [p, withRatios(byss)])),
    all,
    cbcAesEncryptPaths: cbcPaths,
  };

  // Human table.
  console.log(`cipher-throughput: ${result.cpu}, Node ${result.node}, single core, 1 MiB requests`);
  console.log(
    native.loaded
      ? `native crypto addon: ${native.path} (${native.openssl}); xts(aes)/cbc(aes) resolve to the ${activePath} path`
      : `native crypto addon not loaded (${native.reason}); xts(aes)/cbc(aes) resolve to the JavaScript path`,
  );
  console.log('verified before timing:');
  for (const v of verified) console.log(`  - ${v}`);
  console.log('');
  if (typeof openssl === 'string') console.log(`OpenSSL: ${openssl}`);
  else {
    console.log(`OpenSSL: ${openssl.command}`);
    console.log(`  ${openssl.MiBps} MiB/s (${openssl.MBps} MB/s), one 1 MiB data unit per call`);
    for (const [b, r] of Object.entries(opensslContext)) {
      console.log(`  with ${b}-byte data units: ${typeof r === 'string' ? r : `${r.MiBps} MiB/s`}`);
    }
  }
  console.log('');
  console.log('xts(aes), 64-byte key           sector   encrypt MiB/s (cpu/wall)   decrypt MiB/s (cpu/wall)   ratio to OpenSSL (enc/dec, cpu)');
  if (ref) console.log(`  ${pad('openssl speed (1 MiB unit)', 30)} ${lpad('-', 6)}   ${lpad(String(ref), 24)}`);
  for (const [path, byss] of Object.entries(xtsByPath)) {
    for (const [ss, t] of Object.entries(byss)) {
      const r = `${ratio(t.encrypt.cpuMiBps) ?? '-'} / ${ratio(t.decrypt.cpuMiBps) ?? '-'}`;
      console.log(
        `  ${pad(path + (path === activePath ? ' *' : ''), 30)} ${lpad(ss, 6)}   ${lpad(`${t.encrypt.cpuMiBps} / ${t.encrypt.wallMiBps}`, 24)}   ${lpad(`${t.decrypt.cpuMiBps} / ${t.decrypt.wallMiBps}`, 24)}   ${r}`,
      );
    }
  }
  console.log('  (* the path getSkcipher(\'xts(aes)\') resolves to)');
  console.log('');
  console.log('cipher x mode (largest key)   sector   encrypt MiB/s   decrypt MiB/s   (cpu time)');
  for (const r of all) {
    console.log(
      `  ${pad(`${r.name} ${8 * r.keyBytes}-bit key`, 28)} ${lpad(String(r.sectorSize), 6)}   ${lpad(String(r.encrypt.cpuMiBps), 13)}   ${lpad(String(r.decrypt.cpuMiBps), 13)}`,
    );
  }
  console.log('');
  console.log('cbc(aes) encryption paths      per-sector createCipheriv   lanes over ECB   native   (MiB/s, cpu time)');
  for (const p of cbcPaths) {
    console.log(
      `  ${pad(`${p.sectors} x ${p.sectorSize} bytes`, 29)} ${lpad(String(p.perSector.cpuMiBps), 25)}   ${lpad(String(p.lanes.cpuMiBps), 14)}   ${lpad(p.native ? String(p.native.cpuMiBps) : '-', 6)}`,
    );
  }
  console.log('');
  const json = JSON.stringify(result, null, 2);
  console.log(json);
  if (args.json) writeFileSync(args.json, json + '\n');
}

main();
