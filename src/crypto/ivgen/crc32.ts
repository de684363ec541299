// crc32_le (lib/crc32.c): the reflected IEEE 802.3 CRC, polynomial 0xedb88320, with the seed
// given by the caller and no pre- or post-inversion (callers such as the kernel's "crc32" shash
// and dm-crypt's tcw whitening use seed 0).

const TABLE = new Uint32Array(256);
for (let i = 0; i < 256; i++) {
  let c = i;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  TABLE[i] = c >>> 0;
}

export function crc32le(seed: number, data: Uint8Array, off: number, len: number): number {
  let crc = seed >>> 0;
  for (let i = off, end = off + len; i < end; i++) crc = TABLE[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return crc >>> 0;
}
