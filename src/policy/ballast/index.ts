/**
 * `ballast`: our policy. No guest is shrunk into an OOM kill or a stall to make memory
 * nobody asked for: memory is reclaimed on demand, and every guest keeps headroom learned
 * from its own history.
 *
 * One round (`decide`), as squeezed's one_iteration: for each guest
 *   1. trust     (trust.ts)    is its word worth acting on? (plausible, fresh, not insatiable)
 *   2. need      (need.ts)     its floor, its use, and whether it is short right now
 *   3. headroom  (headroom.ts) how much above its use it keeps: its largest recent growth,
 *                              or a safe default while it is not learned
 * and then for the host
 *   4. fit       (fit.ts)      levels met in order, each for every guest before the next
 *                              for any: floors, raises for pressure, keep (use and
 *                              headroom), the host's own ask (a reserve, pending
 *                              reservations and starts), comfort (use and buffer), what
 *                              guests have, spare memory up to each guest's max.
 * So: while the host has room, guests keep what they have and its spare memory is their
 * headroom; when it needs memory, it takes only that much, from spare memory and what
 * guests have above their comfort first, and never a guest's keep (a start waits); a
 * guest that is short (PSI, major faults, free under its low watermark with no cache to
 * mend it) gets memory back within one interval, before anyone's headroom.
 *
 * On a host that backs guest memory on first touch (KVM: `host.firstTouch`), a guest
 * costs the host what it touched (its QEMU's RSS, `hostRssBytes`), not its target:
 * memory given and never touched is free memory. There fit charges each guest what the
 * host backs for it, and the host keeps free one headroom for all its guests to grow
 * into: the most any guest may yet touch of its keep, or the most its guests have grown
 * by at once (learned as a guest's growth is), whichever is more; a host that kept every
 * guest's headroom apart would keep free what only a storm of simultaneous bursts needs.
 * Reservations and starts are served from untouched memory; reclaim takes touched
 * memory only (cache and cold memory above a guest's keep). A booting guest keeps what
 * it was started with until its use stops growing (on either host).
 *
 * What it does not do: move guests without a balloon (dom0-style), grow a guest above
 * its max, go below a guest's floor, or act on statistics it does not trust.
 *
 * State: `decide` takes its state and returns it; the per-guest records inside are
 * reused round after round (1,000 guests every second make little garbage to collect),
 * so a caller uses the state it got back and not an older one.
 */
import type { Decision, GuestObservation, Observation } from "../../model/observation.js";
import { formatSize, MiB } from "../../units/index.js";
import { clamp, mibFloor, type Policy, type PolicyResult } from "../policy.js";
import { AskTable, type Fit, fit, LEVELS } from "./fit.js";
import { growth, type Headroom, headroom, record, remember } from "./headroom.js";
import { type Need, need, newNeed, type Press, press } from "./need.js";
import {
  BALLAST,
  type BallastFistpoint,
  type BallastState,
  type GuestMemo,
  newMemo,
  type Why,
  ZERO,
} from "./params.js";
import { type Greed, greed, type TrustVerdict, trust } from "./trust.js";

export { type Ask, AskTable, fit, fitAsks, LEVELS, waterFill } from "./fit.js";
export { growth, headroom, record } from "./headroom.js";
export { need, press } from "./need.js";
export { BALLAST, type BallastFistpoint, type BallastState, newMemo } from "./params.js";
export { greed, implausible, trust } from "./trust.js";

const KEEP = LEVELS.indexOf("keep");
const COMFORT = LEVELS.indexOf("comfort");

/**
 * The reason an operator reads in the log: what moved the target, then the facts
 * (`comfort` is the guest's use plus its buffer, where a grow lands when the host has
 * room for no more than that).
 */
function explain(w: Why, from: number, to: number, f: Fit, comfort: number): string {
  const short = `host short by ${formatSize(f.shortBytes)}`;
  if (w.untrusted !== null) {
    const held = f.split ? `; ${short}: held to its share` : "";
    return `untrusted (${w.untrusted})${held}`;
  }
  const signs = `psi ${w.psi.toFixed(2)}, ${Math.round(w.faults)} major faults/s${w.belowLow ? ", free under low watermark" : ""}`;
  const cold = w.cold > 0 ? `, cold anon ${formatSize(w.cold)}` : "";
  const backed = w.backed > 0 ? `, host backs ${formatSize(w.backed)}` : "";
  const facts = `use ${formatSize(w.use)}${cold}, headroom ${formatSize(w.headroom)}${w.learned ? "" : ` (learning, first ${BALLAST.learnMs / 60000} min)`}, floor ${formatSize(w.floor)}${backed}`;
  let head: string;
  if (w.raised && to > from)
    head = `${w.spike ? "pressure spike" : "short"} (${signs}): memory back now`;
  else if (w.insatiable) head = "insatiable (claims pressure whatever it gets): held to its share";
  else if (to < from && f.touchFreeBytes !== null && to >= w.backed)
    head =
      f.split === null
        ? `held to what it touched, its headroom and the ${formatSize(f.touchFreeBytes)} the host has free beyond what guests may grow into`
        : `${short} at the ${f.split} level: held to what it touched and its headroom`;
  else if (to < from) head = `${short} at the ${f.split ?? "spare"} level: reclaiming`;
  else if (to > comfort + MiB) head = "host has room: spare memory as headroom";
  else head = "growing into its headroom";
  return `${head}; ${facts}`;
}

export function makeBallastPolicy(
  opts: { fistpoints?: BallastFistpoint[] } = {},
): Policy<BallastState> {
  const fist = new Set(opts.fistpoints ?? []);
  const trustEveryone = fist.has("trust-everyone");
  const needOpts = {
    ignoreFloor: fist.has("ignore-floor"),
    ignorePressure: fist.has("ignore-pressure"),
  };
  const noHeadroom = fist.has("no-headroom");
  const reclaimAll = fist.has("reclaim-all");
  const noBootKeep = fist.has("no-boot-keep");
  const noShared = fist.has("no-shared-headroom");
  const chargeTargets = fist.has("charge-targets");

  // Each step writes its result into one of these (one set per policy: no garbage).
  const verdict: TrustVerdict = { untrusted: null, fresh: false };
  const needOut: Need = newNeed();
  const room: Headroom = {
    headroomBytes: ZERO,
    learnedGrowth: ZERO,
    learnedAtMs: ZERO,
    learned: false,
    growthBytes: ZERO,
  };
  const greedOut: Greed = {
    greedySinceMs: Number.NaN,
    grownSinceGreedy: false,
    insatiable: false,
  };
  const pressOut: Press = {
    pressBytes: ZERO,
    pressUntilMs: ZERO,
    raisedAtMs: ZERO,
    raised: false,
  };

  // Reused from round to round: the asks and the targets.
  const table = new AskTable();
  let L = table.levels;
  let firstTouch = false;
  /** What the host backs for a guest: on a first-touch host its RSS where known. */
  const backedBytes = (g: GuestObservation) =>
    firstTouch ? (g.hostRssBytes ?? g.actualBytes) : g.actualBytes;
  // This round, over guests: the most headroom any keeps (ROOM_MOST), and the sum of their
  // growths (GROWING). In an array: a number kept in a variable these closures share is
  // a new boxed number at every change, a thousand guests a round.
  const acc = new Float64Array(2);
  const ROOM_MOST = 0;
  const GROWING = 1;
  /**
   * Guest i's row. On a first-touch host it is charged what the host backs for it, or a
   * raise for pressure (`press`: memory it is about to touch), whichever is more; its
   * headroom (`room`) is kept free for it in the host's own pool (fit.ts).
   */
  const row = (
    g: GuestObservation,
    i: number,
    weight: number,
    min: number,
    held: boolean,
    room: number,
    press: number,
  ) => {
    table.weight[i] = weight;
    table.min[i] = min;
    table.held[i] = held ? 1 : 0;
    table.charge[i] = firstTouch ? Math.max(backedBytes(g), press) : Infinity;
    table.room[i] = room;
    if (room > acc[ROOM_MOST]!) acc[ROOM_MOST] = room;
  };

  /** Steps 1-3 for guest `i`: its ask, into the table (and, in its record, why). */
  function ask(g: GuestObservation, m: GuestMemo, isNew: boolean, nowMs: number, i: number): void {
    const minB = g.settings.minBytes;
    const maxB = Math.max(minB, Math.min(g.settings.maxBytes, g.maxmemBytes));
    const weight = g.settings.weight;
    const s = g.stats;
    const v = trust(g, m, isNew, nowMs, trustEveryone, verdict);
    if (v.fresh || isNew) m.lastFreshMs = nowMs;
    if (v.untrusted !== null || !s) {
      // Not moved on its word: it keeps its target (within its settings) while the host
      // has room, held to its share, and gives way down to its min when the host needs
      // memory (the balloon itself takes only what is free or clean cache).
      if (s) {
        m.lastTs = s.timestamp_s;
        if (s.major_faults !== undefined) m.lastMajorFaults = s.major_faults;
        if (s.swap_in_bytes !== undefined) m.lastSwapIn = s.swap_in_bytes;
      }
      const has = clamp(g.targetBytes, minB, maxB);
      const w = m.why;
      w.untrusted = v.untrusted ?? "no statistics";
      w.raised = w.spike = w.belowLow = w.insatiable = w.learned = false;
      w.psi = w.faults = w.use = w.headroom = w.cold = 0;
      w.backed = firstTouch ? backedBytes(g) : 0;
      w.floor = minB;
      // What it may grow by is not known (or not believed): the default headroom.
      row(g, i, weight, minB, true, BALLAST.defaultHeadroomFraction * g.memoryBytes, 0);
      L[0]![i] = L[1]![i] = L[2]![i] = minB;
      L[3]![i] = L[4]![i] = L[5]![i] = has;
      return;
    }
    const n = need(g, s, m, needOpts, needOut);
    record(m.history, nowMs, n.useBytes);
    const h = headroom(m.history, n.useBytes, g.memoryBytes, m, nowMs, noHeadroom, room);
    const active = (s.active_anon_bytes ?? 0) + (s.active_file_bytes ?? 0);
    const gr = greed(
      m,
      n.short,
      active,
      s.total_bytes ?? Infinity,
      g.targetBytes > g.actualBytes,
      nowMs,
      trustEveryone,
      greedOut,
    );
    const p = press(g, n, m, nowMs, gr.insatiable, pressOut);
    // Remember for the next round.
    m.lastTs = s.timestamp_s;
    m.lastMajorFaults = s.major_faults ?? m.lastMajorFaults;
    m.lastSwapIn = s.swap_in_bytes ?? m.lastSwapIn;
    m.lastPsi = n.psi;
    m.learnedGrowth = h.learnedGrowth;
    m.learnedAtMs = h.learnedAtMs;
    m.wasShort = n.short;
    m.pressBytes = p.pressBytes;
    m.pressUntilMs = p.pressUntilMs;
    m.raisedAtMs = p.raisedAtMs;
    m.greedySinceMs = gr.greedySinceMs;
    m.grownSinceGreedy = gr.grownSinceGreedy;

    // An insatiable guest's claimed floor is no floor: it gives way down to its min.
    const floor = gr.insatiable ? minB : n.floorBytes;
    // A guest booting keeps what it was started with while its use still grows: its
    // first allocations are how it starts (not counted as growth), and taking them back
    // would meet them at its OOM killer.
    const booting =
      nowMs < m.bootUntilMs &&
      !gr.insatiable &&
      !noBootKeep &&
      (nowMs - m.firstSeenMs < BALLAST.shortWindowMs || growth(m.history, nowMs, n.useBytes) > 0);
    const started = booting ? clamp(g.targetBytes, minB, maxB) : 0;
    const keep = gr.insatiable
      ? minB
      : clamp(Math.max(n.useBytes + h.headroomBytes, started), floor, maxB);
    const comfort = reclaimAll
      ? keep
      : clamp(
          Math.max(keep, (n.useBytes + n.coldBytes) * (1 + g.settings.bufferPct / 100)),
          keep,
          maxB,
        );
    const have = reclaimAll ? keep : clamp(g.targetBytes, minB, maxB);
    const w = m.why;
    w.untrusted = null;
    w.raised = p.raised;
    w.spike = n.spike;
    w.psi = n.psi;
    w.faults = n.faultsPerS;
    w.belowLow = n.belowLow;
    w.insatiable = gr.insatiable;
    w.learned = h.learned;
    w.floor = floor;
    w.use = n.useBytes;
    w.headroom = h.headroomBytes;
    w.cold = n.coldBytes;
    w.backed = firstTouch ? backedBytes(g) : 0;
    // The ask, written straight into the table (no object per guest).
    const pressB = gr.insatiable ? minB : Math.min(p.pressBytes, maxB);
    // An insatiable guest's claims are not believed: it may grow by the default headroom.
    if (gr.insatiable)
      row(g, i, weight, minB, true, BALLAST.defaultHeadroomFraction * g.memoryBytes, 0);
    else {
      // What it may yet touch of its keep (its use and headroom, or what it was started
      // with): it grows into free memory it never touched first, and into memory it
      // touched (cold cache kswapd takes back) after, which costs the host nothing more.
      const touchable = Math.min(maxB, Math.max(n.useBytes + h.headroomBytes, started));
      row(g, i, weight, minB, false, Math.max(0, touchable - backedBytes(g)), pressB);
      acc[GROWING]! += h.growthBytes;
    }
    L[0]![i] = floor;
    L[1]![i] = pressB;
    L[2]![i] = keep;
    L[3]![i] = comfort;
    L[4]![i] = have;
    L[5]![i] = reclaimAll ? keep : gr.insatiable ? have : maxB;
  }

  let targets = new Float64Array(16);
  // This round's decisions: guest index and target (reused from round to round).
  let pick = new Int32Array(16);
  let pickTo = new Float64Array(16);
  const NO_GUEST = {} as GuestObservation;
  const guests: GuestObservation[] = [];
  const memos: GuestMemo[] = [];

  return {
    name: "ballast",
    summary:
      "Ballast: memory reclaimed on demand (free target, reservations, a reserve), headroom learned per guest, memory back at once on pressure, floors kept, guests untrusted",
    intervalMs: BALLAST.intervalMs,
    initialState: () => ({
      memo: new Map(),
      round: 0,
      pool: { learnedGrowth: ZERO, learnedAtMs: ZERO },
    }),
    decide(obs: Observation, state: BallastState): PolicyResult<BallastState> {
      const round = state.round + 1;
      const memo = state.memo;
      // The arrays keep their length from round to round (truncating one frees its
      // store, and pushing grows it again: garbage); `count` says how much is in use.
      let count = 0;
      table.reset(obs.guests.length);
      L = table.levels;
      firstTouch = obs.host.firstTouch === true && !chargeTargets;
      acc[ROOM_MOST] = 0;
      acc[GROWING] = 0;
      let held = 0;
      let fixed = 0;
      for (const g of obs.guests) {
        if (!g.balloonable) {
          fixed += backedBytes(g);
          continue;
        }
        let m = memo.get(g.name);
        const isNew = m === undefined;
        if (!m) {
          m = newMemo(obs.nowMs);
          if (round > 1) m.bootUntilMs = obs.nowMs + BALLAST.warmupMs;
          memo.set(g.name, m);
        }
        m.seenRound = round;
        ask(g, m, isNew, obs.nowMs, table.add());
        guests[count] = g;
        memos[count] = m;
        count++;
        held += backedBytes(g);
      }
      if (memo.size > count)
        for (const [name, m] of memo) if (m.seenRound !== round) memo.delete(name);

      // The host holds its free memory and what it backs for guests, less a slack never
      // handed out; it asks to keep free a reserve for bursts and what pending
      // reservations and starts need (after every guest's headroom: a start that needs a
      // guest's headroom waits). What guests are charged never adds up to more than the
      // host's memory less its own reserve and the guests it does not move. On a host
      // that backs guest memory on first touch (KVM) a guest is charged what the host
      // backs for it (fit.ts), and what they may grow into is kept free in the host's ask
      // (`shared`): memory given but never touched is free, and counting it twice would
      // make starts wait for nothing.
      const reserve = Math.max(
        BALLAST.hostReserveMin,
        BALLAST.hostReserveFraction * obs.host.totalBytes,
      );
      const capacity =
        Math.min(obs.host.freeBytes + held, obs.host.totalBytes - obs.host.reserveBytes - fixed) -
        BALLAST.hostSlack;
      // A first-touch host keeps free one headroom for its guests to grow into (header).
      let shared = 0;
      if (firstTouch) {
        remember(state.pool, acc[GROWING]!, obs.nowMs, state.pool);
        shared = noShared ? 0 : Math.max(acc[ROOM_MOST]!, state.pool.learnedGrowth);
      }
      if (targets.length < count) targets = new Float64Array(count * 2);
      const f = fit(table, capacity, reserve + obs.reservedBytes + shared, targets);

      // Only comfort, what guests have and spare memory are being adjusted: a small
      // move there is not worth a balloon operation (nor a log line). Floors, raises,
      // headroom and the host's own ask are met to the MiB.
      const settled =
        f.split === null || f.split === "comfort" || f.split === "have" || f.split === "spare";
      let picked = 0;
      if (pick.length < count) {
        pick = new Int32Array(count * 2);
        pickTo = new Float64Array(count * 2);
      }
      for (let i = 0; i < count; i++) {
        const g = guests[i]!;
        const t = mibFloor(targets[i]!);
        const step = Math.abs(t - g.targetBytes);
        if (step < MiB) continue;
        const m = memos[i]!;
        if (
          settled &&
          !m.why.raised &&
          g.targetBytes >= L[KEEP]![i]! - MiB &&
          step < Math.min(BALLAST.smallStep, BALLAST.smallStepFraction * g.targetBytes)
        )
          continue;
        if (t > g.targetBytes && !Number.isNaN(m.greedySinceMs)) m.grownSinceGreedy = true;
        pick[picked] = i;
        pickTo[picked] = t;
        picked++;
      }
      // The decisions, and their facts in one array for the round (no object per number).
      const decisions: Decision[] = new Array<Decision>(picked);
      if (picked > 0) {
        const facts = new RoundFacts(picked, f);
        const comfort = L[COMFORT]!;
        for (let k = 0; k < picked; k++) {
          const i = pick[k]!;
          const g = guests[i]!;
          facts.put(k, g.targetBytes, pickTo[k]!, comfort[i]!, memos[i]!.why);
          decisions[k] = new BallastDecision(g.name, facts, k);
        }
      }
      // This round's observation is not kept alive until the next (less for the garbage
      // collector to copy while the next round runs).
      guests.fill(NO_GUEST, 0, count);
      return { decisions, state: { memo, round, pool: state.pool } };
    },
  };
}

/** What each decision keeps (RoundFacts.nums, FACTS numbers a decision, at these). */
const FROM = 0;
const TO = 1;
const COMFORT_AT = 2;
const PSI = 3;
const FAULTS = 4;
const FLOOR = 5;
const USE = 6;
const HEADROOM = 7;
const COLD = 8;
const BACKED = 9;
const FLAGS = 10;
const FACTS = 11;
/** Bits of FLAGS. */
const RAISED = 1;
const SPIKE = 2;
const BELOW_LOW = 4;
const INSATIABLE = 8;
const LEARNED = 16;

/**
 * The facts behind one round's decisions, copied at decision time into one array (a
 * thousand decisions in a round are not a thousand sets of boxed numbers to collect).
 */
class RoundFacts {
  readonly nums: Float64Array;
  /** Why each guest was not believed (null: it was); made for the first that was not. */
  untrusted: Array<string | null> | null = null;
  constructor(
    n: number,
    readonly fitted: Fit,
  ) {
    this.nums = new Float64Array(n * FACTS);
  }

  put(k: number, from: number, to: number, comfort: number, w: Why): void {
    const x = this.nums;
    const o = k * FACTS;
    x[o + FROM] = from;
    x[o + TO] = to;
    x[o + COMFORT_AT] = comfort;
    x[o + PSI] = w.psi;
    x[o + FAULTS] = w.faults;
    x[o + FLOOR] = w.floor;
    x[o + USE] = w.use;
    x[o + HEADROOM] = w.headroom;
    x[o + COLD] = w.cold;
    x[o + BACKED] = w.backed;
    x[o + FLAGS] =
      (w.raised ? RAISED : 0) |
      (w.spike ? SPIKE : 0) |
      (w.belowLow ? BELOW_LOW : 0) |
      (w.insatiable ? INSATIABLE : 0) |
      (w.learned ? LEARNED : 0);
    if (w.untrusted !== null) {
      this.untrusted ??= new Array<string | null>(this.nums.length / FACTS).fill(null);
      this.untrusted[k] = w.untrusted;
    }
  }

  /** Decision k's reason, as explain() words it. */
  reason(k: number): string {
    const x = this.nums;
    const o = k * FACTS;
    const flags = x[o + FLAGS]!;
    const w: Why = {
      untrusted: this.untrusted?.[k] ?? null,
      raised: (flags & RAISED) !== 0,
      spike: (flags & SPIKE) !== 0,
      psi: x[o + PSI]!,
      faults: x[o + FAULTS]!,
      belowLow: (flags & BELOW_LOW) !== 0,
      insatiable: (flags & INSATIABLE) !== 0,
      learned: (flags & LEARNED) !== 0,
      floor: x[o + FLOOR]!,
      use: x[o + USE]!,
      headroom: x[o + HEADROOM]!,
      cold: x[o + COLD]!,
      backed: x[o + BACKED]!,
    };
    return explain(w, x[o + FROM]!, x[o + TO]!, this.fitted, x[o + COMFORT_AT]!);
  }
}

/**
 * A decision whose reason is formatted when someone reads it (the daemon does, for its
 * log and history; a benchmark deciding for a thousand guests does not). Its facts were
 * copied at decision time (RoundFacts), so the reason reads the same whenever it is read.
 * `targetBytes` and `reason` are getters on the class: read them (as the controller loop
 * does), do not spread the object.
 */
class BallastDecision implements Decision {
  private text: string | null = null;
  constructor(
    readonly name: string,
    private readonly facts: RoundFacts,
    private readonly k: number,
  ) {}
  get targetBytes(): number {
    return this.facts.nums[this.k * FACTS + TO]!;
  }
  get reason(): string {
    this.text ??= this.facts.reason(this.k);
    return this.text;
  }
  toJSON(): Decision {
    return { name: this.name, targetBytes: this.targetBytes, reason: this.reason };
  }
}

export const ballastPolicy: Policy<BallastState> = makeBallastPolicy();
