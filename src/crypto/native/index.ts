// The optional native crypto addon (native/ucrypt_crypto.c, built by the install script into
// build/Release/ucrypt_crypto.node; DESIGN.md "Native crypto"): xts(aes) and cbc(aes) through
// the OpenSSL that Node bundles, one call per batch of sectors, in place. When the addon is
// missing, fails to load or is disabled (UCRYPT_NATIVE=0), and for the keys OpenSSL does not
// take (xts with 48-byte keys or identical halves), the JavaScript modes in ../modes serve the
// same names with the same results.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UcryptError } from '../../errors.js';
import { wipedError } from '../ciphers/common.js';
import { checkRequest, requireLittleEndian } from '../modes/common.js';
import type { SkcipherTemplate } from '../registry.js';
import type { Skcipher, SkcipherAlgorithm } from '../types.js';

/** The modes the addon implements, over AES only. */
export type NativeMode = 'xts' | 'cbc';

declare const handleBrand: unique symbol;
/** An addon key handle (an N-API external owning the OpenSSL contexts). */
interface NativeHandle {
  readonly [handleBrand]: true;
}

/** The addon's exports (native/ucrypt_crypto.c). */
interface NativeBinding {
  readonly openssl: string;
  create(mode: NativeMode, key: Uint8Array, reinit?: boolean): NativeHandle;
  crypt(handle: NativeHandle, data: Uint8Array, sectorSize: number, ivs: Uint8Array, encrypt: boolean): void;
  wipe(handle: NativeHandle): void;
  ivInPlace(handle: NativeHandle): boolean;
}

export type NativeStatus =
  | { readonly loaded: true; readonly path: string; readonly openssl: string }
  | { readonly loaded: false; readonly reason: string };

const ADDON = ['build/Release/ucrypt_crypto.node', 'build/Debug/ucrypt_crypto.node'];

let binding: NativeBinding | undefined;
let status: NativeStatus | undefined;

/** The addon file: build/ under the package root, found from this module's place in dist/ (or src/). */
function findAddon(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let up = 0; up < 6; up++) {
    for (const rel of ADDON) {
      const p = join(dir, rel);
      if (existsSync(p)) return p;
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return undefined;
}

/** Loads the addon once per thread (it is context-aware, so every worker may load it). */
export function nativeCrypto(): NativeStatus {
  if (status) return status;
  if (process.env['UCRYPT_NATIVE'] === '0') {
    status = { loaded: false, reason: 'disabled by UCRYPT_NATIVE=0' };
    return status;
  }
  const path = findAddon();
  if (!path) {
    status = { loaded: false, reason: `${ADDON[0]} was not built (npm install builds it with node-gyp)` };
    return status;
  }
  try {
    const b = createRequire(import.meta.url)(path) as NativeBinding;
    if (typeof b.create !== 'function' || typeof b.crypt !== 'function' || typeof b.wipe !== 'function') {
      throw new Error('unexpected exports');
    }
    binding = b;
    status = { loaded: true, path, openssl: b.openssl };
  } catch (err) {
    status = { loaded: false, reason: `${path} did not load: ${err instanceof Error ? err.message : String(err)}` };
  }
  return status;
}

/**
 * The loaded addon's exports as they are (also the file backend's nowait I/O, native/ucrypt_io.c,
 * which src/backends/file/nowait.ts checks for itself), or undefined without the addon.
 */
export function nativeAddon(): Readonly<Record<string, unknown>> | undefined {
  nativeCrypto();
  return binding as unknown as Readonly<Record<string, unknown>> | undefined;
}

/** Whether OpenSSL takes this key for the mode (the JavaScript path serves the rest). */
export function nativeTakesKey(mode: NativeMode, key: Uint8Array): boolean {
  if (mode === 'cbc') return key.length === 16 || key.length === 24 || key.length === 32;
  // OpenSSL has no aes-192-xts, and refuses identical key halves, which the kernel accepts
  // outside FIPS mode (xts_verify_key).
  if (key.length !== 32 && key.length !== 64) return false;
  const half = key.length / 2;
  for (let i = 0; i < half; i++) if (key[i] !== key[half + i]) return true;
  return false;
}

/** Largest sector OpenSSL takes in one data unit: XTS allows 2^20 blocks. */
const MAX_SECTOR: Record<NativeMode, number> = { xts: 16 << 20, cbc: 1 << 30 };

class NativeSkcipher implements Skcipher {
  readonly ivSize = 16;
  readonly blockSize = 16;
  readonly #name: string;
  readonly #maxSector: number;
  readonly #binding: NativeBinding;
  #handle: NativeHandle | undefined;

  constructor(name: string, mode: NativeMode, b: NativeBinding, handle: NativeHandle) {
    this.#name = name;
    this.#maxSector = MAX_SECTOR[mode];
    this.#binding = b;
    this.#handle = handle;
  }

  /** Whether each sector's IV is written into OpenSSL's context (else it is re-initialised). */
  get ivInPlace(): boolean {
    return this.#handle ? this.#binding.ivInPlace(this.#handle) : false;
  }

  encrypt(data: Uint8Array, sectorSize: number, ivs: Uint8Array): void {
    this.#crypt(data, sectorSize, ivs, true);
  }

  decrypt(data: Uint8Array, sectorSize: number, ivs: Uint8Array): void {
    this.#crypt(data, sectorSize, ivs, false);
  }

  #crypt(data: Uint8Array, sectorSize: number, ivs: Uint8Array, encrypt: boolean): void {
    const handle = this.#handle;
    if (!handle) throw wipedError(this.#name);
    const n = checkRequest(this.#name, 16, 16, data, sectorSize, ivs);
    if (n === 0) return;
    if (sectorSize > this.#maxSector) {
      throw new UcryptError('ERR_NOT_SUPPORTED', 'EINVAL', `${this.#name}: ${sectorSize}-byte sectors exceed OpenSSL's ${this.#maxSector}-byte data unit`, {
        mode: this.#name,
        sectorSize,
      });
    }
    this.#binding.crypt(handle, data, sectorSize, ivs, encrypt);
  }

  wipe(): void {
    if (this.#handle) this.#binding.wipe(this.#handle);
    this.#handle = undefined;
  }
}

export interface NativeOptions {
  /** Re-initialise OpenSSL's context for every sector even where the IV can be written in place. */
  readonly reinit?: boolean;
}

/**
 * A native `xts(aes)` / `cbc(aes)` for this key, or undefined when the addon is not loaded or
 * OpenSSL does not take the key. The key length must already be one the mode accepts.
 */
export function createNativeSkcipher(mode: NativeMode, key: Uint8Array, options: NativeOptions = {}): Skcipher | undefined {
  if (!nativeCrypto().loaded || !binding || !nativeTakesKey(mode, key)) return undefined;
  requireLittleEndian(`${mode}(aes)`);
  let handle: NativeHandle;
  try {
    handle = binding.create(mode, key, options.reinit === true);
  } catch {
    // OpenSSL refused (e.g. a FIPS-only provider): the JavaScript path takes the key.
    return undefined;
  }
  return new NativeSkcipher(`${mode}(aes)`, mode, binding, handle);
}

/** Whether `sk` runs in the addon (tests and the benchmark report it). */
export function isNativeSkcipher(sk: Skcipher): boolean {
  return sk instanceof NativeSkcipher;
}

/** Whether a native skcipher writes each sector's IV into OpenSSL's context (else re-initialises it). */
export function nativeIvInPlace(sk: Skcipher): boolean {
  return sk instanceof NativeSkcipher && sk.ivInPlace;
}

/**
 * Wraps the JavaScript template of `mode` so that over aes it prefers the addon: same name,
 * sizes and key checks; create() falls back to the JavaScript skcipher key by key.
 */
export function preferNative(mode: NativeMode, template: SkcipherTemplate): SkcipherTemplate {
  return (cipher) => {
    const js = template(cipher);
    if (!js || cipher.name !== 'aes' || !nativeCrypto().loaded) return js;
    const algo: SkcipherAlgorithm = {
      name: js.name,
      ivSize: js.ivSize,
      blockSize: js.blockSize,
      keySizes: js.keySizes,
      create(key: Uint8Array): Skcipher {
        return (js.keySizes.includes(key.length) ? createNativeSkcipher(mode, key) : undefined) ?? js.create(key);
      },
    };
    return algo;
  };
}
