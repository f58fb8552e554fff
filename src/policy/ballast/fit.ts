/**
 * Step 4 of `ballast`'s decide: FIT. Given what every guest asks for, level by level,
 * what can the host give?
 *
 * In: per guest its asks as levels (floor, pressure, keep, comfort, have, spare) and weight; the
 * memory the host holds for guests (free and theirs); and what the host asks to keep
 * free (its reserve, pending reservations and starts). Out: targets, and how far down
 * the levels the host had to reclaim.
 *
 * What it does:
 * - Levels are met in order, each for every guest before the next for any: floors first,
 *   then raises for pressure (memory goes back to short guests first), then headroom
 *   (keep), then the host's own ask, then buffer (comfort), then what each guest has
 *   now, then spare memory up to each guest's max. So memory is reclaimed on demand: when
 *   the host needs some for its reserve, pending reservations and starts, it comes from
 *   spare memory first, then from what guests have above their comfort, never more than
 *   it needs, and never a guest's headroom: a start that would need it waits. While the
 *   host has room, every guest keeps what it has, and what the host does not need is
 *   handed out as headroom (by weight), as squeezed hands it out, to be taken back on
 *   demand: a guest's first burst, before it is learned, finds it there.
 * - A level that does not fit is split by weight (water-filling): every guest gets the
 *   same amount of it per unit of weight, up to what it asks.
 * - Floors that do not fit: every guest first gets min(floor, weighted share), then the
 *   rest of the floors by weight.
 * - A guest held to its share (untrusted, insatiable) asks above its floor at most its
 *   weighted share of the host.
 * - On a host that backs guest memory on first touch (KVM), a guest is charged what the
 *   host backs for it, not its target, and its headroom is kept free for it in one
 *   headroom the host shares among its guests (`fit`): the memory a start needs is
 *   untouched memory, not memory taken back from guests.
 * What it does not: read statistics, or decide what a guest needs (need.ts, headroom.ts).
 */

/** What one guest asks for. Each level is at least the one before (fit enforces it). */
export interface Ask {
  weight: number;
  /** Its settings' min: a guest held to its share is held down to it, not to its floor. */
  min: number;
  floor: number;
  press: number;
  keep: number;
  comfort: number;
  have: number;
  /** What it may take of memory the host does not need: its max, or what it has. */
  spare: number;
  /** Comfort, have and spare at most its weighted share of the host (or its min). */
  heldToShare: boolean;
  /**
   * On a host that backs guest memory on first touch (KVM), the most it is charged: what
   * the host backs for it now (its QEMU's RSS) or what it may touch soon (its use and
   * headroom, a raise), the more. Absent: a target costs the host all of itself (Xen).
   */
  charge?: number;
  /** First-touch host: its headroom, which it may touch beyond its charge. */
  room?: number;
}

export const LEVELS = ["floor", "press", "keep", "comfort", "have", "spare"] as const;
export type Level = (typeof LEVELS)[number];
const KEEP = LEVELS.indexOf("keep");
const COMFORT = LEVELS.indexOf("comfort");
const HAVE = LEVELS.indexOf("have");

/**
 * Every guest's ask, one typed array per field (a thousand guests every second make no
 * garbage): `levels[k][i]` is guest i's ask at LEVELS[k]. Reused from round to round.
 */
export class AskTable {
  n = 0;
  weight: Float64Array;
  min: Float64Array;
  held: Uint8Array;
  /** Ask.charge per guest; Infinity where a target costs all of itself. */
  charge: Float64Array;
  /** Ask.room per guest. */
  room: Float64Array;
  levels: Float64Array[];
  /** Scratch for fit and waterFill. */
  readonly scratch: {
    share: Float64Array;
    inc: Float64Array;
    got: Float64Array;
    idx: Uint32Array;
  };

  constructor(capacity = 16) {
    this.weight = new Float64Array(capacity);
    this.min = new Float64Array(capacity);
    this.held = new Uint8Array(capacity);
    this.charge = new Float64Array(capacity).fill(Infinity);
    this.room = new Float64Array(capacity);
    this.levels = LEVELS.map(() => new Float64Array(capacity));
    this.scratch = {
      share: new Float64Array(capacity),
      inc: new Float64Array(capacity),
      got: new Float64Array(capacity),
      idx: new Uint32Array(capacity),
    };
  }

  /** Empty, with room for `n` guests. */
  reset(n: number): void {
    this.n = 0;
    if (n <= this.weight.length) return;
    const cap = Math.max(n, this.weight.length * 2);
    const fresh = new AskTable(cap);
    Object.assign(this, {
      weight: fresh.weight,
      min: fresh.min,
      held: fresh.held,
      charge: fresh.charge,
      room: fresh.room,
      levels: fresh.levels,
    });
    Object.assign(this.scratch, fresh.scratch);
  }

  /** A new row (its fields to be written by the caller); its index. */
  add(): number {
    return this.n++;
  }

  push(a: Ask): number {
    const i = this.n++;
    const l = this.levels;
    this.weight[i] = a.weight;
    this.min[i] = a.min;
    this.held[i] = a.heldToShare ? 1 : 0;
    this.charge[i] = a.charge ?? Infinity;
    this.room[i] = a.room ?? 0;
    // Field by field (a read by a name from a list would box every number it reads).
    l[0]![i] = a.floor;
    l[1]![i] = a.press;
    l[2]![i] = a.keep;
    l[3]![i] = a.comfort;
    l[4]![i] = a.have;
    l[5]![i] = a.spare;
    return i;
  }

  static of(asks: Ask[]): AskTable {
    const t = new AskTable(Math.max(1, asks.length));
    for (const a of asks) t.push(a);
    return t;
  }
}

export interface Fit {
  /** The level that did not fit for every guest (split by weight), or null: all did. */
  split: Level | "host" | null;
  /** How much more the split level asked for than was left. */
  shortBytes: number;
  /** What the host's ask got (all of it unless `split` is "floor" ... "host"). */
  hostBytes: number;
  /**
   * First-touch host: the free memory nobody is charged for, which a guest charged in
   * full may touch beyond its charge and headroom; null on a host where a target costs
   * all of itself.
   */
  touchFreeBytes: number | null;
}

/**
 * Give `amount` to n items in proportion to `weight`, each up to `cap` (water-filling):
 * find the level L with sum(min(cap, L * weight)) = amount; the result goes to `out`.
 * The sum grows with L, so L is found by bisection: 64 passes over the items, no sort
 * and no garbage (a sort with a comparator boxes every number it compares), which
 * matters with a thousand guests every second.
 */
export function waterFillInto(
  n: number,
  weight: Float64Array,
  cap: Float64Array,
  amount: number,
  out: Float64Array,
  _scratch?: Uint32Array,
): void {
  let total = 0;
  let hi = 0;
  for (let i = 0; i < n; i++) {
    out[i] = 0;
    if (cap[i]! > 0 && weight[i]! > 0) {
      total += cap[i]!;
      const l = cap[i]! / weight[i]!;
      if (l > hi) hi = l;
    }
  }
  const give = Math.max(0, amount);
  if (give >= total) {
    for (let i = 0; i < n; i++) out[i] = cap[i]! > 0 && weight[i]! > 0 ? cap[i]! : 0;
    return;
  }
  let lo = 0;
  for (let pass = 0; pass < 64 && hi - lo > 0; pass++) {
    const mid = (lo + hi) / 2;
    // What level `mid` gives, all items summed (in line: a closure here would be a new
    // function object every call, and its numbers boxed).
    let filled = 0;
    for (let i = 0; i < n; i++) {
      if (!(cap[i]! > 0 && weight[i]! > 0)) continue;
      const v = mid * weight[i]!;
      filled += v < cap[i]! ? v : cap[i]!;
    }
    if (filled <= give) lo = mid;
    else hi = mid;
  }
  // At `lo` the sum is at most `amount`; what is left goes to the items not yet capped,
  // by weight, so the whole amount is given.
  let sum = 0;
  let wOpen = 0;
  for (let i = 0; i < n; i++) {
    if (!(cap[i]! > 0 && weight[i]! > 0)) continue;
    const v = lo * weight[i]!;
    out[i] = v < cap[i]! ? v : cap[i]!;
    sum += out[i]!;
    if (v < cap[i]!) wOpen += weight[i]!;
  }
  const rest = give - sum;
  if (rest > 0 && wOpen > 0)
    for (let i = 0; i < n; i++) {
      if (!(cap[i]! > 0 && weight[i]! > 0) || out[i]! >= cap[i]!) continue;
      out[i] = Math.min(cap[i]!, out[i]! + (rest * weight[i]!) / wOpen);
    }
}

/** waterFill over plain objects (tables in tests read better so). */
export function waterFill(items: Array<{ weight: number; cap: number }>, amount: number): number[] {
  const n = items.length;
  const out = new Float64Array(n);
  waterFillInto(
    n,
    Float64Array.from(items, (x) => x.weight),
    Float64Array.from(items, (x) => x.cap),
    amount,
    out,
    new Uint32Array(n),
  );
  return Array.from(out);
}

/**
 * Targets for the asks in `t` (whose levels it makes cumulative, in place) out of
 * `capacity` bytes (host free plus what the host backs for guests, less what is never
 * handed out), level by level, the host's own ask of `hostAsk` bytes after every guest's
 * keep. Targets go to `out`.
 *
 * What a target costs the host depends on how it backs guest memory. On Xen a target is
 * populated as the balloon deflates: it costs all of itself (`t.charge` is Infinity). On
 * a host that backs guest memory on first touch (KVM: QEMU's RAM is an anonymous
 * mapping, faulted in as the guest touches it, and given back by the balloon's discard
 * or by free page reporting) a target above what the guest has touched costs nothing
 * until it touches it: every level is charged at most the guest's `charge` (what the
 * host backs for it, or a raise for pressure), and what guests may grow into is kept
 * free by the host in its own ask (the caller's shared headroom). So reservations and
 * starts are served from untouched memory, reclaim takes only touched memory (above
 * comfort first), and a guest charged in full keeps its level up to its charge, its
 * headroom and the free memory nobody is charged for (`uncharged`).
 */
export function fit(t: AskTable, capacity: number, hostAsk: number, out: Float64Array): Fit {
  const n = t.n;
  const { share, inc, got, idx } = t.scratch;
  const charge = t.charge;
  const cap = Math.max(0, capacity);
  let wsum = 0;
  let touch = false;
  for (let i = 0; i < n; i++) {
    wsum += t.weight[i]!;
    if (charge[i]! !== Infinity) touch = true;
  }
  for (let i = 0; i < n; i++) share[i] = wsum > 0 ? (cap * t.weight[i]!) / wsum : 0;
  // Levels made cumulative in place (each at least the one before); a held guest's
  // comfort and above capped at its share (or min).
  const L = t.levels;
  for (let k = 1; k < L.length; k++) {
    const cur = L[k]!;
    const prev = L[k - 1]!;
    for (let i = 0; i < n; i++) {
      let v = cur[i]! > prev[i]! ? cur[i]! : prev[i]!;
      if (t.held[i] && k > 2) v = Math.min(v, Math.max(t.min[i]!, share[i]!));
      cur[i] = v;
    }
  }
  // The outcome, and the free memory a guest charged in full may touch (first touch).
  const done = (
    split: Fit["split"],
    shortBytes: number,
    hostBytes: number,
    k: number,
    free: number,
  ): Fit => {
    if (!touch) return { split, shortBytes, hostBytes, touchFreeBytes: null };
    uncharged(t, k, free, out);
    return { split, shortBytes, hostBytes, touchFreeBytes: free };
  };
  let floors = 0;
  for (let i = 0; i < n; i++) {
    const f = L[0]![i]!;
    out[i] = f < charge[i]! ? f : charge[i]!;
    floors += out[i]!;
  }
  if (floors > cap) {
    // Every guest first gets min(floor, share), then the rest of the floors by weight.
    let given = 0;
    for (let i = 0; i < n; i++) {
      const f = out[i]!;
      out[i] = Math.min(f, share[i]!);
      inc[i] = f - out[i]!;
      given += out[i]!;
    }
    waterFillInto(n, t.weight, inc, cap - given, got, idx);
    for (let i = 0; i < n; i++) out[i]! += got[i]!;
    return done("floor", floors - cap, 0, 0, 0);
  }
  let left = cap - floors;
  for (let k = 1; k < LEVELS.length; k++) {
    if (k === COMFORT) {
      // The host's ask comes after every guest's keep, before anyone's comfort.
      if (hostAsk > left) return done("host", hostAsk - left, left, KEEP, 0);
      left -= hostAsk;
    }
    let want = 0;
    const lk = L[k]!;
    for (let i = 0; i < n; i++) {
      const v = lk[i]! < charge[i]! ? lk[i]! : charge[i]!;
      const d = v - out[i]!;
      inc[i] = d > 0 ? d : 0;
      want += inc[i]!;
    }
    if (want <= left) {
      for (let i = 0; i < n; i++) out[i]! += inc[i]!;
      left -= want;
      continue;
    }
    if (k === HAVE) {
      // What guests have above their comfort: each gives back the same share of it.
      const f = want > 0 ? left / want : 0;
      for (let i = 0; i < n; i++) out[i]! += inc[i]! * f;
    } else {
      waterFillInto(n, t.weight, inc, left, got, idx);
      for (let i = 0; i < n; i++) out[i]! += got[i]!;
    }
    const hostBytes = k < COMFORT ? 0 : hostAsk;
    return done(LEVELS[k]!, want - left, hostBytes, k, 0);
  }
  return done(null, 0, hostAsk, LEVELS.length - 1, left);
}

/**
 * First-touch host: a guest charged in full at level `k` gets that level up to its
 * charge, its headroom and `free` (what nobody is charged for: while the host has room
 * its guests may grow into it, and no guest alone may touch more), never less than its
 * keep once it passed that level (its headroom is kept free in the host's ask) nor its
 * floor (memory it has not touched costs nothing). A byte of slack: sums round.
 */
function uncharged(t: AskTable, k: number, free: number, out: Float64Array): void {
  const level = t.levels[k]!;
  const least = t.levels[k < KEEP ? 0 : KEEP]!;
  for (let i = 0; i < t.n; i++) {
    const c = t.charge[i]!;
    if (out[i]! < c - 1) continue;
    const v = Math.max(least[i]!, Math.min(level[i]!, c + t.room[i]! + free));
    if (v > out[i]!) out[i] = v;
  }
}

/** fit over plain asks: the targets and the outcome (tables in tests read better so). */
export function fitAsks(
  asks: Ask[],
  capacity: number,
  hostAsk: number,
): Fit & { targets: number[] } {
  const t = AskTable.of(asks);
  const out = new Float64Array(asks.length);
  const f = fit(t, capacity, hostAsk, out);
  return { ...f, targets: Array.from(out) };
}
