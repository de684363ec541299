// The `ucrypt` command: subcommands named after the tools people know.

// Each subcommand's module is loaded when it runs, so a command pays only for its own imports
// (`cryptsetup open` does not load the daemon, the NBD server or the benchmarks).

import type { CliIO } from './io.js';
import { processIO } from './io.js';
import { errorMessage } from '../errors.js';

const version = async (): Promise<string> => (await import('../daemon/handlers.js')).VERSION;

const help = (VERSION: string): string => `ucrypt ${VERSION}: Linux dm-crypt in userspace

usage: ucrypt <command> [args...]

  modprobe brd [rd_nr=N] [rd_size=KIB]   create RAM disks /dev/ram0..N-1 (like brd)
  rmmod brd                              remove them (refused while in use)
  dmsetup <verb> [args...]               device-mapper control, as dmsetup
  cryptsetup <action> [args...]          LUKS1/LUKS2 and plain volumes, as cryptsetup
  daemon [--background|--stop|--status]  the daemon that owns every device and serves them over
         [--listen tcp:HOST:PORT|unix:PATH] NBD (nbd.sock in the runtime directory, plus --listen)
         [--tls=off|on|require --tls-certificates=DIR --tls-verify-peer --tls-psk=FILE]
  nbd-uri NAME                           the NBD URI of an export (ramN or a mapped device NAME)
  dmesg                                  the daemon's kernel-style log
  demo                                   a RAM disk, a linear and a stacked device, end to end
  fio --name=N --filename=DEV [opts]     fio-compatible benchmark over NBD (or --ioengine=inprocess)
  seed [--runtime S] [--cipher C]        the seed experiment: 4 devices x 8 fio jobs, table and charts
  help, --version

The daemon listens in $UCRYPT_RUNTIME_DIR (default $XDG_RUNTIME_DIR/ucrypt or /tmp/ucrypt-UID);
commands start it when none is running.
`;

type Sub = (argv: readonly string[], io: CliIO) => Promise<number>;

const SUBCOMMANDS: Record<string, Sub> = {
  dmsetup: async (argv, io) => (await import('./dmsetup.js')).dmsetup(argv, io),
  cryptsetup: async (argv, io) => (await import('./cryptsetup.js')).cryptsetup(argv, io),
  modprobe: async (argv, io) => (await import('./modprobe.js')).modprobe(argv, io),
  rmmod: async (argv, io) => (await import('./modprobe.js')).rmmod(argv, io),
  daemon: async (argv, io) => (await import('./daemon.js')).daemonCommand(argv, io),
  demo: async (argv, io) => (await import('./demo.js')).demo(argv, io),
  fio: async (argv, io) => (await import('./fio.js')).fio(argv, io),
  seed: async (argv, io) => (await import('./seed.js')).seed(argv, io),
  async 'nbd-uri'(argv, io) {
    const [name, ...extra] = argv;
    if (name === undefined || extra.length > 0 || name.startsWith('-')) {
      io.err('usage: ucrypt nbd-uri NAME\n');
      return 2;
    }
    try {
      const r = await (await io.control()).call<{ uris: string[] }>('nbd.uri', { name });
      io.out(`${r.uris[0] ?? ''}\n`);
      return 0;
    } catch (err) {
      io.err(`ucrypt nbd-uri: ${errorMessage(err)}\n`);
      return 1;
    }
  },
  async dmesg(_argv, io) {
    const lines = await (await io.control()).call<string[]>('dmesg');
    for (const l of lines) io.out(`${l}\n`);
    return 0;
  },
};

export async function runCli(argv: readonly string[], io: CliIO): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    (cmd === undefined ? io.err : io.out)(help(await version()));
    return cmd === undefined ? 2 : 0;
  }
  if (cmd === '--version' || cmd === 'version') {
    io.out(`ucrypt ${await version()}\n`);
    return 0;
  }
  const sub = Object.hasOwn(SUBCOMMANDS, cmd) ? SUBCOMMANDS[cmd] : undefined;
  if (!sub) {
    io.err(`ucrypt: unknown command '${cmd}'\n\n${help(await version())}`);
    return 2;
  }
  return sub(rest, io);
}

export async function main(argv: readonly string[]): Promise<number> {
  const io = processIO();
  try {
    return await runCli(argv, io);
  } finally {
    io.dispose();
  }
}
