// `--verify=crc32c`, as fio's verify.c does it: every written block starts with a header
// (struct verify_header: magic 0xacca, verify type, length, seed, offset, time, thread,
// numberio, a crc32c of the header) and a crc32c of the rest of the block; the data after the
// header is pseudo-random from the block's seed. After the write phase the blocks are read back
// and checked; a read job with verify checks what an earlier verify write left.
//
//   0      2      4        8          16        24          32        36        40  ...  len
//   | magic| type | len    | rand_seed | offset  | numberio  | hdr crc | data crc | random data |

const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256 * 8);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  for (let i = 0; i < 256; i++) {
    for (let s = 1; s < 8; s++) t[s * 256 + i] = (t[(s - 1) * 256 + i]! >>> 8) ^ t[t[(s - 1) * 256 + i]! & 0xff]!;
  }
  return t;
})();

/** CRC-32C (Castagnoli), slicing by 8; `crc32c(Buffer.from('123456789')) === 0xe3069283`. */
export function crc32c(data: Uint8Array, start = 0, end = data.length, seed = 0): number {
  const t = CRC32C_TABLE;
  let c = ~seed >>> 0;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    c ^= data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    c =
      t[7 * 256 + (c & 0xff)]! ^
      t[6 * 256 + ((c >>> 8) & 0xff)]! ^
      t[5 * 256 + ((c >>> 16) & 0xff)]! ^
      t[4 * 256 + (c >>> 24)]! ^
      t[3 * 256 + data[i + 4]!]! ^
      t[2 * 256 + data[i + 5]!]! ^
      t[256 + data[i + 6]!]! ^
      t[data[i + 7]!]!;
  }
  for (; i < end; i++) c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

export const VERIFY_MAGIC = 0xacca;
/** fio's VERIFY_CRC32C. */
export const VERIFY_TYPE_CRC32C = 4;
export const VERIFY_HEADER_SIZE = 40;

/** xorshift32 fill from a seed: the block's "random" payload. */
function fillRandom(buf: Uint8Array, start: number, seed: number): void {
  let x = seed >>> 0 || 0x9e3779b9;
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let i = start;
  for (; i + 4 <= buf.length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    v.setUint32(i, x >>> 0, true);
  }
  for (; i < buf.length; i++) buf[i] = i & 0xff;
}

/** Fills `buf` as the block written at `offset` the `numberio`-th time. */
export function fillVerifyBlock(buf: Uint8Array, offset: number, numberio: number, jobSeed: number): void {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const seed = (Math.imul(offset / 512, 0x9e3779b1) ^ Math.imul(numberio + 1, 0x85ebca6b) ^ jobSeed) >>> 0;
  v.setUint16(0, VERIFY_MAGIC, true);
  v.setUint16(2, VERIFY_TYPE_CRC32C, true);
  v.setUint32(4, buf.length, true);
  v.setBigUint64(8, BigInt(seed), true);
  v.setBigUint64(16, BigInt(offset), true);
  v.setBigUint64(24, BigInt(numberio), true);
  v.setUint32(32, crc32c(buf, 0, 32), true);
  fillRandom(buf, VERIFY_HEADER_SIZE, seed);
  v.setUint32(36, crc32c(buf, VERIFY_HEADER_SIZE), true);
}

/** A verify failure; fio reports it as err=84 (EILSEQ). */
export class VerifyError extends Error {
  readonly errno = 84;
  constructor(message: string) {
    super(message);
    this.name = 'VerifyError';
  }
}

/**
 * Checks a block read at `offset`; throws with fio's wording (verify_io_u_crc32c / verify_header):
 * `verify: bad magic header 0, wanted acca at file F offset N, length L`.
 */
export function checkVerifyBlock(buf: Uint8Array, offset: number, file: string): void {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const fail = (msg: string): never => {
    throw new VerifyError(msg);
  };
  const magic = v.getUint16(0, true);
  if (magic !== VERIFY_MAGIC) fail(`verify: bad magic header ${magic.toString(16)}, wanted acca at file ${file} offset ${offset}, length ${buf.length} (requested block: offset=${offset}, length=${buf.length})`);
  const len = v.getUint32(4, true);
  if (len !== buf.length) fail(`verify: bad header length ${len}, wanted ${buf.length} at file ${file} offset ${offset}, length ${buf.length}`);
  const hoff = Number(v.getBigUint64(16, true));
  if (hoff !== offset) fail(`verify: bad header offset ${hoff}, wanted ${offset} at file ${file} offset ${offset}, length ${buf.length}`);
  const hcrc = v.getUint32(32, true);
  if (crc32c(buf, 0, 32) !== hcrc) fail(`verify: bad header crc ${hcrc.toString(16)}, calculated ${crc32c(buf, 0, 32).toString(16)} at file ${file} offset ${offset}, length ${buf.length}`);
  const want = v.getUint32(36, true);
  const got = crc32c(buf, VERIFY_HEADER_SIZE);
  if (want !== got) fail(`crc32c: verify failed at file ${file} offset ${offset}, length ${buf.length} (requested block: offset=${offset}, length=${buf.length}, flags=0)\n       Expected CRC: ${want.toString(16)}\n       Received CRC: ${got.toString(16)}`);
}
