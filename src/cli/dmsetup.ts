// `ucrypt dmsetup`: dmsetup's verbs, options and output, byte for byte where dmsetup's output
// is data (tables, ls, info, deps, errors). Proven against the real dmsetup on the real kernel:
// test/vectors/dmsetup/ (see its PROVENANCE.md) is replayed by test/cli/dmsetup-golden.test.ts.

import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { TableLine } from '../dm/table.js';
import { parseTable } from '../dm/table.js';
import type { DeviceInfo } from '../dm/registry.js';
import { UcryptError, errorMessage, strerror } from '../errors.js';
import type { CliIO, Control } from './io.js';

interface ListEntry {
  readonly name: string;
  readonly major: number;
  readonly minor: number;
  readonly uuid: string;
}

interface Dep {
  readonly key: string;
  readonly kname: string;
  readonly mapped: string | undefined;
}

const OPTIONS = {
  table: { type: 'string' },
  notable: { type: 'boolean', short: 'n' },
  showkeys: { type: 'boolean' },
  inactive: { type: 'boolean' },
  columns: { type: 'boolean', short: 'c' },
  C: { type: 'boolean', short: 'C' },
  noheadings: { type: 'boolean' },
  tree: { type: 'boolean' },
  target: { type: 'string' },
  uuid: { type: 'string', short: 'u' },
  readonly: { type: 'boolean', short: 'r' },
  force: { type: 'boolean', short: 'f' },
  verbose: { type: 'boolean', short: 'v', multiple: true },
  noflush: { type: 'boolean' },
  nolockfs: { type: 'boolean' },
  noudevsync: { type: 'boolean' },
  noudevrules: { type: 'boolean' },
  yes: { type: 'boolean', short: 'y' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const;

type Opts = ReturnType<typeof parse>['values'];

function parse(argv: readonly string[]) {
  return parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
}

/** Our own summary of the verbs (dmsetup's usage text is its authors'; we list what we do). */
const USAGE = `Usage:

ucrypt dmsetup
        [--version] [-h|--help] [-v|--verbose] [-f|--force]
        [-r|--readonly] [--noflush] [--nolockfs] [--inactive]
        [-c|-C|--columns] [--noheadings]

	create <dev_name> [-u|--uuid <uuid>] [-n|--notable|--table {<table>|<table_file>}]
	remove [-f|--force] <device>...
	remove_all [-f|--force]
	suspend [--noflush] [--nolockfs] <device>...
	resume <device>...
	load <device> [<table>|<table_file>]
	reload <device> [<table>|<table_file>]
	clear <device>
	message <device> <sector> <message>
	ls [--target <target_type>] [--tree]
	info [-c|-C|--columns] [<device>...]
	deps [<device>...]
	status [<device>...] [--target <target_type>] [--inactive]
	table [<device>...] [--target <target_type>] [--showkeys] [--inactive]
	targets
	version
	mknodes [<device>...]

<device> is a device name. Table_file contents may be supplied on stdin.
`;

const DM_LIB_VERSION = 'ucrypt 0.1.0';

class CommandFailed extends Error {}

export async function dmsetup(argv: readonly string[], io: CliIO): Promise<number> {
  let parsed;
  try {
    parsed = parse(argv);
  } catch (err) {
    const m = /'(-[^']*)'/.exec(errorMessage(err));
    io.err(`dmsetup: unrecognized option '${m?.[1] ?? argv.join(' ')}'\n`);
    io.err(USAGE);
    return 1;
  }
  const { values: opts, positionals } = parsed;
  if (opts.version) {
    return run(io, async (c) => version(io, c));
  }
  const [verb, ...args] = positionals;
  if (opts.help || verb === 'help' || verb === undefined) {
    (verb === undefined && !opts.help ? io.err : io.out)(USAGE);
    return verb === undefined && !opts.help ? 1 : 0;
  }
  const cmd = Object.hasOwn(COMMANDS, verb) ? COMMANDS[verb] : undefined;
  if (!cmd) {
    io.err('Unknown command.\n');
    io.err(USAGE);
    return 1;
  }
  return run(io, (c) => cmd(args, opts, io, c));
}

async function run(io: CliIO, fn: (c: Control) => Promise<void>): Promise<number> {
  try {
    await fn(await io.control());
    return 0;
  } catch (err) {
    if (!(err instanceof CommandFailed)) {
      io.err(`${errorMessage(err)}\n`);
    }
    io.err('Command failed.\n');
    return 1;
  }
}

/** `device-mapper: <ioctl> ioctl on <name> [(MAJ:MIN)] failed: <strerror>`, as libdevmapper logs it. */
function ioctlFailed(io: CliIO, err: unknown, name: string): CommandFailed {
  if (!(err instanceof UcryptError) || typeof err.context['ioctl'] !== 'string') {
    io.err(`${errorMessage(err)}\n`);
    return new CommandFailed();
  }
  const dn = typeof err.context['devName'] === 'string' ? `(${err.context['devName']})` : '';
  io.err(`device-mapper: ${err.context['ioctl']} ioctl on ${name} ${dn} failed: ${strerror(err.errno)}\n`);
  return new CommandFailed();
}

async function call<T>(io: CliIO, c: Control, name: string, op: string, args: Record<string, unknown>): Promise<T> {
  try {
    return await c.call<T>(op, args);
  } catch (err) {
    throw ioctlFailed(io, err, name);
  }
}

/** info/status of a missing device print `Device does not exist.` (dmsetup checks info.exists). */
async function existing(io: CliIO, c: Control, name: string): Promise<DeviceInfo> {
  try {
    return await c.call<DeviceInfo>('dm.info', { name });
  } catch (err) {
    if (err instanceof UcryptError && err.errno === 'ENXIO') {
      io.err('Device does not exist.\n');
      throw new CommandFailed();
    }
    throw ioctlFailed(io, err, name);
  }
}

async function allNames(c: Control): Promise<string[]> {
  const list = await c.call<ListEntry[]>('dm.list');
  return list.map((d) => d.name).sort(byName);
}

function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function need(io: CliIO, args: readonly string[], n: number, what: string): void {
  if (args.length < n) {
    io.err(`${what}\n`);
    throw new CommandFailed();
  }
}

/** The table for create/load: --table text, a table file argument, or stdin. */
async function readTable(io: CliIO, opts: Opts, file: string | undefined): Promise<TableLine[]> {
  try {
    if (opts.table !== undefined) return parseTable(opts.table, '');
    if (file !== undefined) {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch {
        io.err(`Couldn't open '${file}' for reading\n`);
        throw new CommandFailed();
      }
      return parseTable(text, file);
    }
    return parseTable(await io.readStdin(), 'on stdin');
  } catch (err) {
    if (err instanceof CommandFailed) throw err;
    io.err(`${errorMessage(err)}\n`);
    throw new CommandFailed();
  }
}

type Command = (args: readonly string[], opts: Opts, io: CliIO, c: Control) => Promise<void>;

const COMMANDS: Record<string, Command> = {
  async create(args, opts, io, c) {
    need(io, args, 1, 'Please provide a name for the new device.');
    const name = args[0]!;
    const lines = opts.notable ? undefined : await readTable(io, opts, args[1]);
    const withTable = lines !== undefined && lines.length > 0;
    await call(io, c, name, 'dm.create', { name, ...(withTable ? { lines } : {}), ...(opts.uuid ? { uuid: opts.uuid } : {}), readOnly: opts.readonly ?? false });
  },

  async load(args, opts, io, c) {
    need(io, args, 1, 'Please specify device.');
    const name = args[0]!;
    const lines = await readTable(io, opts, args[1]);
    await call(io, c, name, 'dm.reload', { name, lines });
  },

  async reload(args, opts, io, c) {
    await COMMANDS['load']!(args, opts, io, c);
  },

  async clear(args, _opts, io, c) {
    need(io, args, 1, 'Please specify device.');
    await call(io, c, args[0]!, 'dm.clear', { name: args[0] });
  },

  async remove(args, _opts, io, c) {
    need(io, args, 1, 'Please specify device.');
    let failed = false;
    for (const name of args) {
      try {
        await call(io, c, name, 'dm.remove', { name });
      } catch (err) {
        if (!(err instanceof CommandFailed)) throw err;
        failed = true;
      }
    }
    if (failed) throw new CommandFailed();
  },

  async remove_all(_args, _opts, _io, c) {
    await c.call('dm.remove_all');
  },

  async suspend(args, _opts, io, c) {
    need(io, args, 1, 'Please specify device.');
    for (const name of args) await call(io, c, name, 'dm.suspend', { name });
  },

  async resume(args, _opts, io, c) {
    need(io, args, 1, 'Please specify device.');
    for (const name of args) await call(io, c, name, 'dm.resume', { name });
  },

  async message(args, _opts, io, c) {
    need(io, args, 3, 'Please specify device, sector and message.');
    const [name, sector, ...words] = args as [string, string, ...string[]];
    if (!/^\d+$/.test(sector)) {
      io.err('Invalid sector.\n');
      throw new CommandFailed();
    }
    const r = await call<{ result: string }>(io, c, name, 'dm.message', { name, sector: Number(sector), argv: words });
    if (r.result) io.out(`${r.result}\n`);
  },

  async ls(_args, opts, io, c) {
    const list = (await c.call<ListEntry[]>('dm.list')).sort((a, b) => byName(a.name, b.name));
    if (list.length === 0) {
      io.out('No devices found\n');
      return;
    }
    if (opts.tree) {
      await printTree(io, c, list);
      return;
    }
    for (const d of list) {
      if (opts.target !== undefined) {
        // With --target dmsetup prints the number the old way, `(MAJ, MIN)`.
        const lines = await c.call<string[]>('dm.lines', { name: d.name, status: false });
        if (lines.some((l) => l.split(' ')[2] === opts.target)) io.out(`${d.name}\t(${d.major}, ${d.minor})\n`);
      } else {
        io.out(`${d.name}\t(${d.major}:${d.minor})\n`);
      }
    }
  },

  async table(args, opts, io, c) {
    await printLines(args, opts, io, c, false);
  },

  async status(args, opts, io, c) {
    await printLines(args, opts, io, c, true);
  },

  async info(args, opts, io, c) {
    const names = args.length > 0 ? args : await allNames(c);
    if (args.length === 0 && names.length === 0) {
      io.out('No devices found\n');
      return;
    }
    const infos: DeviceInfo[] = [];
    for (const name of names) infos.push(await existing(io, c, name));
    if (opts.columns || opts.C) printColumns(io, infos, opts.noheadings ?? false);
    else for (const i of infos) printInfo(io, i);
  },

  async deps(args, _opts, io, c) {
    const names = args.length > 0 ? args : await allNames(c);
    if (args.length === 0 && names.length === 0) {
      io.out('No devices found\n');
      return;
    }
    for (const name of names) {
      await existing(io, c, name);
      const deps = await call<Dep[]>(io, c, name, 'dm.deps', { name });
      const prefix = args.length === 1 ? '' : `${name}: `;
      io.out(`${prefix}${deps.length} dependencies\t:${deps.map((d) => ` (${d.key.replace(':', ', ')})`).join('')}\n`);
    }
  },

  async targets(_args, _opts, io, c) {
    const list = await c.call<{ name: string; version: string }[]>('dm.targets');
    // The kernel lists the most recently registered target type first.
    for (const t of list.slice().reverse()) io.out(`${t.name.padEnd(16)} v${t.version}\n`);
  },

  async version(_args, _opts, io, c) {
    await version(io, c);
  },

  /** No udev to repair here: our /dev/mapper names always exist, so this succeeds quietly. */
  async mknodes() {},
};

async function version(io: CliIO, c: Control): Promise<void> {
  const v = await c.call<{ driver: string }>('dm.version');
  io.out(`Library version:   ${DM_LIB_VERSION}\n`);
  io.out(`Driver version:    ${v.driver}\n`);
}

async function printLines(args: readonly string[], opts: Opts, io: CliIO, c: Control, status: boolean): Promise<void> {
  const names = args.length > 0 ? [...args] : await allNames(c);
  if (args.length === 0 && names.length === 0) {
    io.out('No devices found\n');
    return;
  }
  const prefixed = names.length > 1 || args.length === 0;
  for (const name of names) {
    if (status) await existing(io, c, name);
    const lines = await call<string[]>(io, c, name, 'dm.lines', { name, status, inactive: opts.inactive ?? false, showKeys: opts.showkeys ?? false });
    const prefix = prefixed ? `${name}: ` : '';
    if (opts.target !== undefined) {
      for (const l of lines) if (l.split(' ')[2] === opts.target) io.out(`${prefix}${l}\n`);
    } else if (lines.length === 0) {
      io.out(`${prefix}\n`);
    } else {
      for (const l of lines) io.out(`${prefix}${l}\n`);
    }
  }
}

function printInfo(io: CliIO, i: DeviceInfo): void {
  let s = `Name:              ${i.name}\n`;
  s += `State:             ${i.suspended ? 'SUSPENDED' : 'ACTIVE'}${i.readOnly ? ' (READ-ONLY)' : ''}\n`;
  const live = i.tablesPresent === 'LIVE' || i.tablesPresent === 'LIVE & INACTIVE';
  // dmsetup opens the device for its read-ahead; a device with no live table cannot be opened.
  if (live) s += 'Read Ahead:        256\n';
  else io.err(`/dev/mapper/${i.name}: open failed: No such device or address\n`);
  s += `Tables present:    ${i.tablesPresent}\n`;
  s += `Open count:        ${i.openCount}\n`;
  s += `Event number:      ${i.eventNr}\n`;
  s += `Major, minor:      ${i.major}, ${i.minor}\n`;
  s += `Number of targets: ${i.targetCount}\n`;
  if (i.uuid) s += `UUID: ${i.uuid}\n`;
  io.out(`${s}\n`);
}

/** `info -c`: dmsetup's default report columns name,major,minor,attr,open,segments,events,uuid. */
function printColumns(io: CliIO, infos: readonly DeviceInfo[], noHeadings: boolean): void {
  const nameW = Math.max(16, ...infos.map((i) => i.name.length));
  const uuidW = Math.max(32, ...infos.map((i) => i.uuid.length));
  if (!noHeadings) io.out(`${'Name'.padEnd(nameW)} Maj Min Stat Open Targ ${'Event'.padEnd(6)} ${'UUID'.padEnd(uuidW)}\n`);
  for (const i of infos) {
    const attr = `${i.tablesPresent.startsWith('LIVE') ? 'L' : '-'}${i.tablesPresent.endsWith('INACTIVE') ? 'I' : '-'}${i.suspended ? 's' : '-'}${i.readOnly ? 'r' : 'w'}`;
    io.out(`${i.name.padEnd(nameW)} ${String(i.major).padStart(3)} ${String(i.minor).padStart(3)} ${attr} ${String(i.openCount).padStart(4)} ${String(i.targetCount).padStart(4)} ${String(i.eventNr).padStart(6)} ${i.uuid.padEnd(uuidW)}\n`);
  }
}

/**
 * `ls --tree`: each device nothing else uses is a root; below it what its table holds, with
 * `|-` for a child that has siblings after it, `` `- `` for the last, and `|  ` continuing the
 * line of an ancestor that has more children.
 */
async function printTree(io: CliIO, c: Control, list: readonly ListEntry[]): Promise<void> {
  const deps = new Map<string, Dep[]>();
  for (const d of list) deps.set(d.name, await c.call<Dep[]>('dm.deps', { name: d.name }));
  const used = new Set<string>();
  for (const ds of deps.values()) for (const d of ds) if (d.mapped) used.add(d.mapped);
  const byNameMap = new Map(list.map((d) => [d.name, d]));
  const walk = (name: string | undefined, key: string, more: boolean[], last: boolean): void => {
    const depth = more.length;
    let prefix = '';
    if (depth > 0) {
      prefix = ' ';
      for (let i = 1; i < depth; i++) prefix += more[i] ? '|  ' : '   ';
      prefix += last ? '`-' : '|-';
    }
    io.out(`${prefix}${name ?? ''} (${key})\n`);
    const children = name ? (deps.get(name) ?? []) : [];
    children.forEach((ch, idx) => {
      const isLast = idx === children.length - 1;
      walk(ch.mapped, ch.key, [...more, !last], isLast);
    });
  };
  for (const d of list) {
    if (used.has(d.name)) continue;
    walk(d.name, `${byNameMap.get(d.name)!.major}:${d.minor}`, [], true);
  }
}
