/**
 * A ring buffer: the last `capacity` items, oldest first. Storage grows as items come
 * (nothing is allocated for slots never used) and stops growing at `capacity`; from then
 * on each push overwrites the oldest. `capacity` may be Infinity (a plain growing list:
 * a simulation report keeps every event).
 */
export class Ring<T> {
  private items: T[] = [];
  /** Index in `items` of the oldest item once the ring is full (0 until then). */
  private start = 0;

  constructor(readonly capacity: number) {
    if (!(capacity === Infinity || (Number.isInteger(capacity) && capacity >= 1)))
      throw new RangeError(`ring capacity must be a whole number above 0 (got ${capacity})`);
  }

  get length(): number {
    return this.items.length;
  }

  /** Add one; returns the item it pushed out (the oldest), if the ring was full. */
  push(x: T): T | undefined {
    if (this.items.length < this.capacity) {
      this.items.push(x);
      return undefined;
    }
    const old = this.items[this.start];
    this.items[this.start] = x;
    this.start = (this.start + 1) % this.items.length;
    return old;
  }

  /** The i-th kept item, 0 the oldest. */
  at(i: number): T | undefined {
    if (i < 0 || i >= this.items.length) return undefined;
    return this.items[(this.start + i) % this.items.length];
  }

  /** Items from the i-th kept one on, oldest first. */
  slice(from = 0): T[] {
    const n = this.items.length;
    const out: T[] = [];
    for (let i = Math.max(0, from); i < n; i++) out.push(this.items[(this.start + i) % n]!);
    return out;
  }

  /** Oldest first. */
  toArray(): T[] {
    return this.slice(0);
  }

  last(): T | undefined {
    return this.at(this.items.length - 1);
  }

  replaceLast(x: T): void {
    const n = this.items.length;
    if (n === 0) this.push(x);
    else this.items[(this.start + n - 1) % n] = x;
  }
}
