// One error type for the whole project (DESIGN.md, "Conventions"): a stable `code`, the errno it
// maps to (what the kernel's ioctl would return, and what NBD replies carry), and context fields.
// Messages say what was wrong and what to do; they never contain key material.

/** Linux errno values used across the project (asm-generic/errno-base.h). */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  ENXIO: 6,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  EFBIG: 27,
  ENOSPC: 28,
  EROFS: 30,
  ERANGE: 34,
  ENOTSUP: 95,
  ENOKEY: 126,
  ESHUTDOWN: 108,
} as const;
export type ErrnoName = keyof typeof Errno;

/** strerror(3) texts, as glibc prints them (dmsetup shows these after "failed: "). */
const STRERROR: Record<ErrnoName, string> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  EIO: 'Input/output error',
  ENXIO: 'No such device or address',
  EAGAIN: 'Resource temporarily unavailable',
  ENOMEM: 'Cannot allocate memory',
  EACCES: 'Permission denied',
  EBUSY: 'Device or resource busy',
  EEXIST: 'File exists',
  ENODEV: 'No such device',
  EINVAL: 'Invalid argument',
  EFBIG: 'File too large',
  ENOSPC: 'No space left on device',
  EROFS: 'Read-only file system',
  ERANGE: 'Numerical result out of range',
  ENOTSUP: 'Operation not supported',
  ENOKEY: 'Required key not available',
  ESHUTDOWN: 'Cannot send after transport endpoint shutdown',
};

export function strerror(errno: ErrnoName): string {
  return STRERROR[errno];
}

export type ErrorCode =
  | 'ERR_OUT_OF_RANGE'
  | 'ERR_UNALIGNED'
  | 'ERR_READ_ONLY'
  | 'ERR_NOT_SUPPORTED'
  | 'ERR_IO'
  | 'ERR_BAD_ARGUMENT'
  | 'ERR_TABLE_SYNTAX'
  | 'ERR_TABLE_GAP'
  | 'ERR_TABLE_ZERO_LENGTH'
  | 'ERR_TABLE_EMPTY'
  | 'ERR_TABLE_UNKNOWN_TARGET'
  | 'ERR_TABLE_SINGLETON'
  | 'ERR_TARGET_CTR'
  | 'ERR_DEVICE_TOO_SMALL'
  | 'ERR_NO_DEVICE'
  | 'ERR_DEVICE_EXISTS'
  | 'ERR_DEVICE_BUSY'
  | 'ERR_NO_MESSAGES'
  | 'ERR_SUSPENDED'
  | 'ERR_FILE_SIZE'
  | 'ERR_BRD'
  | 'ERR_CONTROL_PROTOCOL'
  | 'ERR_DAEMON';

export class UcryptError extends Error {
  readonly code: ErrorCode;
  readonly errno: ErrnoName;
  readonly context: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, errno: ErrnoName, message: string, context: Record<string, unknown> = {}) {
    super(message);
    this.name = 'UcryptError';
    this.code = code;
    this.errno = errno;
    this.context = context;
  }
}

/** The errno an arbitrary thrown value maps to: ours carry one, Node's system errors carry a name. */
export function errnoOf(err: unknown): ErrnoName {
  if (err instanceof UcryptError) return err.errno;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code in Errno) return code as ErrnoName;
  return 'EIO';
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
