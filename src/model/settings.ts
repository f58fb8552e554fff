/**
 * Per-guest settings as Hyper-V Dynamic Memory and XenServer name them: `min` and
 * `max` bound the target (XenServer's dynamic-min/dynamic-max, Proxmox's balloon and
 * memory), `weight` is the guest's share when memory is contended (Proxmox shares,
 * Hyper-V memory weight), `buffer` is the free headroom the guest should keep, in
 * percent of what it needs (Hyper-V's memory buffer).
 */
import { MiB } from "../units/index.js";

export interface GuestSettings {
  minBytes: number;
  maxBytes: number;
  weight: number;
  bufferPct: number;
}

export const DEFAULT_WEIGHT = 100;
/** Hyper-V Dynamic Memory's default memory buffer is 20%. */
export const DEFAULT_BUFFER_PCT = 20;

/**
 * Defaults for a guest nobody configured: min is half its boot memory (Proxmox and
 * XenServer both need a lower bound to balloon at all), max its maxmem.
 */
export function defaultSettings(memoryBytes: number, maxmemBytes: number): GuestSettings {
  return {
    minBytes: Math.floor(memoryBytes / 2 / MiB) * MiB,
    maxBytes: maxmemBytes,
    weight: DEFAULT_WEIGHT,
    bufferPct: DEFAULT_BUFFER_PCT,
  };
}

export class SettingsError extends Error {
  override name = "SettingsError";
}

/** Check settings against a guest's limits; throws SettingsError naming the field. */
export function validateSettings(s: GuestSettings, maxmemBytes: number): void {
  if (!Number.isFinite(s.weight) || s.weight <= 0 || s.weight > 10000) {
    throw new SettingsError(`weight must be between 1 and 10000 (got ${s.weight})`);
  }
  if (!Number.isFinite(s.bufferPct) || s.bufferPct < 0 || s.bufferPct > 2000) {
    throw new SettingsError(`buffer must be a percentage from 0 to 2000 (got ${s.bufferPct})`);
  }
  if (s.minBytes > s.maxBytes) throw new SettingsError("min is above max");
  if (s.maxBytes > maxmemBytes) {
    throw new SettingsError(`max is above the domain's maxmem (${maxmemBytes / MiB} MiB)`);
  }
}
