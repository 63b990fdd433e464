/**
 * One UDP socket to one PROFINET device and at most one PNIO-CM call on it at a time (the client's queue
 * guarantees it). A call is sent, answered or timed out here; what it means is the client's business.
 *
 * Receive path, per datagram [C706 12; IEC 61158-6-10]:
 *   other source address → drop (`foreign-address`; any source port of the device is fine: answers are
 *   matched by activity UUID + sequence number, never by port) → RPC header → drop if it does not decode
 *   (`undecodable`) → drop if no call is in flight (`unsolicited`) → `answersCall` (same activity and
 *   sequence, an answer type, same opnum/interface) else drop (`wrong-call` / `wrong-type`) → working,
 *   nocall, fack, cancel-ack are `ignored` → fault/reject settle the call → a response goes through the
 *   bounded FragmentAssembler (a fack is sent per fragment unless the device set NoFragmentAck: common
 *   stacks send the next fragment only after it) → decodeCmResponse + validateCmResponse: a whole answer to
 *   this call that does not decode or does not fit is `malformed` (settles, raw kept for the audit).
 *
 * Retransmission [C706 12.5.3.3 "a client retransmits a request it got no answer to"]: a read is sent at
 * most twice with the SAME activity, sequence number and bytes, so an answer to either transmission
 * completes the call and a device that tracks activities can tell the two apart; reads carry the
 * Idempotent flag, so a device may simply run it again. Everything else is sent once.
 *
 * A datagram the socket refuses (profinet-socket.ts: a throw, or an error reported later) is an outcome: the call
 * is `not-sent` only while none of its datagrams was handed over. Once one was (an earlier fragment, a read's
 * first transmission) it may have reached the device: the call ends `silent` ("may have executed" for a write),
 * never `not-sent`, which would let a caller send a write again that the device may have run.
 */
import {
  answersCall,
  callKeyOf,
  decodeCmResponse,
  decodeFaultBody,
  decodeRpcDatagram,
  encodeCmRequest,
  fackDatagram,
  Flags1,
  FragmentAssembler,
  isFragment,
  isLastFragment,
  NDR_HEADER_LENGTH,
  PacketType,
  requestArgs,
  validateCmResponse,
  type CmRequest,
  type CmResponse,
  type PnReason,
  type RpcHeader,
  type Uuid,
} from '../../protocols/profinet/index.js';
import { errorMessage } from '../errors.js';
import type { ResolvedProfinetOptions } from './profinet-options.js';
import { ProfinetSocket } from './profinet-socket.js';
import type { DropReason, TimerHandle } from './profinet-types.js';

export interface CallSpec {
  readonly activity: Uuid;
  readonly sequenceNumber: number;
  readonly request: CmRequest;
  /** 2 for a read (one retransmission), 1 for everything else. */
  readonly transmissions: 1 | 2;
  /** Asked synchronously right before each transmission goes to the socket; false → `aborted`. */
  readonly mayTransmit: () => boolean;
}

export type CallOutcome =
  | { readonly kind: 'answer'; readonly response: CmResponse }
  | { readonly kind: 'malformed'; readonly raw: Buffer; readonly reason: PnReason; readonly detail: string }
  | { readonly kind: 'fault'; readonly packet: 'fault' | 'reject'; readonly nca: number; readonly name: string }
  | { readonly kind: 'silent' }
  | { readonly kind: 'not-sent'; readonly reason: string }
  /** `sent`: an earlier transmission of this call did go out. */
  | { readonly kind: 'aborted'; readonly sent: boolean };

interface Pending {
  readonly spec: CallSpec;
  readonly header: RpcHeader;
  readonly datagrams: readonly Buffer[];
  left: number;
  /** Datagrams of this call handed to the socket so far (all transmissions): past 0 it may have reached the device. */
  handed: number;
  timer?: TimerHandle;
  readonly resolve: (o: CallOutcome) => void;
}

const ANSWER_NOISE = new Set<number>([PacketType.Working, PacketType.NoCall, PacketType.Fack, PacketType.CancelAck]);

export class ProfinetTransport {
  readonly #o: ResolvedProfinetOptions;
  readonly #assembler: FragmentAssembler;
  readonly #socket: ProfinetSocket;
  #current?: Pending;
  #closed = false;
  readonly counters = { sent: 0, received: 0, facks: 0, retransmissions: 0 };
  readonly dropped: Record<DropReason, number> = {
    'foreign-address': 0,
    undecodable: 0,
    unsolicited: 0,
    'wrong-call': 0,
    'wrong-type': 0,
    ignored: 0,
    fragment: 0,
    duplicate: 0,
  };

  constructor(o: ResolvedProfinetOptions) {
    this.#o = o;
    this.#socket = new ProfinetSocket(o, (msg, address) => this.#onMessage(msg, address));
    this.#assembler = new FragmentAssembler({
      maxCalls: 4,
      maxFragments: o.maxAnswerFragments,
      maxBytes: o.maxAnswerBytes,
      timeoutMs: o.timeoutMs * 2,
      now: () => o.timers.now(),
    });
  }

  /** Runs one call; resolves once, never rejects. Only one call at a time (the caller serializes). */
  call(spec: CallSpec): Promise<CallOutcome> {
    if (this.#closed) return Promise.resolve({ kind: 'not-sent', reason: 'client closed' });
    if (this.#current !== undefined)
      return Promise.resolve({ kind: 'not-sent', reason: 'a call is already in flight (bug)' });
    const isRead = spec.request.op === 'read' || spec.request.op === 'read-implicit';
    const fragmented = NDR_HEADER_LENGTH + requestArgs(spec.request).length > this.#o.maxFragmentBody;
    const flags1 = (isRead ? Flags1.Idempotent : 0) | (fragmented ? Flags1.NoFragmentAck : 0);
    const { header, datagrams } = encodeCmRequest(
      {
        activityUuid: spec.activity,
        sequenceNumber: spec.sequenceNumber,
        objectUuid: this.#o.objectUuid,
        littleEndian: this.#o.littleEndian,
        flags1,
      },
      spec.request,
      this.#o.maxFragmentBody,
    );
    return new Promise<CallOutcome>((resolve) => {
      const p: Pending = { spec, header, datagrams, left: spec.transmissions, handed: 0, resolve };
      this.#current = p;
      this.#transmit(p);
    });
  }

  /** Closes the socket; a call in flight ends `silent` (its answer can no longer arrive). */
  close(): void {
    this.#closed = true;
    if (this.#current !== undefined) this.#settle(this.#current, { kind: 'silent' });
    this.#socket.close();
  }

  #transmit(p: Pending): void {
    let allowed: boolean;
    try {
      allowed = p.spec.mayTransmit();
    } catch {
      allowed = false; // a gate that throws fails closed
    }
    if (!allowed) return this.#settle(p, { kind: 'aborted', sent: p.handed > 0 });
    const again = p.handed > 0;
    p.left--;
    for (const dg of p.datagrams) {
      const refused = this.#socket.send(dg, (err) => this.#sendFailed(p, err));
      if (refused !== undefined) return this.#cannotSend(p, refused);
      p.handed++;
      this.counters.sent++;
    }
    if (again) this.counters.retransmissions++;
    p.timer = this.#o.timers.setTimeout(() => this.#onTimeout(p), this.#o.timeoutMs);
  }

  /** The kernel refused a datagram after taking it (asynchronous error): that one did not leave. */
  #sendFailed(p: Pending, err: Error): void {
    this.#o.logger.warn({ device: this.#o.name, err: err.message }, 'PNIO-CM send failed');
    // Unsent only if it is the one datagram of the call handed over so far; else the call's timer settles it.
    if (p.handed === 1) this.#settle(p, { kind: 'not-sent', reason: `send failed: ${err.message}` });
  }

  /** A transmission could not go out: `not-sent` only if nothing of the call was handed over (see header). */
  #cannotSend(p: Pending, reason: string): void {
    this.#settle(p, p.handed === 0 ? { kind: 'not-sent', reason } : { kind: 'silent' });
  }

  #onTimeout(p: Pending): void {
    if (this.#current !== p) return;
    p.timer = undefined;
    this.#assembler.forget(callKeyOf(p.header));
    if (p.left > 0) this.#transmit(p);
    else this.#settle(p, { kind: 'silent' });
  }

  #settle(p: Pending, outcome: CallOutcome): void {
    if (this.#current !== p) return;
    this.#current = undefined;
    if (p.timer !== undefined) this.#o.timers.clearTimeout(p.timer);
    this.#assembler.forget(callKeyOf(p.header));
    p.resolve(outcome);
  }

  #drop(reason: DropReason, detail?: string): void {
    this.dropped[reason]++;
    try {
      this.#o.metrics.dropped?.(reason);
    } catch (err) {
      // An injected hook runs inside the socket's 'message' handler: a throw there would end the process.
      this.#o.logger.debug({ device: this.#o.name, err: errorMessage(err) }, 'PNIO-CM drop metric hook threw');
    }
    this.#o.logger.debug({ device: this.#o.name, reason, detail }, 'PNIO-CM datagram dropped');
  }

  #onMessage(msg: Buffer, address: string): void {
    this.counters.received++;
    if (!sameAddress(address, this.#o.host)) return this.#drop('foreign-address', address);
    const d = decodeRpcDatagram(msg);
    if (!d.ok) return this.#drop('undecodable', d.reason);
    const p = this.#current;
    if (p === undefined) return this.#drop('unsolicited');
    const { header, body } = d.value;
    const belongs = answersCall(p.header, header);
    if (!belongs.ok) return this.#drop(belongs.reason === 'packet-type' ? 'wrong-type' : 'wrong-call', belongs.detail);
    if (ANSWER_NOISE.has(header.packetType)) return this.#drop('ignored');
    if (header.packetType === PacketType.Fault || header.packetType === PacketType.Reject) {
      if (isFragment(header)) return this.#drop('wrong-type', 'fragmented fault');
      const f = decodeFaultBody(body, header.littleEndian);
      if (!f.ok) return this.#settle(p, this.#malformed(msg, f.reason, f.detail));
      const packet = header.packetType === PacketType.Fault ? 'fault' : 'reject';
      return this.#settle(p, { kind: 'fault', packet, nca: f.value.status, name: f.value.name });
    }
    this.#onResponse(p, msg, header, body);
  }

  #onResponse(p: Pending, msg: Buffer, header: RpcHeader, body: Buffer): void {
    const whole = this.#assembler.push(header, body);
    if (whole.kind === 'dropped') return this.#drop('fragment', whole.detail);
    if (isFragment(header) && !isLastFragment(header) && (header.flags1 & Flags1.NoFragmentAck) === 0)
      this.#sendFack(header);
    if (whole.kind === 'duplicate') return this.#drop('duplicate');
    if (whole.kind === 'need-more') return;
    const raw = whole.fragments === 1 ? msg : whole.body;
    const res = decodeCmResponse(whole.header, whole.body);
    if (!res.ok) return this.#settle(p, this.#malformed(raw, res.reason, res.detail));
    const fits = validateCmResponse(p.spec.request, res.value);
    if (!fits.ok) return this.#settle(p, this.#malformed(raw, fits.reason, fits.detail));
    this.#settle(p, { kind: 'answer', response: res.value });
  }

  #sendFack(fragment: RpcHeader): void {
    // Acknowledge only what came in without a gap [C706 12.5.3.9]: with fragment 0 still missing there is
    // nothing to acknowledge, and the device resends on its own timer.
    const inOrder = this.#assembler.inOrder(fragment);
    if (!this.#socket.open || inOrder < 0) return;
    // A fack the socket refuses is a lost fack: the call's timer decides (a read goes again from a new socket).
    const fack = fackDatagram(fragment, { littleEndian: this.#o.littleEndian, inOrder });
    if (this.#socket.send(fack, () => undefined) === undefined) this.counters.facks++;
  }

  #malformed(raw: Buffer, reason: PnReason, detail: string): CallOutcome {
    return { kind: 'malformed', raw: Buffer.from(raw.subarray(0, this.#o.maxRawBytes)), reason, detail };
  }
}

/** Same IP address; IPv4-mapped IPv6 and case differences do not count as another sender. */
function sameAddress(a: string, b: string): boolean {
  const norm = (x: string): string => x.toLowerCase().replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '');
  return norm(a) === norm(b);
}
