// AES (FIPS-197) through OpenSSL's aes-{128,192,256}-ecb: AES-NI where the CPU has it, and
// constant time, which a table-driven JavaScript AES would not be. Key sizes as the kernel's
// aes_set_key: 16, 24 or 32 bytes.

import { nodeEcbAlgorithm, type NodeEcbAlgorithm } from './node-ecb.js';

export const AES_KEY_SIZES = [16, 24, 32] as const;

export const aes: NodeEcbAlgorithm = nodeEcbAlgorithm('aes', 'aes', AES_KEY_SIZES);
