/**
 * Fragmentation of connectionless RPC bodies [C706 12.5.3.3 (frag, last_frag flags; fragment number)].
 * `fragmentDatagrams` splits a body for sending; `FragmentAssembler` puts received fragments back together,
 * bounded in fragments per call, bytes per call, calls in progress and age, because every fragment is
 * hostile input before it is matched to a call. Duplicates that repeat the same bytes are ignored (UDP
 * retransmissions); a duplicate with other bytes, or a header that changes between fragments, drops the call.
 */
import { Flags1 } from './constants.js';
import { callKeyOf } from './rpc-matcher.js';
import { encodeRpcDatagram, isFragment, isLastFragment, type RpcHeader } from './rpc-header.js';
import type { PnReason } from './result.js';

/** Header + body → one or more datagrams of at most `maxFragmentBody` body bytes each. */
export function fragmentDatagrams(header: RpcHeader, body: Buffer, maxFragmentBody: number): Buffer[] {
  if (!(maxFragmentBody >= 1)) throw new RangeError(`maxFragmentBody ${maxFragmentBody} < 1`);
  const base = header.flags1 & ~(Flags1.Fragment | Flags1.LastFragment);
  if (body.length <= maxFragmentBody) return [encodeRpcDatagram({ ...header, flags1: base, fragmentNumber: 0 }, body)];
  const out: Buffer[] = [];
  for (let at = 0, n = 0; at < body.length; at += maxFragmentBody, n++) {
    const last = at + maxFragmentBody >= body.length;
    const flags1 = base | Flags1.Fragment | (last ? Flags1.LastFragment : 0);
    out.push(
      encodeRpcDatagram(
        { ...header, flags1, fragmentNumber: n, serial: n & 0xffff },
        body.subarray(at, at + maxFragmentBody),
      ),
    );
  }
  return out;
}

export interface AssemblerOptions {
  /** Fragments one call may have (fragment numbers 0..max-1). */
  maxFragments?: number;
  /** Body bytes one call may buffer. */
  maxBytes?: number;
  /** Calls being reassembled at once; the oldest is dropped to make room. */
  maxCalls?: number;
  /** A call whose first fragment is older than this is dropped. */
  timeoutMs?: number;
  /** Injected clock (ms). */
  now?: () => number;
}

export type AssemblyResult =
  | { readonly kind: 'complete'; readonly header: RpcHeader; readonly body: Buffer; readonly fragments: number }
  | { readonly kind: 'need-more' }
  | { readonly kind: 'duplicate' }
  | { readonly kind: 'dropped'; readonly reason: PnReason; readonly detail: string };

interface Pending {
  readonly first: RpcHeader;
  readonly started: number;
  readonly parts: Map<number, Buffer>;
  bytes: number;
  last: number | null;
  /** Highest fragment number received. */
  top: number;
}

const NEED_MORE: AssemblyResult = Object.freeze({ kind: 'need-more' });
const DUPLICATE: AssemblyResult = Object.freeze({ kind: 'duplicate' });

export class FragmentAssembler {
  readonly maxFragments: number;
  readonly maxBytes: number;
  readonly maxCalls: number;
  readonly timeoutMs: number;
  readonly #now: () => number;
  readonly #pending = new Map<string, Pending>();
  #bytes = 0;
  /** Counters for metrics: completed calls, dropped calls by reason, evictions, expiries, duplicates. */
  readonly stats = { completed: 0, dropped: 0, evicted: 0, expired: 0, duplicates: 0 };

  constructor(o: AssemblerOptions = {}) {
    this.maxFragments = o.maxFragments ?? 64;
    this.maxBytes = o.maxBytes ?? 128 * 1024;
    this.maxCalls = o.maxCalls ?? 16;
    this.timeoutMs = o.timeoutMs ?? 10_000;
    this.#now = o.now ?? Date.now;
  }

  /** Calls in progress. */
  get calls(): number {
    return this.#pending.size;
  }

  /** Body bytes held across all calls in progress (≤ maxCalls × maxBytes). */
  get bufferedBytes(): number {
    return this.#bytes;
  }

  /** One decoded datagram in; a whole body out once every fragment is in. */
  push(header: RpcHeader, body: Buffer): AssemblyResult {
    this.expire();
    const key = callKeyOf(header);
    if (!isFragment(header)) {
      if (this.#pending.has(key)) this.#drop(key);
      if (header.fragmentNumber !== 0)
        return this.#refuse('fragment', `unfragmented datagram with fragment number ${header.fragmentNumber}`);
      return { kind: 'complete', header, body, fragments: 1 };
    }
    const n = header.fragmentNumber;
    if (n >= this.maxFragments) return this.#fail(key, 'too-large', `fragment number ${n} ≥ ${this.maxFragments}`);
    let p = this.#pending.get(key);
    if (p && !sameCall(p.first, header)) return this.#fail(key, 'fragment', `fragment ${n} changes the call's header`);
    if (!p) {
      if (this.#pending.size >= this.maxCalls) this.#evictOldest();
      p = { first: header, started: this.#now(), parts: new Map(), bytes: 0, last: null, top: -1 };
      this.#pending.set(key, p);
    }
    const seen = p.parts.get(n);
    if (seen) {
      if (seen.equals(body)) {
        this.stats.duplicates++;
        return DUPLICATE;
      }
      return this.#fail(key, 'fragment', `fragment ${n} repeated with other bytes`);
    }
    if (isLastFragment(header)) {
      if (p.last !== null) return this.#fail(key, 'fragment', `two last fragments (${p.last} and ${n})`);
      if (p.top > n) return this.#fail(key, 'fragment', `fragment ${p.top} beyond the last one (${n})`);
      p.last = n;
    } else if (p.last !== null && n > p.last) {
      return this.#fail(key, 'fragment', `fragment ${n} after the last one (${p.last})`);
    }
    if (p.bytes + body.length > this.maxBytes)
      return this.#fail(key, 'too-large', `call body over ${this.maxBytes} bytes`);
    p.parts.set(n, Buffer.from(body));
    p.top = Math.max(p.top, n);
    p.bytes += body.length;
    this.#bytes += body.length;
    if (p.last === null || p.parts.size !== p.last + 1) return NEED_MORE;
    const parts = Array.from({ length: p.last + 1 }, (_, i) => p.parts.get(i) as Buffer);
    this.#delete(key);
    this.stats.completed++;
    return {
      kind: 'complete',
      header: { ...p.first, bodyLength: p.bytes, fragmentNumber: 0 },
      body: Buffer.concat(parts),
      fragments: parts.length,
    };
  }

  /**
   * The highest fragment number N such that fragments 0..N of this call are all in (-1 when fragment 0 is
   * missing or the call is not pending): what a fack acknowledges [C706 12.5.3.9], so a gap is resent.
   */
  inOrder(header: RpcHeader): number {
    const p = this.#pending.get(callKeyOf(header));
    if (!p) return -1;
    let n = -1;
    while (p.parts.has(n + 1)) n++;
    return n;
  }

  /** Drop calls older than the timeout. Called on every push; call it from a timer to free memory when idle. */
  expire(): number {
    const now = this.#now();
    let n = 0;
    for (const [key, p] of this.#pending) {
      if (now - p.started >= this.timeoutMs) {
        this.#delete(key);
        n++;
      }
    }
    this.stats.expired += n;
    return n;
  }

  /** Forget a call (its answer arrived unfragmented, or the caller gave up). */
  forget(key: string): void {
    this.#delete(key);
  }

  #evictOldest(): void {
    const oldest = this.#pending.keys().next();
    if (!oldest.done) {
      this.#delete(oldest.value);
      this.stats.evicted++;
    }
  }

  #drop(key: string): void {
    this.#delete(key);
    this.stats.dropped++;
  }

  #fail(key: string, reason: PnReason, detail: string): AssemblyResult {
    this.#drop(key);
    return { kind: 'dropped', reason, detail };
  }

  #refuse(reason: PnReason, detail: string): AssemblyResult {
    this.stats.dropped++;
    return { kind: 'dropped', reason, detail };
  }

  #delete(key: string): void {
    const p = this.#pending.get(key);
    if (!p) return;
    this.#bytes -= p.bytes;
    this.#pending.delete(key);
  }
}

/** Fragments of one call share everything but flags, serial, length and fragment number. */
function sameCall(a: RpcHeader, b: RpcHeader): boolean {
  return (
    a.packetType === b.packetType &&
    a.littleEndian === b.littleEndian &&
    a.opnum === b.opnum &&
    a.interfaceUuid === b.interfaceUuid &&
    a.objectUuid === b.objectUuid
  );
}
