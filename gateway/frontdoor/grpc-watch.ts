/**
 * `Watch`: polls one range every `interval_ms` (clamped to 100 ms .. 1 h) through the same pipeline as any
 * read — so each poll is authorized, rate-limited, audited and shares the PLC connection like every other
 * request — and streams the values when they change (the first successful poll is always sent).
 * Ends: client cancel; session end (kill, lock, SVID expiry); a denial (PERMISSION_DENIED, e.g. after a
 * policy reload or a trust downgrade); a PLC exception (FAILED_PRECONDITION: the range is not readable).
 * A PLC timeout or an unreachable PLC does not end the stream: that poll is skipped and the next one retried.
 * Back-pressure: when `write()` reports the stream over its high-water mark (a client that stops reading or
 * never opens its HTTP/2 flow-control window [RFC 9113 5.2]), polling stops until the stream's 'drain'; so a
 * slow reader holds at most one update beyond that mark, and a stalled Watch makes no requests (the idle
 * timeout then ends its session). Should the queue still pass `MAX_WATCH_QUEUED`, the stream ends with
 * RESOURCE_EXHAUSTED rather than grow.
 */
import { status, type ServerWritableStream, type ServiceError } from '@grpc/grpc-js';
import type { ModbusRequest, Table } from '../../protocols/modbus/index.js';
import { prepareCall, refuseCall, responseValues, runPrepared, type ModbusCallDeps } from './grpc-modbus-call.js';
import { tableFromProto, type WatchRequest, type WatchUpdate } from './grpc-proto.js';
import type { CallSessionLookup } from './grpc-session-map.js';
import { grpcError, invalidRequest } from './grpc-status.js';
import type { TimerHandle, Timers } from '../timers.js';

export const MIN_WATCH_INTERVAL_MS = 100;
/** Upper bound: also keeps the poll timer below 2^31 ms (a larger Node delay would fire after 1 ms). */
export const MAX_WATCH_INTERVAL_MS = 3_600_000;
/** Updates queued unsent above which the stream is ended (grpc-js streams are objectMode: high-water mark 16). */
export const MAX_WATCH_QUEUED = 64;

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
  // refused before its first poll: audited like any refused request, then the stream ends with its status
  if (!prepared.ok) return void refuseCall(deps, session, prepared.refusal).then(fail);
  const intervalMs = Math.min(MAX_WATCH_INTERVAL_MS, Math.max(MIN_WATCH_INTERVAL_MS, r.intervalMs));

  let stopped = false;
  let timer: TimerHandle | null = null;
  let last: string | null = null;
  const arm = (): void => {
    timer = deps.timers.setTimeout(() => void poll(), intervalMs);
  };
  // the client read its backlog: polling resumes one interval later
  const onDrain = (): void => {
    if (!stopped) arm();
  };
  const stop = (err?: ServiceError): void => {
    if (stopped) return;
    stopped = true;
    deps.timers.clearTimeout(timer);
    call.off('drain', onDrain);
    if (err) fail(err);
  };
  call.on('cancelled', () => stop());
  call.on('close', () => stop());

  /** Sends one update; false when the stream is backed up and polling must wait for 'drain'. */
  const send = (values: number[]): boolean => {
    if (call.writableLength >= MAX_WATCH_QUEUED) {
      stop(grpcError(status.RESOURCE_EXHAUSTED, `watch: ${call.writableLength} updates unread by the client`));
      return false;
    }
    if (call.write({ values, timeUnixMs: deps.now() })) return true;
    call.once('drain', onDrain);
    return false;
  };

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
        if (!send(values)) return; // re-armed by 'drain' (or stopped)
      }
    }
    arm();
  };
  void poll();
}
