// `ucrypt modprobe brd rd_nr=N rd_size=KIB` and `ucrypt rmmod brd`, quiet on success like the real tools.

import { errorMessage } from '../errors.js';
import type { CliIO } from './io.js';

export async function modprobe(argv: readonly string[], io: CliIO): Promise<number> {
  const [module, ...params] = argv;
  if (module === undefined) {
    io.err('modprobe: ERROR: missing module name.\n');
    return 1;
  }
  try {
    await (await io.control()).call('modprobe', { module, params });
    return 0;
  } catch (err) {
    io.err(`${errorMessage(err)}\n`);
    return 1;
  }
}

export async function rmmod(argv: readonly string[], io: CliIO): Promise<number> {
  const [module] = argv;
  if (module === undefined) {
    io.err('rmmod: ERROR: missing module name.\n');
    return 1;
  }
  try {
    await (await io.control()).call('rmmod', { module });
    return 0;
  } catch (err) {
    io.err(`${errorMessage(err)}\n`);
    return 1;
  }
}
