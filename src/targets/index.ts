// The built-in target types, registered once (the kernel's dm_target_init).
import { registerBuiltinCrypto } from '../crypto/index.js';
import { registerTargetType } from '../dm/target.js';
import { cryptTarget } from './crypt/crypt.js';
import { delayTarget } from './delay/delay.js';
import { errorTarget } from './error/error.js';
import { flakeyTarget } from './flakey/flakey.js';
import { linearTarget } from './linear/linear.js';
import { zeroTarget } from './zero/zero.js';

export function registerBuiltinTargets(): void {
  // The crypt target allocates ciphers by crypto API name from the crypto registry.
  registerBuiltinCrypto();
  // Registration order as the kernel's (error and linear at dm init, module targets after: the
  // capture loads dm-crypt before dm-zero); `dmsetup targets` lists the newest first.
  for (const t of [errorTarget, linearTarget, cryptTarget, zeroTarget]) registerTargetType(t);
  // The fault-injection targets (dm-flakey, dm-delay modules), loaded after those.
  for (const t of [flakeyTarget, delayTarget]) registerTargetType(t);
}
