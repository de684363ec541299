// Table text: lines of `<start> <length> <target> <args...>`, as dmsetup reads them from
// `--table` or stdin (blank lines and `#` comments skipped), and argument splitting as the
// kernel's dm_split_args does it (whitespace separated, a backslash quotes the next character).

import { UcryptError } from '../errors.js';

export interface TableLine {
  /** First sector covered (512-byte units, whatever the target's sector_size). */
  readonly start: number;
  /** Number of sectors. */
  readonly length: number;
  readonly type: string;
  /** The parameter string as given (split later by splitArgs). */
  readonly params: string;
}

const NUMBER = /^\d+$/;

/**
 * Parses table text the way dmsetup's _parse_line does. `source` completes its error message
 * `Invalid format on line N of table <source>.`: `on stdin` for stdin, `` for --table, else the
 * file name. Text after `#` is a comment.
 */
export function parseTable(text: string, source = 'on stdin'): TableLine[] {
  const lines: TableLine[] = [];
  const raw = text.split('\n');
  for (let i = 0; i < raw.length; i++) {
    const line = raw[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\d+)\s+(\d+)\s+([^\s#]+)\s*([^#]*)/.exec(line);
    const start = Number(m?.[1]);
    const length = Number(m?.[2]);
    if (!m || !Number.isSafeInteger(start) || !Number.isSafeInteger(length)) {
      throw new UcryptError('ERR_TABLE_SYNTAX', 'EINVAL', `Invalid format on line ${i + 1} of table ${source}.`, { line: i + 1 });
    }
    lines.push({ start, length, type: m[3]!, params: m[4]!.trim() });
  }
  return lines;
}

/** dm_split_args: whitespace separates arguments; `\x` stands for a literal x. */
export function splitArgs(params: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inArg = false;
  for (let i = 0; i < params.length; i++) {
    const c = params[i]!;
    if (c === '\\' && i + 1 < params.length) {
      cur += params[++i];
      inArg = true;
    } else if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v') {
      if (inArg) out.push(cur);
      cur = '';
      inArg = false;
    } else {
      cur += c;
      inArg = true;
    }
  }
  if (inArg) out.push(cur);
  return out;
}

/** One table or status line as dmsetup prints it: `"%llu %llu %s %s"`, so an empty result keeps its space. */
export function formatLine(start: number, length: number, type: string, result: string): string {
  return `${start} ${length} ${type} ${result}`;
}

/** Parses an unsigned decimal the way the kernel's sscanf("%llu%c") checks do: digits only. */
export function parseSector(s: string): number | undefined {
  if (!NUMBER.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}
