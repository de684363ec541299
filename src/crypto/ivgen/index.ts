// IV generators by name, as crypt_ctr_ivmode chooses them (drivers/md/dm-crypt.c). Names are
// case-sensitive (strcmp); an unknown name is the kernel's "Invalid IV mode".

import { benbiIv } from './benbi.js';
import { eboivIv } from './eboiv.js';
import { elephantIv } from './elephant.js';
import { essivIv } from './essiv.js';
import { lmkIv } from './lmk.js';
import { nullIv } from './null.js';
import { plainIv } from './plain.js';
import { plain64Iv } from './plain64.js';
import { plain64beIv } from './plain64be.js';
import { randomIv } from './random.js';
import { tcwIv } from './tcw.js';
import type { IvMode } from './types.js';

const MODES: readonly IvMode[] = [plainIv, plain64Iv, plain64beIv, essivIv, benbiIv, nullIv, eboivIv, elephantIv, lmkIv, tcwIv, randomIv];
const BY_NAME = new Map(MODES.map((m) => [m.name, m]));

export function getIvMode(name: string): IvMode | undefined {
  return BY_NAME.get(name);
}

/** The accepted IV mode names, in the kernel's order. */
export function listIvModes(): string[] {
  return MODES.map((m) => m.name);
}

export type { Direction, IvGenerator, IvKeyLayout, IvMode, IvParams } from './types.js';
export { IvError } from './types.js';
export { essivTemplate } from './essiv.js';
export type { EssivLookup } from './essiv.js';
export { lookupHash, hashNames } from './hashes.js';
