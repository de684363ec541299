// `ucrypt fio`: fio's command line and reports for ucrypt devices (src/bench/ does the work).
//
//   ucrypt fio --name=plain --filename=/dev/mapper/eram0 --readwrite=read --bs=4k --direct=1 --runtime=10
//
// Device paths go through the daemon's NBD export of that device (the default engine, `nbd`);
// an NBD URI is used as is. `--ioengine=inprocess` runs the jobs on devices in this process,
// built by `--stack "CMD; CMD; ..."` (ucrypt command lines, e.g. `modprobe brd rd_nr=1
// rd_size=65536; dmsetup create e --table '0 131072 crypt capi:ecb(cipher_null) - 0 /dev/ram0 0'`).

import { writeFile } from 'node:fs/promises';
import { Registry } from '../dm/registry.js';
import { VERSION } from '../daemon/handlers.js';
import { errorMessage } from '../errors.js';
import type { FioDeps } from '../bench/fio.js';
import { jsonReport, normalReport, runFio } from '../bench/fio.js';
import type { FioArgs } from '../bench/options.js';
import { parseFioArgs } from '../bench/options.js';
import type { CliIO } from './io.js';
import { localControl } from './io.js';
import { runCli } from './main.js';

const USAGE = `usage: ucrypt fio --name=NAME --filename=DEVICE|NBD-URI [options]

  --readwrite|--rw=read|write|randread|randwrite|rw|randrw   (--rwmixread=PCT)
  --bs=4k --iodepth=N --numjobs=N --loops=N --direct=1
  --size=SIZE --offset=SIZE|PCT%        sizes: 4096, 4k, 1m, 2g
  --runtime=TIME --ramp_time=TIME --time_based   times: 10 (s), 500ms, 3m, 1h
  --verify=crc32c --group_reporting --output-format=normal|json --output=FILE --eta=auto|always|never
  --ioengine=nbd (default; device paths through the daemon, or nbd+unix:///NAME?socket=P, nbd://H:P/NAME)
  --ioengine=inprocess --stack "modprobe brd ...; dmsetup create NAME --table '...'"
`;

/** Splits `a 'b c'; d "e"` into command lines of words (single and double quotes, backslash). */
export function splitCommands(text: string): string[][] {
  const cmds: string[][] = [];
  let words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  const endWord = (): void => {
    if (inWord) words.push(word);
    word = '';
    inWord = false;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < text.length) word += text[++i];
      else word += c;
      continue;
    }
    if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < text.length) {
      word += text[++i];
      inWord = true;
    } else if (c === ';' || c === '\n') {
      endWord();
      if (words.length) cmds.push(words);
      words = [];
    } else if (/\s/.test(c)) endWord();
    else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new Error(`--stack: unterminated ${quote} quote`);
  endWord();
  if (words.length) cmds.push(words);
  return cmds;
}

/** Runs `--stack` command lines against a fresh in-process registry. */
export async function buildStack(stack: string, parent: CliIO): Promise<Registry> {
  const registry = new Registry();
  const control = localControl(registry);
  const io: CliIO = { ...parent, out: () => undefined, control: async () => control };
  for (const words of splitCommands(stack)) {
    const argv = words[0] === 'ucrypt' ? words.slice(1) : words;
    const code = await runCli(argv, io);
    if (code !== 0) throw new Error(`--stack: 'ucrypt ${argv.join(' ')}' failed (exit ${code})`);
  }
  return registry;
}

export async function fio(argv: readonly string[], io: CliIO): Promise<number> {
  if (argv.length === 0 || argv.includes('--help') || argv.includes('-h')) {
    (argv.length === 0 ? io.err : io.out)(USAGE);
    return argv.length === 0 ? 1 : 0;
  }
  let args: FioArgs;
  try {
    args = parseFioArgs(argv);
  } catch (err) {
    io.err(`${errorMessage(err)}\n`);
    return 1;
  }
  let registry: Registry | undefined;
  if (args.jobs.some((j) => j.ioengine === 'inprocess')) {
    if (args.stack === undefined) {
      io.err('fio: --ioengine=inprocess needs --stack "modprobe brd ...; dmsetup create ..." (the devices live in this process)\n');
      return 1;
    }
    try {
      registry = await buildStack(args.stack, io);
    } catch (err) {
      io.err(`fio: ${errorMessage(err)}\n`);
      return 1;
    }
  }
  const tty = process.stdout.isTTY === true && io.env === process.env;
  const progress = args.eta === 'always' || (args.eta === 'auto' && tty && args.output === undefined && args.outputFormat === 'normal');
  // Ctrl-C ends the jobs and still prints what they did, as fio does.
  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const deps: FioDeps = {
    signal: abort.signal,
    ...(registry ? { registry } : {}),
    control: () => io.control(),
    ...(progress ? { onProgress: (line: string) => io.out(line ? `\r${line}\x1b[K` : '\r\x1b[K') } : {}),
  };
  try {
    const run = await runFio(args, deps);
    const text = args.outputFormat === 'json' ? jsonReport(args, run, VERSION) : normalReport(args, run, VERSION);
    if (args.output !== undefined) await writeFile(args.output, text);
    else io.out(text);
    for (const e of run.errors) io.err(`${e}\n`);
    return run.failed ? 1 : 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    // Tear the stack down (targets stop their workers, so the process can exit).
    if (registry) {
      await registry.removeAll().catch(() => undefined);
      if (registry.brdLoaded) registry.rmmodBrd();
    }
  }
}
