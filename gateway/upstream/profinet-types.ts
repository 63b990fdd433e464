/**
 * Contracts of the PROFINET upstream (gateway → PROFINET IO device over PNIO-CM, UDP 34964): what the
 * front door asks, what it gets back, what is injected. Outcomes are values, never thrown
 * (outcomes as values, see gateway/errors.ts); the codec (protocols/profinet) does the bytes.
 */
import type { Im0, IdentModule, PnReason, Uuid } from '../../protocols/profinet/index.js';
import type { Timers } from '../timers.js';
import type { Logger } from '../logger.js';

export type { TimerHandle } from '../timers.js';

/** Clock and timers in one (timeouts, queue waits, AR idle release): the gateway's one seam; tests drive a fake one. */
export type ProfinetTimers = Timers;

/** Counted reasons for a datagram the client threw away (never a result for a caller). */
export type DropReason =
  | 'foreign-address' // not from the device's IP address (any source port of the device is fine)
  | 'undecodable' // the RPC header does not decode (version, type, DREP, lengths)
  | 'unsolicited' // nothing is in flight (a late answer after its call settled, or noise)
  | 'wrong-call' // another activity or sequence number, or another opnum/interface than the call
  | 'wrong-type' // a request/ping/ack (no answer type), or a fault split into fragments
  | 'ignored' // working / nocall / fack / cancel-ack: legal, not an answer
  | 'fragment' // the reassembler refused a fragment (bounds, inconsistency)
  | 'duplicate'; // a repeated fragment with the same bytes

export interface ProfinetMetrics {
  /** A datagram was dropped; `reason` is one of the counted reasons. */
  dropped?(reason: DropReason): void;
}

export interface ProfinetDeviceOptions {
  /** Device name from gateway.yaml, for logs. */
  readonly name: string;
  /** IPv4 or IPv6 literal: answers are accepted from this address only. */
  readonly host: string;
  /** PNIO-CM port. Default 34964. */
  readonly port?: number;
  /** Device object UUID (`pnioObjectUuid(vendor, device, instance)`). Default the nil UUID's PNIO form. */
  readonly objectUuid?: Uuid;
  /** Per attempt: how long one request waits for its answer. Default 1000. */
  readonly timeoutMs?: number;
  /** Bound on waiting requests across all identities. Default 64. */
  readonly queueLimit?: number;
  /** How long a request may wait for its turn before it is answered `unavailable` (unsent). Default 10 000. */
  readonly queueTimeoutMs?: number;
  /** Release the device-access AR after this long without a write. Default 10 000. */
  readonly arIdleMs?: number;
  /** CMInitiatorActivityTimeoutFactor (×100 ms) announced in the connect. Default 300 (30 s). */
  readonly arActivityTimeoutFactor?: number;
  /** CMInitiatorStationName of the gateway's AR. Default `verigate`. */
  readonly stationName?: string;
  /** CMInitiatorMacAdd (the gateway has no layer-2 presence; a locally administered value). */
  readonly initiatorMac?: string;
  readonly initiatorObjectUuid?: Uuid;
  /** Send little-endian requests (DREP 0x10). Default false: big-endian. */
  readonly littleEndian?: boolean;
  /** Local address to bind the UDP socket to. Default any. */
  readonly localAddress?: string;
  /** Body bytes per request fragment. Default the codec's 1392 (one Ethernet MTU). */
  readonly maxFragmentBody?: number;
  /** Longest `raw` kept in a malformed-answer result (for the audit event). Default 1500. */
  readonly maxRawBytes?: number;
  /** Reassembly bounds of fragmented answers. Defaults: 64 fragments, 128 KiB, 4 calls. */
  readonly maxAnswerFragments?: number;
  readonly maxAnswerBytes?: number;
  readonly logger?: Logger;
  readonly timers?: ProfinetTimers;
  readonly metrics?: ProfinetMetrics;
  /** Source of activity/AR UUIDs; injectable for tests. */
  readonly randomUuid?: () => Uuid;
}

/** Common part of every operation. */
export interface ProfinetRequestBase {
  /** Identity the request is accounted to for fairness (SPIFFE ID, or SPIFFE ID + session). */
  readonly clientKey: string;
  /** The session's signal: a queued request leaves `aborted`; checked right before the socket send. */
  readonly signal?: AbortSignal;
  /** Asked synchronously right before the socket send; false (or a throw) → `aborted`, unsent. */
  readonly stillAllowed?: () => boolean;
}

export interface RecordTarget {
  readonly api: number;
  readonly slot: number;
  readonly subslot: number;
  readonly index: number;
}

export interface ReadRecordRequest extends ProfinetRequestBase, RecordTarget {
  /** RecordDataLength asked for, 1..65535 (common stacks refuse a length below the record's size). */
  readonly maxLength: number;
  /** Read (opnum 2) over the gateway's device-access AR instead of Read Implicit (opnum 5). */
  readonly viaAr?: boolean;
}

export interface WriteRecordRequest extends ProfinetRequestBase, RecordTarget {
  readonly data: Buffer;
}

/** Which exchange a failure belongs to, when it is not the record read/write itself. */
export type ProfinetStage = 'connect' | 'read' | 'write';

export type ProfinetResult =
  /** Read: the record bytes. Write: empty data. `pnioStatus` is the 4 status bytes (00000000). */
  | { readonly kind: 'record'; readonly data: Buffer; readonly pnioStatus: Buffer; readonly latencyMs: number }
  /** The device answered a PNIOStatus ≠ 0 (ErrorCode, ErrorDecode, ErrorCode1, ErrorCode2). */
  | {
      readonly kind: 'pnio-error';
      readonly status: Buffer;
      readonly name: string;
      readonly meaning: string;
      readonly stage: ProfinetStage;
    }
  /** The device answered an RPC fault or reject (NCA status), not a PNIO answer. */
  | {
      readonly kind: 'rpc-fault';
      readonly packet: 'fault' | 'reject';
      readonly nca: number;
      readonly name: string;
      readonly stage: ProfinetStage;
    }
  /** No answer: a read after its one retry, or the AR connect in front of a write (nothing written). */
  | { readonly kind: 'timeout'; readonly stage: ProfinetStage }
  /** A write was sent and no answer came: it may have been executed. Never resent. */
  | { readonly kind: 'write-lost' }
  | { readonly kind: 'unavailable'; readonly sent: false; readonly reason: string }
  /** An answer to this very call that does not decode or does not fit the request (raw for the audit). */
  | {
      readonly kind: 'malformed-answer';
      readonly raw: Buffer;
      readonly reason: PnReason;
      readonly detail: string;
      /** `connect`: the answer to the AR connect in front of a write (nothing written); absent: the record call. */
      readonly stage?: ProfinetStage;
    }
  | { readonly kind: 'queue-full' }
  /**
   * The session ended or a lock came before the request's (next) transmission. `sent`: an earlier transmission
   * did go out — a read stopped before its retransmission reached the device (writes are sent once).
   */
  | { readonly kind: 'aborted'; readonly sent?: true }
  /** The request itself is out of range; nothing was queued or sent. */
  | { readonly kind: 'invalid-argument'; readonly reason: string };

export type IdentityResult =
  | { readonly kind: 'identity'; readonly im0: Im0; readonly modules: readonly IdentModule[] }
  | Exclude<ProfinetResult, { kind: 'record' }>;

export interface ProfinetClientStats {
  readonly queued: number;
  readonly inFlight: 0 | 1;
  /** Queued + running requests per clientKey. */
  readonly byClient: Record<string, number>;
  readonly ar: {
    readonly open: boolean;
    readonly established: number;
    readonly released: number;
    readonly reestablished: number;
  };
  readonly datagramsSent: number;
  readonly datagramsReceived: number;
  /** Fragment acknowledgements sent for fragmented answers. */
  readonly facksSent: number;
  readonly retransmissions: number;
  readonly timeouts: number;
  readonly writesLost: number;
  readonly malformed: number;
  readonly dropped: Readonly<Record<DropReason, number>>;
}
