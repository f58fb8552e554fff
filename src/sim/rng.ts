/**
 * Deterministic randomness for the simulator: a value is a pure function of the
 * scenario seed and a key, so results never depend on call order or wall time.
 */

export function hashKey(s: string): number {
  // FNV-1a, 32-bit.
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** splitmix32 finaliser. */
function mix(x: number): number {
  let z = (x + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** A uniform number in [0, 1) for (seed, key, index). */
export function uniform(seed: number, key: string, index = 0): number {
  return uniformHashed(seed, hashKey(key), index);
}

/** uniform() for a key already hashed with hashKey() (for callers that draw every tick). */
export function uniformHashed(seed: number, keyHash: number, index = 0): number {
  const h = mix(mix(keyHash ^ mix(seed >>> 0)) ^ mix(index >>> 0));
  return h / 2 ** 32;
}
