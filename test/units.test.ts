import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  formatSize,
  GiB,
  KiB,
  MiB,
  parseDuration,
  parseRate,
  parseSize,
  TiB,
  UnitError,
} from "../src/units/index.js";

describe("parseSize", () => {
  it("reads binary units in any case, with or without a space, with decimals", () => {
    assert.equal(parseSize("512MiB"), 512 * MiB);
    assert.equal(parseSize("512 mib"), 512 * MiB);
    assert.equal(parseSize("4G"), 4 * GiB);
    assert.equal(parseSize("4g"), 4 * GiB);
    assert.equal(parseSize("1.5GiB"), 1536 * MiB);
    assert.equal(parseSize("2 K"), 2 * KiB);
    assert.equal(parseSize("1TiB"), TiB);
    assert.equal(parseSize("4096B"), 4096);
    assert.equal(parseSize("0B"), 0);
  });

  const refused: Array<[string, RegExp]> = [
    ["512", /no unit.*512MiB or 512GiB/],
    ["3GB", /ambiguous.*3GiB/],
    ["3 mb", /ambiguous.*3MiB/],
    ["1TB", /1TiB/],
    ["-1GiB", /minus sign; sizes are 0 or more/],
    ["8192TiB", /too large: sizes are below 8192TiB/],
    ["1e400M", /not a finite number/],
    ["1.5B", /whole number of bytes/],
    ["12 parsecs", /cannot read size|unknown unit/],
    ["", /empty/],
    ["GiB", /cannot read/],
    ["5PiB", /unknown unit/],
  ];
  for (const [input, re] of refused) {
    it(`refuses ${JSON.stringify(input)} with a message that says how to write it`, () => {
      assert.throws(
        () => parseSize(input),
        (e: unknown) => e instanceof UnitError && re.test(e.message),
      );
    });
  }

  it("says the same thing about zero as it does about signs, and names the limit in a unit it accepts", () => {
    const msg = (t: string, o = {}) => {
      try {
        parseSize(t, o);
      } catch (e) {
        return (e as Error).message;
      }
      return "accepted";
    };
    // Where 0 is refused, no message says sizes may be 0.
    for (const t of ["0B", "-0B", "-1MiB", "0 KiB"])
      assert.doesNotMatch(msg(t, { allowZero: false }), /0 or more/, t);
    assert.match(msg("0B", { allowZero: false }), /zero; give a size above 0/);
    assert.match(msg("-1MiB", { allowZero: false }), /sizes are above 0/);
    // Where 0 is taken, it is taken, and the message for a minus says so.
    assert.equal(parseSize("0B"), 0);
    assert.match(msg("-1MiB"), /sizes are 0 or more/);
    // The limit is named in TiB (accepted), never in PiB (not accepted).
    assert.equal(parseSize("8191TiB"), 8191 * TiB);
    for (const t of ["8192TiB", "9999999TiB", "1e30B"]) {
      assert.match(msg(t), /below 8192TiB/, t);
      assert.doesNotMatch(msg(t), /PiB/, t);
    }
  });

  it("refuses sizes that are not whole pages where pages are needed, suggesting both neighbours", () => {
    assert.throws(
      () => parseSize("1001KiB", { wholePages: true }),
      (e: unknown) =>
        e instanceof UnitError && /4 KiB pages; use 1000KiB or 1004KiB/.test(e.message),
    );
    assert.equal(parseSize("1.5MiB", { wholePages: true }), 1536 * KiB);
  });

  it("round-trips every page-aligned size through formatSize(exact)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 }), (pages) => {
        const bytes = pages * 4096;
        assert.equal(parseSize(formatSize(bytes, { exact: true })), bytes);
      }),
    );
  });

  it("never accepts a bare number", () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1e12, noNaN: true }), (n) => {
        assert.throws(() => parseSize(String(n)), UnitError);
      }),
    );
  });

  it("never accepts decimal-unit spellings", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100000 }),
        fc.constantFrom("KB", "MB", "GB", "TB", "kb", "Gb"),
        (n, u) => {
          assert.throws(() => parseSize(`${n}${u}`), /ambiguous/);
        },
      ),
    );
  });
});

describe("parseDuration and parseRate", () => {
  it("reads ms, s, m, h", () => {
    assert.equal(parseDuration("100ms"), 100);
    assert.equal(parseDuration("60s"), 60000);
    assert.equal(parseDuration("1.5s"), 1500);
    assert.equal(parseDuration("5m"), 300000);
    assert.equal(parseDuration("1h"), 3600000);
    assert.throws(() => parseDuration("60"), /no unit.*60s/);
    assert.throws(() => parseDuration("soon"), /cannot read duration/);
  });
  it("reads rates as a size per second", () => {
    assert.equal(parseRate("256MiB/s"), 256 * MiB);
    assert.throws(() => parseRate("256MiB"), /per second/);
    assert.throws(() => parseRate("256MB/s"), /ambiguous/);
  });
});
