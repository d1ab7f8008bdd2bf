/** Where each index of the log lives. Columnar arrays indexed by `index - base`. */
/** An inclusive range of indexes. */
export interface IndexRange {
  from: number;
  to: number;
}

export const HOLE = -1;
export const UNWRITTEN = -2;

export class EntryTable {
  base: number;
  private terms: number[] = [];
  private types: number[] = [];
  private files: number[] = [];
  private offsets: number[] = [];
  private sizes: number[] = [];

  constructor(base: number) {
    this.base = base;
  }

  get length(): number {
    return this.terms.length;
  }

  /** Last index held, or base - 1 when empty. */
  get last(): number {
    return this.base + this.terms.length - 1;
  }

  has(index: number): boolean {
    return index >= this.base && index <= this.last;
  }

  push(term: number, type: number, file: number, offset: number, size: number): void {
    this.terms.push(term);
    this.types.push(type);
    this.files.push(file);
    this.offsets.push(offset);
    this.sizes.push(size);
  }

  term(index: number): number {
    return this.terms[index - this.base]!;
  }
  type(index: number): number {
    return this.types[index - this.base]!;
  }
  file(index: number): number {
    return this.files[index - this.base]!;
  }
  offset(index: number): number {
    return this.offsets[index - this.base]!;
  }
  size(index: number): number {
    return this.sizes[index - this.base]!;
  }

  locate(index: number, file: number, offset: number, size: number): void {
    const i = index - this.base;
    this.files[i] = file;
    this.offsets[i] = offset;
    this.sizes[i] = size;
  }

  /** Drops every index above `index`. */
  truncateAfter(index: number): void {
    const keep = Math.max(0, index - this.base + 1);
    for (const col of [this.terms, this.types, this.files, this.offsets, this.sizes]) col.length = Math.min(col.length, keep);
  }

  /** Drops every index up to and including `index`; the table then starts at `index + 1`. */
  dropThrough(index: number): void {
    const n = Math.min(this.terms.length, index - this.base + 1);
    if (n <= 0) return;
    for (const col of [this.terms, this.types, this.files, this.offsets, this.sizes]) col.splice(0, n);
    this.base += n;
  }

  /** Empties the table so that the next index pushed is `nextIndex`. */
  resetTo(nextIndex: number): void {
    this.truncateAfter(this.base - 1);
    this.base = nextIndex;
  }

  holes(): IndexRange[] {
    const out: IndexRange[] = [];
    for (let i = 0; i < this.files.length; i++) {
      if (this.files[i] !== HOLE) continue;
      const prev = out[out.length - 1];
      if (prev && prev.to === this.base + i - 1) prev.to++;
      else out.push({ from: this.base + i, to: this.base + i });
    }
    return out;
  }
}
