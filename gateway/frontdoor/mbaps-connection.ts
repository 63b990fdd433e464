/**
 * One verified Modbus/TCP Security connection: frames the byte stream, answers every request on its own
 * transaction id, and applies back-pressure. Rules that hold here:
 * - a malformed MBAP frame closes this session only (the framer says why) [MB-TCP 3.1.3];
 * - a structurally bad PDU of a known FC gets the spec's exception (02/03), the session stays;
 * - a policy denial answers 0x01 on the same transaction and keeps the session [MB-TCP-SEC R-24];
 * - responses may complete out of order; the client matches them by transaction id [MB-TCP 4.2];
 * - every exception answered comes from the one outcome table (errors.ts); a failure inside the gateway
 *   answers 0x04 and is logged, counted and audited by the pipeline;
 * - at most `maxInFlight` requests of this session await their answer — refusals made before policy (invalid
 *   PDU, no route, internal failure) included, so junk frames pipelined by a client cannot bypass the limit —
 *   and reading stops while the client does not read its answers (write buffer above a high-water mark): a
 *   client cannot grow our memory.
 */
import type tls from 'node:tls';
import {
  AduBatch,
  MbapFramer,
  classify,
  decodeRequest,
  exceptionPdu,
  type Frame,
} from '../../protocols/modbus/index.js';
import type { RequestPipeline, PipelineRequest } from './request-pipeline.js';
import { answerFor } from './request-events.js';
import type { Session } from './session.js';

export type RouteLookup = (unitId: number) => { device: PipelineRequest['device']; unit: number } | undefined;

export interface ConnectionDeps {
  readonly routes: RouteLookup;
  readonly pipeline: RequestPipeline;
  readonly maxInFlight: number;
}

/** Unsent answer bytes above which this connection stops reading requests until the client drains them. */
const WRITE_HIGH_WATER = 64 * 1024;

export class MbapsConnection {
  private readonly framer = new MbapFramer();
  private inFlight = 0;
  private closed = false;
  /** Answers released in one turn (one audit group commit), written together at the end of it. */
  private readonly answers = new AduBatch();
  private flushQueued = false;
  private readonly flush = (): void => this.flushAnswers();
  private readonly closeHandlers: (() => void)[] = [];

  constructor(
    private readonly socket: tls.TLSSocket,
    readonly session: Session,
    private readonly deps: ConnectionDeps,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.framer.push(chunk);
      this.pump();
    });
    socket.on('drain', () => this.pump());
    socket.on('close', () => this.onClosed());
    // armed by setIdleTimeout(); one listener however often the timeout is changed
    socket.on('timeout', () => this.session.end('idle-timeout'));
  }

  onClose(handler: () => void): void {
    this.closeHandlers.push(handler);
  }

  /**
   * Policy `session.idleTimeout`: the session ends after `ms` without socket activity; null switches it off.
   * Called again when a policy reload changes it: the countdown restarts from then with the new value.
   */
  setIdleTimeout(ms: number | null): void {
    this.socket.setTimeout(ms ?? 0);
  }

  /** Takes frames while the session is open, below its in-flight limit and not backed up; else pauses. */
  private pump(): void {
    while (!this.closed && this.session.isOpen) {
      if (
        this.inFlight >= this.deps.maxInFlight ||
        this.socket.writableLength + this.answers.bytes > WRITE_HIGH_WATER
      ) {
        this.socket.pause();
        return;
      }
      const r = this.framer.next();
      if (r.kind === 'need-more') break;
      if (r.kind === 'malformed') {
        this.session.end(`malformed-frame:${r.reason}`);
        return;
      }
      this.dispatch(r.frame);
    }
    if (!this.closed) this.socket.resume();
  }

  private dispatch(frame: Frame): void {
    const { transactionId, unitId } = frame.header;
    const fc = frame.pdu[0] ?? 0;
    // every frame taken holds an in-flight slot until its answer is out (answered()), refused or handled alike
    this.inFlight++;
    try {
      this.route(frame, fc);
    } catch (err) {
      // decode, classify or route threw (a bug): the client still gets its answer, the failure leaves a trail.
      void this.deps.pipeline
        .failed(this.session, { unit: unitId, fc, transactionId }, err)
        .then((r) => this.answered(transactionId, unitId, r.pdu));
    }
  }

  private route(frame: Frame, fc: number): void {
    const { transactionId, unitId } = frame.header;
    const decoded = decodeRequest(frame.pdu);
    if (!decoded.ok) {
      // the decoder's own exception (02/03) is the precise answer for this outcome [MB-APP 6.x]; like every
      // answer it leaves once its audit event is in the file (0x06 instead when it is not, fail-closed)
      void this.deps.pipeline
        .refused(
          this.session,
          { unit: unitId, fc, transactionId },
          'invalid-request',
          `invalid-request ${decoded.reason}`,
          exceptionPdu(fc, decoded.exception),
        )
        .then((answer) => this.answered(transactionId, unitId, answer));
      return;
    }
    const route = this.deps.routes(unitId);
    if (!route) {
      const noPath = answerFor(fc, 'no-route'); // no path to a device [MB-APP 7]
      void this.deps.pipeline
        .refused(this.session, { unit: unitId, fc, transactionId }, 'no-route', `no-route unit ${unitId}`, noPath)
        .then((answer) => this.answered(transactionId, unitId, answer));
      return;
    }
    const classified = classify(decoded.value, route.unit);
    // one reaction per request (no .finally: it costs two more closures and promises)
    this.deps.pipeline
      .handle({ session: this.session, device: route.device, classified, pdu: frame.pdu, transactionId })
      .then(
        (res) => this.answered(transactionId, unitId, res.pdu),
        // handle() reports its own failures and never rejects; should it, the answer and the trail still follow.
        (err: unknown) =>
          this.deps.pipeline
            .failed(this.session, { unit: unitId, fc, transactionId }, err)
            .then((r) => this.answered(transactionId, unitId, r.pdu)),
      );
  }

  /** A request's answer (handled or refused): sent, and its in-flight slot freed for the next frame. */
  private answered(transactionId: number, unitId: number, pdu: Buffer): void {
    try {
      this.reply(transactionId, unitId, pdu);
    } finally {
      this.inFlight--;
      this.pump();
    }
  }

  /**
   * Answers carry the client's own transaction and unit id [MB-TCP 3.1.3]. The answers released together (one
   * audit group commit) leave in one TLS record and one write(2): gathered here, encoded into one buffer and
   * written once the microtasks that release them have run (no ADU buffer and stream write per answer).
   */
  private reply(transactionId: number, unitId: number, pdu: Buffer): void {
    if (this.closed || !this.session.isOpen) return;
    this.answers.add(transactionId, unitId, pdu);
    if (!this.flushQueued) {
      this.flushQueued = true;
      process.nextTick(this.flush);
    }
  }

  private flushAnswers(): void {
    this.flushQueued = false;
    const out = this.answers.take();
    if (out !== null && !this.closed && this.session.isOpen) this.socket.write(out);
  }

  private onClosed(): void {
    if (this.closed) return;
    this.closed = true;
    for (const h of this.closeHandlers) h();
  }
}
