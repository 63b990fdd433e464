/**
 * The UDP side of a simulated PROFINET IO device: the PNIO-CM RPC endpoint (port 34964 by default) over
 * connectionless DCE/RPC [C706 ch. 12; IEC 61158-6-10].
 * - Every datagram is counted first, then decoded; requests in either DREP are accepted.
 * - Fragmented requests are reassembled (bounded, codec FragmentAssembler); answers above
 *   `maxFragmentBody` leave as fragments, all at once, flagged NoFragmentAck [C706 12.5.3.3]: a client's
 *   facks are counted as `ignored` and not waited for. No facks are sent for fragmented requests.
 * - Answers go back to the sender's address and port, big-endian (`answerByteOrder: 'big'`, like common
 *   stacks) or in the request's byte order (`'echo'`).
 * - A retransmitted request (same peer, activity and sequence) is answered from a small answer cache and
 *   not executed again: at-most-once execution [C706 12.3 non-idempotent calls].
 * - Undecodable requests to the PNIO device interface get an RPC fault (unsupported opnum → op_rng_error,
 *   broken stub data → proto_error), another interface a reject (unk_if); anything else is dropped.
 * - Faults are read per request and again when the answer leaves, so switching takes effect at once.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import {
  answerHeader,
  callKeyOf,
  decodeCmRequest,
  decodeRpcDatagram,
  encodeCmResponse,
  encodeFaultBody,
  encodeRpcDatagram,
  Flags1,
  FragmentAssembler,
  NcaStatus,
  Opnum,
  PacketType,
  PNIO_DEVICE_INTERFACE,
  RPC_HEADER_LENGTH,
  type CmRequest,
  type CmResponse,
  type RpcHeader,
} from '../../protocols/profinet/index.js';
import type { SimTimerHandle, SimTimers } from '../sim-timers.js';
import type { PnCounterSet } from './pn-counters.js';
import type { PnFault } from './pn-fault.js';
import type { SimLogger } from '../sim-logger.js';

export interface PnServerOptions {
  readonly host: string;
  readonly answerByteOrder: 'big' | 'echo';
  readonly maxFragmentBody: number;
  readonly answerDelayMs: number;
  /** Arms the answer and slow-fault delays (../sim-timers.ts). */
  readonly timers: SimTimers;
  readonly now: () => number;
  readonly serverBoot: () => number;
  readonly fault: () => PnFault;
  readonly handle: (req: CmRequest, peer: string) => CmResponse | null;
  readonly counters: PnCounterSet;
  readonly logger: SimLogger;
}

/** Answers kept for retransmitted requests. */
const ANSWER_CACHE = 64;
const SUPPORTED_OPNUMS = new Set<number>([Opnum.Connect, Opnum.Release, Opnum.Read, Opnum.Write, Opnum.ReadImplicit]);

export class PnUdpServer {
  #socket: Socket | undefined;
  #assembler: FragmentAssembler;
  readonly #cache = new Map<string, Buffer[]>();
  readonly #timers = new Set<SimTimerHandle>();

  constructor(private readonly o: PnServerOptions) {
    this.#assembler = new FragmentAssembler({ now: o.now });
  }

  get listening(): boolean {
    return this.#socket !== undefined;
  }

  async listen(port: number): Promise<number> {
    const socket = createSocket({ type: this.o.host.includes(':') ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, this.o.host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    socket.on('error', (err) => this.o.logger.warn({ err: err.message }, 'udp socket error'));
    socket.on('message', (msg, rinfo) => this.#onMessage(socket, msg, rinfo));
    this.#socket = socket;
    return socket.address().port;
  }

  /** Stop listening, forget calls in progress and pending answers (a device losing power). */
  async close(): Promise<void> {
    const socket = this.#socket;
    this.#socket = undefined;
    for (const t of this.#timers) this.o.timers.clearTimeout(t);
    this.#timers.clear();
    this.#cache.clear();
    this.#assembler = new FragmentAssembler({ now: this.o.now });
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }

  #onMessage(socket: Socket, msg: Buffer, rinfo: RemoteInfo): void {
    const call = this.#reassemble(msg);
    if (!call) return;
    const h = call.header;
    const peer = `${rinfo.address}:${rinfo.port}`;
    const key = `${peer}|${callKeyOf(h)}`;
    const fault = this.o.fault();
    if (this.#cache.has(key)) return this.#answerRetransmission(socket, key, fault, rinfo);
    const req = decodeCmRequest(h, call.body);
    if (!req.ok) {
      this.#malformed(req.reason, req.detail);
      return this.#refuse(socket, h, rinfo);
    }
    if (fault.mode === 'silent') {
      this.o.counters.inc('dropped');
      return;
    }
    const res = this.o.handle(req.value, peer);
    if (res === null || this.#socket !== socket) return; // crashed
    const datagrams = this.#encodeAnswer(h, res, req.value.argsMaximum);
    this.#remember(key, datagrams);
    const delay = this.o.answerDelayMs + (fault.mode === 'slow' ? fault.delayMs : 0);
    if (delay <= 0) return this.#answer(socket, datagrams, rinfo);
    this.#answerLater(socket, datagrams, rinfo, delay);
    this.o.logger.debug({ peer, op: req.value.op, delay }, 'answer delayed');
  }

  /** A whole request (reassembled from its fragments), or undefined: malformed, not a request, or incomplete. */
  #reassemble(msg: Buffer): { header: RpcHeader; body: Buffer } | undefined {
    this.o.counters.datagram();
    const d = decodeRpcDatagram(msg);
    if (!d.ok) {
      this.#malformed(d.reason, d.detail);
      return undefined;
    }
    if (d.value.header.packetType !== PacketType.Request) {
      this.o.counters.inc('ignored');
      return undefined;
    }
    const whole = this.#assembler.push(d.value.header, d.value.body);
    if (whole.kind === 'dropped') this.#malformed(whole.reason, whole.detail);
    return whole.kind === 'complete' ? whole : undefined;
  }

  /** The cached answer again, never a second execution [C706 12.3]; the faults that drop answers drop it too. */
  #answerRetransmission(socket: Socket, key: string, fault: PnFault, rinfo: RemoteInfo): void {
    this.o.counters.inc('duplicates');
    if (fault.mode === 'silent' || fault.mode === 'drop-answers') this.o.counters.inc('dropped');
    else this.#send(socket, this.#cache.get(key) ?? [], rinfo);
  }

  /** Another interface is rejected (unk_if); the device interface faults (unsupported opnum, broken stub data). */
  #refuse(socket: Socket, h: RpcHeader, rinfo: RemoteInfo): void {
    const reject = h.interfaceUuid !== PNIO_DEVICE_INTERFACE;
    const nca = reject
      ? NcaStatus.UnknownInterface
      : SUPPORTED_OPNUMS.has(h.opnum)
        ? NcaStatus.ProtocolError
        : NcaStatus.OpRangeError;
    const le = this.#littleEndian(h);
    const head = answerHeader(h, {
      packetType: reject ? PacketType.Reject : PacketType.Fault,
      littleEndian: le,
      serverBoot: this.o.serverBoot(),
    });
    this.#send(socket, [encodeRpcDatagram(head, encodeFaultBody(nca, le))], rinfo);
  }

  /** The answer's datagrams; more than one are flagged NoFragmentAck [C706 12.5.3.3]. */
  #encodeAnswer(h: RpcHeader, res: CmResponse, maximumCount: number): Buffer[] {
    const enc = {
      maximumCount,
      littleEndian: this.#littleEndian(h),
      serverBoot: this.o.serverBoot(),
      maxFragmentBody: this.o.maxFragmentBody,
    };
    let out = encodeCmResponse(h, res, enc);
    if (out.datagrams.length > 1) out = encodeCmResponse(h, res, { ...enc, flags1: Flags1.NoFragmentAck });
    return out.datagrams;
  }

  #answerLater(socket: Socket, datagrams: Buffer[], rinfo: RemoteInfo, delay: number): void {
    const t = this.o.timers.setTimeout(() => {
      this.#timers.delete(t);
      this.#answer(socket, datagrams, rinfo);
    }, delay);
    this.#timers.add(t);
  }

  #answer(socket: Socket, datagrams: Buffer[], rinfo: RemoteInfo): void {
    if (this.#socket !== socket) return;
    const fault = this.o.fault(); // read again: it may have changed during the delay
    if (fault.mode === 'drop-answers' || fault.mode === 'silent') {
      this.o.counters.inc('dropped');
      return;
    }
    if (fault.mode === 'garbage') {
      this.o.counters.inc('garbage');
      socket.send(garbage(datagrams[0] as Buffer, fault.variant), rinfo.port, rinfo.address);
      return;
    }
    this.#send(socket, datagrams, rinfo);
  }

  #send(socket: Socket, datagrams: readonly Buffer[], rinfo: RemoteInfo): void {
    for (const d of datagrams) {
      this.o.counters.inc('answers');
      socket.send(d, rinfo.port, rinfo.address);
    }
  }

  #littleEndian(request: RpcHeader): boolean {
    return this.o.answerByteOrder === 'echo' && request.littleEndian;
  }

  #remember(key: string, datagrams: Buffer[]): void {
    this.#cache.set(key, datagrams);
    if (this.#cache.size > ANSWER_CACHE) this.#cache.delete(this.#cache.keys().next().value as string);
  }

  #malformed(reason: string, detail: string): void {
    this.o.counters.inc('malformed');
    this.o.logger.debug({ reason, detail }, 'malformed datagram dropped');
  }
}

/**
 * `header`: the answer's own RPC header (it matches the call) over a body of 0xFF — its NDR Offset and
 * lengths are impossible, so a client must refuse it as malformed. `random`: 64 random bytes.
 */
function garbage(first: Buffer, variant: 'header' | 'random'): Buffer {
  if (variant === 'random') return randomBytes(64);
  const out = Buffer.from(first);
  out.fill(0xff, RPC_HEADER_LENGTH);
  return out;
}
