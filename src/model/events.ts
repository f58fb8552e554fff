/** Events that the simulator, the backends and the daemon report. */

export type EventType =
  | "boot"
  | "boot-failed"
  | "mem-set"
  | "mem-set-refused"
  | "mem-max"
  | "mem-max-refused"
  | "destroy"
  | "destroy-refused"
  | "balloon-reached-target"
  | "balloon-stalled"
  | "deflate-stalled"
  | "balloon-deflated-on-oom"
  | "oom-kill"
  /** The guest kernel panicked (out_of_memory() with nothing left to kill). */
  | "guest-panic"
  /** KVM: the host ran out of memory backing its guests and its OOM killer took a QEMU. */
  | "host-oom-kill"
  | "list"
  /** Real guests: QEMU's BALLOON_CHANGE, MEMORY_DEVICE_SIZE_CHANGE, the VM going away. */
  | "balloon-change"
  | "memory-device-size-change"
  | "guest-gone";

/** Codes carried by refused commands' events. */
export type RefusalCode =
  | "above-maxmem"
  | "below-floor"
  | "bad-size"
  | "no-such-domain"
  | "above-host-free"
  | "below-target"
  | "bad-command";

export interface SimEvent {
  /** Virtual time in seconds. */
  t_s: number;
  domain: string;
  type: EventType;
  code?: RefusalCode | string;
  message: string;
}
