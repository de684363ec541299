// `ucrypt demo`: the quick-start job. It runs the real CLI against a private daemon (its own
// runtime directory): a RAM disk, a linear device on it and a device stacked on that, their
// tables, and data written through the top device and read back through every layer.

import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CliIO } from './io.js';
import { processIO } from './io.js';
import { runCli } from './main.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex').slice(0, 16);

export async function demo(_argv: readonly string[], parent: CliIO): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'ucrypt-demo-'));
  const env = { ...parent.env, UCRYPT_RUNTIME_DIR: dir };
  const io = processIO(env, (t) => parent.out(t.replace(/^(?=.)/gm, '    ')));
  const step = async (args: string[], title?: string): Promise<void> => {
    if (title) parent.out(`\n# ${title}\n`);
    parent.out(`$ ucrypt ${args.map((a) => (/[\s"]/.test(a) ? `"${a}"` : a)).join(' ')}\n`);
    const code = await runCli(args, io);
    if (code !== 0) throw new Error(`ucrypt ${args.join(' ')} exited with ${code}`);
  };
  try {
    await step(['daemon', '--background'], 'Start a private daemon (the other commands would start one on demand)');
    await step(['modprobe', 'brd', 'rd_nr=1', 'rd_size=65536'], 'A 64 MiB RAM disk, /dev/ram0 (1:0); its pages are allocated on first write');
    await step(['dmsetup', 'create', 'lin', '--table', '0 65536 linear /dev/ram0 65536'], 'A linear device on the second half of ram0');
    await step(['dmsetup', 'create', 'stacked', '--table', '0 32768 linear /dev/mapper/lin 32768'], 'A device stacked on the linear one');
    await step(['dmsetup', 'ls', '--tree']);
    await step(['dmsetup', 'table']);
    await step(['dmsetup', 'info', '-c']);

    parent.out('\n# Write 1 MiB through /dev/mapper/stacked, read it back through every layer\n');
    const c = await io.control();
    const data = randomBytes(1 << 20);
    await c.call('io.write', { device: 'stacked', offset: 4096, data: data.toString('base64'), fua: true });
    const read = async (device: string, offset: number): Promise<Buffer> => Buffer.from((await c.call<{ data: string }>('io.read', { device, offset, length: data.length })).data, 'base64');
    // stacked sector 8 = lin sector 32768 + 8 = ram0 sector 65536 + 32768 + 8.
    const views: [string, number][] = [['stacked', 4096], ['lin', 32768 * 512 + 4096], ['/dev/ram0', (65536 + 32768) * 512 + 4096]];
    let ok = true;
    parent.out(`    written   sha256 ${sha(data)}\n`);
    for (const [dev, off] of views) {
      const got = await read(dev, off);
      const same = got.equals(data);
      ok &&= same;
      parent.out(`    ${dev.padEnd(9)} sha256 ${sha(got)} at byte ${off} ${same ? 'OK' : 'MISMATCH'}\n`);
    }

    parent.out('\n# lin is held open by the stacked table, so removing it is refused\n$ ucrypt dmsetup remove lin\n');
    if ((await runCli(['dmsetup', 'remove', 'lin'], { ...io, err: (t) => parent.out(`    ${t}`) })) === 0) throw new Error('removing a device in use succeeded');
    await step(['dmsetup', 'reload', 'stacked', '--table', '0 32768 zero'], 'Reload an inactive table, then resume to swap it in');
    await step(['dmsetup', 'info', 'stacked']);
    await step(['dmsetup', 'resume', 'stacked']);
    await step(['dmsetup', 'table', 'stacked']);
    await step(['dmsetup', 'remove_all'], 'Clean up');
    await step(['rmmod', 'brd']);
    parent.out(ok ? '\ndemo: data read back identical through every layer\n' : '\ndemo: DATA MISMATCH\n');
    return ok ? 0 : 1;
  } finally {
    await runCli(['daemon', '--stop'], io).catch(() => undefined);
    io.dispose();
    await rm(dir, { recursive: true, force: true });
  }
}
