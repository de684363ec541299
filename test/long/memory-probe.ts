// Memory probe (issue 7): runs the load with chosen parts and prints the daemon's memory figures
// (RSS, and heapUsed/external/arrayBuffers after a forced GC before and after the load), to tell
// a leak (memory after GC keeps growing with cycles) from bounded growth (allocator, RAM disk
// pages, pools). Not part of the default test run:
//
//   npx tsc -p . && node dist/test/long/memory-probe.js [--seconds 30] [--connections 128]
//     [--no-churn] [--no-slow] [--no-dead] [--snapshots DIR] [--env KEY=VALUE ...]
//
// --env sets the daemon's environment (e.g. MALLOC_ARENA_MAX=2, to see how much of the RSS is
// glibc's per-thread arenas rather than memory in use).

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runLoad } from '../load/support.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '30' },
    connections: { type: 'string', default: '128' },
    'device-mib': { type: 'string', default: '128' },
    'no-churn': { type: 'boolean', default: false },
    'no-slow': { type: 'boolean', default: false },
    'no-dead': { type: 'boolean', default: false },
    snapshots: { type: 'string' },
    env: { type: 'string', multiple: true, default: [] },
  },
});
const root = await mkdtemp(join(tmpdir(), 'ucrypt-memprobe-'));
const t0 = Date.now();
const say = (l: string): void => console.log(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${l}`);
try {
  const snaps = values.snapshots;
  const s = await runLoad(
    join(root, 'run'),
    {
      connections: Number(values.connections),
      seconds: Number(values.seconds),
      depth: 8,
      deviceMiB: Number(values['device-mib']),
      churnMs: 100,
      churn: !values['no-churn'],
      slowReaders: !values['no-slow'],
      deadClients: !values['no-dead'],
      daemonEnv: Object.fromEntries(values.env.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])),
      baseline: async (d) => {
        if (snaps) say(`snapshot before the load ${JSON.stringify(await d.control.call('debug.heapsnapshot', { dir: snaps }))}`);
      },
      settled: async (d) => {
        if (snaps) say(`snapshot after the load ${JSON.stringify(await d.control.call('debug.heapsnapshot', { dir: snaps }))}`);
      },
    },
    say,
  );
  say(`cycles ${s.cycles}, dead clients ${s.deadClients}, reads ${s.reads}, writes ${s.writes}, mismatches ${s.mismatches}, errors ${JSON.stringify(s.errors)}, removed ${s.removed}`);
  say(`RSS ${s.rssStartMiB} -> peak ${s.rssPeakMiB} -> end ${s.rssEndMiB} MiB; samples ${s.rssSeriesMiB.join(' ')}`);
  say(`heapUsed+external (no GC) samples ${s.heapExtSeriesMiB.join(' ')}`);
  say(`after GC before load ${JSON.stringify(s.memBefore)}; after load, clients gone ${JSON.stringify(s.memAfter)}; devices removed ${JSON.stringify(s.memRemoved)}`);
} finally {
  await rm(root, { recursive: true, force: true });
}
