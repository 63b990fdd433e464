/**
 * Faults switched at run time (control channel `POST /fault`), shaped like the Modbus simulator's but for
 * a datagram device: no connection to close, so "close" becomes losing answers or sending garbage.
 * Parsed from JSON as a value, never thrown. The process-exit fault on a user-index read is opt-in at
 * start (`exitOnUserIndexRead`), not switchable remotely.
 */
import { pnioStatusFromHex, type PnioStatus } from '../../protocols/profinet/index.js';

export type PnFault =
  | { readonly mode: 'none' }
  /** Requests are received and counted, not executed, not answered (a hung stack). */
  | { readonly mode: 'silent' }
  /** Requests are executed, their answers lost (the "a write may have been executed" case). */
  | { readonly mode: 'drop-answers' }
  /** Every answer leaves `delayMs` late (an overloaded device). */
  | { readonly mode: 'slow'; readonly delayMs: number }
  /**
   * Answers are garbage: `header` keeps a valid RPC header for the call (so it matches) with a broken NDR
   * body; `random` is random bytes. Requests are still executed.
   */
  | { readonly mode: 'garbage'; readonly variant: 'header' | 'random' }
  /** Every record read/write is answered with this PNIOStatus and not executed (a device error). */
  | { readonly mode: 'status'; readonly status: string };

export const NO_PN_FAULT: PnFault = Object.freeze({ mode: 'none' });

export type ParseResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

export function parsePnFault(input: unknown): ParseResult<PnFault> {
  if (typeof input !== 'object' || input === null) return { ok: false, reason: 'fault must be a JSON object' };
  const o = input as Record<string, unknown>;
  switch (o['mode']) {
    case 'none':
    case 'silent':
    case 'drop-answers':
      return { ok: true, value: Object.freeze({ mode: o['mode'] }) };
    case 'slow': {
      const delayMs = o['delayMs'];
      if (typeof delayMs !== 'number' || !Number.isFinite(delayMs) || delayMs < 0 || delayMs > 600_000)
        return { ok: false, reason: 'slow fault needs delayMs 0..600000' };
      return { ok: true, value: Object.freeze({ mode: 'slow', delayMs }) };
    }
    case 'garbage': {
      const variant = o['variant'] ?? 'header';
      if (variant !== 'header' && variant !== 'random')
        return { ok: false, reason: "garbage fault variant must be 'header' or 'random'" };
      return { ok: true, value: Object.freeze({ mode: 'garbage', variant }) };
    }
    case 'status': {
      const status = o['status'];
      if (typeof status !== 'string' || !/^[0-9a-f]{8}$/i.test(status) || /^0{8}$/.test(status))
        return { ok: false, reason: 'status fault needs a non-zero 8-hex-digit PNIOStatus, e.g. "dea08000"' };
      return { ok: true, value: Object.freeze({ mode: 'status', status: status.toLowerCase() }) };
    }
    default:
      return { ok: false, reason: 'mode must be one of none, silent, drop-answers, slow, garbage, status' };
  }
}

export function faultStatus(f: PnFault): PnioStatus | undefined {
  return f.mode === 'status' ? pnioStatusFromHex(f.status) : undefined;
}
