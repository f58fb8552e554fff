/**
 * Pressure stall information for memory, computed as kernel/sched/psi.c does:
 * stall time is accumulated, and every 2 s (PSI_FREQ) the share of the period spent
 * stalled is folded into three exponential averages with the kernel's fixed-point
 * constants EXP_10s = 1677, EXP_60s = 1981, EXP_300s = 2034 (1/exp(2s/Ns) in 11-bit
 * fixed point) through calc_load(). Reported as /proc/pressure/memory prints them:
 * LOAD_INT.LOAD_FRAC with two decimals.
 *
 * `some` is time in which at least one task was stalled on memory; `full` is time in
 * which every non-idle task was.
 */

export const PSI_PERIOD_MS = 2000;
const FSHIFT = 11;
const FIXED_1 = 1 << FSHIFT;
const EXP = [1677, 1981, 2034] as const;

/** calc_load() from kernel/sched/loadavg.c. */
function calcLoad(load: number, exp: number, active: number): number {
  let newload = load * exp + active * (FIXED_1 - exp);
  if (active >= load) newload += FIXED_1 - 1;
  return Math.floor(newload / FIXED_1);
}

/** Two-decimal percentage as /proc/pressure prints it (LOAD_INT, LOAD_FRAC). */
function show(avg: number): number {
  const int = Math.floor(avg / FIXED_1);
  const frac = Math.floor(((avg % FIXED_1) * 100) / FIXED_1);
  return int + frac / 100;
}

export interface PsiAverages {
  avg10: number;
  avg60: number;
  avg300: number;
}

export class Psi {
  private someAvg = [0, 0, 0];
  private fullAvg = [0, 0, 0];
  private someInPeriodUs = 0;
  private fullInPeriodUs = 0;
  private periodElapsedMs = 0;
  /** Total stall time since boot, microseconds (the `total=` field). */
  someTotalUs = 0;
  fullTotalUs = 0;

  /** Account one tick of `dtMs` with `someUs`/`fullUs` of stall in it. */
  record(dtMs: number, someUs: number, fullUs: number): void {
    const cap = dtMs * 1000;
    const s = Math.min(cap, Math.max(0, someUs));
    const f = Math.min(s, Math.max(0, fullUs));
    this.someInPeriodUs += s;
    this.fullInPeriodUs += f;
    this.someTotalUs += s;
    this.fullTotalUs += f;
    this.periodElapsedMs += dtMs;
    while (this.periodElapsedMs >= PSI_PERIOD_MS) {
      this.fold();
      this.periodElapsedMs -= PSI_PERIOD_MS;
    }
  }

  private fold(): void {
    const periodUs = PSI_PERIOD_MS * 1000;
    // As update_averages(): sample capped at the period; calc_avgs() scales to percent.
    const somePct = Math.floor((Math.min(this.someInPeriodUs, periodUs) * 100) / periodUs);
    const fullPct = Math.floor((Math.min(this.fullInPeriodUs, periodUs) * 100) / periodUs);
    for (let i = 0; i < 3; i++) {
      this.someAvg[i] = calcLoad(this.someAvg[i]!, EXP[i]!, somePct * FIXED_1);
      this.fullAvg[i] = calcLoad(this.fullAvg[i]!, EXP[i]!, fullPct * FIXED_1);
    }
    this.someInPeriodUs = 0;
    this.fullInPeriodUs = 0;
  }

  some(): PsiAverages {
    return {
      avg10: show(this.someAvg[0]!),
      avg60: show(this.someAvg[1]!),
      avg300: show(this.someAvg[2]!),
    };
  }

  full(): PsiAverages {
    return {
      avg10: show(this.fullAvg[0]!),
      avg60: show(this.fullAvg[1]!),
      avg300: show(this.fullAvg[2]!),
    };
  }
}
