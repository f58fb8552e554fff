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
}

export const LEVELS = ["floor", "press", "keep", "comfort", "have", "spare"] as const;
export type Level = (typeof LEVELS)[number];

/**
 * Every guest's ask, one typed array per field (a thousand guests every second make no
 * garbage): `levels[k][i]` is guest i's ask at LEVELS[k]. Reused from round to round.
 */
export class AskTable {
  n = 0;
  weight: Float64Array;
  min: Float64Array;
  held: Uint8Array;
  levels: Float64Array[];
  /** Scratch for fit and waterFill. */
  readonly scratch: { share: Float64Array; inc: Float64Array; got: Float64Array; idx: Uint32Array };

  constructor(capacity = 16) {
    this.weight = new Float64Array(capacity);
    this.min = new Float64Array(capacity);
    this.held = new Uint8Array(capacity);
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
  const filled = (level: number): number => {
    let sum = 0;
    for (let i = 0; i < n; i++) {
      if (!(cap[i]! > 0 && weight[i]! > 0)) continue;
      const v = level * weight[i]!;
      sum += v < cap[i]! ? v : cap[i]!;
    }
    return sum;
  };
  let lo = 0;
  for (let pass = 0; pass < 64 && hi - lo > 0; pass++) {
    const mid = (lo + hi) / 2;
    if (filled(mid) <= give) lo = mid;
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
 * `capacity` bytes (host free plus what guests hold,
 * less what is never handed out), level by level, the host's own ask of `hostAsk` bytes
 * after every guest's keep. Targets go to `out`.
 */
export function fit(t: AskTable, capacity: number, hostAsk: number, out: Float64Array): Fit {
  const n = t.n;
  const { share, inc, got, idx } = t.scratch;
  const cap = Math.max(0, capacity);
  let wsum = 0;
  for (let i = 0; i < n; i++) wsum += t.weight[i]!;
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
  let floors = 0;
  for (let i = 0; i < n; i++) {
    out[i] = L[0]![i]!;
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
    return { split: "floor", shortBytes: floors - cap, hostBytes: 0 };
  }
  let left = cap - floors;
  for (let k = 1; k < LEVELS.length; k++) {
    if (LEVELS[k] === "comfort") {
      // The host's ask comes after every guest's keep, before anyone's comfort.
      if (hostAsk > left) return { split: "host", shortBytes: hostAsk - left, hostBytes: left };
      left -= hostAsk;
    }
    let want = 0;
    const lk = L[k]!;
    for (let i = 0; i < n; i++) {
      const d = lk[i]! - out[i]!;
      inc[i] = d > 0 ? d : 0;
      want += inc[i]!;
    }
    if (want <= left) {
      for (let i = 0; i < n; i++) out[i]! += inc[i]!;
      left -= want;
      continue;
    }
    if (LEVELS[k] === "have") {
      // What guests have above their comfort: each gives back the same share of it.
      const f = want > 0 ? left / want : 0;
      for (let i = 0; i < n; i++) out[i]! += inc[i]! * f;
    } else {
      waterFillInto(n, t.weight, inc, left, got, idx);
      for (let i = 0; i < n; i++) out[i]! += got[i]!;
    }
    return { split: LEVELS[k]!, shortBytes: want - left, hostBytes: k < 3 ? 0 : hostAsk };
  }
  return { split: null, shortBytes: 0, hostBytes: hostAsk };
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
