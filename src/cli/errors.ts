/** Exit codes (DESIGN.md): 0 done, 1 the operation ran and failed, 2 bad input. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** Bad input: printed as is, exit 2. */
export class UsageError extends Error {
  override name = "UsageError";
}
