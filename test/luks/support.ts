// Helpers for the LUKS tests: the real cryptsetup (gated), image files, and in-process CLI runs.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { Registry } from '../../src/dm/registry.js';
import { cli } from '../helpers/cli.js';
import type { CliResult } from '../helpers/cli.js';

/** Whether the test set-up promised the tools (scripts/test.sh installs cryptsetup and sets it). */
export const TOOLS_REQUIRED = process.env['UCRYPT_LUKS_TOOLS'] === '1';

function haveCryptsetup(): boolean {
  const r = spawnSync('cryptsetup', ['--version'], { encoding: 'utf8' });
  return r.status === 0 && /cryptsetup 2\./.test(r.stdout);
}

export const CRYPTSETUP = haveCryptsetup();

/**
 * Gate for tests that need the real cryptsetup: they fail when UCRYPT_LUKS_TOOLS=1 promised it
 * and it is missing, and skip with the reason otherwise.
 */
export function needCryptsetup(t: TestContext): boolean {
  if (CRYPTSETUP) return true;
  if (TOOLS_REQUIRED) throw new Error('UCRYPT_LUKS_TOOLS=1 but cryptsetup (2.x) is not installed: apt-get install cryptsetup-bin');
  t.skip('cryptsetup is not installed (scripts/test.sh installs cryptsetup-bin and sets UCRYPT_LUKS_TOOLS=1)');
  return false;
}

export interface Cs {
  stdout: string;
  stderr: string;
  status: number;
}

/** Runs the real cryptsetup (never with a passphrase on the command line: key files). */
export function cs(args: readonly string[]): Cs {
  const r = spawnSync('cryptsetup', [...args], { encoding: 'utf8', timeout: 120_000 });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status ?? -1 };
}

export function csOk(args: readonly string[]): string {
  const r = cs(args);
  if (r.status !== 0) throw new Error(`cryptsetup ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** The volume key as `cryptsetup luksDump --dump-volume-key` prints it (hex). */
export function csVolumeKey(image: string, keyFile: string, header?: string): string {
  const out = csOk(['luksDump', '--dump-volume-key', '--batch-mode', '--key-file', keyFile, ...(header ? ['--header', header] : []), image]);
  const m = /MK dump:\t([\s\S]*)$/.exec(out);
  if (!m) throw new Error(`no MK dump in: ${out}`);
  return m[1]!.replace(/\s+/g, '');
}

export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'ucrypt-luks-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export async function image(dir: string, name: string, mib: number): Promise<string> {
  const p = join(dir, name);
  execFileSync('truncate', ['-s', `${mib}M`, p]);
  return p;
}

export async function keyFile(dir: string, name: string, content: string | Uint8Array): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, content);
  return p;
}

/** `ucrypt cryptsetup ...` in-process against `reg`. */
export function ucs(reg: Registry, args: readonly string[], stdin = ''): Promise<CliResult> {
  return cli(reg, ['cryptsetup', ...args], stdin);
}

export { Registry };
