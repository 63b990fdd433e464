/**
 * The fleet's audit messages (docs/fleet.md "Audit"): an event block `{ site, gateway, first, last, prev, head,
 * events }` on `auditEventsSubject(site, gateway)` with `Nats-Msg-Id: blockMsgId(gateway, first, last)`, and a
 * checkpoint `{ site, gateway, checkpoint }` on `auditCheckpointsSubject`. `events` are the gateway's audit
 * records as in its local file (`prev` = hash before `first`, `head` = hash of `last`); the local hash chain stays
 * the authoritative record, so a block only carries it. Decoding is for hostile input: a problem is a value.
 */
import type { Checkpoint } from '../audit/audit-checkpoint.js';
import type { AuditRecord } from '../audit/audit-events.js';

export interface AuditBlock {
  readonly site: string;
  readonly gateway: string;
  readonly first: number;
  readonly last: number;
  readonly prev: string;
  readonly head: string;
  readonly events: readonly AuditRecord[];
}

export interface CheckpointMessage {
  readonly site: string;
  readonly gateway: string;
  readonly checkpoint: Checkpoint;
}

/** Dedup id of a checkpoint message (`Nats-Msg-Id`): one per (gateway, checkpoint seq). */
export function checkpointMsgId(gateway: string, seq: number): string {
  return `${gateway}:cp-${seq}`;
}

/** One event of a block being assembled: its seq, chain links and JSON text (rendered once). */
export interface BlockEvent {
  readonly seq: number;
  readonly prev: string;
  readonly hash: string;
  readonly json: string;
}

export function blockEventOf(rec: AuditRecord): BlockEvent {
  return { seq: rec.seq, prev: rec.prev, hash: rec.hash, json: JSON.stringify(rec) };
}

/** The block body of consecutive events (non-empty), rendered without parsing the events again. */
export function encodeBlock(site: string, gateway: string, events: readonly BlockEvent[]): Buffer {
  const first = events[0]!;
  const last = events[events.length - 1]!;
  const head = JSON.stringify({ site, gateway, first: first.seq, last: last.seq, prev: first.prev, head: last.hash });
  return Buffer.from(`${head.slice(0, -1)},"events":[${events.map((e) => e.json).join(',')}]}`, 'utf8');
}

export function encodeCheckpoint(site: string, gateway: string, checkpoint: Checkpoint): Buffer {
  return Buffer.from(JSON.stringify({ site, gateway, checkpoint } satisfies CheckpointMessage), 'utf8');
}

const HASH = /^[0-9a-f]{64}$/;

function parseObject(data: Uint8Array): Record<string, unknown> | string {
  try {
    const v: unknown = JSON.parse(Buffer.from(data).toString('utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : 'not an object';
  } catch {
    return 'not valid JSON';
  }
}

const isSeq = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 1;

/** The block, or why the body is not one (shape only: the chain is checked by the collector). */
export function decodeBlock(data: Uint8Array): AuditBlock | string {
  const o = parseObject(data);
  if (typeof o === 'string') return `block ${o}`;
  const { site, gateway, first, last, prev, head, events } = o;
  if (typeof site !== 'string' || typeof gateway !== 'string') return 'block without site or gateway';
  if (!isSeq(first) || !isSeq(last) || last < first) return 'block with bad first/last';
  if (typeof prev !== 'string' || !HASH.test(prev) || typeof head !== 'string' || !HASH.test(head))
    return 'block with bad prev/head';
  if (!Array.isArray(events) || events.length !== last - first + 1) return 'block whose events do not span first..last';
  for (const e of events as unknown[]) {
    if (e === null || typeof e !== 'object' || Array.isArray(e)) return 'block with an event that is not an object';
  }
  return { site, gateway, first, last, prev, head, events: events as AuditRecord[] };
}

export function decodeCheckpoint(data: Uint8Array): CheckpointMessage | string {
  const o = parseObject(data);
  if (typeof o === 'string') return `checkpoint message ${o}`;
  const { site, gateway, checkpoint: cp } = o;
  if (typeof site !== 'string' || typeof gateway !== 'string') return 'checkpoint message without site or gateway';
  if (cp === null || typeof cp !== 'object') return 'checkpoint message without a checkpoint';
  const c = cp as Record<string, unknown>;
  const signer = c['signer'] as Record<string, unknown> | null | undefined;
  if (
    !isSeq(c['seq']) ||
    typeof c['headHash'] !== 'string' ||
    typeof c['time'] !== 'string' ||
    typeof c['alg'] !== 'string' ||
    typeof c['sig'] !== 'string' ||
    signer === null ||
    typeof signer !== 'object' ||
    typeof signer['spiffeId'] !== 'string' ||
    typeof signer['certChainPem'] !== 'string'
  )
    return 'checkpoint message with a malformed checkpoint';
  return { site, gateway, checkpoint: cp as Checkpoint };
}
