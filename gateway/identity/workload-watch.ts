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
  const watch = new WorkloadWatch(spec, w);
  watch.connect();
  return () => watch.stop();
}

/**
 * One stream of the watch. The first message of every stream is delivered, even if equal to the last one
 * before a reconnect: it tells the watcher the agent is back.
 */
interface Stream<R> {
  readonly call: grpc.ClientReadableStream<R>;
  lastKey: string | undefined;
  ended: boolean;
}

/** connect → received (parse, apply) → streamEnded → retry with the spec's backoff, or give up. */
class WorkloadWatch<R, T> {
  private stopped = false;
  private stream: Stream<R> | undefined;
  private timer: TimerHandle | undefined;

  constructor(
    private readonly spec: WatchSpec<R, T>,
    private readonly w: Watcher<T>,
  ) {}

  /** Opens a stream and routes its events; the events of a stream that is no longer current are ignored. */
  connect(): void {
    this.timer = undefined;
    if (this.stopped) return;
    const s: Stream<R> = { call: this.spec.open(), lastKey: undefined, ended: false };
    this.stream = s;
    s.call.on('data', (msg: R) => {
      if (this.current(s)) this.received(s, msg);
    });
    s.call.on('error', (err: grpc.ServiceError) => this.streamEnded(s, err));
    s.call.on('status', (st: grpc.StatusObject) => {
      if (st.code === grpc.status.OK) this.streamEnded(s, endedByServer(this.spec.method, st)); // else 'error' reports it
    });
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.spec.timers.clearTimeout(this.timer);
    this.stream?.call.cancel();
  }

  private current(s: Stream<R>): boolean {
    return !this.stopped && s === this.stream;
  }

  /** A good message resets the backoff; a repeat of the stream's last snapshot is dropped, else parsed and applied. */
  private received(s: Stream<R>, msg: R): void {
    this.spec.backoff.reset();
    const k = this.spec.key(msg);
    if (k === s.lastKey) {
      this.spec.logger.debug({ method: this.spec.method }, 'identity: identical Workload API snapshot dropped');
      return;
    }
    let value: T;
    try {
      value = this.spec.parse(msg);
    } catch (err) {
      s.lastKey = undefined;
      this.spec.logger.error({ err, method: this.spec.method }, 'identity: Workload API sent an unusable snapshot');
      this.deliver(() => this.w.onError(err as Error));
      return;
    }
    s.lastKey = k;
    this.apply(value);
  }

  private apply(value: T): void {
    this.deliver(() => this.w.onUpdate(value));
  }

  /** The stream failed or the server ended it: once per stream, and only for the current one. */
  private streamEnded(s: Stream<R>, err: grpc.ServiceError): void {
    if (s.ended || !this.current(s)) return;
    s.ended = true;
    if (FATAL.has(err.code)) this.giveUp(err);
    else this.retry(err);
  }

  private giveUp(err: grpc.ServiceError): void {
    const { method, address, logger } = this.spec;
    this.stopped = true;
    const msg = `identity: ${method} on ${address} failed with ${codeName(err.code)}: ${err.details}; not retrying`;
    logger.error({ code: codeName(err.code), method }, msg);
    this.deliver(() => this.w.onError(new GatewayError('GW_ERR_WORKLOAD_API', msg, { cause: err })));
  }

  private retry(err: grpc.ServiceError): void {
    const { method, backoff, timers, logger } = this.spec;
    const delay = backoff.next();
    const fields = { code: codeName(err.code), details: err.details, retryInMs: delay, method };
    // PermissionDenied while no registration entry matches yet is normal right after `entry create` (SPIRE is
    // eventually consistent, ~5–12 s, docs/architecture.md "SPIRE facts"): say so at info level instead of
    // alarming the operator.
    if (err.code === grpc.status.PERMISSION_DENIED)
      logger.info(fields, 'identity: no SVID for this workload yet (no matching registration entry); retrying');
    else logger.warn(fields, 'identity: Workload API watch failed; retrying');
    this.deliver(() => this.w.onError(err));
    if (!this.stopped) this.timer = timers.setTimeout(() => this.connect(), delay);
  }

  /** A watcher callback that throws must not break the watch. */
  private deliver(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.spec.logger.error({ err, method: this.spec.method }, 'identity: Workload API watcher callback threw');
    }
  }
}

/** A stream the server closed with OK: retried like Unavailable (a watch is meant to last). */
function endedByServer(method: string, st: grpc.StatusObject): grpc.ServiceError {
  return Object.assign(new Error(`${method}: stream ended by the server`), {
    code: grpc.status.UNAVAILABLE,
    details: 'stream ended by the server',
    metadata: st.metadata,
  });
}
