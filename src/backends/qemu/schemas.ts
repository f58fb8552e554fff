/**
 * Schemas for what QEMU sends over QMP and what the guest agent sends. A reply that
 * does not match is an error, never a crash or a wrong number. Integers QEMU sends as
 * uint64 "unknown" (2^64-1) arrive above 2^53: those are treated as absent.
 */
import { z } from "zod";

/** A byte count or counter: a non-negative safe integer. */
export const u64 = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

export const greeting = z.object({
  QMP: z.object({
    version: z
      .object({ qemu: z.object({ major: z.number(), minor: z.number(), micro: z.number() }) })
      .passthrough(),
    capabilities: z.array(z.string()),
  }),
});

export const errorReply = z.object({
  error: z.object({ class: z.string(), desc: z.string() }),
  id: z.union([z.number(), z.string()]).optional(),
});

export const returnReply = z.object({
  return: z.unknown(),
  id: z.union([z.number(), z.string()]).optional(),
});

export const eventMessage = z.object({
  event: z.string(),
  data: z.record(z.string(), z.unknown()).optional(),
  timestamp: z.object({ seconds: z.number(), microseconds: z.number() }).optional(),
});

export const queryBalloon = z.object({ actual: u64 });

export const memorySizeSummary = z.object({ "base-memory": u64, "plugged-memory": u64.optional() });

export const memoryDevices = z.array(
  z.union([
    z.object({
      type: z.literal("virtio-mem"),
      data: z.object({
        id: z.string().optional(),
        size: u64,
        "max-size": u64,
        "requested-size": u64,
        "block-size": u64,
      }),
    }),
    z.object({ type: z.string(), data: z.unknown() }),
  ]),
);

export const qomList = z.array(z.object({ name: z.string(), type: z.string() }));

export const queryName = z.object({ name: z.string().optional() });

/** QEMU's guest-stats: every value may be the "unknown" marker, so each is loose here. */
export const guestStats = z.object({
  stats: z.record(z.string(), z.number()),
  "last-update": z.number().int().nonnegative(),
});

export const balloonChange = z.object({ actual: u64 });
export const memoryDeviceSizeChange = z.object({ id: z.string().optional(), size: u64 });

/** One line from ballast-agent.sh. */
const psiLine = z.object({
  avg10: z.number().min(0).max(100),
  avg60: z.number().min(0).max(100),
  avg300: z.number().min(0).max(100),
  total: z.number().nonnegative(),
});
export const agentLine = z.object({
  v: z.literal(1),
  uptime: z.number().nonnegative(),
  psi: z.object({ some: psiLine, full: psiLine.optional() }).partial(),
  meminfo_kb: z.record(z.string(), u64),
  vmstat: z.record(z.string(), u64).optional(),
});
export type AgentLine = z.infer<typeof agentLine>;
