/**
 * Incremental verification of one gateway's audit chain as its blocks arrive at the centre (docs/fleet.md
 * "Audit"): the same links `verigate audit verify` checks on a directory (audit-verify.ts) — each event
 * self-hashing (eventHash over canonical JSON), seq contiguous from 1, each `prev` the hash before — applied
 * block by block against the chain head verified so far. A block re-sent identically (a retry after a
 * reconnect, a publisher restart) is recognised and ignored; a different block for seqs already verified, a
 * gap, or a broken link is a problem, reported and never appended. Checkpoints: signature (and chain to a
 * trust bundle, and the expected signer) as audit-checkpoint.ts, and the head hash of the event they name.
 */
import { checkCheckpoint, type Checkpoint } from '../audit/audit-checkpoint.js';
import type { AuditRecord } from '../audit/audit-events.js';
import { eventHash } from '../audit/canonical-json.js';
import type { AuditBlock } from './audit-block.js';

export interface ChainHead {
  readonly lastSeq: number;
  readonly headHash: string;
}

export type BlockVerdict =
  /** New events (seq lastSeq+1…), verified and ready to append. */
  | { readonly kind: 'append'; readonly events: readonly AuditRecord[] }
  /** Every event already verified, identically. */
  | { readonly kind: 'duplicate' }
  | { readonly kind: 'problem'; readonly problem: string };

/** Why the block's own events do not form the chain it claims, or null. */
export function blockProblem(b: AuditBlock): string | null {
  let prev = b.prev;
  for (let i = 0; i < b.events.length; i++) {
    const e = b.events[i]!;
    const seq = b.first + i;
    if (e.seq !== seq) return `block ${b.first}-${b.last}: event ${i + 1} has seq ${String(e.seq)}, expected ${seq}`;
    if (e.prev !== prev) return `block ${b.first}-${b.last}: event ${seq} does not link to the hash before it`;
    if (typeof e.hash !== 'string' || eventHash(e) !== e.hash)
      return `block ${b.first}-${b.last}: event ${seq} does not match its hash (modified)`;
    prev = e.hash;
  }
  return prev === b.head ? null : `block ${b.first}-${b.last}: head is not the hash of its last event`;
}

/**
 * The block against the verified head. `hashAt(seq)` answers the verified hash of an earlier event (needed only
 * when the block overlaps what is verified).
 */
export function verifyBlock(head: ChainHead, b: AuditBlock, hashAt: (seq: number) => string | null): BlockVerdict {
  const own = blockProblem(b);
  if (own !== null) return { kind: 'problem', problem: own };
  const { lastSeq } = head;
  if (b.first > lastSeq + 1)
    return {
      kind: 'problem',
      problem: `gap: events ${lastSeq + 1}-${b.first - 1} missing before block ${b.first}-${b.last}`,
    };
  if (b.first === lastSeq + 1) {
    if (b.prev !== head.headHash)
      return { kind: 'problem', problem: `block ${b.first}-${b.last} does not link to verified event ${lastSeq}` };
    return { kind: 'append', events: b.events };
  }
  // Overlap: the block's event at min(last, lastSeq) must be the verified one; by the hash links, all before it
  // are then the same events too (a re-send), and what follows continues the verified chain.
  const upTo = Math.min(b.last, lastSeq);
  const mine = b.events[upTo - b.first]!.hash;
  const verified = upTo === lastSeq ? head.headHash : hashAt(upTo);
  if (verified !== mine)
    return {
      kind: 'problem',
      problem: `conflict: block ${b.first}-${b.last} differs from the verified event ${upTo} (a different trail for the same seqs)`,
    };
  if (b.last <= lastSeq) return { kind: 'duplicate' };
  return { kind: 'append', events: b.events.slice(lastSeq - b.first + 1) };
}

export interface CheckpointCheck {
  readonly trustBundlePem?: string;
  /** The SPIFFE ID that must have signed (the gateway's); any when undefined. */
  readonly signer?: string;
}

export type CheckpointVerdict =
  | { readonly kind: 'ok' }
  /** Names an event not verified yet: check again once it is. */
  | { readonly kind: 'pending' }
  | { readonly kind: 'problem'; readonly problem: string };

export function verifyCheckpoint(
  cp: Checkpoint,
  head: ChainHead,
  hashAt: (seq: number) => string | null,
  check: CheckpointCheck = {},
): CheckpointVerdict {
  const bad = checkCheckpoint(cp, check.trustBundlePem);
  if (bad !== null) return { kind: 'problem', problem: `checkpoint ${cp.seq}: ${bad}` };
  if (check.signer !== undefined && cp.signer.spiffeId !== check.signer)
    return {
      kind: 'problem',
      problem: `checkpoint ${cp.seq} signed by ${cp.signer.spiffeId}, expected ${check.signer}`,
    };
  if (cp.seq > head.lastSeq) return { kind: 'pending' };
  const verified = cp.seq === head.lastSeq ? head.headHash : hashAt(cp.seq);
  if (verified !== cp.headHash)
    return {
      kind: 'problem',
      problem: `checkpoint ${cp.seq}: head hash does not match the verified event (chain rewritten)`,
    };
  return { kind: 'ok' };
}
