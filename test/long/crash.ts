// The long reliability run (issue 7): many daemon kills under pipelined writes on a file-backed
// crypt device, LUKS header updates cut by power losses and kills, and a long load run with many
// connections. Not part of the default test run (not a *.test.ts file):
//
//   npx tsc -p . && node dist/test/long/crash.js [--kills 50] [--load-seconds 60] [--connections 128] [--luks-rounds 60]
//
// Prints the summary issue 7 asks for; exits 1 when anything was lost, garbled or failed.

import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CRASH_FLAGS, CrashRig, killDaemon } from '../crash/support.js';
import { luksKillCli, luksPowerLoss } from '../crash/luks-crash.js';
import { runLoad } from '../load/support.js';

const { values } = parseArgs({
  options: {
    kills: { type: 'string', default: '50' },
    'load-seconds': { type: 'string', default: '60' },
    connections: { type: 'string', default: '128' },
    'luks-rounds': { type: 'string', default: '60' },
    'image-mib': { type: 'string', default: '32' },
  },
});
const kills = Number(values.kills);
const loadSeconds = Number(values['load-seconds']);
const connections = Number(values.connections);
const luksRounds = Number(values['luks-rounds']);
const imageMiB = Number(values['image-mib']);

const t0 = Date.now();
const say = (line: string): void => console.log(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${line}`);
const root = await mkdtemp(join(tmpdir(), 'ucrypt-long-'));
let failed = false;
try {
  // 1. Daemon kills under pipelined writes.
  const image = join(root, 'disk.img');
  await writeFile(image, '');
  await truncate(image, imageMiB << 20);
  const rig = new CrashRig(join(root, 'run-crash'), image, imageMiB << 20);
  const problems: string[] = [];
  rig.log = (l) => problems.length < 20 && problems.push(l);
  {
    const { daemon, nbd } = await rig.start([]);
    await rig.initialise(nbd);
    await nbd.close();
    await killDaemon(daemon);
  }
  for (let i = 0; i < kills; i++) {
    await rig.round(CRASH_FLAGS[i % CRASH_FLAGS.length]!, 100 + Math.random() * 1900);
    if ((i + 1) % 10 === 0) say(`crash: ${i + 1}/${kills} kills, ${rig.stats.writesAcked} writes acknowledged, lost ${rig.stats.lostWrites}, garbage ${rig.stats.garbageBlocks}`);
  }
  await rig.finish();
  const c = rig.stats;
  say(`crash: done: ${c.crashes} kills, ${c.writesAcked} writes acknowledged, ${c.flushes} flushes, ${c.blocksVerified} blocks verified, ${c.durableChecked} of them durable versions, lost ${c.lostWrites}, garbage ${c.garbageBlocks}`);
  for (const p of problems) say(`  ${p}`);

  // 2. LUKS header updates cut by power losses (in-process) and by kill -9 (the CLI).
  const pl1 = await luksPowerLoss(1, luksRounds);
  const pl2 = await luksPowerLoss(2, luksRounds);
  const cli = await luksKillCli(root, 2, Math.max(5, Math.round(luksRounds / 4)));
  say(`luks: power losses cut ${pl1.cut} LUKS1 and ${pl2.cut} LUKS2 updates (${pl1.completed + pl2.completed} completed first); luksAddKey killed ${cli.killedBeforeEnd} times mid-way, ${cli.completed} runs completed; every header opened`);

  // 3. Load.
  const load = await runLoad(join(root, 'run-load'), { connections, seconds: loadSeconds, depth: 8, deviceMiB: 128, churnMs: 100 }, say);
  say(`load: ${load.connections} connections for ${loadSeconds} s: ${load.reads} reads (all verified), ${load.writes} writes, ${load.mismatches} mismatches, ${load.cycles} reload/suspend/resume cycles, ${load.deadClients} dead clients, slow readers with ${load.slowReaderRequests} unread replies, fewest ops per connection in the last quarter ${load.minLateOps}, RSS ${load.rssStartMiB} -> peak ${load.rssPeakMiB} MiB (samples: ${load.rssSeriesMiB.join(' ')}), devices removable afterwards: ${load.removed}`);
  const fig = (m: typeof load.memBefore): string => (m ? `RSS ${m.rss}, heapUsed ${m.heapUsed}, external ${m.external}, arrayBuffers ${m.arrayBuffers}` : 'n/a');
  say(`load: daemon memory after a forced GC, MiB: before the load (regions written) ${fig(load.memBefore)}; after it (clients gone) ${fig(load.memAfter)}; devices removed ${fig(load.memRemoved)}`);
  for (const e of load.errors) say(`  error: ${e}`);

  const lost = c.lostWrites;
  failed = lost > 0 || c.garbageBlocks > 0 || load.mismatches > 0 || load.errors.length > 0 || !load.removed || load.minLateOps === 0;
  console.log('');
  console.log('ucrypt long reliability run');
  console.log(`  command            node dist/test/long/crash.js --kills ${kills} --load-seconds ${loadSeconds} --connections ${connections} --luks-rounds ${luksRounds} --image-mib ${imageMiB}`);
  console.log(`  connections held   ${load.connections} (+ 3 slow readers, ${load.deadClients} dead clients)`);
  console.log(`  I/Os verified      ${load.iosVerified + c.blocksVerified} (${load.iosVerified} load reads, ${c.blocksVerified} blocks after restarts)`);
  console.log(`  faults injected    ${pl1.cut + pl2.cut + load.deadClients} (${pl1.cut + pl2.cut} LUKS power losses, ${load.deadClients} clients dropped mid-request)`);
  console.log(`  crashes survived   ${c.crashes + cli.killedBeforeEnd} (${c.crashes} daemon SIGKILLs under writes, ${cli.killedBeforeEnd} luksAddKey SIGKILLs)`);
  console.log('  inputs fuzzed      0 (the fuzzers are another run)');
  console.log(`  daemon RSS         ${load.rssStartMiB} MiB idle, ${load.memBefore?.rss ?? 0} MiB with the devices written, peak ${load.rssPeakMiB} MiB, ${load.memAfter?.rss ?? 0} MiB after the load (arrayBuffers after GC ${load.memBefore?.arrayBuffers ?? 0} -> ${load.memAfter?.arrayBuffers ?? 0} MiB)`);
  console.log(`  lost writes        ${lost} (garbage blocks ${c.garbageBlocks}, read mismatches ${load.mismatches})`);
  console.log(`  duration           ${((Date.now() - t0) / 1000).toFixed(0)} s`);
} catch (e) {
  failed = true;
  console.error(e);
} finally {
  await rm(root, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
