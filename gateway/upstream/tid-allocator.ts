/**
 * Upstream transaction ids for one PLC connection. [MB-TCP 3.1.3]: the id pairs a response with its request
 * and must be unique among requests outstanding on the connection; a response with an unknown id is
 * discarded. Ids are handed out round-robin over the 16-bit space, skipping ids still reserved — including
 * ids of timed-out requests whose late reply may still come — so a late reply can never be mistaken for
 * the answer to a newer request.
 */
export class TidAllocator {
  readonly #reserved = new Set<number>();
  #next: number;

  /** `start` is the first id tried (tests pin it; the pool uses a random start per connection). */
  constructor(start = 1) {
    this.#next = start & 0xffff;
  }

  get reservedCount(): number {
    return this.#reserved.size;
  }

  isReserved(tid: number): boolean {
    return this.#reserved.has(tid);
  }

  /** A free id, now reserved; null only when all 65,536 are reserved. */
  allocate(): number | null {
    if (this.#reserved.size > 0xffff) return null;
    for (;;) {
      const tid = this.#next;
      this.#next = (this.#next + 1) & 0xffff;
      if (!this.#reserved.has(tid)) {
        this.#reserved.add(tid);
        return tid;
      }
    }
  }

  /** Frees an id; false when it was not reserved. */
  release(tid: number): boolean {
    return this.#reserved.delete(tid);
  }
}
