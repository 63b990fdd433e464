/**
 * ProfinetClient: the gateway's PNIO-CM client for one PROFINET IO device (one per device in gateway.yaml),
 * what the front door calls after policy said yes [IEC 61158-6-10 record read/write; C706 connectionless RPC].
 *
 * - One call in flight per device (taking turns: profinet-turns.ts): legacy device stacks fall over under
 *   parallel requests. In front of it the bounded fair queue (fair-queue.ts) shared with the Modbus pool: FIFO
 *   per clientKey, round-robin between keys; full → `queue-full` at once; a request that waits longer than
 *   `queueTimeoutMs` leaves `unavailable` unsent.
 * - Reads: Read Implicit (opnum 5, no AR) by default, or Read (opnum 2) over the gateway's AR (`viaAr`).
 *   One retransmission (profinet-transport.ts). Writes: over the supervisor device-access AR
 *   (profinet-ar.ts), sent exactly once; no answer → `write-lost` (may have been executed). Not even an
 *   "unknown AR" answer (PNIOStatus xx 81 40 05) sends it again: the last hop is plaintext UDP, so a forged
 *   "unknown AR" racing the device's real answer would otherwise execute a write twice. The AR is forgotten
 *   and the next write opens a new one; this one returns the device's error.
 * - AbortSignal / stillAllowed: a queued request leaves `aborted` in the same turn as the abort; both are
 *   checked synchronously right before every datagram the request puts on the wire (AR connect, the call,
 *   a read's retransmission), so an ended session or a locked device gets nothing more onto the wire.
 */
import {
  NIL_UUID,
  RecordIndex,
  decodeRecord,
  isPnioOk,
  type CmRequest,
  type Uuid,
} from '../../protocols/profinet/index.js';
import { SMALL_ARGS_MAXIMUM, SupervisorAr, type ArSession } from './profinet-ar.js';
import { resolveProfinetOptions, type ResolvedProfinetOptions } from './profinet-options.js';
import { failedOutcome, isUnknownAr, pnioError, statusBytes } from './profinet-results.js';
import { ProfinetTransport, type CallOutcome } from './profinet-transport.js';
import { checkRead, checkWrite } from './profinet-args.js';
import { ProfinetTurns, type LostResult } from './profinet-turns.js';
import type {
  IdentityResult,
  ProfinetClientStats,
  ProfinetDeviceOptions,
  ProfinetRequestBase,
  ProfinetResult,
  ReadRecordRequest,
  WriteRecordRequest,
} from './profinet-types.js';

/** IODReadResHeader block (64 bytes) in front of the record data: part of a read's ArgsMaximum. */
const READ_RES_HEADER = 64;
/** A read whose work failed after a datagram left: as unanswered (a read is never a write replayed). */
const READ_LOST: LostResult = Object.freeze({ kind: 'timeout', stage: 'read' });

export class ProfinetClient {
  readonly #o: ResolvedProfinetOptions;
  readonly #transport: ProfinetTransport;
  readonly #ar: SupervisorAr;
  readonly #turns: ProfinetTurns;
  /** Activity of Read Implicit calls; AR calls use the AR's own activity. */
  readonly #implicit: { readonly activity: Uuid; seq: number };
  #recordSeq = 0;
  readonly #counters = { timeouts: 0, writesLost: 0, malformed: 0 };

  constructor(opts: ProfinetDeviceOptions) {
    this.#o = resolveProfinetOptions(opts);
    this.#transport = new ProfinetTransport(this.#o);
    this.#turns = new ProfinetTurns(this.#o, () => this.#ar.release());
    this.#ar = new SupervisorAr(this.#o, this.#transport, () => this.#turns.releaseWhenIdle());
    this.#implicit = { activity: this.#o.randomUuid(), seq: 0 };
  }

  /** Read a record: Read Implicit unless `viaAr`. */
  readRecord(r: ReadRecordRequest): Promise<ProfinetResult> {
    const bad = checkRead(r);
    if (bad !== undefined) return Promise.resolve({ kind: 'invalid-argument', reason: bad });
    return this.#turns.submit(r, (gate) => this.#read(r, gate), READ_LOST);
  }

  /** Read Implicit (opnum 5, no AR): the read that holds no device resources. */
  readImplicit(r: Omit<ReadRecordRequest, 'viaAr'>): Promise<ProfinetResult> {
    return this.readRecord({ ...r, viaAr: false });
  }

  /** Write a record over the gateway's device-access AR (opened on demand). */
  writeRecord(r: WriteRecordRequest): Promise<ProfinetResult> {
    const bad = checkWrite(r);
    if (bad !== undefined) return Promise.resolve({ kind: 'invalid-argument', reason: bad });
    return this.#turns.submit(r, (gate) => this.#write(r, gate));
  }

  /** I&M0 (0xAFF0) and RealIdentificationData (0xF000) of the DAP (slot 0, subslot 1), decoded. */
  readIdentity(base: ProfinetRequestBase): Promise<IdentityResult> {
    return this.#turns.submit(
      base,
      async (gate): Promise<IdentityResult> => {
        const at = { ...base, api: 0, slot: 0, subslot: 1 };
        const im = await this.#read({ ...at, index: RecordIndex.IM0, maxLength: 4096 }, gate);
        if (im.kind !== 'record') return im;
        const id = await this.#read({ ...at, index: RecordIndex.RealIdentificationData, maxLength: 0xffff }, gate);
        if (id.kind !== 'record') return id;
        const im0 = decodeRecord(RecordIndex.IM0, im.data);
        if (!im0.ok || im0.value.kind !== 'im0') return this.#badRecord(im.data, im0.ok ? 'not I&M0' : im0.detail);
        const real = decodeRecord(RecordIndex.RealIdentificationData, id.data);
        if (!real.ok || real.value.kind !== 'real-identification')
          return this.#badRecord(id.data, real.ok ? 'not RealIdentificationData' : real.detail);
        return { kind: 'identity', im0: im0.value.value, modules: real.value.value.modules };
      },
      READ_LOST,
    );
  }

  stats(): ProfinetClientStats {
    const t = this.#transport;
    return {
      queued: this.#turns.queued,
      inFlight: this.#turns.inFlight,
      byClient: this.#turns.byClient(),
      ar: { open: this.#ar.current !== undefined, ...this.#ar.counters },
      datagramsSent: t.counters.sent,
      datagramsReceived: t.counters.received,
      facksSent: t.counters.facks,
      retransmissions: t.counters.retransmissions,
      ...this.#counters,
      dropped: { ...t.dropped },
    };
  }

  /** Answers queued requests `unavailable`, lets the running one finish, releases the AR, closes the socket. */
  async close(): Promise<void> {
    if (this.#turns.closed) return;
    this.#turns.close();
    for (let running = this.#turns.running; running !== undefined; running = this.#turns.running) await running;
    await this.#ar.release();
    this.#transport.close();
  }

  async #read(r: ReadRecordRequest, gate: () => boolean): Promise<ProfinetResult> {
    if (r.viaAr !== true) {
      const seq = this.#implicit.seq;
      this.#implicit.seq = (seq + 1) >>> 0;
      return this.#readResult(
        await this.#transport.call({
          activity: this.#implicit.activity,
          sequenceNumber: seq,
          request: this.#readRequest(r, NIL_UUID),
          transmissions: 2,
          mayTransmit: gate,
        }),
      );
    }
    for (let attempt = 0; ; attempt++) {
      const open = await this.#ar.open(gate);
      if (!open.ok) return open.result;
      const out = await this.#arCall(open.ar, this.#readRequest(r, open.ar.arUuid), 2, gate);
      if (attempt === 0 && this.#lostAr(open.ar, out)) continue;
      return this.#readResult(out);
    }
  }

  async #write(r: WriteRecordRequest, gate: () => boolean): Promise<ProfinetResult> {
    const open = await this.#ar.open(gate);
    if (!open.ok) return open.result;
    const request: CmRequest = {
      op: 'write',
      argsMaximum: SMALL_ARGS_MAXIMUM,
      record: {
        sequenceNumber: this.#nextRecordSeq(),
        arUuid: open.ar.arUuid,
        api: r.api,
        slot: r.slot,
        subslot: r.subslot,
        index: r.index,
        recordDataLength: r.data.length,
      },
      data: r.data,
    };
    // Sent once, whatever comes back (see the header): never a second send of a write.
    const out = await this.#arCall(open.ar, request, 1, gate);
    if (out.kind !== 'answer') return this.#count(failedOutcome(out, 'write'));
    const { response } = out;
    if (isUnknownAr(response.status)) this.#ar.forget(open.ar);
    if (!isPnioOk(response.status)) return pnioError(response.status, 'write');
    // Some stacks put the write's own status in the IODWriteResHeader with an OK NDR status.
    const inner = response.op === 'write' ? response.record?.status : undefined;
    if (inner !== undefined && !isPnioOk(inner)) return pnioError(inner, 'write');
    return { kind: 'record', data: Buffer.alloc(0), pnioStatus: statusBytes(response.status), latencyMs: 0 };
  }

  async #arCall(ar: ArSession, request: CmRequest, transmissions: 1 | 2, gate: () => boolean): Promise<CallOutcome> {
    const out = await this.#transport.call({
      activity: ar.activity,
      sequenceNumber: this.#ar.nextSeq(ar),
      request,
      transmissions,
      mayTransmit: gate,
    });
    this.#ar.touch();
    return out;
  }

  /** "Unknown AR" to a read: forget the AR; the read is sent once more on a new one (a read changes nothing). */
  #lostAr(ar: ArSession, out: CallOutcome): boolean {
    if (out.kind !== 'answer' || !isUnknownAr(out.response.status)) return false;
    this.#ar.forget(ar);
    return true;
  }

  #readRequest(r: ReadRecordRequest, arUuid: Uuid): CmRequest {
    return {
      op: arUuid === NIL_UUID ? 'read-implicit' : 'read',
      argsMaximum: READ_RES_HEADER + r.maxLength,
      record: {
        sequenceNumber: this.#nextRecordSeq(),
        arUuid,
        api: r.api,
        slot: r.slot,
        subslot: r.subslot,
        index: r.index,
        recordDataLength: r.maxLength,
        targetArUuid: NIL_UUID,
      },
    };
  }

  #readResult(out: CallOutcome): ProfinetResult {
    if (out.kind !== 'answer') return this.#count(failedOutcome(out, 'read'));
    const res = out.response;
    if (res.op !== 'read' && res.op !== 'read-implicit')
      return this.#count({
        kind: 'malformed-answer',
        raw: Buffer.alloc(0),
        reason: 'mismatch',
        detail: `${res.op} answer to a read`,
      });
    if (!isPnioOk(res.status)) return pnioError(res.status, 'read');
    return { kind: 'record', data: Buffer.from(res.data), pnioStatus: statusBytes(res.status), latencyMs: 0 };
  }

  #badRecord(data: Buffer, detail: string): IdentityResult {
    this.#counters.malformed++;
    return {
      kind: 'malformed-answer',
      raw: Buffer.from(data.subarray(0, this.#o.maxRawBytes)),
      reason: 'field-value',
      detail,
    };
  }

  #count(r: ProfinetResult): ProfinetResult {
    if (r.kind === 'timeout') this.#counters.timeouts++;
    else if (r.kind === 'write-lost') this.#counters.writesLost++;
    else if (r.kind === 'malformed-answer') this.#counters.malformed++;
    return r;
  }

  #nextRecordSeq(): number {
    const s = this.#recordSeq;
    this.#recordSeq = (s + 1) & 0xffff;
    return s;
  }
}
