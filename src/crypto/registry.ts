// Algorithm lookup by crypto API name, as the kernel's crypto_alloc_skcipher resolves them:
// a plain skcipher (`adiantum(xchacha12,aes)`), or a template over a block cipher
// (`xts(aes)`, `cbc(serpent)`, `ecb(cipher_null)`, `lrw(twofish)`).
//
// Implementations register themselves from src/crypto/index.ts; nothing here knows them.

import type { BlockCipherAlgorithm, SkcipherAlgorithm } from './types.js';

/** Builds a mode over a block cipher, or undefined if the mode cannot use it (e.g. xts needs 16-byte blocks). */
export type SkcipherTemplate = (cipher: BlockCipherAlgorithm) => SkcipherAlgorithm | undefined;

const ciphers = new Map<string, BlockCipherAlgorithm>();
const skciphers = new Map<string, SkcipherAlgorithm>();
const templates = new Map<string, SkcipherTemplate>();

export function registerBlockCipher(algo: BlockCipherAlgorithm): void {
  ciphers.set(algo.name, algo);
}

export function registerSkcipher(algo: SkcipherAlgorithm): void {
  skciphers.set(algo.name, algo);
}

export function registerTemplate(name: string, template: SkcipherTemplate): void {
  templates.set(name, template);
}

export function getBlockCipher(name: string): BlockCipherAlgorithm | undefined {
  return ciphers.get(name);
}

/** Resolves `name` (e.g. `xts(aes)`); undefined when no such algorithm exists (the kernel's -ENOENT). */
export function getSkcipher(name: string): SkcipherAlgorithm | undefined {
  const direct = skciphers.get(name);
  if (direct) return direct;
  const m = /^([a-z0-9_]+)\(([a-z0-9_]+)\)$/.exec(name);
  if (!m) return undefined;
  const template = templates.get(m[1]!);
  const cipher = ciphers.get(m[2]!);
  if (!template || !cipher) return undefined;
  const algo = template(cipher);
  if (algo) skciphers.set(name, algo);
  return algo;
}

export function listBlockCiphers(): string[] {
  return [...ciphers.keys()];
}
