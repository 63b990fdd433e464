/**
 * What the block publisher (audit-block-publisher.ts) exchanges with its own edge stream at the site leaf (`AUDIT-<gateway>`), apart from
 * its publish loop: the port it publishes through (audit-stream-nats.ts over the fleet link; a fake in unit
 * tests) and the messages it sends on it — a block of events or a signed checkpoint, each on its subject with the
 * `Nats-Msg-Id` that makes a re-send harmless (the stream's duplicate window), blocks sized below the leaf's
 * max_payload.
 */
import type { Checkpoint } from '../audit/audit-checkpoint.js';
import { checkpointMsgId, encodeBlock, encodeCheckpoint, type BlockEvent } from './audit-block.js';
import { auditCheckpointsSubject, auditEventsSubject, blockMsgId } from './fleet-topology.js';

/** The gateway's own stream at the local leaf (audit-stream-nats.ts over the fleet link; a fake in unit tests). */
export interface AuditStreamPort {
  /** JetStream publish with ack and `Nats-Msg-Id`; rejects when not stored. */
  publish(subject: string, body: Uint8Array, msgId: string): Promise<void>;
  /** The body of the last message stored on `subject`, null when there is none. */
  lastMessage(subject: string): Promise<Uint8Array | null>;
  /** Is this publish error the stream refusing for lack of room (discard new)? */
  isStreamFull(err: unknown): boolean;
  /** The connected server's max_payload (body + headers), null when unknown. */
  maxPayload?(): number | null;
  /** Is this publish error the message being over max_payload? */
  isTooLarge?(err: unknown): boolean;
}

export interface Outgoing {
  readonly subject: string;
  readonly body: Uint8Array;
  readonly msgId: string;
  /** Last event seq of a block, or the seq a checkpoint names. */
  readonly seq: number;
  readonly kind: 'block' | 'checkpoint';
  /** A block's events, given back to the feed when the block is refused for its size. */
  readonly events?: readonly BlockEvent[];
}

/** Room kept below max_payload for a block's envelope (site, gateway, seqs, hashes) and its Nats-Msg-Id header. */
const PAYLOAD_HEADROOM = 1024;

export function checkpointMessage(site: string, gateway: string, cp: Checkpoint): Outgoing {
  const body = encodeCheckpoint(site, gateway, cp);
  const msgId = checkpointMsgId(gateway, cp.seq);
  return { subject: auditCheckpointsSubject(site, gateway), body, msgId, seq: cp.seq, kind: 'checkpoint' };
}

/** `events`: one or more, in seq order with no gap (the feed's take()). */
export function blockMessage(site: string, gateway: string, events: readonly BlockEvent[]): Outgoing {
  const first = events[0]!.seq;
  const last = events[events.length - 1]!.seq;
  return {
    subject: auditEventsSubject(site, gateway),
    body: encodeBlock(site, gateway, events),
    msgId: blockMsgId(gateway, first, last),
    seq: last,
    kind: 'block',
    events,
  };
}

/** Event bytes per block: maxBlockBytes, and below the connected leaf's max_payload (null: unknown). */
export function blockByteLimit(maxBlockBytes: number, maxPayload: number | null): number {
  if (maxPayload === null) return maxBlockBytes;
  return Math.max(1, Math.min(maxBlockBytes, maxPayload - PAYLOAD_HEADROOM));
}
