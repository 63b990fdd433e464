/**
 * Event-driven waits for in-process I/O: the test's client saw its side of a loopback exchange and the
 * condition is the server's side (the gateway or simulator saw the close, the request, the handshake a moment
 * later). `when()` checks the condition now and again each time the emitter signals, so it waits exactly as
 * long as the I/O takes and never on the wall clock; a hang is bounded by tap's per-test timeout. For another
 * process, which signals nothing the test can listen to, use `eventually()` (test/helpers/eventually.ts).
 */

/** Anything with Node's listener API (EventEmitter, net.Server, net.Socket, the simulators' event hubs). */
export interface Signals {
  on(event: string, listener: () => void): unknown;
  off(event: string, listener: () => void): unknown;
}

/**
 * Resolves with the first truthy value of `probe`, checked at once and after every `events` emission of
 * `emitter`. A probe that throws rejects the wait (a broken test, not a condition to wait out).
 */
export function when<T>(emitter: Signals, events: string | readonly string[], probe: () => T): Promise<NonNullable<T>> {
  const names = typeof events === 'string' ? [events] : events;
  return new Promise<NonNullable<T>>((resolve, reject) => {
    const done = (): void => {
      for (const n of names) emitter.off(n, check);
    };
    const check = (): boolean => {
      let v: T;
      try {
        v = probe();
      } catch (err) {
        done();
        reject(err instanceof Error ? err : new Error(String(err)));
        return true;
      }
      if (v === undefined || v === null || v === false) return false;
      done();
      resolve(v);
      return true;
    };
    for (const n of names) emitter.on(n, check);
    check();
  });
}
