// The crypt constructor: every refusal with the kernel's ti->error text and errno (crypt_ctr and
// the functions it calls in drivers/md/dm-crypt.c), in the kernel's order of checks, and the
// table line each accepted spelling prints back (crypt_status, STATUSTYPE_TABLE).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ctr, khex, mustCtr } from './helpers.js';

const K16 = khex(16);
const K32 = khex(32);
const K48 = khex(48);
const K64 = khex(64);
const K128 = khex(128);
const R = '/dev/ram0';

interface Refusal {
  readonly why: string;
  readonly params: string;
  readonly len?: number;
  readonly message: string;
  readonly errno?: string;
}

const REFUSALS: readonly Refusal[] = [
  // crypt_ctr: argument count and key size
  { why: 'four arguments', params: `aes-xts-plain64 ${K64} 0 ${R}`, message: 'Not enough arguments' },
  { why: 'no arguments', params: '', message: 'Not enough arguments' },
  { why: 'keyring size not a number', params: `aes-xts-plain64 :abc:logon:foo 0 ${R} 0`, message: 'Cannot parse key size' },
  { why: 'keyring size without a second colon', params: `aes-xts-plain64 :32 0 ${R} 0`, message: 'Cannot parse key size' },
  { why: 'keyring size negative', params: `aes-xts-plain64 :-1:logon:foo 0 ${R} 0`, message: 'Cannot parse key size' },
  { why: 'keyring size beyond int', params: `aes-xts-plain64 :4294967295:logon:foo 0 ${R} 0`, message: 'Cannot parse key size' },
  { why: 'keyring size too large to allocate', params: `aes-xts-plain64 :100000000:logon:foo 0 ${R} 0`, message: 'Cannot allocate encryption context', errno: 'ENOMEM' },
  // crypt_ctr_optional (before the cipher)
  { why: 'feature count not a number', params: `nosuch ${K64} 0 ${R} 0 x allow_discards`, message: 'Invalid number of feature args' },
  { why: 'feature count above 9', params: `aes-xts-plain64 ${K64} 0 ${R} 0 10 a b c d e f g h i j`, message: 'Invalid number of feature args' },
  { why: 'feature count above the arguments given', params: `aes-xts-plain64 ${K64} 0 ${R} 0 2 allow_discards`, message: 'Invalid number of feature args' },
  { why: 'feature count with a sign', params: `aes-xts-plain64 ${K64} 0 ${R} 0 +1 allow_discards`, message: 'Invalid number of feature args' },
  { why: 'unknown option', params: `aes-xts-plain64 ${K64} 0 ${R} 0 1 nosuch_option`, message: 'Invalid feature arguments' },
  { why: 'option with a value', params: `aes-xts-plain64 ${K64} 0 ${R} 0 1 allow_discards=1`, message: 'Invalid feature arguments' },
  { why: 'options are checked before the cipher', params: `nosuch-xts-plain64 ${K64} 0 ${R} 0 1 nosuch_option`, message: 'Invalid feature arguments' },
  { why: 'sector_size not a power of two', params: `aes-xts-plain64 ${K64} 0 ${R} 0 1 sector_size:3000`, message: 'Invalid feature value for sector_size' },
  { why: 'sector_size below 512', params: `aes-xts-plain64 ${K64} 0 ${R} 0 1 sector_size:256`, message: 'Invalid feature value for sector_size' },
  { why: 'sector_size above 4096', params: `aes-xts-plain64 ${K64} 0 ${R} 0 1 sector_size:8192`, message: 'Invalid feature value for sector_size' },
  { why: 'sector_size 0', params: `aes-xts-plain64 ${K64} 0 ${R} 0 1 sector_size:0`, message: 'Invalid feature value for sector_size' },
  { why: 'sector_size with trailing garbage', params: `aes-xts-plain64 ${K64} 0 ${R} 0 1 sector_size:4096x`, message: 'Invalid feature arguments' },
  { why: 'SECTOR_SIZE in capitals (sscanf is case-sensitive)', params: `aes-xts-plain64 ${K64} 0 ${R} 0 1 SECTOR_SIZE:4096`, message: 'Invalid feature arguments' },
  { why: 'length not a multiple of sector_size', params: `aes-xts-plain64 ${K64} 0 ${R} 0 1 sector_size:4096`, len: 12, message: 'Device size is not multiple of sector_size feature' },
  { why: 'integrity tag size 0', params: `capi:gcm(aes)-random ${K16} 0 ${R} 0 1 integrity:0:aead`, message: 'Invalid integrity arguments' },
  { why: 'integrity tag size above 480', params: `aes-xts-random ${K64} 0 ${R} 0 1 integrity:481:none`, message: 'Invalid integrity arguments' },
  { why: 'integrity with an unknown profile', params: `aes-xts-random ${K64} 0 ${R} 0 1 integrity:16:foo`, message: 'Unknown integrity profile' },
  { why: 'integrity_key_size 0', params: `aes-xts-plain64 ${K64} 0 ${R} 0 1 integrity_key_size:0`, message: 'Invalid integrity_key_size argument' },
  // crypt_ctr_cipher_old / _new
  { why: 'parenthesis in an old-style spec', params: `cbc(aes)-plain64 ${K16} 0 ${R} 0`, message: 'Bad cipher specification' },
  { why: 'old-style spec with an AEAD', params: `aes-gcm-random ${K16} 0 ${R} 0 1 integrity:28:aead`, message: 'Bad cipher specification' },
  { why: 'keycount not a power of two', params: `aes:3-cbc-plain ${khex(48)} 0 ${R} 0`, message: 'Bad cipher key count specification' },
  { why: 'keycount 0', params: `aes:0-cbc-plain ${K16} 0 ${R} 0`, message: 'Bad cipher key count specification' },
  { why: 'keycount not a number', params: `aes:x-cbc-plain ${K16} 0 ${R} 0`, message: 'Bad cipher key count specification' },
  { why: 'keycount empty', params: `aes:-cbc-plain ${K16} 0 ${R} 0`, message: 'Bad cipher key count specification' },
  { why: 'keycount with trailing text', params: `aes:2x-cbc-plain ${K32} 0 ${R} 0`, message: 'Bad cipher key count specification' },
  { why: 'cbc without an IV mode', params: `aes-cbc ${K16} 0 ${R} 0`, message: 'IV mechanism required' },
  { why: 'essiv without a hash', params: `aes-cbc-essiv ${K16} 0 ${R} 0`, message: 'Digest algorithm missing for ESSIV mode' },
  { why: 'capi essiv without a hash', params: `capi:cbc(aes)-essiv ${K16} 0 ${R} 0`, message: 'Digest algorithm missing for ESSIV mode' },
  { why: 'capi lmk with an AEAD', params: `capi:gcm(aes)-lmk ${K16} 0 ${R} 0 1 integrity:28:aead`, message: 'AEAD transforms not supported for LMK' },
  { why: 'capi authenc without a comma', params: `capi:authenc(hmac(sha256))-random ${K64} 0 ${R} 0 1 integrity:32:aead`, message: 'Invalid AEAD cipher spec' },
  { why: 'capi authenc with an unknown MAC', params: `capi:authenc(hmac(nosuch),xts(aes))-random ${K64} 0 ${R} 0 1 integrity:32:aead`, message: 'Invalid AEAD cipher spec', errno: 'ENOENT' },
  { why: 'cipher name too long', params: `${'a'.repeat(130)}-cbc-plain ${K16} 0 ${R} 0`, message: 'Cannot allocate cipher strings', errno: 'ENOMEM' },
  { why: 'unknown cipher', params: `nosuch-xts-plain64 ${K64} 0 ${R} 0`, message: 'Error allocating crypto tfm', errno: 'ENOENT' },
  { why: 'cipher names are case-sensitive', params: `AES-xts-plain64 ${K64} 0 ${R} 0`, message: 'Error allocating crypto tfm', errno: 'ENOENT' },
  { why: 'unknown chain mode', params: `aes-nosuch-plain64 ${K32} 0 ${R} 0`, message: 'Error allocating crypto tfm', errno: 'ENOENT' },
  { why: 'capi: unknown template', params: `capi:nosuch(aes)-plain64 ${K32} 0 ${R} 0`, message: 'Error allocating crypto tfm', errno: 'ENOENT' },
  { why: 'essiv with an unknown hash', params: `aes-cbc-essiv:nosuch ${K16} 0 ${R} 0`, message: 'Error allocating crypto tfm', errno: 'ENOENT' },
  { why: 'essiv hash spelled with parentheses in the old form', params: `aes-cbc-essiv:hmac(sha256) ${K16} 0 ${R} 0`, message: 'Bad cipher specification' },
  { why: 'essiv with a keyed hash', params: `capi:cbc(aes)-essiv:hmac(sha256) ${K16} 0 ${R} 0`, message: 'Error allocating crypto tfm', errno: 'EINVAL' },
  // Linux 6.12+ passes the essiv template's -EINVAL up (6.1 reported -ENOENT).
  { why: 'essiv digest longer than any AES key', params: `aes-cbc-essiv:sha512 ${K16} 0 ${R} 0`, message: 'Error allocating crypto tfm', errno: 'EINVAL' },
  { why: 'unknown AEAD', params: `capi:nosuch(aes)-random ${K16} 0 ${R} 0 1 integrity:28:aead`, message: 'Error allocating crypto tfm', errno: 'ENOENT' },
  // crypt_ctr_ivmode
  { why: 'unknown IV mode', params: `aes-xts-nosuch ${K64} 0 ${R} 0`, message: 'Invalid IV mode' },
  { why: 'IV modes are case-sensitive', params: `aes-xts-PLAIN64 ${K64} 0 ${R} 0`, message: 'Invalid IV mode' },
  { why: 'empty IV mode', params: `aes-cbc- ${K16} 0 ${R} 0`, message: 'Invalid IV mode' },
  { why: 'elephant key over 64 bytes (no error text in the kernel)', params: `aes-cbc-elephant ${K128} 0 ${R} 0`, message: 'Unknown error' },
  // crypt_set_key
  { why: 'xts key of 40 bytes', params: `aes-xts-plain64 ${khex(40)} 0 ${R} 0`, message: 'Error decoding and setting key' },
  { why: 'xts key of 16 bytes', params: `aes-xts-plain64 ${K16} 0 ${R} 0`, message: 'Error decoding and setting key' },
  { why: 'cbc key of 20 bytes', params: `aes-cbc-plain64 ${khex(20)} 0 ${R} 0`, message: 'Error decoding and setting key' },
  { why: '31 hex digits (15 bytes)', params: `aes-cbc-plain64 ${K16.slice(0, 31)} 0 ${R} 0`, message: 'Error decoding and setting key' },
  { why: 'non-hex key', params: `aes-cbc-plain64 zz${K16.slice(2)} 0 ${R} 0`, message: 'Error decoding and setting key' },
  { why: 'non-hex last digit', params: `aes-cbc-plain64 ${K16.slice(0, 31)}g 0 ${R} 0`, message: 'Error decoding and setting key' },
  { why: "key '-' for a cipher that needs a key", params: `aes-cbc-plain64 - 0 ${R} 0`, message: 'Error decoding and setting key' },
  { why: 'a one-digit key (size 0, not -)', params: `capi:ecb(cipher_null) 0 0 ${R} 0`, message: 'Error decoding and setting key' },
  { why: 'cipher_null with a key', params: `cipher_null-ecb ${K16} 0 ${R} 0`, message: 'Error decoding and setting key' },
  { why: 'keyring logon key (no keyring here: not found)', params: `aes-xts-plain64 :32:logon:foo 0 ${R} 0`, message: 'Error decoding and setting key', errno: 'ENOKEY' },
  { why: 'keyring user key (not found)', params: `aes-xts-plain64 :32:user:foo 0 ${R} 0`, message: 'Error decoding and setting key', errno: 'ENOKEY' },
  { why: 'keyring key of an unknown type', params: `aes-xts-plain64 :32:nosuch:foo 0 ${R} 0`, message: 'Error decoding and setting key' },
  { why: 'keyring key without a description', params: `aes-xts-plain64 :32:logon: 0 ${R} 0`, message: 'Error decoding and setting key' },
  { why: 'keyring key of size 0', params: `aes-xts-plain64 :0:logon:foo 0 ${R} 0`, message: 'Error decoding and setting key' },
  { why: 'essiv salt (sha1, 20 bytes) not an AES key', params: `aes-cbc-essiv:sha1 ${K16} 0 ${R} 0`, message: 'Error decoding and setting key' },
  { why: 'tcw key holding only the IV seed and whitening', params: `aes-cbc-tcw ${K32} 0 ${R} 0`, message: 'Error decoding and setting key' },
  { why: 'lmk key not 64 or 65 equal parts', params: `aes:64-cbc-lmk ${khex(1032)} 0 ${R} 0`, message: 'Error decoding and setting key' },
  { why: 'adiantum with a 16-byte key', params: `capi:adiantum(xchacha12,aes)-plain64 ${K16} 0 ${R} 0`, message: 'Error decoding and setting key' },
  { why: 'authenc key shorter than its HMAC key', params: `capi:authenc(hmac(sha256),xts(aes))-random ${K16} 0 ${R} 0 1 integrity:48:aead`, message: 'Error decoding and setting key' },
  // IV constructors (their own text is replaced by "Error creating IV")
  { why: 'lmk with 4096-byte sectors', params: `aes:64-cbc-lmk ${khex(1024)} 0 ${R} 0 1 sector_size:4096`, len: 64, message: 'Error creating IV' },
  { why: 'tcw with 4096-byte sectors', params: `aes-cbc-tcw ${K48} 0 ${R} 0 1 sector_size:4096`, len: 64, message: 'Error creating IV' },
  { why: 'eboiv over adiantum (block size 16, IV size 32)', params: `capi:adiantum(xchacha12,aes)-eboiv ${K32} 0 ${R} 0`, message: 'Error creating IV' },
  // iv_offset, device, offset
  { why: 'iv_offset not a number', params: `aes-xts-plain64 ${K64} abc ${R} 0`, message: 'Invalid iv_offset sector' },
  { why: 'iv_offset with trailing garbage', params: `aes-xts-plain64 ${K64} 8x ${R} 0`, message: 'Invalid iv_offset sector' },
  { why: 'negative iv_offset', params: `aes-xts-plain64 ${K64} -1 ${R} 0`, message: 'Invalid iv_offset sector' },
  { why: 'iv_offset not aligned to sector_size', params: `aes-xts-plain64 ${K64} 7 ${R} 0 1 sector_size:4096`, len: 64, message: 'Invalid iv_offset sector' },
  { why: 'missing device', params: `aes-xts-plain64 ${K64} 0 /dev/nosuch 0`, message: 'Device lookup failed', errno: 'ENODEV' },
  { why: 'offset not a number', params: `aes-xts-plain64 ${K64} 0 ${R} abc`, message: 'Invalid device sector' },
  { why: 'offset with a sign', params: `aes-xts-plain64 ${K64} 0 ${R} +8`, message: 'Invalid device sector' },
  // crypt_integrity_ctr: nothing here has an integrity profile
  { why: 'random IV', params: `aes-xts-random ${K64} 0 ${R} 0`, message: 'Integrity profile not supported.' },
  { why: 'random IV with integrity:16:none', params: `aes-xts-random ${K64} 0 ${R} 0 1 integrity:16:none`, message: 'Integrity profile not supported.' },
  { why: 'gcm(aes) with integrity:28:aead', params: `capi:gcm(aes)-random ${K16} 0 ${R} 0 1 integrity:28:aead`, message: 'Integrity profile not supported.' },
  { why: 'authenc AEAD', params: `capi:authenc(hmac(sha256),xts(aes))-random ${khex(96)} 0 ${R} 0 1 integrity:48:aead`, message: 'Integrity profile not supported.' },
];

for (const r of REFUSALS) {
  test(`refused: ${r.why}`, async () => {
    const got = await ctr(r.params, r.len ?? 16);
    assert.equal(got.ok, false, 'the table must be refused');
    if (got.ok) return;
    assert.deepEqual({ message: got.message, errno: got.errno }, { message: r.message, errno: r.errno ?? 'EINVAL' });
  });
}

test('errors never contain key material', async () => {
  for (const r of REFUSALS) {
    const got = await ctr(r.params, r.len ?? 16);
    if (!got.ok) assert.ok(!got.message.includes('0001020304'), `${r.why}: ${got.message}`);
  }
});

interface Accepted {
  readonly why: string;
  readonly params: string;
  readonly len?: number;
  /** `dmsetup table --showkeys` result part (after `0 <len> crypt `). */
  readonly showKeys: string;
  /** `dmsetup table` (masked); derived from showKeys when absent. */
  readonly masked?: string;
}

const ACCEPTED: readonly Accepted[] = [
  { why: 'aes-xts-plain64', params: `aes-xts-plain64 ${K64} 0 ${R} 0`, showKeys: `aes-xts-plain64 ${K64} 0 1:0 0` },
  { why: 'device as MAJ:MIN', params: `aes-xts-plain64 ${K64} 0 1:0 0`, showKeys: `aes-xts-plain64 ${K64} 0 1:0 0` },
  { why: 'uppercase hex key prints lowercase', params: `aes-xts-plain64 ${K64.toUpperCase()} 0 ${R} 0`, showKeys: `aes-xts-plain64 ${K64} 0 1:0 0` },
  { why: 'odd hex length drops the last digit', params: `aes-cbc-plain64 ${K16}1 0 ${R} 0`, showKeys: `aes-cbc-plain64 ${K16} 0 1:0 0` },
  { why: 'odd hex length ignores a non-hex last character', params: `aes-cbc-plain64 ${K16}z 0 ${R} 0`, showKeys: `aes-cbc-plain64 ${K16} 0 1:0 0` },
  { why: 'cipher only means cbc-plain (printed as given)', params: `aes ${K16} 0 ${R} 0`, showKeys: `aes ${K16} 0 1:0 0` },
  { why: 'cipher-plain means cbc-plain', params: `aes-plain ${K16} 0 ${R} 0`, showKeys: `aes-plain ${K16} 0 1:0 0` },
  { why: 'ecb ignores an IV mode it cannot use', params: `aes-ecb-nosuch ${K16} 0 ${R} 0`, showKeys: `aes-ecb-nosuch ${K16} 0 1:0 0` },
  { why: "cipher_null with key '-'", params: `capi:ecb(cipher_null) - 0 ${R} 0`, showKeys: 'capi:ecb(cipher_null) - 0 1:0 0', masked: 'capi:ecb(cipher_null) 0 0 1:0 0' },
  { why: 'old-style cipher_null', params: `cipher_null-ecb - 0 ${R} 0`, showKeys: 'cipher_null-ecb - 0 1:0 0', masked: 'cipher_null-ecb 0 0 1:0 0' },
  { why: 'capi essiv keeps its spelling', params: `capi:cbc(aes)-essiv:sha256 ${K32} 0 ${R} 0`, showKeys: `capi:cbc(aes)-essiv:sha256 ${K32} 0 1:0 0` },
  { why: 'explicit essiv template via capi', params: `capi:essiv(cbc(aes),sha256)-plain64 ${K32} 0 ${R} 0`, showKeys: `capi:essiv(cbc(aes),sha256)-plain64 ${K32} 0 1:0 0` },
  { why: 'keycount', params: `aes:4-cbc-plain64 ${K64} 1 ${R} 0`, showKeys: `aes:4-cbc-plain64 ${K64} 1 1:0 0` },
  { why: 'iv_offset and offset', params: `aes-xts-plain64 ${K64} 1024 ${R} 1024`, showKeys: `aes-xts-plain64 ${K64} 1024 1:0 1024` },
  { why: 'iv_offset 2^64-6', params: `aes-cbc-plain64 ${K16} 18446744073709551610 ${R} 0`, showKeys: `aes-cbc-plain64 ${K16} 18446744073709551610 1:0 0` },
  { why: 'iv_offset 2^64 wraps to 0 (simple_strntoull ignores overflow)', params: `aes-cbc-plain64 ${K16} 18446744073709551616 ${R} 0`, showKeys: `aes-cbc-plain64 ${K16} 0 1:0 0` },
  { why: 'explicit count 0', params: `aes-xts-plain64 ${K64} 0 ${R} 0 0`, showKeys: `aes-xts-plain64 ${K64} 0 1:0 0` },
  { why: 'arguments beyond the count are ignored', params: `aes-xts-plain64 ${K64} 0 ${R} 0 1 allow_discards same_cpu_crypt`, showKeys: `aes-xts-plain64 ${K64} 0 1:0 0 1 allow_discards` },
  { why: 'duplicates are folded', params: `aes-xts-plain64 ${K64} 0 ${R} 0 2 allow_discards allow_discards`, showKeys: `aes-xts-plain64 ${K64} 0 1:0 0 1 allow_discards` },
  { why: 'option names are case-insensitive', params: `aes-xts-plain64 ${K64} 0 ${R} 0 2 ALLOW_DISCARDS Same_Cpu_Crypt`, showKeys: `aes-xts-plain64 ${K64} 0 1:0 0 2 allow_discards same_cpu_crypt` },
  {
    why: 'every flag, reversed, printed in the kernel order',
    params: `aes-xts-plain64 ${K64} 0 ${R} 0 6 no_write_workqueue no_read_workqueue submit_from_crypt_cpus high_priority same_cpu_crypt allow_discards`,
    showKeys: `aes-xts-plain64 ${K64} 0 1:0 0 6 allow_discards same_cpu_crypt high_priority submit_from_crypt_cpus no_read_workqueue no_write_workqueue`,
  },
  {
    why: 'nine options (the maximum since 6.10)',
    params: `aes-xts-plain64 ${K64} 0 ${R} 0 9 iv_large_sectors no_write_workqueue sector_size:4096 same_cpu_crypt no_read_workqueue allow_discards submit_from_crypt_cpus high_priority integrity_key_size:32`,
    len: 64,
    showKeys: `aes-xts-plain64 ${K64} 0 1:0 0 9 allow_discards same_cpu_crypt high_priority submit_from_crypt_cpus no_read_workqueue no_write_workqueue sector_size:4096 iv_large_sectors integrity_key_size:32`,
  },
  { why: 'explicit sector_size:512 is not printed', params: `aes-xts-plain64 ${K64} 0 ${R} 0 1 sector_size:512`, showKeys: `aes-xts-plain64 ${K64} 0 1:0 0` },
  { why: 'sector_size is a 16-bit value (%hu): 66048 is 512', params: `aes-xts-plain64 ${K64} 0 ${R} 0 1 sector_size:66048`, showKeys: `aes-xts-plain64 ${K64} 0 1:0 0` },
  { why: 'the last sector_size wins', params: `aes-xts-plain64 ${K64} 0 ${R} 0 2 sector_size:4096 sector_size:1024`, showKeys: `aes-xts-plain64 ${K64} 0 1:0 0 1 sector_size:1024` },
  { why: 'iv_large_sectors with 512-byte sectors', params: `aes-xts-plain64 ${K64} 0 ${R} 0 1 IV_LARGE_SECTORS`, showKeys: `aes-xts-plain64 ${K64} 0 1:0 0 1 iv_large_sectors` },
  { why: 'integrity:<n>:none without a random IV needs no profile', params: `aes-xts-plain64 ${K64} 0 ${R} 0 1 integrity:16:none`, showKeys: `aes-xts-plain64 ${K64} 0 1:0 0 1 integrity:16:none` },
  { why: 'integrity type keeps its spelling', params: `aes-xts-plain64 ${K64} 0 ${R} 0 1 integrity:16:NONE`, showKeys: `aes-xts-plain64 ${K64} 0 1:0 0 1 integrity:16:NONE` },
  { why: 'c3 of the golden session', params: `aes-cbc-essiv:sha256 ${K32} 8 ${R} 1024 2 allow_discards sector_size:4096`, len: 1024, showKeys: `aes-cbc-essiv:sha256 ${K32} 8 1:0 1024 2 allow_discards sector_size:4096` },
  { why: 'serpent accepts a sha1 essiv salt', params: `serpent-cbc-essiv:sha1 ${K16} 0 ${R} 0`, showKeys: `serpent-cbc-essiv:sha1 ${K16} 0 1:0 0` },
  { why: 'lmk v3', params: `aes:64-cbc-lmk ${khex(1040)} 0 ${R} 0`, showKeys: `aes:64-cbc-lmk ${khex(1040)} 0 1:0 0` },
  { why: 'capi lmk implies 64 keys', params: `capi:cbc(aes)-lmk ${khex(1024)} 0 ${R} 0`, showKeys: `capi:cbc(aes)-lmk ${khex(1024)} 0 1:0 0` },
  { why: 'elephant with AES-192 halves', params: `aes-cbc-elephant ${K48} 0 ${R} 0`, showKeys: `aes-cbc-elephant ${K48} 0 1:0 0` },
  { why: 'adiantum', params: `capi:adiantum(xchacha12,aes)-plain64 ${K32} 0 ${R} 0 1 sector_size:4096`, len: 64, showKeys: `capi:adiantum(xchacha12,aes)-plain64 ${K32} 0 1:0 0 1 sector_size:4096` },
];

for (const a of ACCEPTED) {
  test(`accepted: ${a.why}`, async () => {
    const t = await mustCtr(a.params, a.len ?? 16);
    try {
      assert.equal(t.status('table', { showKeys: true }), a.showKeys);
      const words = a.showKeys.split(' ');
      const masked = a.masked ?? [words[0], '0'.repeat(words[1]!.length), ...words.slice(2)].join(' ');
      assert.equal(t.status('table', { showKeys: false }), masked);
      assert.equal(t.status('info', { showKeys: false }), '');
    } finally {
      t.close?.();
    }
  });
}

test('limits: sector_size is the logical block size; discards only with allow_discards', async () => {
  const plain = await mustCtr(`aes-xts-plain64 ${K64} 0 ${R} 0`);
  assert.deepEqual(plain.limits?.(), { logicalBlockSize: 512, physicalBlockSize: 512, discard: false, writeZeroes: false });
  const big = await mustCtr(`aes-xts-plain64 ${K64} 0 ${R} 0 2 allow_discards sector_size:4096`, 64);
  assert.deepEqual(big.limits?.(), { logicalBlockSize: 4096, physicalBlockSize: 4096, discard: true, writeZeroes: false });
  assert.deepEqual(big.devices().map((a) => [a.ref.devName, a.start, a.len]), [['1:0', 0, 64]]);
  plain.close?.();
  big.close?.();
});

test("the constructor's kernel warnings go to the context's log when it has one", async () => {
  const { ramdisk } = await import('./helpers.js');
  const { cryptTarget } = await import('../../../src/targets/crypt/crypt.js');
  const { splitArgs } = await import('../../../src/dm/table.js');
  const lines: string[] = [];
  const ctx = { ...ramdisk().ctx(16), log: (l: string) => void lines.push(l) };
  const t = await cryptTarget.create(splitArgs(`aes-ecb-plain64 ${K16} 0 ${R} 0`), ctx);
  t.close?.();
  assert.deepEqual(lines, ['device-mapper: crypt: Selected cipher does not support IVs']);
  lines.length = 0;
  await assert.rejects(Promise.resolve(cryptTarget.create(splitArgs(`aes-xts-plain64 :32:logon:a\\ b 0 ${R} 0`), ctx)), /Error decoding and setting key/);
  assert.deepEqual(lines, ['device-mapper: crypt: whitespace chars not allowed in key string']);
});

test('essiv over an authenc AEAD reaches the integrity check, as in the kernel', async () => {
  const { ctr: build } = await import('./helpers.js');
  const got = await build(`capi:authenc(hmac(sha256),cbc(aes))-essiv:sha256 ${khex(48)} 0 ${R} 0 1 integrity:32:aead`);
  assert.deepEqual(got.ok ? 'accepted' : [got.message, got.errno], ['Integrity profile not supported.', 'EINVAL']);
  const gcm = await build(`capi:gcm(aes)-essiv:sha256 ${K16} 0 ${R} 0 1 integrity:28:aead`);
  assert.deepEqual(gcm.ok ? 'accepted' : [gcm.message, gcm.errno], ['Error allocating crypto tfm', 'EINVAL']);
});
