// Extracts the Adiantum-related templates from the Linux kernel's crypto/testmgr.h into the JSON
// files beside this script (see PROVENANCE.md). Not part of the build or the tests; rerun by hand:
//
//   node test/vectors/adiantum/extract-testmgr.js path/to/linux/crypto/testmgr.h "linux 6.1.192 (Debian linux-source-6.1 6.1.192-2)"
//
// A small C-literal reader: it understands `static const struct X name[] = { {...}, ... };` with
// designated initialisers whose values are concatenated string literals (\xHH, \ooo and the simple
// escapes) or integer literals. Comments are skipped.
import { Buffer } from 'node:buffer';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const TEMPLATES = {
  'poly1305.json': 'poly1305_tv_template',
  'nhpoly1305.json': 'nhpoly1305_tv_template',
  'chacha20.json': 'chacha20_tv_template',
  'xchacha20.json': 'xchacha20_tv_template',
  'xchacha12.json': 'xchacha12_tv_template',
  'adiantum-xchacha12-aes.json': 'adiantum_xchacha12_aes_tv_template',
  'adiantum-xchacha20-aes.json': 'adiantum_xchacha20_aes_tv_template',
};

const [, , headerPath, sourceLabel] = process.argv;
if (!headerPath || !sourceLabel) {
  console.error('usage: node extract-testmgr.js <testmgr.h> <source label>');
  process.exit(2);
}
const src = readFileSync(headerPath, 'latin1');
const outDir = dirname(fileURLToPath(import.meta.url));

/** Tokenises C source from `pos`: strings, numbers, identifiers, punctuation; skips comments. */
function* tokens(text, pos) {
  const n = text.length;
  while (pos < n) {
    const c = text[pos];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') { pos++; continue; }
    if (text.startsWith('/*', pos)) { pos = text.indexOf('*/', pos + 2) + 2; continue; }
    if (text.startsWith('//', pos)) { pos = text.indexOf('\n', pos); continue; }
    if (c === '"') {
      const bytes = [];
      pos++;
      while (text[pos] !== '"') {
        let ch = text[pos];
        if (ch === '\\') {
          const e = text[pos + 1];
          if (e === 'x') {
            const m = /^[0-9a-fA-F]+/.exec(text.slice(pos + 2, pos + 4));
            bytes.push(parseInt(m[0], 16));
            pos += 2 + m[0].length;
            continue;
          }
          if (e >= '0' && e <= '7') {
            const m = /^[0-7]{1,3}/.exec(text.slice(pos + 1, pos + 4));
            bytes.push(parseInt(m[0], 8));
            pos += 1 + m[0].length;
            continue;
          }
          const simple = { n: 10, t: 9, r: 13, '\\': 92, '"': 34, "'": 39, '?': 63, a: 7, b: 8, f: 12, v: 11 };
          if (!(e in simple)) throw new Error(`unknown escape \\${e} at ${pos}`);
          bytes.push(simple[e]);
          pos += 2;
          continue;
        }
        bytes.push(ch.charCodeAt(0));
        pos++;
      }
      pos++;
      yield { kind: 'str', bytes, pos };
      continue;
    }
    const num = /^(0x[0-9a-fA-F]+|[0-9]+)[uUlL]*/.exec(text.slice(pos, pos + 24));
    if (num) { pos += num[0].length; yield { kind: 'num', value: Number(num[1]), pos }; continue; }
    const id = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(pos, pos + 64));
    if (id) { pos += id[0].length; yield { kind: 'id', value: id[0], pos }; continue; }
    pos++;
    yield { kind: 'punct', value: c, pos };
  }
}

function extract(name) {
  const head = new RegExp(`static const struct (\\w+) ${name}\\[\\] = \\{`).exec(src);
  if (!head) throw new Error(`${name} not found`);
  const struct = head[1];
  const line = src.slice(0, head.index).split('\n').length;
  const it = tokens(src, head.index + head[0].length);
  const entries = [];
  let entry = null;
  let field = null;
  let depth = 1;
  for (const t of it) {
    if (t.kind === 'punct' && t.value === '{') {
      depth++;
      if (depth === 2) entry = {};
      continue;
    }
    if (t.kind === 'punct' && t.value === '}') {
      depth--;
      if (depth === 1) { entries.push(entry); entry = null; }
      if (depth === 0) break;
      continue;
    }
    if (depth !== 2) continue;
    if (t.kind === 'punct' && t.value === '.') { field = 'pending'; continue; }
    if (field === 'pending' && t.kind === 'id') { field = t.value; continue; }
    if (t.kind === 'punct' && (t.value === '=' || t.value === ',')) continue;
    if (field && field !== 'pending') {
      if (t.kind === 'str') entry[field] = [...(entry[field] ?? []), ...t.bytes];
      else if (t.kind === 'num') entry[field] = t.value;
      else if (t.kind === 'id' && (t.value === 'true' || t.value === 'false')) entry[field] = t.value === 'true';
      else throw new Error(`${name}: unexpected token ${JSON.stringify(t)}`);
    }
  }
  const hex = (b) => Buffer.from(b).toString('hex');
  const vectors = entries.map((e, i) => {
    const v = {};
    for (const [k, val] of Object.entries(e)) v[k] = Array.isArray(val) ? hex(val) : val;
    // Lengths the kernel uses: cipher .len, hash .psize/.ksize (a literal may be longer than used).
    if (struct === 'cipher_testvec') {
      for (const k of ['ptext', 'ctext']) if (v[k] !== undefined) v[k] = v[k].slice(0, 2 * e.len);
      if (e.klen !== undefined) v.key = v.key.slice(0, 2 * e.klen);
      if (v.ptext.length !== 2 * e.len || v.ctext.length !== 2 * e.len) throw new Error(`${name}[${i}]: short text`);
    } else {
      v.plaintext = (v.plaintext ?? '').slice(0, 2 * (e.psize ?? 0));
      if (e.ksize !== undefined) v.key = v.key.slice(0, 2 * e.ksize);
      if (v.plaintext.length !== 2 * (e.psize ?? 0)) throw new Error(`${name}[${i}]: short plaintext`);
    }
    return v;
  });
  return { struct, line, vectors };
}

for (const [file, name] of Object.entries(TEMPLATES)) {
  const { struct, line, vectors } = extract(name);
  const doc = { source: sourceLabel, file: 'crypto/testmgr.h', template: name, line, struct, count: vectors.length, vectors };
  writeFileSync(join(outDir, file), JSON.stringify(doc, null, 1) + '\n');
  console.log(`${file}: ${name} (line ${line}) ${vectors.length} vectors`);
}
