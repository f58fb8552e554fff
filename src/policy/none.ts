/**
 * `none`: targets change only when an operator sets them. The baseline every other
 * policy is measured against.
 */
import type { Policy } from "./policy.js";

export const nonePolicy: Policy<null> = {
  name: "none",
  summary: "no automatic ballooning: targets change only when an operator sets them",
  intervalMs: 1000,
  initialState: () => null,
  decide: (_obs, state) => ({ decisions: [], state }),
};
