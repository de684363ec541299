// IV generators (the kernel's struct crypt_iv_operations in drivers/md/dm-crypt.c) as small
// strategy objects looked up by name. They work on whole batches: a request of n sectors has
// its data in one buffer (n * sectorSize bytes), its IVs in another (n * ivSize bytes) and its
// IV sector numbers as (low, high) 32-bit pairs, so a generator can fill every IV in one pass
// and the skcipher runs once per batch.
//
//   generate(dir, ...)   crypt_iv_*_gen: before the cipher (may read or rewrite the data:
//                        lmk hashes the plaintext, tcw unwhitens ciphertext, elephant diffuses)
//   post(dir, ...)       crypt_iv_*_post: after the cipher (lmk tweak, tcw whitening, elephant)

import type { Skcipher } from '../types.js';

export type Direction = 'encrypt' | 'decrypt';

/** The crypt_config fields crypt_ctr_ivmode may change for an IV mode (key layout). */
export interface IvKeyLayout {
  /** Independent parts in the key buffer (cc->key_parts). */
  keyParts: number;
  /** Bytes at the end of the key that are IV material, not cipher keys (cc->key_extra_size). */
  keyExtraSize: number;
  /** Space the IV needs in integrity metadata (cc->integrity_iv_size; only `random`). */
  integrityIvSize: number;
  /** The generator rewrites the data before encryption (CRYPT_ENCRYPT_PREPROCESS). */
  preprocess: boolean;
}

/** What an IV generator's constructor sees of the crypt configuration. */
export interface IvParams {
  /** cc->iv_size: the cipher's IV size, at least 8. */
  readonly ivSize: number;
  readonly sectorSize: number;
  readonly keySize: number;
  readonly keyParts: number;
  readonly keyExtraSize: number;
  /** Number of cipher keys (keycount). */
  readonly tfmsCount: number;
  /** The cipher is an AEAD (integrity:<n>:aead). */
  readonly aead: boolean;
  /** crypto_skcipher_blocksize (or the AEAD's) of the bulk cipher. */
  readonly cipherBlockSize: number;
  /** The bulk cipher of key index 0 as currently keyed (any_tfm), for eboiv/elephant. */
  readonly bulk: () => Skcipher;
}

/** A constructor or init failure: `message` is what the IV op sets as ti->error. */
export class IvError extends Error {
  constructor(
    message: string,
    readonly errno: 'EINVAL' | 'ENOENT' | 'ENOMEM' = 'EINVAL',
  ) {
    super(message);
    this.name = 'IvError';
  }
}

export interface IvGenerator {
  /**
   * Fills `ivs` (n * ivSize bytes) for the n sectors in `data`; `sectors[2i]`/`[2i+1]` are the
   * low/high halves of sector i's IV sector number.
   */
  generate(dir: Direction, ivs: Uint8Array, data: Uint8Array, sectors: Uint32Array, n: number): void;
  /** Runs after the cipher, on the output data. */
  post?(dir: Direction, ivs: Uint8Array, data: Uint8Array, sectors: Uint32Array, n: number): void;
  /** Loads IV key material from the whole key (iv_gen_ops->init); throws IvError. */
  init?(key: Uint8Array): void;
  /** Forgets IV key material (iv_gen_ops->wipe). */
  wipe?(): void;
  /** Buffers holding IV secrets, for tests that check wiping. */
  secrets?(): readonly Uint8Array[];
}

export interface IvMode {
  /** The name in the cipher specification: `plain64`, `essiv`, `lmk`, ... */
  readonly name: string;
  /**
   * crypt_ctr_ivmode's per-mode key layout changes. Returns false when the layout is impossible
   * (the kernel then fails without setting ti->error).
   */
  layout?(l: IvKeyLayout, keySize: number, ivSize: number, tfmsCount: number): boolean;
  /** iv_gen_ops->ctr plus the generator itself; throws IvError. */
  create(p: IvParams, opts: string | undefined): IvGenerator;
}

/** Writes a 32-bit little-endian value. */
export function putLe32(b: Uint8Array, off: number, v: number): void {
  b[off] = v;
  b[off + 1] = v >>> 8;
  b[off + 2] = v >>> 16;
  b[off + 3] = v >>> 24;
}

/** Writes a 32-bit big-endian value. */
export function putBe32(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 24;
  b[off + 1] = v >>> 16;
  b[off + 2] = v >>> 8;
  b[off + 3] = v;
}
