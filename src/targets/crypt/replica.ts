// A replica of a crypt target's crypto state for a kcryptd worker thread.
//
// In the kernel every CPU shares one struct crypt_config and allocates a request per bio from
// the same tfm. Our ciphers keep scratch state (and Adiantum instances are not reentrant), so
// each worker builds its own CryptEngine from the table's cipher argument and a copy of the key,
// the same way crypt_ctr does (cipher spec -> IV mode -> engine -> key -> IV init), without the
// constructor's error reporting: the table was already validated on the main thread.

import { registerBuiltinCrypto } from '../../crypto/index.js';
import { getIvMode } from '../../crypto/ivgen/index.js';
import type { IvKeyLayout } from '../../crypto/ivgen/index.js';
import { parseCipher } from './cipher.js';
import { CryptEngine } from './engine.js';

/** Everything but the key a worker needs to rebuild the engine (structured-clone friendly). */
export interface EngineSpec {
  /** The table's <cipher> argument, e.g. `aes-xts-plain64` or `capi:ecb(cipher_null)`. */
  readonly cipher: string;
  readonly keySize: number;
  readonly aead: boolean;
  readonly integrityKeySize: number | undefined;
  readonly sectorSize: number;
  readonly ivLargeSectors: boolean;
  /** iv_offset as a decimal string (a u64). */
  readonly ivOffset: string;
}

/** Builds an engine keyed with `key` (the caller wipes `key` afterwards). Throws on failure. */
export function buildEngine(spec: EngineSpec, key: Uint8Array | undefined): CryptEngine {
  registerBuiltinCrypto();
  const cs = parseCipher(spec.cipher, { aead: spec.aead, keyMacSize: spec.integrityKeySize });
  // crypt_ctr_ivmode, as construct() does it.
  let ivSize = cs.algo.ivSize;
  let ivmode = cs.ivmode;
  if (ivSize) ivSize = Math.max(ivSize, 8);
  else ivmode = undefined;
  const layout: IvKeyLayout = { keyParts: cs.tfmsCount, keyExtraSize: 0, integrityIvSize: 0, preprocess: false };
  const mode = ivmode === undefined ? undefined : getIvMode(ivmode);
  if (ivmode !== undefined && !mode) throw new Error(`crypt replica: unknown IV mode ${ivmode}`);
  if (mode?.layout && !mode.layout(layout, spec.keySize, ivSize, cs.tfmsCount)) throw new Error('crypt replica: impossible key layout');
  const engine = new CryptEngine({
    algo: cs.algo,
    tfmsCount: cs.tfmsCount,
    keySize: spec.keySize,
    keyParts: layout.keyParts,
    keyExtraSize: layout.keyExtraSize,
    keyMacSize: cs.keyMacSize,
    ivSize,
    sectorSize: spec.sectorSize,
    ivLargeSectors: spec.ivLargeSectors,
    ivOffset: BigInt(spec.ivOffset),
  });
  if (mode) {
    engine.ivgen = mode.create(
      {
        ivSize,
        sectorSize: spec.sectorSize,
        keySize: spec.keySize,
        keyParts: layout.keyParts,
        keyExtraSize: layout.keyExtraSize,
        tfmsCount: cs.tfmsCount,
        aead: cs.algo.aead,
        cipherBlockSize: cs.algo.blockSize,
        bulk: () => engine.bulk(),
      },
      cs.ivopts,
    );
  }
  if (key) rekeyEngine(engine, key);
  return engine;
}

/** crypt_set_key's second half on a replica: key the instances, then the IV generator. */
export function rekeyEngine(engine: CryptEngine, key: Uint8Array): void {
  if (!engine.setKeyBytes(key)) throw new Error('crypt replica: the key was refused');
  engine.ivgen?.init?.(engine.key);
}
