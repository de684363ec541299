// The <cipher> argument of a crypt table (crypt_ctr_cipher_new / crypt_ctr_cipher_old in
// drivers/md/dm-crypt.c) and allocation of the bulk cipher by crypto API name.
//
//   cipher[:keycount]-chainmode-ivmode[:ivopts]   aes-xts-plain64, aes:64-cbc-lmk, aes (cbc-plain)
//     -> "chainmode(cipher)", or "essiv(chainmode(cipher),ivopts)" for essiv
//   capi:<crypto api spec>-ivmode[:ivopts]         capi:xts(aes)-plain64, capi:ecb(cipher_null)
//     -> the spec as given (ivopts after the last ':', ivmode after the last '-')

import type { Skcipher, SkcipherAlgorithm } from '../../crypto/types.js';
import { getBlockCipher, getSkcipher, listBlockCiphers } from '../../crypto/registry.js';
import { essivTemplate, lookupHash } from '../../crypto/ivgen/index.js';
import type { CryptErrno } from './errors.js';
import { ctrError } from './errors.js';
import { scanExact, strsep } from './scan.js';

/** CRYPTO_MAX_ALG_NAME: algorithm names are at most 127 characters. */
const CRYPTO_MAX_ALG_NAME = 128;

/** A bulk cipher as dm-crypt uses it: an skcipher, or (integrity:<n>:aead) an AEAD. */
export interface BulkAlgorithm {
  readonly name: string;
  readonly ivSize: number;
  readonly blockSize: number;
  readonly aead: boolean;
  /** crypto_*_setkey: a keyed instance, or undefined when the key is invalid (-EINVAL). */
  create(key: Uint8Array): Skcipher | undefined;
}

export interface CipherSpec {
  readonly ivmode: string | undefined;
  readonly ivopts: string | undefined;
  /** Number of keys (cc->tfms_count). */
  readonly tfmsCount: number;
  readonly algo: BulkAlgorithm;
  /** HMAC key bytes at the end of each subkey (authenc AEADs only). */
  readonly keyMacSize: number;
}

export interface CipherFlags {
  /** integrity:<n>:aead was given. */
  readonly aead: boolean;
  /** integrity_key_size:<n>, when given. */
  readonly keyMacSize: number | undefined;
}

function fromSkcipher(algo: SkcipherAlgorithm): BulkAlgorithm {
  return {
    name: algo.name,
    ivSize: algo.ivSize,
    blockSize: algo.blockSize,
    aead: false,
    create(key) {
      if (!algo.keySizes.includes(key.length)) return undefined;
      try {
        return algo.create(key);
      } catch {
        return undefined;
      }
    },
  };
}

type Lookup<T> = { readonly algo: T } | { readonly errno: CryptErrno };

/** Splits `name(args)` into its template and top-level comma-separated arguments. */
function splitTemplate(name: string): { tmpl: string; args: string[] } | undefined {
  const open = name.indexOf('(');
  if (open <= 0 || !name.endsWith(')')) return undefined;
  const args: string[] = [];
  let depth = 0;
  let start = open + 1;
  for (let i = open + 1; i < name.length - 1; i++) {
    const c = name[i];
    if (c === '(') depth++;
    else if (c === ')') {
      if (--depth < 0) return undefined;
    } else if (c === ',' && depth === 0) {
      args.push(name.slice(start, i));
      start = i + 1;
    }
  }
  if (depth !== 0) return undefined;
  args.push(name.slice(start, name.length - 1));
  return { tmpl: name.slice(0, open), args };
}

/** Whether a mode template is known at all (it instantiates over some registered cipher). */
function templateExists(tmpl: string): boolean {
  return listBlockCiphers().some((c) => getSkcipher(`${tmpl}(${c})`) !== undefined);
}

/**
 * crypto_alloc_skcipher(name): the algorithm, or the errno the kernel would return. A missing
 * algorithm is -ENOENT; a known template that refuses a known cipher (xts over a 64-bit block
 * cipher, say) fails its create with -EINVAL.
 */
export function lookupSkcipher(name: string): Lookup<BulkAlgorithm> {
  const parts = splitTemplate(name);
  if (parts?.tmpl === 'essiv') {
    if (parts.args.length !== 2) return { errno: 'EINVAL' };
    const inner = lookupSkcipher(parts.args[0]!);
    if (!('algo' in inner)) return inner;
    const skInner = getSkcipher(parts.args[0]!);
    if (!skInner) return { errno: 'EINVAL' };
    const r = essivTemplate(skInner, parts.args[0]!, parts.args[1]!);
    return 'algo' in r ? { algo: fromSkcipher(r.algo) } : r;
  }
  const algo = getSkcipher(name);
  if (algo) return { algo: fromSkcipher(algo) };
  if (parts && parts.args.length === 1 && getBlockCipher(parts.args[0]!) && templateExists(parts.tmpl)) return { errno: 'EINVAL' };
  return { errno: 'ENOENT' };
}

// ---- AEADs (integrity:<n>:aead) ------------------------------------------------------------
// ucrypt has no authenticated modes and no integrity-capable devices, so an AEAD table always
// ends in "Integrity profile not supported." after the device lookup, as on a kernel whose
// underlying device has no integrity profile. To reach that point with the kernel's checks on
// the way (spec, IV size, key sizes), the common AEADs are described here without being
// implemented.

/** Digest size of a MAC name as crypto_alloc_ahash resolves it, or an errno. */
function macDigestSize(mac: string): Lookup<number> {
  const t = splitTemplate(mac);
  if (t && t.args.length === 1) {
    if (t.tmpl === 'hmac') {
      const h = lookupHash(t.args[0]!);
      return 'hash' in h ? { algo: h.hash.digestSize } : { errno: 'ENOENT' };
    }
    if ((t.tmpl === 'cmac' || t.tmpl === 'xcbc') && getBlockCipher(t.args[0]!)) return { algo: getBlockCipher(t.args[0]!)!.blockSize };
  }
  const h = lookupHash(mac);
  return 'hash' in h ? { algo: h.hash.digestSize } : { errno: 'ENOENT' };
}

function aeadModel(name: string, ivSize: number, blockSize: number, validKey: (len: number) => boolean): BulkAlgorithm {
  return {
    name,
    ivSize,
    blockSize,
    aead: true,
    create(key) {
      if (!validKey(key.length)) return undefined;
      const refuse = (): never => {
        throw new Error(`${name}: authenticated encryption is not implemented (it needs an integrity device)`);
      };
      return { ivSize, blockSize, encrypt: refuse, decrypt: refuse, wipe: () => undefined };
    },
  };
}

/** crypto_alloc_aead(name) for the AEAD families the kernel offers. */
export function lookupAead(name: string, keyMacSize: number): Lookup<BulkAlgorithm> {
  const t = splitTemplate(name);
  if (!t) {
    if (name === 'aegis128') return { algo: aeadModel(name, 16, 1, (l) => l === 16) };
    return { errno: 'ENOENT' };
  }
  const cipher16 = (c: string): number[] | undefined => {
    const b = getBlockCipher(c);
    return b && b.blockSize === 16 ? [...b.keySizes] : undefined;
  };
  const a = t.args;
  if (t.tmpl === 'essiv' && a.length === 2) {
    // essiv over an AEAD: only authenc(...) (crypto/essiv.c), with the usual salt checks.
    const inner = lookupAead(a[0]!, keyMacSize);
    if (!('algo' in inner)) return inner;
    if (!a[0]!.startsWith('authenc(')) return { errno: 'EINVAL' };
    const p = a[0]!.lastIndexOf('(');
    const q = a[0]!.indexOf(')', p + 1);
    const cipher = getBlockCipher(a[0]!.slice(p + 1, q));
    const h = lookupHash(a[1]!);
    if (!('hash' in h)) return h;
    const d = h.hash.digestSize;
    if (!cipher || d < Math.min(...cipher.keySizes) || d > Math.max(...cipher.keySizes) || inner.algo.ivSize !== cipher.blockSize) return { errno: 'EINVAL' };
    return { algo: { ...inner.algo, name } };
  }
  if ((t.tmpl === 'gcm' || t.tmpl === 'ccm') && a.length === 1) {
    const keys = cipher16(a[0]!);
    if (!keys) return { errno: getBlockCipher(a[0]!) ? 'EINVAL' : 'ENOENT' };
    return { algo: aeadModel(name, t.tmpl === 'gcm' ? 12 : 16, 1, (l) => keys.includes(l)) };
  }
  if ((t.tmpl === 'rfc4106' || t.tmpl === 'rfc4309') && a.length === 1) {
    const inner = splitTemplate(a[0]!);
    const keys = inner && inner.args.length === 1 && inner.tmpl === (t.tmpl === 'rfc4106' ? 'gcm' : 'ccm') ? cipher16(inner.args[0]!) : undefined;
    if (!keys) return { errno: 'ENOENT' };
    const salt = t.tmpl === 'rfc4106' ? 4 : 3;
    return { algo: aeadModel(name, 8, 1, (l) => keys.includes(l - salt)) };
  }
  if ((t.tmpl === 'rfc7539' || t.tmpl === 'rfc7539esp') && a.length === 2) {
    if (a[0] !== 'chacha20' || a[1] !== 'poly1305') return { errno: 'ENOENT' };
    const esp = t.tmpl === 'rfc7539esp';
    return { algo: aeadModel(name, esp ? 8 : 12, 1, (l) => l === (esp ? 36 : 32)) };
  }
  if (t.tmpl === 'authenc' && a.length === 2) {
    const mac = macDigestSize(a[0]!);
    if (!('algo' in mac)) return mac;
    const enc = lookupSkcipher(a[1]!);
    if (!('algo' in enc)) return enc;
    const encAlgo = getSkcipher(a[1]!);
    const encKeys = encAlgo ? encAlgo.keySizes : [];
    // crypt_setkey hands authenc the MAC key and the encryption key (subkey minus keyMacSize).
    return { algo: aeadModel(name, enc.algo.ivSize, enc.algo.blockSize, (l) => l >= keyMacSize && encKeys.includes(l - keyMacSize)) };
  }
  return { errno: 'ENOENT' };
}

/** crypt_ctr_auth_cipher: the MAC key size of an authenc(...) spec. */
function authCipherMacSize(cipherApi: string, flags: CipherFlags): number {
  if (!cipherApi.startsWith('authenc(')) return flags.keyMacSize ?? 0;
  const start = cipherApi.indexOf('(');
  const end = cipherApi.indexOf(',');
  if (end < 0 || start + 1 > end) throw ctrError('Invalid AEAD cipher spec');
  const mac = macDigestSize(cipherApi.slice(start + 1, end));
  if (!('algo' in mac)) throw ctrError('Invalid AEAD cipher spec', mac.errno);
  return flags.keyMacSize ?? mac.algo;
}

function allocTfms(cipherApi: string, flags: CipherFlags, keyMacSize: number): BulkAlgorithm {
  const r = flags.aead ? lookupAead(cipherApi, keyMacSize) : lookupSkcipher(cipherApi);
  if (!('algo' in r)) throw ctrError('Error allocating crypto tfm', r.errno);
  return r.algo;
}

/** crypt_ctr_cipher_new: `capi:<spec>-<ivmode>[:<ivopts>]`. */
function cipherNew(cipherIn: string, flags: CipherFlags): CipherSpec {
  let tmp = cipherIn.slice('capi:'.length);
  // IV options may contain '-' (hash names), so they are split off first, at the last ':'.
  let ivopts: string | undefined;
  let i = tmp.lastIndexOf(':');
  if (i >= 0) {
    ivopts = tmp.slice(i + 1);
    tmp = tmp.slice(0, i);
  }
  let ivmode: string | undefined;
  i = tmp.lastIndexOf('-');
  if (i >= 0) {
    ivmode = tmp.slice(i + 1);
    tmp = tmp.slice(0, i);
  }
  let cipherApi = tmp;
  let keyMacSize = flags.keyMacSize ?? 0;
  if (flags.aead) keyMacSize = authCipherMacSize(cipherApi, flags);
  let tfmsCount = 1;
  if (ivmode === 'lmk') {
    if (flags.aead) throw ctrError('AEAD transforms not supported for LMK');
    tfmsCount = 64;
  }
  if (ivmode === 'essiv') {
    if (ivopts === undefined) throw ctrError('Digest algorithm missing for ESSIV mode');
    cipherApi = `essiv(${cipherApi},${ivopts})`;
    if (cipherApi.length >= CRYPTO_MAX_ALG_NAME) throw ctrError('Cannot allocate cipher string', 'ENOMEM');
  }
  if (tfmsCount * 8 > KMALLOC_MAX_SIZE) throw ctrError('Error allocating crypto tfm', 'ENOMEM');
  return { ivmode, ivopts, tfmsCount, algo: allocTfms(cipherApi, flags, keyMacSize), keyMacSize };
}

/** kcalloc's limit for the tfm pointer array (KMALLOC_MAX_SIZE on x86-64). */
const KMALLOC_MAX_SIZE = 4 << 20;

/** crypt_ctr_cipher_old: `cipher[:keycount]-chainmode-ivmode[:ivopts]`. */
function cipherOld(cipherIn: string, flags: CipherFlags): CipherSpec {
  if (cipherIn.includes('(') || flags.aead) throw ctrError('Bad cipher specification');
  const [first, afterFirst] = strsep(cipherIn, '-');
  const [cipher, keycount] = strsep(first, ':');
  let tfmsCount = 1;
  if (keycount !== undefined) {
    const n = scanExact(keycount, 32);
    const v = n === undefined ? 0 : Number(n);
    if (n === undefined || v === 0 || (v & (v - 1)) !== 0) throw ctrError('Bad cipher key count specification');
    tfmsCount = v;
  }
  const [chainmodeIn, rest] = strsep(afterFirst, '-');
  const [ivmodeIn, ivopts] = strsep(rest, ':');
  let chainmode = chainmodeIn;
  let ivmode = ivmodeIn;
  // Only the cipher name (or cipher-plain) means cbc-plain, as the original format did.
  if (chainmode === undefined || (chainmode === 'plain' && ivmode === undefined)) {
    chainmode = 'cbc';
    ivmode = 'plain';
  }
  if (chainmode !== 'ecb' && ivmode === undefined) throw ctrError('IV mechanism required');
  let cipherApi: string;
  if (ivmode === 'essiv') {
    if (ivopts === undefined) throw ctrError('Digest algorithm missing for ESSIV mode');
    cipherApi = `essiv(${chainmode}(${cipher}),${ivopts})`;
  } else {
    cipherApi = `${chainmode}(${cipher ?? ''})`;
  }
  if (cipherApi.length >= CRYPTO_MAX_ALG_NAME) throw ctrError('Cannot allocate cipher strings', 'ENOMEM');
  if (tfmsCount * 8 > KMALLOC_MAX_SIZE) throw ctrError('Error allocating crypto tfm', 'ENOMEM');
  return { ivmode, ivopts, tfmsCount, algo: allocTfms(cipherApi, flags, flags.keyMacSize ?? 0), keyMacSize: flags.keyMacSize ?? 0 };
}

/** Parses the cipher argument and allocates its algorithm; throws the kernel's errors. */
export function parseCipher(cipherIn: string, flags: CipherFlags): CipherSpec {
  return cipherIn.startsWith('capi:') ? cipherNew(cipherIn, flags) : cipherOld(cipherIn, flags);
}
