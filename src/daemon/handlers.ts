// The daemon's control operations: each takes the registry and the request's arguments and
// returns a JSON-able result. The CLI formats results the way dmsetup/modprobe print them.

import { parseBrdParams } from '../backends/ram/brd.js';
import { DM_DRIVER_VERSION } from '../dm/registry.js';
import type { Registry } from '../dm/registry.js';
import { UcryptError } from '../errors.js';
import { heapSnapshot, memoryFigures } from './memory.js';
import { argBool, argInt, argLines, argOptString, argString, argStrings } from './protocol.js';

export const VERSION = '0.1.0';

type Args = Record<string, unknown>;
type Handler = (reg: Registry, args: Args) => unknown;

async function device(reg: Registry, args: Args) {
  const name = argString(args, 'device');
  const dev = await reg.device(name);
  if (!dev) throw new UcryptError('ERR_NO_DEVICE', 'ENXIO', `${name}: no such device`);
  return dev;
}

const MAX_IO = 32 << 20;

/** Backing paths of devices opened by `cryptsetup open` (crypt.open), for status and refresh. */
const cryptPaths = new WeakMap<Registry, Map<string, string>>();

function cryptPathMap(reg: Registry): Map<string, string> {
  let m = cryptPaths.get(reg);
  if (!m) cryptPaths.set(reg, (m = new Map()));
  return m;
}

export const handlers: Record<string, Handler> = {
  ping: () => ({ pid: process.pid, version: VERSION }),
  modprobe: (reg, args) => {
    const module = argString(args, 'module');
    if (module !== 'brd') throw new UcryptError('ERR_BRD', 'ENOENT', `modprobe: FATAL: Module ${module} not found (ucrypt provides brd)`);
    const loaded = reg.brdLoaded;
    const disks = reg.modprobeBrd(parseBrdParams(argStrings(args, 'params')));
    return { loaded: !loaded, disks: disks.length, size: disks[0]?.size ?? 0 };
  },
  rmmod: (reg, args) => {
    const module = argString(args, 'module');
    if (module !== 'brd') throw new UcryptError('ERR_BRD', 'ENOENT', `rmmod: ERROR: Module ${module} is not currently loaded`);
    reg.rmmodBrd();
    return {};
  },
  'dm.create': async (reg, args) => {
    const table = args['lines'] === undefined ? argOptString(args, 'table') : argLines(args);
    const uuid = argOptString(args, 'uuid');
    await reg.create(argString(args, 'name'), { readOnly: argBool(args, 'readOnly'), ...(table === undefined ? {} : { table }), ...(uuid === undefined ? {} : { uuid }) });
    return {};
  },
  'dm.reload': async (reg, args) => {
    await reg.load(argString(args, 'name'), args['lines'] === undefined ? argString(args, 'table') : argLines(args));
    return {};
  },
  'dm.clear': (reg, args) => {
    reg.clear(argString(args, 'name'));
    return {};
  },
  'dm.remove': async (reg, args) => {
    await reg.remove(argString(args, 'name'));
    return {};
  },
  'dm.remove_all': async (reg) => ({ removed: await reg.removeAll() }),
  'dm.suspend': async (reg, args) => {
    await reg.suspend(argString(args, 'name'));
    return {};
  },
  'dm.resume': async (reg, args) => {
    await reg.resume(argString(args, 'name'));
    return {};
  },
  'dm.message': async (reg, args) => ({ result: await reg.message(argString(args, 'name'), argInt(args, 'sector'), argStrings(args, 'argv')) }),
  'dm.list': (reg) => reg.list().map((md) => ({ name: md.name, major: 254, minor: md.minor, uuid: md.uuid })),
  'dm.info': (reg, args) => reg.info(argString(args, 'name')),
  'dm.lines': (reg, args) => reg.lines(argString(args, 'name'), { status: argBool(args, 'status'), inactive: argBool(args, 'inactive'), showKeys: argBool(args, 'showKeys') }),
  'dm.deps': (reg, args) => reg.deps(argString(args, 'name')),
  'dm.targets': (reg) => reg.targetVersions(),
  'dm.version': () => ({ driver: DM_DRIVER_VERSION, ucrypt: VERSION }),
  dmesg: (reg) => reg.dmesg(),
  // Diagnostics: memory figures (after a full GC when asked) and heap snapshots, for the load tests.
  'debug.memory': (_reg, args) => memoryFigures(argBool(args, 'gc')),
  'debug.heapsnapshot': (_reg, args) => ({ path: heapSnapshot(argOptString(args, 'dir')) }),
  'io.read': async (reg, args) => {
    const dev = await device(reg, args);
    const length = argInt(args, 'length');
    if (length > MAX_IO) throw new UcryptError('ERR_BAD_ARGUMENT', 'EINVAL', `read of ${length} bytes is over the ${MAX_IO}-byte limit`);
    const buf = new Uint8Array(length);
    await dev.read(argInt(args, 'offset'), buf);
    return { data: Buffer.from(buf.buffer, buf.byteOffset, buf.length).toString('base64') };
  },
  'io.write': async (reg, args) => {
    const dev = await device(reg, args);
    const data = Buffer.from(argString(args, 'data'), 'base64');
    if (data.length > MAX_IO) throw new UcryptError('ERR_BAD_ARGUMENT', 'EINVAL', `write of ${data.length} bytes is over the ${MAX_IO}-byte limit`);
    await dev.write(argInt(args, 'offset'), data, { fua: argBool(args, 'fua') });
    return { written: data.length };
  },
  'io.flush': async (reg, args) => {
    await (await device(reg, args)).flush();
    return {};
  },
  // cryptsetup: activation of an unlocked volume (the table carries the key, as cryptsetup's
  // DM_TABLE_LOAD does), its status, and refresh (reload with new flags, suspend, resume).
  'crypt.open': async (reg, args) => {
    const name = argString(args, 'name');
    const table = argString(args, 'table');
    await reg.create(name, { table, uuid: argString(args, 'uuid'), readOnly: argBool(args, 'readOnly') });
    cryptPathMap(reg).set(name, table.split(/\s+/)[6] ?? '');
    return reg.info(name);
  },
  'crypt.status': (reg, args) => {
    const name = argString(args, 'name');
    const info = reg.info(name);
    const path = cryptPathMap(reg).get(name);
    const knames = reg.deps(name).map((d) => d.kname);
    return { uuid: info.uuid, readOnly: info.readOnly, openCount: info.openCount, table: reg.lines(name, { status: false })[0] ?? '', devices: path ? [path] : [], knames };
  },
  'crypt.refresh': async (reg, args) => {
    const name = argString(args, 'name');
    await reg.load(name, argString(args, 'table'));
    await reg.suspend(name);
    await reg.resume(name);
    return reg.info(name);
  },
};
