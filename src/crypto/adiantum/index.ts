// Adiantum for the crypto registry: `adiantum(xchacha12,aes)` and `adiantum(xchacha20,aes)`, as
// dm-crypt names them in a table (`capi:adiantum(xchacha12,aes)-plain64`).

import { registerSkcipher } from '../registry.js';
import { adiantumXChaCha12Aes, adiantumXChaCha20Aes } from './adiantum.js';

export { Adiantum, ADIANTUM_BLOCK_SIZE, ADIANTUM_IV_SIZE, ADIANTUM_KEY_SIZE, adiantumXChaCha12Aes, adiantumXChaCha20Aes } from './adiantum.js';

export function registerAdiantum(): void {
  registerSkcipher(adiantumXChaCha12Aes);
  registerSkcipher(adiantumXChaCha20Aes);
}
