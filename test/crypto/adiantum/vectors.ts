// Loads the JSON vectors under test/vectors/adiantum/ (see PROVENANCE.md there).
import { readFileSync } from 'node:fs';

export interface CipherVector {
  key: string;
  klen?: number;
  iv: string;
  ptext: string;
  ctext: string;
  len: number;
}

export interface HashVector {
  key?: string;
  ksize?: number;
  plaintext: string;
  psize: number;
  digest: string;
}

export interface TemplateFile<V> {
  source: string;
  template: string;
  count: number;
  vectors: V[];
}

export function loadVectors<T>(file: string): T {
  return JSON.parse(readFileSync(new URL(`../../../../test/vectors/adiantum/${file}`, import.meta.url), 'utf8')) as T;
}

export function hex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'hex'));
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}
