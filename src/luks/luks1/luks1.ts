// LUKS1 (the LUKS On-Disk Format Specification 1.2.3; cryptsetup lib/luks1/keymanager.c).
//
//   0     phdr (592 bytes, big-endian)                          sector 8 * k ...
//   | magic | version | cipher-name | cipher-mode | hash-spec | payload-offset | key-bytes |
//   | mk-digest[20] | mk-digest-salt[32] | mk-digest-iter | uuid[40] | keyslot[8] x 48 bytes |
//   keyslot: | active | iterations | salt[32] | key-material-offset | stripes |
//   then each slot's AF-split key material, then the payload at payload-offset (sectors).

import { LuksError, badHeader, noKey } from '../errors.js';
import type { HeaderIO } from '../io.js';
import { afMerge, afSplit, afSplitSize } from '../af.js';
import { nodeHashName, pbkdf2, pbkdf2IterationsFor, PBKDF2_MIN_ITERATIONS } from '../pbkdf.js';
import { cryptArea } from '../storage.js';
import { bytesEqual, hexDump, newUuid, randomBytes, readCString, uuidValid, writeCString } from '../util.js';

export const LUKS_MAGIC = [0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe] as const;
export const LUKS1_HDR_SIZE = 592;
export const LUKS1_NUMKEYS = 8;
export const KEY_ENABLED = 0x00ac71f3;
export const KEY_DISABLED = 0x0000dead;
const DIGEST_SIZE = 20;
const SALT_SIZE = 32;
const STRIPES = 4000;
/** LUKS_ALIGN_KEYSLOTS: key material starts on 4096-byte boundaries. */
const ALIGN_KEYSLOTS = 4096;
/** LUKS_MKD_ITERATIONS_MS: the master-key digest gets 1/16 of the default 2 s. */
const MKD_ITERATIONS_MS = 125;

export interface Luks1Slot {
  active: boolean;
  iterations: number;
  salt: Uint8Array;
  keyMaterialOffset: number;
  stripes: number;
  /** The raw `active` word (anything but the two magic values is a damaged header). */
  activeWord: number;
}

export interface Luks1Header {
  version: 1;
  cipherName: string;
  cipherMode: string;
  hashSpec: string;
  payloadOffset: number;
  keyBytes: number;
  mkDigest: Uint8Array;
  mkDigestSalt: Uint8Array;
  mkDigestIterations: number;
  uuid: string;
  slots: Luks1Slot[];
}

function u32(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

function put32(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 24;
  b[off + 1] = v >>> 16;
  b[off + 2] = v >>> 8;
  b[off + 3] = v;
}

export function hasLuksMagic(b: Uint8Array): boolean {
  return LUKS_MAGIC.every((m, i) => b[i] === m);
}

/** Parses and validates a LUKS1 header (LUKS_read_phdr + LUKS_check_keyslots). */
export function parseLuks1(b: Uint8Array, deviceSize?: number): Luks1Header {
  if (b.length < LUKS1_HDR_SIZE || !hasLuksMagic(b)) throw new LuksError('ERR_LUKS_BAD_MAGIC', 'Device is not a valid LUKS device.');
  const version = (b[6]! << 8) | b[7]!;
  if (version !== 1) throw new LuksError('ERR_LUKS_BAD_VERSION', `Unsupported LUKS version ${version}.`);
  const h: Luks1Header = {
    version: 1,
    cipherName: readCString(b, 8, 32),
    cipherMode: readCString(b, 40, 32),
    hashSpec: readCString(b, 72, 32),
    payloadOffset: u32(b, 104),
    keyBytes: u32(b, 108),
    mkDigest: b.slice(112, 132),
    mkDigestSalt: b.slice(132, 164),
    mkDigestIterations: u32(b, 164),
    uuid: readCString(b, 168, 40),
    slots: [],
  };
  for (let i = 0; i < LUKS1_NUMKEYS; i++) {
    const o = 208 + i * 48;
    const activeWord = u32(b, o);
    h.slots.push({ activeWord, active: activeWord === KEY_ENABLED, iterations: u32(b, o + 4), salt: b.slice(o + 8, o + 40), keyMaterialOffset: u32(b, o + 40), stripes: u32(b, o + 44) });
  }
  validateLuks1(h, deviceSize);
  return h;
}

function validateLuks1(h: Luks1Header, deviceSize?: number): void {
  if (h.keyBytes === 0 || h.keyBytes > 512) throw badHeader(`LUKS header: invalid key size ${h.keyBytes} bytes.`);
  if (h.cipherName === '' || h.cipherMode === '') throw badHeader('LUKS header: empty cipher name or mode.');
  try {
    nodeHashName(h.hashSpec);
  } catch {
    throw badHeader(`Requested LUKS hash ${h.hashSpec} is not supported.`);
  }
  if (h.mkDigestIterations === 0) throw badHeader('LUKS header: invalid master key digest iteration count 0.');
  const slotSectors = afSplitSize(h.keyBytes, STRIPES) / 512;
  const areas: [number, number, number][] = [];
  for (let i = 0; i < LUKS1_NUMKEYS; i++) {
    const s = h.slots[i]!;
    if (s.activeWord !== KEY_ENABLED && s.activeWord !== KEY_DISABLED) throw badHeader(`LUKS keyslot ${i} is invalid (state word ${s.activeWord.toString(16)}).`);
    if (s.stripes !== STRIPES) throw badHeader(`LUKS keyslot ${i} is invalid (${s.stripes} AF stripes, expected ${STRIPES}).`);
    // The key material must sit after the header and, if there is a payload, before it.
    if (s.keyMaterialOffset * 512 < LUKS1_HDR_SIZE) throw badHeader(`LUKS keyslot ${i} is invalid (key material offset ${s.keyMaterialOffset} overlaps the header).`);
    if (h.payloadOffset !== 0 && s.keyMaterialOffset + slotSectors > h.payloadOffset) throw badHeader(`LUKS keyslot ${i} is invalid (key material at ${s.keyMaterialOffset} overlaps the payload at ${h.payloadOffset}).`);
    if (s.active && s.iterations === 0) throw badHeader(`LUKS keyslot ${i} is invalid (0 iterations).`);
    areas.push([s.keyMaterialOffset, s.keyMaterialOffset + slotSectors, i]);
  }
  areas.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < areas.length; i++) {
    if (areas[i]![0] < areas[i - 1]![1]) throw badHeader(`LUKS keyslots ${areas[i - 1]![2]} and ${areas[i]![2]} are overlapping.`);
  }
  if (deviceSize !== undefined && h.payloadOffset * 512 > deviceSize) throw badHeader(`LUKS header: payload offset ${h.payloadOffset} is beyond the device end.`);
}

export function serializeLuks1(h: Luks1Header): Uint8Array {
  const b = new Uint8Array(LUKS1_HDR_SIZE);
  b.set(LUKS_MAGIC, 0);
  b[7] = 1;
  writeCString(b, 8, 32, h.cipherName, 'cipher name');
  writeCString(b, 40, 32, h.cipherMode, 'cipher mode');
  writeCString(b, 72, 32, h.hashSpec, 'hash spec');
  put32(b, 104, h.payloadOffset);
  put32(b, 108, h.keyBytes);
  b.set(h.mkDigest, 112);
  b.set(h.mkDigestSalt, 132);
  put32(b, 164, h.mkDigestIterations);
  writeCString(b, 168, 40, h.uuid, 'UUID');
  for (let i = 0; i < LUKS1_NUMKEYS; i++) {
    const s = h.slots[i]!;
    const o = 208 + i * 48;
    put32(b, o, s.active ? KEY_ENABLED : KEY_DISABLED);
    put32(b, o + 4, s.iterations);
    b.set(s.salt, o + 8);
    put32(b, o + 40, s.keyMaterialOffset);
    put32(b, o + 44, s.stripes);
  }
  return b;
}

export function luks1CipherSpec(h: Luks1Header): string {
  return `${h.cipherName}-${h.cipherMode}`;
}

async function mkDigest(h: Luks1Header, key: Uint8Array): Promise<Uint8Array> {
  return pbkdf2(h.hashSpec, key, h.mkDigestSalt, h.mkDigestIterations, DIGEST_SIZE);
}

export async function luks1VerifyKey(h: Luks1Header, key: Uint8Array): Promise<boolean> {
  return key.length === h.keyBytes && bytesEqual(await mkDigest(h, key), h.mkDigest);
}

/** LUKS_open_key: the volume key from one slot, or undefined if the passphrase does not fit it. */
export async function luks1OpenSlot(io: HeaderIO, h: Luks1Header, slot: number, passphrase: Uint8Array): Promise<Uint8Array | undefined> {
  const s = h.slots[slot];
  if (!s?.active) return undefined;
  const derived = await pbkdf2(h.hashSpec, passphrase, s.salt, s.iterations, h.keyBytes);
  const size = afSplitSize(h.keyBytes, s.stripes);
  const material = await io.read(s.keyMaterialOffset * 512, size);
  try {
    await cryptArea('decrypt', luks1CipherSpec(h), derived, material);
    const key = afMerge(material, h.keyBytes, s.stripes, h.hashSpec);
    if (await luks1VerifyKey(h, key)) return key;
    key.fill(0);
    return undefined;
  } finally {
    derived.fill(0);
    material.fill(0);
  }
}

/** Tries the given slot, or every active one in order; throws cryptsetup's "No key available". */
export async function luks1Unlock(io: HeaderIO, h: Luks1Header, passphrase: Uint8Array, slot?: number): Promise<{ key: Uint8Array; slot: number }> {
  if (slot !== undefined && !h.slots[slot]?.active) throw new LuksError('ERR_LUKS_SLOT', 'No usable keyslot is available.', 1);
  const slots = slot === undefined ? [...h.slots.keys()] : [slot];
  for (const i of slots) {
    const key = await luks1OpenSlot(io, h, i, passphrase);
    if (key) return { key, slot: i };
  }
  throw noKey();
}

export interface Luks1FormatOptions {
  cipherName: string;
  cipherMode: string;
  hash: string;
  keyBytes: number;
  /** Payload offset in sectors; undefined: after the key material, aligned to 1 MiB. 0 with a detached header. */
  payloadOffset?: number | undefined;
  uuid?: string | undefined;
  mkDigestIterations?: number | undefined;
}

/** Key material offsets (sectors) for each slot and the minimal payload offset. */
export function luks1Layout(keyBytes: number): { offsets: number[]; end: number } {
  const slotSectors = Math.ceil(afSplitSize(keyBytes, STRIPES) / ALIGN_KEYSLOTS) * (ALIGN_KEYSLOTS / 512);
  const first = Math.ceil(LUKS1_HDR_SIZE / ALIGN_KEYSLOTS) * (ALIGN_KEYSLOTS / 512);
  const offsets = Array.from({ length: LUKS1_NUMKEYS }, (_, i) => first + i * slotSectors);
  return { offsets, end: first + LUKS1_NUMKEYS * slotSectors };
}

/** LUKS_generate_phdr: a header with no active slot for `volumeKey`. */
export async function luks1NewHeader(volumeKey: Uint8Array, o: Luks1FormatOptions): Promise<Luks1Header> {
  if (o.uuid !== undefined && !uuidValid(o.uuid)) throw new LuksError('ERR_LUKS_ARGUMENT', `Wrong LUKS UUID format provided.`);
  const { offsets, end } = luks1Layout(o.keyBytes);
  const payloadOffset = o.payloadOffset ?? Math.ceil(end / 2048) * 2048;
  if (payloadOffset !== 0 && payloadOffset < end) throw new LuksError('ERR_LUKS_ARGUMENT', `Payload offset ${payloadOffset} is inside the key material (ends at sector ${end}).`);
  const h: Luks1Header = {
    version: 1,
    cipherName: o.cipherName,
    cipherMode: o.cipherMode,
    hashSpec: o.hash,
    payloadOffset,
    keyBytes: o.keyBytes,
    mkDigest: new Uint8Array(DIGEST_SIZE),
    mkDigestSalt: randomBytes(SALT_SIZE),
    mkDigestIterations: o.mkDigestIterations ?? pbkdf2IterationsFor(o.hash, DIGEST_SIZE, MKD_ITERATIONS_MS),
    uuid: o.uuid ?? newUuid(),
    slots: offsets.map((off) => ({ active: false, activeWord: KEY_DISABLED, iterations: 0, salt: new Uint8Array(SALT_SIZE), keyMaterialOffset: off, stripes: STRIPES })),
  };
  h.mkDigest = await mkDigest(h, volumeKey);
  return h;
}

/**
 * LUKS_set_key: writes `volumeKey` protected by `passphrase` into `slot`. The key material goes
 * first (into an unused area), is synced, and only then the header that activates it.
 */
export async function luks1SetKey(io: HeaderIO, h: Luks1Header, slot: number, volumeKey: Uint8Array, passphrase: Uint8Array, iterations: number): Promise<void> {
  const s = h.slots[slot];
  if (!s) throw new LuksError('ERR_LUKS_SLOT', `Key slot ${slot} is invalid.`);
  if (s.active) throw new LuksError('ERR_LUKS_SLOT', `Key slot ${slot} is full, please select another one.`);
  const salt = randomBytes(SALT_SIZE);
  const derived = await pbkdf2(h.hashSpec, passphrase, salt, Math.max(iterations, PBKDF2_MIN_ITERATIONS), h.keyBytes);
  const material = new Uint8Array(afSplitSize(h.keyBytes, STRIPES));
  material.set(afSplit(volumeKey, STRIPES, h.hashSpec));
  try {
    await cryptArea('encrypt', luks1CipherSpec(h), derived, material);
    await io.write(s.keyMaterialOffset * 512, material);
    await io.sync();
  } finally {
    derived.fill(0);
  }
  const next: Luks1Header = { ...h, slots: h.slots.map((x, i) => (i === slot ? { active: true, activeWord: KEY_ENABLED, iterations: Math.max(iterations, PBKDF2_MIN_ITERATIONS), salt, keyMaterialOffset: s.keyMaterialOffset, stripes: STRIPES } : x)) };
  await io.write(0, serializeLuks1(next));
  await io.sync();
  Object.assign(h, next);
}

/** LUKS_del_key: disables the slot in the header first, then wipes its key material. */
export async function luks1KillSlot(io: HeaderIO, h: Luks1Header, slot: number): Promise<void> {
  const s = h.slots[slot];
  if (!s?.active) throw new LuksError('ERR_LUKS_SLOT', `Keyslot ${slot} is not active.`);
  const next: Luks1Header = { ...h, slots: h.slots.map((x, i) => (i === slot ? { ...x, active: false, activeWord: KEY_DISABLED, iterations: 0, salt: new Uint8Array(SALT_SIZE) } : x)) };
  await io.write(0, serializeLuks1(next));
  await io.sync();
  await io.write(s.keyMaterialOffset * 512, randomBytes(afSplitSize(h.keyBytes, s.stripes)));
  await io.sync();
  Object.assign(h, next);
}

/** LUKS_dump: `cryptsetup luksDump` for a LUKS1 header. */
export function luks1Dump(h: Luks1Header, deviceName: string): string {
  const lines = [
    `LUKS header information for ${deviceName}`,
    '',
    'Version:       \t1',
    `Cipher name:   \t${h.cipherName}`,
    `Cipher mode:   \t${h.cipherMode}`,
    `Hash spec:     \t${h.hashSpec}`,
    `Payload offset:\t${h.payloadOffset}`,
    `MK bits:       \t${h.keyBytes * 8}`,
    `MK digest:     \t${hexDump(h.mkDigest, 20, '')}`,
    `MK salt:       \t${hexDump(h.mkDigestSalt, 16, '               \t')}`,
    `MK iterations: \t${h.mkDigestIterations}`,
    `UUID:          \t${h.uuid}`,
    '',
  ];
  h.slots.forEach((s, i) => {
    if (!s.active) {
      lines.push(`Key Slot ${i}: DISABLED`);
      return;
    }
    lines.push(
      `Key Slot ${i}: ENABLED`,
      `\tIterations:         \t${s.iterations}`,
      `\tSalt:               \t${hexDump(s.salt, 16, '\t                      \t')}`,
      `\tKey material offset:\t${s.keyMaterialOffset}`,
      `\tAF stripes:            \t${s.stripes}`,
    );
  });
  return `${lines.join('\n')}\n`;
}
