// Registers the built-in ciphers and modes with the crypto registry. Idempotent: call it before
// resolving names with getSkcipher (the crypt target and the tests do).
//
// Names (crypto API spelling): block ciphers aes, serpent, twofish, camellia, cast6, cipher_null;
// templates ecb, cbc, xts, lrw; skciphers adiantum(xchacha12,aes) and adiantum(xchacha20,aes); so getSkcipher('xts(aes)'), 'cbc(twofish)', 'lrw(serpent)',
// 'ecb(cipher_null)', ... resolve. xts(aes) and cbc(aes) prefer the native addon where it is
// built (./native: OpenSSL per sector, in place), else the JavaScript modes serve them.

import { registerBlockCipher, registerTemplate } from './registry.js';
import { registerAdiantum } from './adiantum/index.js';
import { aes } from './ciphers/aes.js';
import { camellia } from './ciphers/camellia.js';
import { cast6 } from './ciphers/cast6.js';
import { cipherNull } from './ciphers/null.js';
import { serpent } from './ciphers/serpent.js';
import { twofish } from './ciphers/twofish.js';
import { cbcTemplate } from './modes/cbc.js';
import { ecbTemplate } from './modes/ecb.js';
import { lrwTemplate } from './modes/lrw.js';
import { xtsTemplate } from './modes/xts.js';
import { preferNative } from './native/index.js';

let registered = false;

export function registerBuiltinCrypto(): void {
  if (registered) return;
  registered = true;
  registerBlockCipher(aes);
  registerBlockCipher(serpent);
  registerBlockCipher(twofish);
  registerBlockCipher(camellia);
  registerBlockCipher(cast6);
  registerBlockCipher(cipherNull);
  registerTemplate('ecb', ecbTemplate);
  registerTemplate('cbc', preferNative('cbc', (c) => cbcTemplate(c)));
  registerTemplate('xts', preferNative('xts', xtsTemplate));
  registerTemplate('lrw', lrwTemplate);
  registerAdiantum();
}
