// Errors of the LUKS code. `code` is stable; `exitCode` is what cryptsetup exits with for the
// same failure (src/utils_tools.c translate_errno: 1 wrong parameters, 2 no permission / bad
// passphrase, 3 out of memory, 4 wrong device, 5 device busy, 1 anything else).

export type LuksErrorCode =
  | 'ERR_LUKS_BAD_MAGIC'
  | 'ERR_LUKS_BAD_VERSION'
  | 'ERR_LUKS_BAD_HEADER'
  | 'ERR_LUKS_CHECKSUM'
  | 'ERR_LUKS_JSON'
  | 'ERR_LUKS_NO_KEY'
  | 'ERR_LUKS_SLOT'
  | 'ERR_LUKS_REQUIREMENTS'
  | 'ERR_LUKS_UNSUPPORTED'
  | 'ERR_LUKS_ARGUMENT'
  | 'ERR_LUKS_IO';

export class LuksError extends Error {
  constructor(
    readonly code: LuksErrorCode,
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'LuksError';
  }
}

/** cryptsetup's wording for a passphrase that opens no slot (exit code 2, -EPERM). */
export const NO_KEY_MESSAGE = 'No key available with this passphrase.';

export function noKey(): LuksError {
  return new LuksError('ERR_LUKS_NO_KEY', NO_KEY_MESSAGE, 2);
}

export function badHeader(message: string): LuksError {
  return new LuksError('ERR_LUKS_BAD_HEADER', message, 1);
}
