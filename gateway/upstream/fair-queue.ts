/**
 * Bounded fair queue across client identities: FIFO within one key, round-robin between keys, so a client
 * flooding requests waits behind itself, not in front of everyone else (docs/architecture.md "Lessons from
 * Modbus proxies": modbus-proxy / mbusd share one upstream connection behind a fair queue).
 *
 * Every operation is O(1): per-key doubly linked lists, and the round-robin order is the insertion order of
 * `active` (a key served and still non-empty is re-inserted at the end).
 */

/** Opaque handle to a queued item, used to remove it (abort, timeout, push-out). */
export interface QueueHandle<T> {
  readonly key: string;
  readonly value: T;
}

interface Node<T> extends QueueHandle<T> {
  prev: Node<T> | null;
  next: Node<T> | null;
  queued: boolean;
}

interface KeyList<T> {
  head: Node<T> | null;
  tail: Node<T> | null;
  length: number;
}

export type PushResult<T> =
  | { readonly kind: 'queued'; readonly handle: QueueHandle<T> }
  /** Admitted by pushing out the newest item of the longest other queue (returned, to be answered). */
  | { readonly kind: 'queued-evicting'; readonly handle: QueueHandle<T>; readonly evicted: QueueHandle<T> }
  | { readonly kind: 'full' };

export class FairQueue<T> {
  readonly #limit: number;
  readonly #active = new Map<string, KeyList<T>>();
  #size = 0;

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`fair-queue: limit must be ≥ 1, got ${limit}`);
    this.#limit = limit;
  }

  get size(): number {
    return this.#size;
  }

  sizeOf(key: string): number {
    return this.#active.get(key)?.length ?? 0;
  }

  /** Queued items per key (only non-empty keys). */
  byKey(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, l] of this.#active) out[k] = l.length;
    return out;
  }

  /**
   * Appends to `key`'s FIFO. When the queue is full, a key holding fewer items than the longest other key
   * still gets in: the longest key's newest item is pushed out (fair share of the bound, so a flooding
   * client cannot fill the queue and starve others with queue-full). Otherwise `full`.
   */
  push(key: string, value: T): PushResult<T> {
    if (this.#size < this.#limit) return { kind: 'queued', handle: this.#append(key, value) };
    const victim = this.#longestOther(key);
    if (victim === undefined || victim.length <= this.sizeOf(key) + 1 || victim.tail === null) return { kind: 'full' };
    const evicted = victim.tail;
    this.remove(evicted);
    return { kind: 'queued-evicting', handle: this.#append(key, value), evicted };
  }

  /** Next item in round-robin order, or undefined when empty. */
  shift(): T | undefined {
    const first = this.#active.entries().next();
    if (first.done === true) return undefined;
    const [key, list] = first.value;
    const node = list.head;
    if (node === null) throw new Error('fair-queue: empty list left active (bug)');
    this.#unlink(key, list, node);
    // Rotate: a key that still has items goes to the back of the round.
    if (this.#active.has(key)) {
      this.#active.delete(key);
      this.#active.set(key, list);
    }
    return node.value;
  }

  /** Removes a still-queued item; false when it already left (shifted or removed). */
  remove(handle: QueueHandle<T>): boolean {
    const node = handle as Node<T>;
    if (!node.queued) return false;
    const list = this.#active.get(node.key);
    if (list === undefined) return false;
    this.#unlink(node.key, list, node);
    return true;
  }

  /** Snapshot of queued values, key by key (not service order); safe to remove while using it. */
  values(): T[] {
    const out: T[] = [];
    for (const list of this.#active.values()) for (let n = list.head; n !== null; n = n.next) out.push(n.value);
    return out;
  }

  /** Removes and returns everything (e.g. on close), in round-robin order. */
  drain(): T[] {
    const out: T[] = [];
    for (let v = this.shift(); v !== undefined; v = this.shift()) out.push(v);
    return out;
  }

  #append(key: string, value: T): Node<T> {
    let list = this.#active.get(key);
    if (list === undefined) {
      list = { head: null, tail: null, length: 0 };
      this.#active.set(key, list);
    }
    const node: Node<T> = { key, value, prev: list.tail, next: null, queued: true };
    if (list.tail === null) list.head = node;
    else list.tail.next = node;
    list.tail = node;
    list.length++;
    this.#size++;
    return node;
  }

  #unlink(key: string, list: KeyList<T>, node: Node<T>): void {
    if (node.prev === null) list.head = node.next;
    else node.prev.next = node.next;
    if (node.next === null) list.tail = node.prev;
    else node.next.prev = node.prev;
    node.prev = node.next = null;
    node.queued = false;
    list.length--;
    this.#size--;
    if (list.length === 0) this.#active.delete(key);
  }

  #longestOther(key: string): KeyList<T> | undefined {
    let best: KeyList<T> | undefined;
    for (const [k, l] of this.#active) if (k !== key && (best === undefined || l.length > best.length)) best = l;
    return best;
  }
}
