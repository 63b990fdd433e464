/**
 * Bounded fair queue across client identities: FIFO within one key, round-robin between keys, so a client
 * flooding requests waits behind itself, not in front of everyone else (docs/architecture.md "Lessons from
 * Modbus proxies": modbus-proxy / mbusd share one upstream connection behind a fair queue).
 *
 * Every operation is O(1): per-key doubly linked lists, and the round is a doubly linked ring of the non-empty
 * keys' lists (a key served and still non-empty moves to its end). A key's list outlives its last item (swept
 * only when many idle keys pile up), so a client that keeps one request queued at a time costs no Map delete and
 * insert, nor a new list, per request.
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
  readonly key: string;
  head: Node<T> | null;
  tail: Node<T> | null;
  length: number;
  /** Neighbours in the round (non-empty lists only). */
  prev: KeyList<T> | null;
  next: KeyList<T> | null;
  inRound: boolean;
}

/** Empty per-key lists kept before they are swept. */
const IDLE_KEYS = 1024;

export type PushResult<T> =
  | { readonly kind: 'queued'; readonly handle: QueueHandle<T> }
  /** Admitted by pushing out the newest item of the longest other queue (returned, to be answered). */
  | { readonly kind: 'queued-evicting'; readonly handle: QueueHandle<T>; readonly evicted: QueueHandle<T> }
  | { readonly kind: 'full' };

export class FairQueue<T> {
  readonly #limit: number;
  /** Every key's list, empty ones included (see the header). */
  readonly #lists = new Map<string, KeyList<T>>();
  #first: KeyList<T> | null = null;
  #last: KeyList<T> | null = null;
  #size = 0;

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`fair-queue: limit must be ≥ 1, got ${limit}`);
    this.#limit = limit;
  }

  get size(): number {
    return this.#size;
  }

  sizeOf(key: string): number {
    return this.#lists.get(key)?.length ?? 0;
  }

  /** Queued items per key (only non-empty keys). */
  byKey(): Record<string, number> {
    const out: Record<string, number> = {};
    for (let l = this.#first; l !== null; l = l.next) out[l.key] = l.length;
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
    const list = this.#first;
    if (list === null) return undefined;
    const node = list.head;
    if (node === null) throw new Error('fair-queue: empty list left in the round (bug)');
    this.#unlink(list, node);
    // Rotate: a key that still has items goes to the back of the round.
    if (list.inRound && list !== this.#last) {
      this.#leaveRound(list);
      this.#joinRound(list);
    }
    return node.value;
  }

  /** Removes a still-queued item; false when it already left (shifted or removed). */
  remove(handle: QueueHandle<T>): boolean {
    const node = handle as Node<T>;
    if (!node.queued) return false;
    const list = this.#lists.get(node.key);
    if (list === undefined) return false;
    this.#unlink(list, node);
    return true;
  }

  /** Snapshot of queued values, key by key (not service order); safe to remove while using it. */
  values(): T[] {
    const out: T[] = [];
    for (let l = this.#first; l !== null; l = l.next) for (let n = l.head; n !== null; n = n.next) out.push(n.value);
    return out;
  }

  /** Removes and returns everything (e.g. on close), in round-robin order. */
  drain(): T[] {
    const out: T[] = [];
    for (let v = this.shift(); v !== undefined; v = this.shift()) out.push(v);
    return out;
  }

  #append(key: string, value: T): Node<T> {
    let list = this.#lists.get(key);
    if (list === undefined) {
      if (this.#lists.size >= IDLE_KEYS) for (const [k, l] of this.#lists) if (l.length === 0) this.#lists.delete(k);
      list = { key, head: null, tail: null, length: 0, prev: null, next: null, inRound: false };
      this.#lists.set(key, list);
    }
    if (!list.inRound) this.#joinRound(list);
    const node: Node<T> = { key, value, prev: list.tail, next: null, queued: true };
    if (list.tail === null) list.head = node;
    else list.tail.next = node;
    list.tail = node;
    list.length++;
    this.#size++;
    return node;
  }

  #unlink(list: KeyList<T>, node: Node<T>): void {
    if (node.prev === null) list.head = node.next;
    else node.prev.next = node.next;
    if (node.next === null) list.tail = node.prev;
    else node.next.prev = node.prev;
    node.prev = node.next = null;
    node.queued = false;
    list.length--;
    this.#size--;
    if (list.length === 0) this.#leaveRound(list);
  }

  /** Appends `list` to the end of the round. */
  #joinRound(list: KeyList<T>): void {
    list.prev = this.#last;
    list.next = null;
    if (this.#last === null) this.#first = list;
    else this.#last.next = list;
    this.#last = list;
    list.inRound = true;
  }

  #leaveRound(list: KeyList<T>): void {
    if (list.prev === null) this.#first = list.next;
    else list.prev.next = list.next;
    if (list.next === null) this.#last = list.prev;
    else list.next.prev = list.prev;
    list.prev = list.next = null;
    list.inRound = false;
  }

  #longestOther(key: string): KeyList<T> | undefined {
    let best: KeyList<T> | undefined;
    for (let l = this.#first; l !== null; l = l.next)
      if (l.key !== key && (best === undefined || l.length > best.length)) best = l;
    return best;
  }
}
