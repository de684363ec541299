// Key order of JSON objects as written on disk. JavaScript objects list integer-like keys
// ("0", "3", "1") in numeric order, but json-c keeps insertion order, so cryptsetup writes and
// prints keyslot "3" before a later-added "1". We record the on-disk order per object path and
// emit keys in that order (new keys last, as json-c appends them).

export type KeyOrder = Map<string, string[]>;

/** Records the key order of every object in `text` (which JSON.parse accepted). */
export function keyOrder(text: string): KeyOrder {
  const order: KeyOrder = new Map();
  let i = 0;
  const ws = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const str = (): string => {
    const start = i;
    i++;
    while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (path: string): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const keys: string[] = [];
      order.set(path, keys);
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        const k = str();
        keys.push(k);
        ws();
        i++; // ':'
        value(`${path}/${k}`);
        ws();
        if (text[i++] === '}') return;
      }
    } else if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (let n = 0; ; n++) {
        value(`${path}/${n}`);
        ws();
        if (text[i++] === ']') return;
      }
    } else if (c === '"') {
      str();
    } else {
      while (i < text.length && !',}] \t\n\r'.includes(text[i]!)) i++;
    }
  };
  value('');
  return order;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function keysOf(v: Record<string, unknown>, path: string, order: KeyOrder): string[] {
  const known = order.get(path) ?? [];
  const present = Object.keys(v);
  return [...known.filter((k) => Object.hasOwn(v, k)), ...present.filter((k) => !known.includes(k))];
}

/** Compact JSON (json-c's plain form) with keys in the recorded order. */
export function stringifyOrdered(v: unknown, order: KeyOrder, path = ''): string {
  if (Array.isArray(v)) return `[${v.map((x, n) => stringifyOrdered(x, order, `${path}/${n}`)).join(',')}]`;
  if (isObj(v)) return `{${keysOf(v, path, order).map((k) => `${JSON.stringify(k)}:${stringifyOrdered(v[k], order, `${path}/${k}`)}`).join(',')}}`;
  return JSON.stringify(v);
}

/** json-c's pretty form as cryptsetup prints it (2-space indent, no space after ':'). */
export function prettyOrdered(v: unknown, order: KeyOrder, path = '', ind = ''): string {
  if (Array.isArray(v)) {
    if (v.length === 0) return `[\n${ind}]`;
    return `[\n${v.map((x, n) => `${ind}  ${prettyOrdered(x, order, `${path}/${n}`, `${ind}  `)}`).join(',\n')}\n${ind}]`;
  }
  if (isObj(v)) {
    const keys = keysOf(v, path, order);
    if (keys.length === 0) return `{\n${ind}}`;
    return `{\n${keys.map((k) => `${ind}  ${JSON.stringify(k)}:${prettyOrdered(v[k], order, `${path}/${k}`, `${ind}  `)}`).join(',\n')}\n${ind}}`;
  }
  return JSON.stringify(v);
}

/** After a write, the order of what was written becomes the recorded order. */
export function refreshOrder(v: unknown, order: KeyOrder): KeyOrder {
  return keyOrder(stringifyOrdered(v, order));
}
