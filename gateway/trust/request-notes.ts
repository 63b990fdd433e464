/**
 * What the gate learned about a request that the score must know too, from check() to observe() on the same
 * request object: a JIT grant covered it, or the read-only downgrade itself refused it. Kept in a WeakMap keyed
 * by the request: no per-request key, and nothing is left behind by a request that is never observed.
 */
import type { ClassifiedRequest } from '../../protocols/modbus/types.js';
import type { RecordRequest } from '../../protocols/profinet/record-request.js';
import { NO_CONTEXT, type ObserveContext } from './behaviour-baseline.js';
import type { GrantNeed } from './runtime-gate.js';

type NotedRequest = ClassifiedRequest | RecordRequest;
export type Note = { readonly sanctioned: GrantNeed | 'whole' } | 'trust-read-only';

const SANCTIONED_WHOLE: ObserveContext = Object.freeze({ sanctioned: true });

export class RequestNotes {
  readonly #notes = new WeakMap<NotedRequest, Note>();

  /** The read-only downgrade refused this request. */
  refusedByDowngrade(req: NotedRequest): void {
    this.#notes.set(req, 'trust-read-only');
  }

  /** A JIT grant covered this request: the whole of it, or the part the grant names. */
  sanctioned(req: NotedRequest, scope: GrantNeed | 'whole'): void {
    this.#notes.set(req, { sanctioned: scope });
  }

  /** The note on this request, forgotten as it is read. */
  take(req: NotedRequest): Note | undefined {
    const note = this.#notes.get(req);
    if (note !== undefined) this.#notes.delete(req);
    return note;
  }
}

/**
 * A refusal by the downgrade itself is not evidence of probing (it would keep the breach alive by itself); a
 * request a JIT grant covered is not evidence for the writes and novelty signals (an approver vouched).
 */
export function contextOf(note: Note | undefined): ObserveContext {
  if (typeof note !== 'object') return NO_CONTEXT;
  return note.sanctioned === 'whole' ? SANCTIONED_WHOLE : { sanctioned: true, scope: note.sanctioned };
}
