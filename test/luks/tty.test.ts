// Passphrases typed at a terminal (a pseudo-terminal from util-linux `script`): prompts as
// cryptsetup's, no echo, the luksFormat confirmation and the verify step.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { BIN } from '../helpers/proc.js';
import { image, keyFile, Registry, tempDir, ucs } from './support.js';

const HAVE_SCRIPT = spawnSync('script', ['--version']).status === 0;

/** Runs ucrypt under a pty, typing each answer when its prompt appears; returns the transcript. */
function onTty(args: string[], answers: [string, string][], env: NodeJS.ProcessEnv): Promise<{ out: string; code: number }> {
  return new Promise((resolve) => {
    const cmd = [process.execPath, BIN, ...args].map((a) => `'${a}'`).join(' ');
    const child = spawn('script', ['-qec', cmd, '/dev/null'], { env: { ...process.env, ...env } });
    let out = '';
    const pending = [...answers];
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      while (pending.length > 0 && out.includes(pending[0]![0])) {
        const [prompt, answer] = pending.shift()!;
        out = out.replace(prompt, `${prompt}<typed>`);
        child.stdin.write(`${answer}\r`);
      }
    });
    const timer = setTimeout(() => child.kill(), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ out, code: code ?? -1 });
    });
  });
}

test('terminal passphrases: no echo, luksFormat confirmation and verification, open', { skip: HAVE_SCRIPT ? false : 'util-linux script(1) is not installed' }, async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const img = await image(dir, 'vol.img', 20);
    const env = { UCRYPT_RUNTIME_DIR: `${dir}/run` };
    const pb = ['--pbkdf', 'pbkdf2', '--pbkdf-force-iterations', '1000'];
    const mismatch = await onTty(['cryptsetup', 'luksFormat', ...pb, img], [["Are you sure? (Type 'yes' in capital letters): ", 'YES'], [`Enter passphrase for ${img}: `, 'one'], ['Verify passphrase: ', 'two']], env);
    assert.equal(mismatch.code, 2, mismatch.out);
    assert.match(mismatch.out, /Passphrases do not match\./);
    const no = await onTty(['cryptsetup', 'luksFormat', ...pb, img], [["Are you sure? (Type 'yes' in capital letters): ", 'yes']], env);
    assert.equal(no.code, 1);
    assert.match(no.out, /WARNING!\r?\n========\r?\nThis will overwrite data on .* irrevocably\./);
    const made = await onTty(['cryptsetup', 'luksFormat', ...pb, img], [["Are you sure? (Type 'yes' in capital letters): ", 'YES'], [`Enter passphrase for ${img}: `, 'typed secret'], ['Verify passphrase: ', 'typed secret']], env);
    assert.equal(made.code, 0, made.out);
    assert.ok(!made.out.includes('typed secret'), 'the passphrase is not echoed');
    const opened = await onTty(['cryptsetup', 'open', '--test-passphrase', '-v', img], [[`Enter passphrase for ${img}: `, 'typed secret']], env);
    assert.equal(opened.code, 0, opened.out);
    assert.match(opened.out, /Key slot 0 unlocked\./);
    assert.ok(!opened.out.includes('typed secret'));
    // And the same passphrase from a key file opens it in-process.
    const k = await keyFile(dir, 'k', 'typed secret');
    assert.equal((await ucs(new Registry(), ['open', '--test-passphrase', '--key-file', k, img])).exit, 0);
  } finally {
    await cleanup();
  }
});
