/**
 * Faults a test (or an operator at the control channel) switches on at run time to make the PLC misbehave the
 * way field devices do: stop answering, drop the connection, answer every request with an exception, or
 * answer late. Parsed from JSON as a value, never thrown.
 */
export type Fault =
  | { readonly mode: 'none' }
  /** Requests are read and dropped: no response, connection stays open (a hung PLC or a dead serial line behind a gateway). */
  | { readonly mode: 'silent' }
  /** The connection is closed as soon as a request arrives (a PLC that resets its TCP stack). */
  | { readonly mode: 'close' }
  /** Every request is answered with this exception code and not executed (e.g. 0x04 device failure, 0x06 busy). */
  | { readonly mode: 'exception'; readonly code: number }
  /** Every response is delayed by delayMs on top of the scan delay (an overloaded PLC). */
  | { readonly mode: 'slow'; readonly delayMs: number }
  /**
   * RTU line noise (rtu-server.ts; Modbus TCP ignores it): every `every`-th answer gets one data bit flipped
   * with its CRC kept (`crc`: a CRC error at the master) or is cut to half its length (`truncate`).
   */
  | { readonly mode: 'noise'; readonly kind: 'crc' | 'truncate'; readonly every: number };

export const NO_FAULT: Fault = Object.freeze({ mode: 'none' });

export type ParseResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

export function parseFault(input: unknown): ParseResult<Fault> {
  if (typeof input !== 'object' || input === null) return { ok: false, reason: 'fault must be a JSON object' };
  const o = input as Record<string, unknown>;
  switch (o['mode']) {
    case 'none':
    case 'silent':
    case 'close':
      return { ok: true, value: Object.freeze({ mode: o['mode'] }) };
    case 'exception': {
      const code = o['code'] ?? 0x04;
      if (typeof code !== 'number' || !Number.isInteger(code) || code < 1 || code > 0xff) {
        return { ok: false, reason: 'exception fault needs an integer code 1..255' };
      }
      return { ok: true, value: Object.freeze({ mode: 'exception', code }) };
    }
    case 'slow': {
      const delayMs = o['delayMs'];
      if (typeof delayMs !== 'number' || !Number.isFinite(delayMs) || delayMs < 0 || delayMs > 600_000) {
        return { ok: false, reason: 'slow fault needs delayMs 0..600000' };
      }
      return { ok: true, value: Object.freeze({ mode: 'slow', delayMs }) };
    }
    case 'noise': {
      const every = o['every'] ?? 1;
      const kind = o['kind'] ?? 'crc';
      if (typeof every !== 'number' || !Number.isInteger(every) || every < 1 || every > 1_000_000)
        return { ok: false, reason: 'noise fault needs every 1..1000000' };
      if (kind !== 'crc' && kind !== 'truncate')
        return { ok: false, reason: "noise fault kind is 'crc' or 'truncate'" };
      return { ok: true, value: Object.freeze({ mode: 'noise', kind, every }) };
    }
    default:
      return { ok: false, reason: 'mode must be one of none, silent, close, exception, slow, noise' };
  }
}
