/**
 * `Watch`: polls one range every `interval_ms` (clamped to 100 ms .. 1 h) through the same pipeline as any
 * read — so each poll is authorized, rate-limited, audited and shares the PLC connection like every other
 * request — and streams the values when they change (the first successful poll is always sent).
 * Ends: client cancel; session end (kill, lock, SVID expiry); a denial (PERMISSION_DENIED, e.g. after a
 * policy reload or a trust downgrade); a PLC exception (FAILED_PRECONDITION: the range is not readable).
 * A PLC timeout or an unreachable PLC does not end the stream: that poll is skipped and the next one retried.
 */
import { status, type ServerWritableStream, type ServiceError } from '@grpc/grpc-js';
import type { ModbusRequest, Table } from '../../protocols/modbus/index.js';
import { prepareCall, responseValues, runPrepared, type ModbusCallDeps } from './grpc-modbus-call.js';
import { tableFromProto, type WatchRequest, type WatchUpdate } from './grpc-proto.js';
import type { CallSessionLookup } from './grpc-session-map.js';
import { grpcError, invalidRequest } from './grpc-status.js';
import type { TimerHandle, Timers } from '../timers.js';

export const MIN_WATCH_INTERVAL_MS = 100;
/** Upper bound: also keeps the poll timer below 2^31 ms (a larger Node delay would fire after 1 ms). */
export const MAX_WATCH_INTERVAL_MS = 3_600_000;

export interface WatchDeps extends ModbusCallDeps {
  readonly sessionOf: CallSessionLookup;
  readonly now: () => number;
  /** Arms the poll timer (gateway/timers.ts): the front door's timers, fake in tests. */
  readonly timers: Timers;
}

const READ_FC: Record<Table, 1 | 2 | 3 | 4> = { coils: 1, discrete: 2, holding: 3, input: 4 };

/** Status codes that end the stream; anything else (timeouts, unavailable PLC) is retried on the next poll. */
const FATAL: ReadonlySet<number> = new Set([
  status.PERMISSION_DENIED,
  status.FAILED_PRECONDITION,
  status.UNAUTHENTICATED,
  status.INVALID_ARGUMENT,
]);

function readOf(table: Table, address: number, quantity: number): ModbusRequest {
  const fc = READ_FC[table];
  return fc === 1 || fc === 2
    ? { type: 'read-bits', fc, address, quantity }
    : { type: 'read-registers', fc, address, quantity };
}

export function startWatch(deps: WatchDeps, call: ServerWritableStream<WatchRequest, WatchUpdate>): void {
  const fail = (e: ServiceError): void => void call.emit('error', e);
  const found = deps.sessionOf(call);
  if (!found.ok) return fail(found.error);
  const { session } = found;
  const r = call.request;
  const table = tableFromProto(r.table);
  if (!table)
    return fail(
      invalidRequest(
        `table must be one of COILS, DISCRETE_INPUTS, HOLDING_REGISTERS, INPUT_REGISTERS (got ${r.table})`,
      ),
    );
  const prepared = prepareCall(deps, r.device, readOf(table, r.address, r.count));
  if (!prepared.ok) return fail(prepared.error);
  const intervalMs = Math.min(MAX_WATCH_INTERVAL_MS, Math.max(MIN_WATCH_INTERVAL_MS, r.intervalMs));

  let stopped = false;
  let timer: TimerHandle | null = null;
  let last: string | null = null;
  const stop = (err?: ServiceError): void => {
    if (stopped) return;
    stopped = true;
    deps.timers.clearTimeout(timer);
    if (err) fail(err);
  };
  call.on('cancelled', () => stop());
  call.on('close', () => stop());

  const poll = async (): Promise<void> => {
    if (stopped) return;
    if (!session.isOpen) return stop(grpcError(status.UNAVAILABLE, `session ended: ${session.endReason ?? 'closed'}`));
    const res = await runPrepared(deps, session, prepared.call);
    if (stopped) return;
    if (!res.ok) {
      if (FATAL.has(res.error.code)) return stop(res.error);
    } else {
      const values = responseValues(res.response) ?? [];
      const key = values.join(',');
      if (key !== last) {
        last = key;
        call.write({ values, timeUnixMs: deps.now() });
      }
    }
    timer = deps.timers.setTimeout(() => void poll(), intervalMs);
  };
  void poll();
}
