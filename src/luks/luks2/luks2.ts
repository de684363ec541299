// LUKS2 (cryptsetup docs/on-disk-format-luks2.pdf; lib/luks2/luks2_disk_metadata.c,
// luks2_json_metadata.c, luks2_keyslot_luks2.c, luks2_digest_pbkdf2.c).
//
//   0          hdr_size               2*hdr_size            2*hdr_size + keyslots_size
//   | bin hdr | JSON | bin hdr 2 | JSON 2 | keyslot areas ...  | data segment ...
//     4096 B   hdr_size - 4096 B
//
// Binary header (big-endian): magic[6] version:u16 hdr_size:u64 seqid:u64 label[48]
// checksum_alg[32] salt[64] uuid[40] subsystem[48] hdr_offset:u64 pad[184] csum[64] pad[7*512].
// csum = checksum_alg over the whole hdr_size bytes with the csum field zeroed. The copy with
// the higher seqid wins; a damaged copy is rebuilt from the good one on the next write.
//
// The JSON object is kept as parsed and changed in place, so fields and tokens we do not know
// survive a rewrite.

import { createHash } from 'node:crypto';
import { LuksError, badHeader, noKey } from '../errors.js';
import type { HeaderIO } from '../io.js';
import { afMerge, afSplit, afSplitSize } from '../af.js';
import type { Kdf } from '../pbkdf.js';
import { deriveKey, nodeHashName, pbkdf2 } from '../pbkdf.js';
import { cryptArea } from '../storage.js';
import type { KeyOrder } from './json-order.js';
import { keyOrder, prettyOrdered, refreshOrder, stringifyOrdered } from './json-order.js';
import { bytesEqual, hexDump, newUuid, randomBytes, readCString, uuidValid, writeCString } from '../util.js';

export const LUKS2_MAGIC_1 = [0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe] as const;
export const LUKS2_MAGIC_2 = [0x53, 0x4b, 0x55, 0x4c, 0xba, 0xbe] as const;
export const LUKS2_BIN_SIZE = 4096;
/** Valid hdr_size values; the secondary header is searched at each (LUKS2_hdr_read). */
export const LUKS2_HDR_SIZES = [0x4000, 0x8000, 0x10000, 0x20000, 0x40000, 0x80000, 0x100000, 0x200000, 0x400000] as const;
export const LUKS2_KEYSLOTS_MAX = 32;
const STRIPES = 4000;

/** config.flags names (LUKS2 persistent activation flags) -> crypt table feature arguments. */
export const LUKS2_FLAGS: Record<string, string> = {
  'allow-discards': 'allow_discards',
  'same-cpu-crypt': 'same_cpu_crypt',
  'submit-from-crypt-cpus': 'submit_from_crypt_cpus',
  'no-read-workqueue': 'no_read_workqueue',
  'no-write-workqueue': 'no_write_workqueue',
  high_priority: 'high_priority',
  'high-priority': 'high_priority',
};

export type Json = Record<string, unknown>;

export interface Luks2BinHeader {
  magic: 1 | 2;
  hdrSize: number;
  seqid: bigint;
  label: string;
  checksumAlg: string;
  salt: Uint8Array;
  uuid: string;
  subsystem: string;
  hdrOffset: number;
}

export interface Luks2Header {
  version: 2;
  bin: Luks2BinHeader;
  json: Json;
  /** On-disk key order of the JSON objects (json-c keeps insertion order). */
  order: KeyOrder;
  /** Which copies were valid when read (a false one is repaired on write). */
  primaryValid: boolean;
  secondaryValid: boolean;
}

// ---- binary header -----------------------------------------------------------------------

function u64(b: Uint8Array, off: number): bigint {
  return new DataView(b.buffer, b.byteOffset, b.length).getBigUint64(off);
}

function magicAt(b: Uint8Array, m: readonly number[]): boolean {
  return m.every((x, i) => b[i] === x);
}

function checksum(alg: string, area: Uint8Array): Uint8Array {
  const copy = area.slice();
  copy.fill(0, 448, 512);
  return new Uint8Array(createHash(nodeHashName(alg)).update(copy).digest());
}

/** Parses one binary header + JSON area (hdr_checksum_check, hdr_read_disk). */
export function parseBinaryHeader(area: Uint8Array, expectOffset: number, which: 1 | 2): { bin: Luks2BinHeader; json: Json; order: KeyOrder } {
  const name = which === 1 ? 'primary' : 'secondary';
  if (!magicAt(area, which === 1 ? LUKS2_MAGIC_1 : LUKS2_MAGIC_2)) throw new LuksError('ERR_LUKS_BAD_MAGIC', `LUKS2 ${name} header: bad magic.`);
  const version = (area[6]! << 8) | area[7]!;
  if (version !== 2) throw new LuksError('ERR_LUKS_BAD_VERSION', `LUKS2 ${name} header: unsupported version ${version}.`);
  if (area.length < LUKS2_BIN_SIZE) throw badHeader(`LUKS2 ${name} header: truncated (${area.length} of ${LUKS2_BIN_SIZE} bytes).`);
  const hdrSize = u64(area, 8);
  if (!LUKS2_HDR_SIZES.some((s) => BigInt(s) === hdrSize)) throw badHeader(`LUKS2 ${name} header: invalid header size ${hdrSize}.`);
  const size = Number(hdrSize);
  if (area.length < size) throw badHeader(`LUKS2 ${name} header: truncated (${area.length} of ${size} bytes).`);
  const hdrOffset = u64(area, 256);
  if (hdrOffset !== BigInt(expectOffset)) throw badHeader(`LUKS2 ${name} header: offset field ${hdrOffset} does not match its position ${expectOffset}.`);
  const checksumAlg = readCString(area, 72, 32);
  let alg: string;
  try {
    alg = nodeHashName(checksumAlg);
  } catch {
    throw badHeader(`LUKS2 ${name} header: unknown checksum algorithm '${checksumAlg}'.`);
  }
  const sum = checksum(alg, area.subarray(0, size));
  if (!bytesEqual(sum, area.subarray(448, 448 + sum.length))) throw new LuksError('ERR_LUKS_CHECKSUM', `LUKS2 ${name} header: checksum mismatch.`);
  const jsonArea = area.subarray(LUKS2_BIN_SIZE, size);
  const end = jsonArea.indexOf(0);
  if (end < 0) throw new LuksError('ERR_LUKS_JSON', `LUKS2 ${name} header: JSON area is not NUL-terminated.`);
  let json: unknown;
  const text = Buffer.from(jsonArea.subarray(0, end)).toString('utf8');
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new LuksError('ERR_LUKS_JSON', `LUKS2 ${name} header: invalid JSON metadata (${(e as Error).message}).`);
  }
  if (!isObj(json)) throw new LuksError('ERR_LUKS_JSON', `LUKS2 ${name} header: JSON metadata is not an object.`);
  const bin: Luks2BinHeader = {
    magic: which,
    hdrSize: size,
    seqid: u64(area, 16),
    label: readCString(area, 24, 48),
    checksumAlg,
    salt: area.slice(104, 168),
    uuid: readCString(area, 168, 40),
    subsystem: readCString(area, 208, 48),
    hdrOffset: Number(hdrOffset),
  };
  return { bin, json, order: keyOrder(text) };
}

export function serializeArea(bin: Luks2BinHeader, json: Json, which: 1 | 2, offset: number, order: KeyOrder = new Map()): Uint8Array {
  const area = new Uint8Array(bin.hdrSize);
  area.set(which === 1 ? LUKS2_MAGIC_1 : LUKS2_MAGIC_2, 0);
  const dv = new DataView(area.buffer);
  dv.setUint16(6, 2);
  dv.setBigUint64(8, BigInt(bin.hdrSize));
  dv.setBigUint64(16, bin.seqid);
  writeCString(area, 24, 48, bin.label, 'label');
  writeCString(area, 72, 32, bin.checksumAlg, 'checksum algorithm');
  area.set(bin.salt.subarray(0, 64), 104);
  writeCString(area, 168, 40, bin.uuid, 'UUID');
  writeCString(area, 208, 48, bin.subsystem, 'subsystem');
  dv.setBigUint64(256, BigInt(offset));
  const text = Buffer.from(stringifyOrdered(json, order), 'utf8');
  if (text.length >= bin.hdrSize - LUKS2_BIN_SIZE) throw new LuksError('ERR_LUKS_ARGUMENT', `LUKS2 metadata too large (${text.length} bytes, area ${bin.hdrSize - LUKS2_BIN_SIZE}).`);
  area.set(text, LUKS2_BIN_SIZE);
  area.set(checksum(bin.checksumAlg, area), 448);
  return area;
}

// ---- JSON access and validation (LUKS2_hdr_validate) --------------------------------------

function isObj(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function obj(parent: Json, key: string, where: string): Json {
  const v = parent[key];
  if (!isObj(v)) throw new LuksError('ERR_LUKS_JSON', `LUKS2 metadata: ${where}${key} is missing or not an object.`);
  return v;
}

function str(parent: Json, key: string, where: string): string {
  const v = parent[key];
  if (typeof v !== 'string') throw new LuksError('ERR_LUKS_JSON', `LUKS2 metadata: ${where}${key} is missing or not a string.`);
  return v;
}

function int(parent: Json, key: string, where: string, min = 0): number {
  const v = parent[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw new LuksError('ERR_LUKS_JSON', `LUKS2 metadata: ${where}${key} is missing or not an integer >= ${min}.`);
  return v;
}

/** A u64 stored as a decimal string (offsets and sizes). */
function u64str(parent: Json, key: string, where: string): number {
  const s = str(parent, key, where);
  if (!/^(0|[1-9][0-9]{0,19})$/.test(s) || !Number.isSafeInteger(Number(s))) throw new LuksError('ERR_LUKS_JSON', `LUKS2 metadata: ${where}${key} '${s}' is not a valid size.`);
  return Number(s);
}

function b64(parent: Json, key: string, where: string): Uint8Array {
  const s = str(parent, key, where);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) throw new LuksError('ERR_LUKS_JSON', `LUKS2 metadata: ${where}${key} is not base64.`);
  return new Uint8Array(Buffer.from(s, 'base64'));
}

function idKeys(o: Json, where: string): number[] {
  return Object.keys(o).map((k) => {
    if (!/^(0|[1-9][0-9]*)$/.test(k) || Number(k) >= 2 ** 31) throw new LuksError('ERR_LUKS_JSON', `LUKS2 metadata: ${where} id '${k}' is not a number.`);
    return Number(k);
  });
}

export interface KeyslotInfo {
  id: number;
  type: string;
  keySize: number;
  priority: number;
  areaOffset: number;
  areaSize: number;
  areaEncryption: string;
  areaKeySize: number;
  afStripes: number;
  afHash: string;
  kdf: Kdf;
}

export interface SegmentInfo {
  id: number;
  type: string;
  offset: number;
  /** Bytes, or 'dynamic' (to the end of the device). */
  size: number | 'dynamic';
  ivTweak: bigint;
  encryption: string;
  sectorSize: number;
  flags: string[];
}

export interface DigestInfo {
  id: number;
  type: string;
  keyslots: number[];
  segments: number[];
  hash: string;
  iterations: number;
  salt: Uint8Array;
  digest: Uint8Array;
}

export function keyslotInfo(json: Json, id: number): KeyslotInfo {
  const w = `keyslot ${id}: `;
  const ks = obj(obj(json, 'keyslots', ''), String(id), 'keyslots.');
  const type = str(ks, 'type', w);
  const area = obj(ks, 'area', w);
  const af = obj(ks, 'af', w);
  const kdfJ = obj(ks, 'kdf', w);
  const kdfType = str(kdfJ, 'type', w + 'kdf.');
  let kdf: Kdf;
  if (kdfType === 'pbkdf2') {
    kdf = { type: 'pbkdf2', hash: str(kdfJ, 'hash', w + 'kdf.'), iterations: int(kdfJ, 'iterations', w + 'kdf.', 1), salt: b64(kdfJ, 'salt', w + 'kdf.') };
  } else if (kdfType === 'argon2i' || kdfType === 'argon2id') {
    kdf = { type: kdfType, time: int(kdfJ, 'time', w + 'kdf.', 1), memory: int(kdfJ, 'memory', w + 'kdf.', 8), cpus: int(kdfJ, 'cpus', w + 'kdf.', 1), salt: b64(kdfJ, 'salt', w + 'kdf.') };
  } else throw new LuksError('ERR_LUKS_JSON', `LUKS2 metadata: ${w}unknown kdf type '${kdfType}'.`);
  const priority = ks['priority'] === undefined ? 1 : int(ks, 'priority', w);
  return {
    id,
    type,
    keySize: int(ks, 'key_size', w, 1),
    priority,
    areaOffset: u64str(area, 'offset', w + 'area.'),
    areaSize: u64str(area, 'size', w + 'area.'),
    areaEncryption: str(area, 'encryption', w + 'area.'),
    areaKeySize: int(area, 'key_size', w + 'area.', 1),
    afStripes: int(af, 'stripes', w + 'af.', 1),
    afHash: str(af, 'hash', w + 'af.'),
    kdf,
  };
}

/** The fields of a keyslot the metadata layout depends on. */
export function keyslotArea(json: Json, id: number): { id: number; type: string; keySize: number; areaOffset: number; areaSize: number; afStripes: number } {
  const w = `keyslot ${id}: `;
  const ks = obj(obj(json, 'keyslots', ''), String(id), 'keyslots.');
  const area = obj(ks, 'area', w);
  const type = str(ks, 'type', w);
  const af = type === 'luks2' ? obj(ks, 'af', w) : undefined;
  return { id, type, keySize: int(ks, 'key_size', w, 1), areaOffset: u64str(area, 'offset', w + 'area.'), areaSize: u64str(area, 'size', w + 'area.'), afStripes: af ? int(af, 'stripes', w + 'af.', 1) : 0 };
}

export function segmentInfo(json: Json, id: number): SegmentInfo {
  const w = `segment ${id}: `;
  const s = obj(obj(json, 'segments', ''), String(id), 'segments.');
  const type = str(s, 'type', w);
  const size = s['size'] === 'dynamic' ? 'dynamic' : u64str(s, 'size', w);
  const flags = s['flags'] === undefined ? [] : s['flags'];
  if (!Array.isArray(flags) || !flags.every((f) => typeof f === 'string')) throw new LuksError('ERR_LUKS_JSON', `LUKS2 metadata: ${w}flags is not an array of strings.`);
  if (type !== 'crypt') return { id, type, offset: u64str(s, 'offset', w), size, ivTweak: 0n, encryption: '', sectorSize: 512, flags };
  const tweak = str(s, 'iv_tweak', w);
  if (!/^[0-9]{1,20}$/.test(tweak) || BigInt(tweak) >= 2n ** 64n) throw new LuksError('ERR_LUKS_JSON', `LUKS2 metadata: ${w}iv_tweak '${tweak}' is invalid.`);
  const sectorSize = int(s, 'sector_size', w, 512);
  if (![512, 1024, 2048, 4096].includes(sectorSize)) throw new LuksError('ERR_LUKS_JSON', `LUKS2 metadata: ${w}sector_size ${sectorSize} is invalid.`);
  return { id, type, offset: u64str(s, 'offset', w), size, ivTweak: BigInt(tweak), encryption: str(s, 'encryption', w), sectorSize, flags };
}

export function digestInfo(json: Json, id: number): DigestInfo {
  const w = `digest ${id}: `;
  const d = obj(obj(json, 'digests', ''), String(id), 'digests.');
  const ids = (k: string): number[] => {
    const a = d[k];
    if (!Array.isArray(a) || !a.every((x) => typeof x === 'string' && /^(0|[1-9][0-9]*)$/.test(x))) throw new LuksError('ERR_LUKS_JSON', `LUKS2 metadata: ${w}${k} is not an array of ids.`);
    return a.map(Number);
  };
  return {
    id,
    type: str(d, 'type', w),
    keyslots: ids('keyslots'),
    segments: ids('segments'),
    hash: str(d, 'hash', w),
    iterations: int(d, 'iterations', w, 1),
    salt: b64(d, 'salt', w),
    digest: b64(d, 'digest', w),
  };
}

export function keyslotIds(json: Json): number[] {
  return idKeys(obj(json, 'keyslots', ''), 'keyslot').sort((a, b) => a - b);
}
export function segmentIds(json: Json): number[] {
  return idKeys(obj(json, 'segments', ''), 'segment').sort((a, b) => a - b);
}
export function digestIds(json: Json): number[] {
  return idKeys(obj(json, 'digests', ''), 'digest').sort((a, b) => a - b);
}
export function tokenIds(json: Json): number[] {
  return idKeys(obj(json, 'tokens', ''), 'token').sort((a, b) => a - b);
}

export function configInfo(json: Json): { jsonSize: number; keyslotsSize: number; flags: string[]; requirements: string[] } {
  const c = obj(json, 'config', '');
  const flags = c['flags'] === undefined ? [] : c['flags'];
  if (!Array.isArray(flags) || !flags.every((f) => typeof f === 'string')) throw new LuksError('ERR_LUKS_JSON', 'LUKS2 metadata: config.flags is not an array of strings.');
  let requirements: string[] = [];
  if (c['requirements'] !== undefined) {
    const r = obj(c, 'requirements', 'config.');
    const m = r['mandatory'] ?? [];
    if (!Array.isArray(m) || !m.every((f) => typeof f === 'string')) throw new LuksError('ERR_LUKS_JSON', 'LUKS2 metadata: config.requirements.mandatory is not an array of strings.');
    requirements = m;
  }
  return { jsonSize: u64str(c, 'json_size', 'config.'), keyslotsSize: u64str(c, 'keyslots_size', 'config.'), flags, requirements };
}

/** LUKS2_hdr_validate: the structural rules cryptsetup enforces before using metadata. */
export function validateJson(json: Json, hdrSize: number): void {
  for (const k of ['keyslots', 'tokens', 'segments', 'digests', 'config']) obj(json, k, '');
  const cfg = configInfo(json);
  if (cfg.jsonSize !== hdrSize - LUKS2_BIN_SIZE) throw badHeader(`LUKS2 metadata: config.json_size ${cfg.jsonSize} does not match the header size ${hdrSize}.`);
  if (cfg.keyslotsSize % 4096 !== 0) throw badHeader(`LUKS2 metadata: keyslots_size ${cfg.keyslotsSize} is not aligned to 4096 bytes.`);
  const areaStart = 2 * hdrSize;
  const areaEnd = areaStart + cfg.keyslotsSize;
  // Only what the layout depends on is checked here; a keyslot with an unknown KDF or a bad salt
  // is kept (cryptsetup loads such metadata too) and fails only when it is used.
  const ks = keyslotIds(json).map((id) => keyslotArea(json, id));
  for (const k of ks) {
    if (k.id >= LUKS2_KEYSLOTS_MAX) throw badHeader(`LUKS2 metadata: keyslot id ${k.id} is out of range.`);
    // cryptsetup accepts unaligned areas (it only writes aligned ones), so we do too.
    if (k.areaOffset < areaStart || k.areaOffset + k.areaSize > areaEnd) throw badHeader(`LUKS2 metadata: keyslot ${k.id} area [${k.areaOffset}, ${k.areaOffset + k.areaSize}) is outside the keyslots area [${areaStart}, ${areaEnd}).`);
    if (k.type === 'luks2' && afSplitSize(k.keySize, k.afStripes) > k.areaSize) throw badHeader(`LUKS2 metadata: keyslot ${k.id} area is too small for its key material.`);
  }
  const sorted = [...ks].sort((a, b) => a.areaOffset - b.areaOffset);
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1]!;
    const b = sorted[i]!;
    if (b.areaOffset < a.areaOffset + a.areaSize) throw badHeader(`LUKS2 metadata: keyslot areas ${a.id} and ${b.id} are overlapping.`);
  }
  const segs = segmentIds(json).map((id) => segmentInfo(json, id));
  for (const s of segs) {
    if (s.offset % 512 !== 0) throw badHeader(`LUKS2 metadata: segment ${s.id} offset ${s.offset} is not aligned to 512 bytes.`);
    if (s.offset !== 0 && s.offset < areaEnd) throw badHeader(`LUKS2 metadata: segment ${s.id} at ${s.offset} overlaps the metadata and keyslots area (ends at ${areaEnd}).`);
    if (s.size !== 'dynamic' && s.size % s.sectorSize !== 0) throw badHeader(`LUKS2 metadata: segment ${s.id} size is not a multiple of its sector size.`);
  }
  const dg = digestIds(json).map((id) => digestInfo(json, id));
  for (const d of dg) {
    for (const k of d.keyslots) if (!ks.some((x) => x.id === k)) throw badHeader(`LUKS2 metadata: digest ${d.id} refers to a missing keyslot ${k}.`);
    for (const s of d.segments) if (!segs.some((x) => x.id === s)) throw badHeader(`LUKS2 metadata: digest ${d.id} refers to a missing segment ${s}.`);
  }
  for (const k of ks) {
    if (dg.filter((d) => d.keyslots.includes(k.id)).length > 1) throw badHeader(`LUKS2 metadata: keyslot ${k.id} is assigned to more than one digest.`);
  }
  const tokens = obj(json, 'tokens', '');
  for (const id of tokenIds(json)) {
    const t = obj(tokens, String(id), 'tokens.');
    str(t, 'type', `token ${id}: `);
    const kk = t['keyslots'];
    if (!Array.isArray(kk) || !kk.every((x) => typeof x === 'string')) throw badHeader(`LUKS2 metadata: token ${id} keyslots is not an array of ids.`);
  }
}

// ---- reading and writing both copies ------------------------------------------------------

/**
 * LUKS2_disk_hdr_read: reads the primary header and the secondary at the offset the primary
 * names (or, when the primary is unusable, at each possible offset), and picks the valid copy
 * with the higher seqid. Throws the primary's error when neither copy is valid.
 */
export async function readLuks2(io: HeaderIO): Promise<Luks2Header> {
  const first = await io.read(0, LUKS2_BIN_SIZE);
  let primary: { bin: Luks2BinHeader; json: Json; order: KeyOrder } | undefined;
  let primaryErr: unknown;
  try {
    if (!magicAt(first, LUKS2_MAGIC_1)) throw new LuksError('ERR_LUKS_BAD_MAGIC', 'LUKS2 primary header: bad magic.');
    const size = Number(u64(first, 8));
    if (!LUKS2_HDR_SIZES.some((s) => s === size)) throw badHeader(`LUKS2 primary header: invalid header size ${size}.`);
    primary = parseBinaryHeader(await io.read(0, size), 0, 1);
    validateJson(primary.json, primary.bin.hdrSize);
  } catch (e) {
    primaryErr = e;
    primary = undefined;
  }
  let secondary: { bin: Luks2BinHeader; json: Json; order: KeyOrder } | undefined;
  const offsets = primary ? [primary.bin.hdrSize] : [...LUKS2_HDR_SIZES];
  for (const off of offsets) {
    try {
      const head = await io.read(off, LUKS2_BIN_SIZE);
      if (!magicAt(head, LUKS2_MAGIC_2)) continue;
      const size = Number(u64(head, 8));
      if (size !== off) continue;
      const s = parseBinaryHeader(await io.read(off, size), off, 2);
      validateJson(s.json, s.bin.hdrSize);
      secondary = s;
      break;
    } catch {
      // try the next offset
    }
  }
  if (!primary && !secondary) throw primaryErr instanceof Error ? primaryErr : badHeader('Device is not a valid LUKS device.');
  let use = primary ?? secondary!;
  if (primary && secondary && secondary.bin.seqid > primary.bin.seqid) use = secondary;
  const h: Luks2Header = { version: 2, bin: { ...use.bin, magic: 1 }, json: use.json, order: use.order, primaryValid: !!primary && primary.bin.seqid === use.bin.seqid, secondaryValid: !!secondary && secondary.bin.seqid === use.bin.seqid };
  return h;
}

/**
 * LUKS2_hdr_write: bumps seqid and writes the secondary copy, syncs, then the primary. A crash
 * between the two leaves one complete copy of either the old or the new metadata, and readLuks2
 * picks the newer valid one.
 */
export async function writeLuks2(io: HeaderIO, h: Luks2Header): Promise<void> {
  validateJson(h.json, h.bin.hdrSize);
  h.bin.seqid += 1n;
  await io.write(h.bin.hdrSize, serializeArea(h.bin, h.json, 2, h.bin.hdrSize, h.order));
  await io.sync();
  await io.write(0, serializeArea(h.bin, h.json, 1, 0, h.order));
  h.order = refreshOrder(h.json, h.order);
  await io.sync();
  h.primaryValid = true;
  h.secondaryValid = true;
}

// ---- keys ---------------------------------------------------------------------------------

function enc(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('base64');
}

/** The digest that covers segment 0 (the volume key's digest). */
function segmentDigest(json: Json): DigestInfo {
  const segs = segmentIds(json);
  for (const id of digestIds(json)) {
    const d = digestInfo(json, id);
    if (d.segments.includes(segs[0] ?? 0)) return d;
  }
  throw badHeader('LUKS2 metadata: no digest for the data segment.');
}

async function checkDigest(d: DigestInfo, key: Uint8Array): Promise<boolean> {
  if (d.type !== 'pbkdf2') throw new LuksError('ERR_LUKS_UNSUPPORTED', `Digest type ${d.type} is not supported.`);
  return bytesEqual(await pbkdf2(d.hash, key, d.salt, d.iterations, d.digest.length), d.digest);
}

export async function luks2VerifyKey(h: Luks2Header, key: Uint8Array): Promise<boolean> {
  return checkDigest(segmentDigest(h.json), key);
}

/** luks2_keyslot_open: the key a slot holds, or undefined when the passphrase does not fit it. */
export async function luks2OpenSlot(io: HeaderIO, h: Luks2Header, id: number, passphrase: Uint8Array): Promise<Uint8Array | undefined> {
  const k = keyslotInfo(h.json, id);
  if (k.type !== 'luks2') throw new LuksError('ERR_LUKS_UNSUPPORTED', `Keyslot ${id} type ${k.type} is not supported.`);
  const digest = digestIds(h.json).map((d) => digestInfo(h.json, d)).find((d) => d.keyslots.includes(id));
  if (!digest) return undefined;
  const derived = await deriveKey(k.kdf, passphrase, k.areaKeySize);
  const material = await io.read(k.areaOffset, afSplitSize(k.keySize, k.afStripes));
  try {
    await cryptArea('decrypt', k.areaEncryption, derived, material);
    const key = afMerge(material, k.keySize, k.afStripes, k.afHash);
    if (await checkDigest(digest, key)) return key;
    key.fill(0);
    return undefined;
  } finally {
    derived.fill(0);
    material.fill(0);
  }
}

/** Refuses volumes with mandatory requirements we cannot honour (LUKS2_unmet_requirements). */
export function checkRequirements(h: Luks2Header, op: string): void {
  const req = configInfo(h.json).requirements;
  if (req.length === 0) return;
  const reenc = req.find((r) => r.startsWith('online-reencrypt') || r === 'offline-reencrypt');
  if (reenc) throw new LuksError('ERR_LUKS_REQUIREMENTS', `Cannot ${op}: the device is in reencryption (requirement ${reenc}); finish or recover it with cryptsetup reencrypt first.`);
  throw new LuksError('ERR_LUKS_REQUIREMENTS', `Cannot ${op}: the device has unmet requirements (${req.join(', ')}), unsupported by this version.`);
}

/** Tries the slot given, or every slot by priority (prefer, then normal; ignored only by id). */
export async function luks2Unlock(io: HeaderIO, h: Luks2Header, passphrase: Uint8Array, slot?: number): Promise<{ key: Uint8Array; slot: number }> {
  checkRequirements(h, 'unlock the device');
  const ids = keyslotIds(h.json);
  let order: number[];
  if (slot !== undefined) {
    if (!ids.includes(slot)) throw new LuksError('ERR_LUKS_SLOT', 'No usable keyslot is available.', 1);
    order = [slot];
  } else {
    const infos = ids.flatMap((id) => {
      try {
        return [keyslotInfo(h.json, id)];
      } catch {
        return []; // unusable (unknown KDF, bad salt): skipped, as cryptsetup skips it
      }
    });
    order = [...infos.filter((k) => k.priority === 2), ...infos.filter((k) => k.priority === 1)].map((k) => k.id);
  }
  for (const id of order) {
    let key: Uint8Array | undefined;
    try {
      key = await luks2OpenSlot(io, h, id, passphrase);
    } catch (e) {
      if (slot !== undefined || !(e instanceof LuksError)) throw e;
    }
    if (key) return { key, slot: id };
  }
  throw noKey();
}

export interface Luks2KdfOptions {
  type: 'pbkdf2' | 'argon2i' | 'argon2id';
  hash: string;
  iterations?: number | undefined;
  time?: number | undefined;
  memory?: number | undefined;
  cpus?: number | undefined;
}

function newKdfJson(o: Luks2KdfOptions): Json {
  const salt = enc(randomBytes(32));
  if (o.type === 'pbkdf2') return { type: 'pbkdf2', hash: o.hash, iterations: o.iterations ?? 1000, salt };
  return { type: o.type, time: o.time ?? 4, memory: o.memory ?? 1048576, cpus: o.cpus ?? 4, salt };
}

/** Free keyslot area of `size` bytes: the lowest 4096-aligned gap in the keyslots area. */
function findArea(h: Luks2Header, size: number): number {
  const cfg = configInfo(h.json);
  const start = 2 * h.bin.hdrSize;
  const end = start + cfg.keyslotsSize;
  const used = keyslotIds(h.json)
    .map((id) => keyslotInfo(h.json, id))
    .map((k) => [k.areaOffset, k.areaOffset + k.areaSize] as const)
    .sort((a, b) => a[0] - b[0]);
  let off = start;
  for (const [a, b] of used) {
    if (off + size <= a) break;
    off = Math.max(off, Math.ceil(b / 4096) * 4096);
  }
  if (off + size > end) throw new LuksError('ERR_LUKS_SLOT', 'No space for new keyslot.');
  return off;
}

/**
 * Adds keyslot `slot` holding `volumeKey` under `passphrase`: the key material is written into
 * a free area and synced before the metadata that refers to it (writeLuks2), so an interrupted
 * add leaves the old metadata, which never referred to that area.
 */
export async function luks2AddKeyslot(io: HeaderIO, h: Luks2Header, slot: number, volumeKey: Uint8Array, passphrase: Uint8Array, kdfOpts: Luks2KdfOptions, replace = false): Promise<void> {
  checkRequirements(h, 'add a keyslot');
  if (slot < 0 || slot >= LUKS2_KEYSLOTS_MAX) throw new LuksError('ERR_LUKS_SLOT', `Key slot ${slot} is invalid.`);
  const exists = keyslotIds(h.json).includes(slot);
  if (exists && !replace) throw new LuksError('ERR_LUKS_SLOT', `Key slot ${slot} is full, please select another one.`);
  if (!exists && replace) throw new LuksError('ERR_LUKS_SLOT', `Keyslot ${slot} is not active.`);
  const old = replace ? keyslotInfo(h.json, slot) : undefined;
  const segs = segmentIds(h.json);
  const seg = segmentInfo(h.json, segs[0] ?? 0);
  const digest = segmentDigest(h.json);
  // The area cipher is the segment's (cryptsetup uses the same spec and key size).
  const areaEnc = seg.encryption;
  const areaKeySize = volumeKey.length;
  const size = Math.ceil(afSplitSize(volumeKey.length, STRIPES) / 4096) * 4096;
  const offset = findArea(h, size);
  const kdf = newKdfJson(kdfOpts);
  const ks: Json = {
    type: 'luks2',
    key_size: volumeKey.length,
    af: { type: 'luks1', stripes: STRIPES, hash: kdfOpts.hash },
    area: { type: 'raw', offset: String(offset), size: String(size), encryption: areaEnc, key_size: areaKeySize },
    kdf,
  };
  const info = keyslotInfoFrom(ks, slot);
  const derived = await deriveKey(info.kdf, passphrase, areaKeySize);
  const material = new Uint8Array(size);
  material.set(afSplit(volumeKey, STRIPES, kdfOpts.hash));
  try {
    await cryptArea('encrypt', areaEnc, derived, material.subarray(0, afSplitSize(volumeKey.length, STRIPES)));
    await io.write(offset, material);
    await io.sync();
  } finally {
    derived.fill(0);
  }
  (h.json['keyslots'] as Json)[String(slot)] = ks;
  if (old) {
    // luksChangeKey: the slot keeps its id and moves to the new area in one metadata write;
    // then the old area is wiped.
    await writeLuks2(io, h);
    await io.write(old.areaOffset, randomBytes(old.areaSize));
    await io.sync();
    return;
  }
  const dj = (h.json['digests'] as Json)[String(digest.id)] as Json;
  const list = dj['keyslots'] as string[];
  // Appended, as cryptsetup does (json-c arrays keep insertion order).
  list.push(String(slot));
  await writeLuks2(io, h);
}

function keyslotInfoFrom(ks: Json, id: number): KeyslotInfo {
  return keyslotInfo({ keyslots: { [String(id)]: ks } }, id);
}

/** Removes a keyslot from the metadata (written first), then wipes its area. */
export async function luks2KillSlot(io: HeaderIO, h: Luks2Header, slot: number): Promise<void> {
  checkRequirements(h, 'remove a keyslot');
  if (!keyslotIds(h.json).includes(slot)) throw new LuksError('ERR_LUKS_SLOT', `Keyslot ${slot} is not active.`);
  const k = keyslotInfo(h.json, slot);
  delete (h.json['keyslots'] as Json)[String(slot)];
  for (const id of digestIds(h.json)) {
    const dj = (h.json['digests'] as Json)[String(id)] as Json;
    dj['keyslots'] = (dj['keyslots'] as string[]).filter((x) => x !== String(slot));
  }
  for (const id of tokenIds(h.json)) {
    const tj = (h.json['tokens'] as Json)[String(id)] as Json;
    tj['keyslots'] = (tj['keyslots'] as string[]).filter((x) => x !== String(slot));
  }
  await writeLuks2(io, h);
  await io.write(k.areaOffset, randomBytes(k.areaSize));
  await io.sync();
}

export interface Luks2FormatOptions {
  cipher: string;
  keySize: number;
  hash: string;
  sectorSize: number;
  /** Data offset in bytes; 0 for a detached header with the data at the device start. */
  dataOffset?: number | undefined;
  hdrSize?: number | undefined;
  keyslotsSize?: number | undefined;
  label?: string | undefined;
  subsystem?: string | undefined;
  uuid?: string | undefined;
  digestIterations: number;
  flags?: string[] | undefined;
}

/** A header with a segment and its digest and no keyslots yet (LUKS2_generate_hdr). */
export async function luks2NewHeader(volumeKey: Uint8Array, o: Luks2FormatOptions): Promise<Luks2Header> {
  if (o.uuid !== undefined && !uuidValid(o.uuid)) throw new LuksError('ERR_LUKS_ARGUMENT', 'Wrong LUKS UUID format provided.');
  if (![512, 1024, 2048, 4096].includes(o.sectorSize)) throw new LuksError('ERR_LUKS_ARGUMENT', `Unsupported encryption sector size.`);
  const hdrSize = o.hdrSize ?? 16384;
  const keyslotsSize = o.keyslotsSize ?? 16777216 - 2 * hdrSize;
  const dataOffset = o.dataOffset ?? 2 * hdrSize + keyslotsSize;
  const salt = randomBytes(32);
  const digest = await pbkdf2(o.hash, volumeKey, salt, o.digestIterations, createHash(nodeHashName(o.hash)).digest().length);
  const config: Json = { json_size: String(hdrSize - LUKS2_BIN_SIZE), keyslots_size: String(keyslotsSize) };
  if (o.flags && o.flags.length > 0) config['flags'] = o.flags;
  const json: Json = {
    keyslots: {},
    tokens: {},
    segments: { '0': { type: 'crypt', offset: String(dataOffset), size: 'dynamic', iv_tweak: '0', encryption: o.cipher, sector_size: o.sectorSize } },
    digests: { '0': { type: 'pbkdf2', keyslots: [], segments: ['0'], hash: o.hash, iterations: o.digestIterations, salt: enc(salt), digest: enc(digest) } },
    config,
  };
  return {
    version: 2,
    bin: { magic: 1, hdrSize, seqid: 0n, label: o.label ?? '', checksumAlg: 'sha256', salt: randomBytes(64), uuid: o.uuid ?? newUuid(), subsystem: o.subsystem ?? '', hdrOffset: 0 },
    json,
    order: new Map(),
    primaryValid: false,
    secondaryValid: false,
  };
}

// ---- luksDump ----------------------------------------------------------------------------

const PRIORITY = ['ignored', 'normal', 'prefer'];

/** `cryptsetup luksDump` for LUKS2 (LUKS2_hdr_dump). */
export function luks2Dump(h: Luks2Header): string {
  const j = h.json;
  const cfg = configInfo(j);
  let s = 'LUKS header information\n';
  s += 'Version:       \t2\n';
  s += `Epoch:         \t${h.bin.seqid}\n`;
  s += `Metadata area: \t${h.bin.hdrSize} [bytes]\n`;
  s += `Keyslots area: \t${cfg.keyslotsSize} [bytes]\n`;
  s += `UUID:          \t${h.bin.uuid}\n`;
  s += `Label:         \t${h.bin.label || '(no label)'}\n`;
  s += `Subsystem:     \t${h.bin.subsystem || '(no subsystem)'}\n`;
  s += 'Flags:       \t';
  for (const f of cfg.flags) s += `${f} `;
  s += `${cfg.flags.length > 0 ? '' : '(no flags)'}\n${cfg.requirements.length > 0 ? '' : '\n'}`;
  if (cfg.requirements.length > 0) {
    s += 'Requirements:\t';
    for (const r of cfg.requirements) s += `${r} `;
    s += '\n\n';
  }
  s += 'Data segments:\n';
  for (const id of segmentIds(j)) {
    const g = segmentInfo(j, id);
    s += `  ${id}: ${g.type}\n`;
    s += `\toffset: ${g.offset} [bytes]\n`;
    s += `\tlength: ${g.size === 'dynamic' ? '(whole device)' : `${g.size} [bytes]`}\n`;
    if (g.type === 'crypt') {
      s += `\tcipher: ${g.encryption}\n`;
      s += `\tsector: ${g.sectorSize} [bytes]\n`;
    }
    if (g.flags.length > 0) s += `\tflags : ${g.flags.map((f) => `${f} `).join('')}\n`;
    s += '\n';
  }
  s += 'Keyslots:\n';
  const digests = digestIds(j).map((id) => digestInfo(j, id));
  for (const id of keyslotIds(j)) {
    let k: KeyslotInfo;
    try {
      k = keyslotInfo(j, id);
    } catch {
      s += `  ${id}: ${String(((j['keyslots'] as Json)[String(id)] as Json)['type'])} (unusable: ${'invalid keyslot parameters'})\n`;
      continue;
    }
    s += `  ${id}: ${k.type}\n`;
    s += `\tKey:        ${k.keySize * 8} bits\n`;
    s += `\tPriority:   ${PRIORITY[k.priority] ?? 'invalid'}\n`;
    s += `\tCipher:     ${k.areaEncryption}\n`;
    s += `\tCipher key: ${k.areaKeySize * 8} bits\n`;
    s += `\tPBKDF:      ${k.kdf.type}\n`;
    if (k.kdf.type === 'pbkdf2') {
      s += `\tHash:       ${k.kdf.hash}\n`;
      s += `\tIterations: ${k.kdf.iterations}\n`;
    } else {
      s += `\tTime cost:  ${k.kdf.time}\n`;
      s += `\tMemory:     ${k.kdf.memory}\n`;
      s += `\tThreads:    ${k.kdf.cpus}\n`;
    }
    s += `\tSalt:       ${hexDump(k.kdf.salt, 16, '\t            ')}\n`;
    s += `\tAF stripes: ${k.afStripes}\n`;
    s += `\tAF hash:    ${k.afHash}\n`;
    s += `\tArea offset:${k.areaOffset} [bytes]\n`;
    s += `\tArea length:${k.areaSize} [bytes]\n`;
    const d = digests.find((x) => x.keyslots.includes(id));
    if (d) s += `\tDigest ID:  ${d.id}\n`;
  }
  s += 'Tokens:\n';
  const tokens = j['tokens'] as Json;
  for (const id of tokenIds(j)) {
    const t = tokens[String(id)] as Json;
    s += `  ${id}: ${String(t['type'])}\n`;
    for (const k of t['keyslots'] as string[]) s += `\tKeyslot:    ${k}\n`;
  }
  s += 'Digests:\n';
  for (const d of digests) {
    s += `  ${d.id}: ${d.type}\n`;
    s += `\tHash:       ${d.hash}\n`;
    s += `\tIterations: ${d.iterations}\n`;
    s += `\tSalt:       ${hexDump(d.salt, 16, '\t            ')}\n`;
    s += `\tDigest:     ${hexDump(d.digest, 16, '\t            ')}\n`;
  }
  return s;
}

/** `--dump-json-metadata`: the JSON as cryptsetup prints it (json-c pretty, 2-space indent, no space after ':'). */
export function luks2JsonText(h: Luks2Header): string {
  return prettyOrdered(h.json, h.order);
}

export { STRIPES as LUKS2_STRIPES };
