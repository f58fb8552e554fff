/**
 * virtio-balloon over QMP. `balloon` takes bytes and moves the guest towards them; QEMU
 * answers at once and the guest's driver follows at its own pace, reporting progress in
 * BALLOON_CHANGE events (rate-limited to one a second). `query-balloon` says only the
 * actual, never the target (hw/virtio/virtio-balloon.c), so the backend keeps the target.
 */
import { z } from "zod";
import type { QmpClient } from "./qmp.js";
import { balloonChange, queryBalloon } from "./schemas.js";

const anyReply = z.unknown();

export async function balloonActual(qmp: QmpClient): Promise<number> {
  return (await qmp.execute("query-balloon", {}, queryBalloon)).actual;
}

export async function setBalloon(qmp: QmpClient, bytes: number): Promise<void> {
  await qmp.execute("balloon", { value: bytes }, anyReply);
}

/** BALLOON_CHANGE's actual, or null when the event's data does not parse. */
export function balloonChangeActual(data: unknown): number | null {
  const d = balloonChange.safeParse(data);
  return d.success ? d.data.actual : null;
}

/**
 * Switch the guest's statistics on: QEMU asks the driver every `seconds` once
 * guest-stats-polling-interval is set, and not before (the driver's first answer at
 * boot is all QEMU has until then).
 */
export async function enableStatsPolling(
  qmp: QmpClient,
  balloonPath: string,
  seconds: number,
): Promise<void> {
  await qmp.execute(
    "qom-set",
    { path: balloonPath, property: "guest-stats-polling-interval", value: seconds },
    anyReply,
  );
}

/** The balloon's guest-stats-polling-interval, seconds (0: statistics off). */
export async function statsPollingInterval(qmp: QmpClient, balloonPath: string): Promise<number> {
  const v = await qmp
    .execute(
      "qom-get",
      { path: balloonPath, property: "guest-stats-polling-interval" },
      z.number().int().nonnegative(),
    )
    .catch(() => 0);
  return v;
}
