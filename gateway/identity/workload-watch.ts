/**
 * One retrying Workload API watch (a server stream), as go-spiffe's watch loops in workloadapi/client.go:
 * every error goes to the watcher; InvalidArgument and Unimplemented end the watch with GW_ERR_WORKLOAD_API
 * (a client bug or an API the server lacks: retrying cannot help); anything else — Unavailable (agent down),
 * PermissionDenied (no registration entry matches yet), a stream the server ended — is retried with
 * linear backoff that resets after each good message [SPIFFE_Workload_API 5.1].
 */
import * as grpc from '@grpc/grpc-js';
import { GatewayError } from '../errors.js';
import type { Backoff } from '../backoff.js';
import type { TimerHandle, Timers } from '../timers.js';
import type { Logger } from '../logger.js';

export interface Watcher<T> {
  onUpdate(value: T): void;
  onError(err: Error): void;
}

export interface WatchSpec<R, T> {
  /** e.g. 'FetchX509SVID', for messages. */
  method: string;
  address: string;
  open(): grpc.ClientReadableStream<R>;
  parse(msg: R): T;
  /** Identity of a message's content; a repeat of the previous message on the same stream is dropped. */
  key(msg: R): string;
  /** This watch's own retry strategy (linear, go-spiffe); reset after each good message. */
  backoff: Backoff;
  /** Arms the retry timer (gateway/timers.ts). */
  timers: Timers;
  logger: Logger;
}

const FATAL = new Set<number>([grpc.status.INVALID_ARGUMENT, grpc.status.UNIMPLEMENTED]);

function codeName(code: number): string {
  return grpc.status[code] ?? String(code);
}

/** Starts the watch; the returned function stops it (idempotent). */
export function startWatch<R, T>(spec: WatchSpec<R, T>, w: Watcher<T>): () => void {
  const { backoff, timers } = spec;
  const log = spec.logger;
  let stopped = false;
  let call: grpc.ClientReadableStream<R> | undefined;
  let timer: TimerHandle | undefined;

  const deliver = (fn: () => void): void => {
    try {
      fn();
    } catch (err) {
      log.error({ err, method: spec.method }, 'identity: Workload API watcher callback threw');
    }
  };

  const failed = (err: grpc.ServiceError): void => {
    if (FATAL.has(err.code)) {
      stopped = true;
      const msg = `identity: ${spec.method} on ${spec.address} failed with ${codeName(err.code)}: ${err.details}; not retrying`;
      log.error({ code: codeName(err.code), method: spec.method }, msg);
      deliver(() => w.onError(new GatewayError('GW_ERR_WORKLOAD_API', msg, { cause: err })));
      return;
    }
    const delay = backoff.next();
    const fields = { code: codeName(err.code), details: err.details, retryInMs: delay, method: spec.method };
    // PermissionDenied while no registration entry matches yet is normal right after `entry create` (SPIRE is
    // eventually consistent, ~5–12 s, docs/architecture.md "SPIRE facts"): say so at info level instead of
    // alarming the operator.
    if (err.code === grpc.status.PERMISSION_DENIED)
      log.info(fields, 'identity: no SVID for this workload yet (no matching registration entry); retrying');
    else log.warn(fields, 'identity: Workload API watch failed; retrying');
    deliver(() => w.onError(err));
    if (!stopped) timer = timers.setTimeout(open, delay);
  };

  const open = (): void => {
    timer = undefined;
    if (stopped) return;
    // The first message of every stream is delivered, even if equal to the last one before a reconnect:
    // it tells the watcher the agent is back.
    let lastKey: string | undefined;
    let ended = false;
    const c = spec.open();
    call = c;
    c.on('data', (msg: R) => {
      if (stopped || c !== call) return;
      backoff.reset();
      const k = spec.key(msg);
      if (k === lastKey) {
        log.debug({ method: spec.method }, 'identity: identical Workload API snapshot dropped');
        return;
      }
      let value: T;
      try {
        value = spec.parse(msg);
      } catch (err) {
        lastKey = undefined;
        log.error({ err, method: spec.method }, 'identity: Workload API sent an unusable snapshot');
        deliver(() => w.onError(err as Error));
        return;
      }
      lastKey = k;
      deliver(() => w.onUpdate(value));
    });
    const end = (err: grpc.ServiceError): void => {
      if (ended || stopped || c !== call) return;
      ended = true;
      failed(err);
    };
    c.on('error', end);
    c.on('status', (s: grpc.StatusObject) => {
      if (s.code !== grpc.status.OK) return; // the 'error' event reports it
      end(
        Object.assign(new Error(`${spec.method}: stream ended by the server`), {
          code: grpc.status.UNAVAILABLE,
          details: 'stream ended by the server',
          metadata: s.metadata,
        }),
      );
    });
  };

  open();
  return () => {
    if (stopped) return;
    stopped = true;
    timers.clearTimeout(timer);
    call?.cancel();
  };
}
