// cipher_null (crypto/crypto_null.c): block size 1, key size 0, output = input. dm-crypt uses it
// as `cipher_null-ecb` (crypto API `ecb(cipher_null)`) for unencrypted mappings and tests.

import type { BlockCipher, BlockCipherAlgorithm } from '../types.js';
import { checkBlocks, checkKeySize } from './common.js';

const nullCipher: BlockCipher = {
  blockSize: 1,
  encryptBlocks(src: Uint8Array, dst: Uint8Array): void {
    checkBlocks('cipher_null', 1, src, dst);
    if (src !== dst) dst.set(src);
  },
  decryptBlocks(src: Uint8Array, dst: Uint8Array): void {
    checkBlocks('cipher_null', 1, src, dst);
    if (src !== dst) dst.set(src);
  },
  wipe(): void {},
};

export const cipherNull: BlockCipherAlgorithm = {
  name: 'cipher_null',
  blockSize: 1,
  keySizes: [0],
  create(key: Uint8Array): BlockCipher {
    checkKeySize('cipher_null', [0], key);
    return nullCipher;
  },
};
