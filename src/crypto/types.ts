// Crypto interfaces shared by the cipher implementations, the modes and the crypt target.
// Names follow the kernel's crypto API: a *cipher* encrypts single blocks (aes, serpent, ...),
// an *skcipher* is a mode over a cipher with an IV per request (ecb(aes), xts(aes), cbc(...),
// lrw(...), adiantum(...)). dm-crypt turns one sector into one skcipher request.

/** A block cipher with an expanded key (the kernel's crypto_cipher). */
export interface BlockCipher {
  readonly blockSize: number;
  /** ECB over whole blocks: src and dst have the same length, a multiple of blockSize; may alias. */
  encryptBlocks(src: Uint8Array, dst: Uint8Array): void;
  decryptBlocks(src: Uint8Array, dst: Uint8Array): void;
  /** Zeroes the expanded key. */
  wipe(): void;
}

export interface BlockCipherAlgorithm {
  /** Crypto API name: `aes`, `serpent`, `twofish`, `camellia`, `cast6`, `cipher_null`. */
  readonly name: string;
  readonly blockSize: number;
  /** Accepted key sizes in bytes. */
  readonly keySizes: readonly number[];
  create(key: Uint8Array): BlockCipher;
}

/**
 * A keyed mode (the kernel's crypto_skcipher) that encrypts sectors in place. Requests are
 * batched: `data` holds `data.length / sectorSize` sectors and `ivs` one IV of `ivSize` bytes
 * per sector, so implementations can amortise per-call costs over a whole bio.
 */
export interface Skcipher {
  readonly ivSize: number;
  /** The unit the mode needs data lengths to be a multiple of (16 for xts/cbc/ecb, 1 for null). */
  readonly blockSize: number;
  encrypt(data: Uint8Array, sectorSize: number, ivs: Uint8Array): void;
  decrypt(data: Uint8Array, sectorSize: number, ivs: Uint8Array): void;
  wipe(): void;
}

export interface SkcipherAlgorithm {
  /** Crypto API name: `xts(aes)`, `cbc(serpent)`, `ecb(cipher_null)`, `adiantum(xchacha12,aes)`. */
  readonly name: string;
  readonly ivSize: number;
  readonly blockSize: number;
  /** Accepted key sizes in bytes (xts: twice the cipher's). */
  readonly keySizes: readonly number[];
  create(key: Uint8Array): Skcipher;
}
