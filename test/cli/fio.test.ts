// `ucrypt fio`: fio's options and report shapes, in-process (--stack) and through the daemon
// over NBD, with verification and error reporting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cli, Registry } from '../helpers/cli.js';
import { cleanupRuntime, tempRuntime, ucrypt } from '../helpers/proc.js';
import { parseFioArgs } from '../../src/bench/options.js';
import { runFio } from '../../src/bench/fio.js';
import { splitCommands } from '../../src/cli/fio.js';

const STACK = "modprobe brd rd_nr=1 rd_size=65536; dmsetup create eram0 --table '0 131072 crypt capi:ecb(cipher_null) - 0 /dev/ram0 0'; dmsetup create bad --table '0 1024 error'";
const inproc = ['--ioengine=inprocess', `--stack=${STACK}`];
const GROUP = /^ {3}READ: bw=[\d.]+[KMG]?i?B\/s \([\d.]+[kMG]?B\/s\), [\d.]+[KMG]?i?B\/s-[\d.]+[KMG]?i?B\/s \([\d.]+[kMG]?B\/s-[\d.]+[kMG]?B\/s\), io=[\d.]+[KMG]?i?B \([\d.]+[kMG]?B\), run=\d+-\d+msec$/m;

test('options: fio spellings, globals before --name, units, refusals', () => {
  const a = parseFioArgs(['--bs=8k', '--direct', '--runtime=500ms', '--name=a', '--filename=/dev/ram0', '--rw=randrw', '--rwmixread=70', '--name', 'b', '--filename=nbd://h/x', '--iodepth=32', '--numjobs=2', '--offset=50%', '--size=1m', '--time_based']);
  assert.equal(a.jobs.length, 2);
  assert.deepEqual([a.jobs[0]!.bs, a.jobs[0]!.rw, a.jobs[0]!.rwmixread, a.jobs[0]!.runtimeUs, a.jobs[0]!.direct], [8192, 'randrw', 70, 500000, true]);
  assert.deepEqual([a.jobs[1]!.iodepth, a.jobs[1]!.numjobs, a.jobs[1]!.offset, a.jobs[1]!.size, a.jobs[1]!.timeBased, a.jobs[1]!.bs], [32, 2, { percent: 50 }, { bytes: 1048576 }, true, 8192]);
  assert.equal(parseFioArgs(['--filename=/dev/ram0', '--readwrite=readwrite']).jobs[0]!.rw, 'rw');
  assert.equal(parseFioArgs(['--filename=/dev/ram0', '--ioengine=libaio']).jobs[0]!.ioengine, 'nbd');
  assert.throws(() => parseFioArgs(['--filename=x', '--rw=sideways']), /readwrite=sideways/);
  assert.throws(() => parseFioArgs(['--filename=x', '--frobnicate=1']), /unrecognized option '--frobnicate'/);
  assert.throws(() => parseFioArgs(['--filename=x', '--bs=100']), /multiple of 512/);
  assert.throws(() => parseFioArgs(['--name=x']), /no --filename/);
  assert.deepEqual(splitCommands(`a 'b c'; d "e\\"f" g\\ h`), [['a', 'b c'], ['d', 'e"f', 'g h']]);
});

test('normal output: header, per-job block with percentiles, and the group line the seed greps', async () => {
  const r = await cli(new Registry(), ['fio', ...inproc, '--name=plain', '--filename=/dev/mapper/eram0', '--readwrite=read', '--bs=4k', '--direct=1', '--loops=1000000', '--runtime=300ms']);
  assert.equal(r.exit, 0, r.stderr);
  const out = r.stdout;
  assert.match(out, /^plain: \(g=0\): rw=read, bs=\(R\) 4096B-4096B, \(W\) 4096B-4096B, \(T\) 4096B-4096B, ioengine=inprocess, iodepth=1$/m);
  assert.match(out, /^plain: \(groupid=0, jobs=1\): err= 0: pid=\d+: \w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4}$/m);
  assert.match(out, /^ {2}read: IOPS=[\d.]+k?, BW=[\d.]+[KMG]iB\/s \([\d.]+[kMG]B\/s\)\([\d.]+[KMG]?i?B\/\d+msec\)$/m);
  assert.match(out, /^ {4}clat \((nsec|usec|msec)\): min=[\d.]+k?, max=[\d.]+k?, avg= *[\d.]+, stdev= *[\d.]+$/m);
  // Four to a line when values fit in 5 digits, fewer when wider (fio's per_line = 73 / (12 + width)).
  assert.match(out, /^ {4}clat percentiles \((nsec|usec|msec)\):\n {5}\| {2}1\.00th=\[ *\d+\], {2}5\.00th=\[ *\d+\], 10\.00th=\[ *\d+\],/m);
  assert.match(out, /\| 99\.99th=\[ *\d+\]\n/);
  assert.match(out, /^ {3}bw \( {2}[KM]iB\/s\): min= *\d+, max= *\d+, per=[\d.]+%, avg= *[\d.]+, stdev= *[\d.]+, samples=\d+$/m);
  assert.match(out, /^ {2}IO depths {4}: 1=100\.0%, 2=0\.0%/m);
  assert.match(out, /^Run status group 0 \(all jobs\):$/m);
  assert.match(out, GROUP);
  const run = Number(/run=(\d+)-/.exec(out)![1]);
  assert.ok(run >= 300 && run < 1000, `runtime ${run}`);
  assert.doesNotMatch(out, /\r/, 'no progress line when not on a terminal');
});

test('JSON output uses fio field names', async () => {
  const r = await cli(new Registry(), ['fio', ...inproc, '--name=j', '--filename=/dev/mapper/eram0', '--rw=randrw', '--rwmixread=60', '--bs=4k', '--iodepth=8', '--size=4m', '--loops=2', '--output-format=json']);
  assert.equal(r.exit, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { jobs: Record<string, any>[] }; // eslint-disable-line @typescript-eslint/no-explicit-any
  const job = j.jobs[0]!;
  assert.equal(job['jobname'], 'j');
  assert.equal(job['error'], 0);
  for (const d of ['read', 'write']) {
    const s = job[d];
    for (const k of ['io_bytes', 'io_kbytes', 'bw_bytes', 'bw', 'iops', 'runtime', 'total_ios', 'clat_ns', 'lat_ns', 'slat_ns', 'bw_min', 'bw_mean', 'iops_mean']) assert.ok(k in s, `${d}.${k}`);
    assert.ok(s.total_ios > 0);
    assert.ok(s.clat_ns.N === s.total_ios);
    assert.ok('99.990000' in s.clat_ns.percentile);
  }
  // size * loops bytes in all, split about 60/40.
  assert.equal(job['read'].io_bytes + job['write'].io_bytes, 8 << 20);
  assert.ok(job['read'].total_ios > job['write'].total_ios);
  assert.ok(job['iodepth_level']['8'] > 0);
});

test('verify=crc32c: random writes at depth 32 then read back; a wrong pattern fails with err=84', async () => {
  const ok = await cli(new Registry(), ['fio', ...inproc, '--name=v', '--filename=/dev/mapper/eram0', '--rw=randwrite', '--bs=4k', '--iodepth=32', '--size=2m', '--verify=crc32c']);
  assert.equal(ok.exit, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /err= 0/);
  assert.match(ok.stdout, /issued rwts: total=512,512,0,0/);
  // Reading a never-written device with verify finds no header.
  const bad = await cli(new Registry(), ['fio', ...inproc, '--name=v', '--filename=/dev/mapper/eram0', '--rw=read', '--bs=4k', '--size=64k', '--verify=crc32c']);
  assert.equal(bad.exit, 1);
  assert.match(bad.stdout, /err=84/);
  assert.match(bad.stderr, /fio: verify: bad magic header 0, wanted acca at file \/dev\/mapper\/eram0 offset 0, length 4096/);
});

test('I/O errors are reported as fio does, exit status 1', async () => {
  const r = await cli(new Registry(), ['fio', ...inproc, '--name=e', '--filename=/dev/mapper/bad', '--rw=read', '--bs=4k']);
  assert.equal(r.exit, 1);
  assert.match(r.stdout, /err= 5:/);
  assert.match(r.stderr, /fio: io_u error on file \/dev\/mapper\/bad: .*read offset=0, buflen=4096/);
  const nodev = await cli(new Registry(), ['fio', ...inproc, '--name=e', '--filename=/dev/mapper/nope', '--rw=read']);
  assert.equal(nodev.exit, 1);
  assert.match(nodev.stderr, /fio: e: \/dev\/mapper\/nope: No such device/);
  const noStack = await cli(new Registry(), ['fio', '--ioengine=inprocess', '--name=e', '--filename=/dev/ram0']);
  assert.equal(noStack.exit, 1);
  assert.match(noStack.stderr, /needs --stack/);
});

test('numjobs with group_reporting, offset, time_based and ramp_time through the library API', async () => {
  const reg = new Registry();
  reg.modprobeBrd({ rd_nr: 1, rd_size: 65536 });
  const args = parseFioArgs(['--name=g', '--filename=/dev/ram0', '--ioengine=inprocess', '--rw=write', '--bs=64k', '--numjobs=3', '--group_reporting', '--offset=50%', '--size=1m', '--time_based', '--runtime=200ms', '--ramp_time=100ms']);
  const run = await runFio(args, { registry: reg });
  assert.equal(run.results.length, 1);
  assert.equal(run.results[0]!.jobs, 3);
  assert.ok(run.group.write!.ioBytes > 3 * 1048576, 'time_based keeps going past size');
  assert.ok(run.group.write!.maxRun >= 200 && run.group.write!.maxRun < 800);
  // Only the region [32 MiB, 33 MiB) was written.
  const disk = reg.ramDisk(0)!;
  assert.equal(disk.stats().pages, 256);
});

test('through the daemon over NBD: device paths and NBD URIs, with a live progress line only on request', async () => {
  const dir = await tempRuntime();
  try {
    assert.equal((await ucrypt(dir, ['modprobe', 'brd', 'rd_nr=1', 'rd_size=65536'])).exit, 0);
    assert.equal((await ucrypt(dir, ['dmsetup', 'create', 'eram0', '--table', '0 131072 crypt capi:ecb(cipher_null) - 0 /dev/ram0 0'])).exit, 0);
    const w = await ucrypt(dir, ['fio', '--name=w', '--filename=/dev/mapper/eram0', '--rw=write', '--bs=4k', '--iodepth=16', '--size=1m', '--verify=crc32c']);
    assert.equal(w.exit, 0, w.stdout + w.stderr);
    assert.match(w.stdout, /ioengine=nbd/);
    assert.match(w.stdout, /^ {2}write: IOPS=[\d.]+k?, BW=.*msec\); 0 zone resets$/m);
    assert.match(w.stdout, /^ {2}WRITE: bw=/m);
    const uri = (await ucrypt(dir, ['nbd-uri', 'eram0'])).stdout.trim();
    const r = await ucrypt(dir, ['fio', '--name=r', `--filename=${uri}`, '--rw=read', '--bs=4k', '--size=1m', '--verify=crc32c', '--eta=always', '--runtime=5']);
    assert.equal(r.exit, 0, r.stdout + r.stderr);
    assert.match(r.stdout, GROUP);
    const ram = await ucrypt(dir, ['fio', '--name=p', '--filename=/dev/ram0', '--rw=read', '--bs=4k', '--runtime=200ms', '--loops=1000']);
    assert.equal(ram.exit, 0, ram.stderr);
    assert.match(ram.stdout, GROUP);
    const missing = await ucrypt(dir, ['fio', '--name=m', '--filename=/dev/mapper/nope', '--rw=read']);
    assert.equal(missing.exit, 1);
    assert.match(missing.stderr, /fio: m: .*nope/);
  } finally {
    await cleanupRuntime(dir);
  }
});
