// The sorted write queue of dm-crypt (cc->write_tree, an rb-tree keyed by bio sector, drained by
// the dmcrypt_write thread).
//
// kcryptd_crypt_write_io_submit inserts each encrypted clone into the tree (equal sectors go to
// the right, so they keep their insertion order) and wakes the writer; dmcrypt_write takes the
// whole tree at once (write_tree = cc->write_tree; cc->write_tree = RB_ROOT) and submits it in
// ascending sector order under one blk_plug. The point is to give the lower device sequential
// writes even though kcryptd workers finish them out of order.
//
// Here the tree is a binary min-heap over (sector, insertion number): O(log n) insert, and the
// drain pops in exactly the tree's in-order sequence. Keys live in parallel arrays that grow
// once to the peak queue depth, so steady-state inserts allocate nothing.

export class SortedWriteQueue<T> {
  private items: (T | undefined)[] = [];
  private keys: number[] = [];
  private seqs: number[] = [];
  private n = 0;
  private seq = 0;

  get size(): number {
    return this.n;
  }

  /** rb-tree insert by sector (ties after existing entries). */
  insert(sector: number, item: T): void {
    let i = this.n++;
    const s = this.seq++;
    // Sift up.
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.less(sector, s, this.keys[p]!, this.seqs[p]!)) {
        this.items[i] = this.items[p];
        this.keys[i] = this.keys[p]!;
        this.seqs[i] = this.seqs[p]!;
        i = p;
      } else break;
    }
    this.items[i] = item;
    this.keys[i] = sector;
    this.seqs[i] = s;
  }

  /** rb_first + rb_erase: the entry with the lowest sector, or undefined when empty. */
  shift(): T | undefined {
    if (this.n === 0) return undefined;
    const top = this.items[0];
    const last = --this.n;
    const item = this.items[last];
    const key = this.keys[last]!;
    const sq = this.seqs[last]!;
    this.items[last] = undefined;
    if (last > 0) {
      let i = 0;
      for (;;) {
        let ch = 2 * i + 1;
        if (ch >= last) break;
        if (ch + 1 < last && this.less(this.keys[ch + 1]!, this.seqs[ch + 1]!, this.keys[ch]!, this.seqs[ch]!)) ch++;
        if (!this.less(this.keys[ch]!, this.seqs[ch]!, key, sq)) break;
        this.items[i] = this.items[ch];
        this.keys[i] = this.keys[ch]!;
        this.seqs[i] = this.seqs[ch]!;
        i = ch;
      }
      this.items[i] = item;
      this.keys[i] = key;
      this.seqs[i] = sq;
    }
    if (this.n === 0) this.seq = 0;
    return top;
  }

  private less(k1: number, s1: number, k2: number, s2: number): boolean {
    return k1 < k2 || (k1 === k2 && s1 < s2);
  }
}
