/** Waiting in tests that talk to real processes (QEMU, libvirtd, the daemon, fake servers). */

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

type Maybe<T> = T | null | undefined | false;

/** Poll `f` every 250 ms until it gives something truthy; fail naming `what` after the timeout. */
export async function until<T>(
  what: string,
  f: () => Promise<Maybe<T>> | Maybe<T>,
  timeoutMs = 60_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}
