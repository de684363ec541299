// Constructor errors of the crypt target: `message` is the kernel's ti->error text, `errno` what
// crypt_ctr returns (the registry logs `crypt: <message> (-<errno>)`). Never carries key bytes.

import type { ErrnoName } from '../../errors.js';
import { UcryptError } from '../../errors.js';

/** Errnos crypt_ctr can return. ENOKEY is what request_key gives for a missing keyring key. */
export type CryptErrno = 'EINVAL' | 'ENOENT' | 'ENOMEM' | 'ENODEV' | 'ENOKEY' | 'EAGAIN';

export function ctrError(message: string, errno: CryptErrno = 'EINVAL'): UcryptError {
  // ENOKEY (126) is not in the project's errno table yet; the log line still names it.
  return new UcryptError('ERR_TARGET_CTR', errno as ErrnoName, message);
}
