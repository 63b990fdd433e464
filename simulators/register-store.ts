/**
 * One unit's Modbus data model [MB-APP 4.3]: four separate tables (coils, discrete inputs, holding and input
 * registers), each addressed 0..size-1 on the wire (PDU addressing), plus optional FIFO queues for FC24.
 * Reads and writes return values; an address range outside a table answers exception 02 [MB-APP 6.x, "Illegal
 * Data Address"], never throws. `set`/`setBit` are the PLC program's own writes (dynamics), not counted as
 * client writes.
 */
import { ExceptionCode, type Table } from '../protocols/modbus/types.js';

export type TableSizes = Readonly<Record<Table, number>>;

export type StoreResult<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly exception: ExceptionCode };

const ADDRESS_ERROR = { ok: false, exception: ExceptionCode.IllegalDataAddress } as const;

export class RegisterStore {
  readonly unit: number;
  readonly sizes: TableSizes;
  private readonly tables: Record<Table, Uint8Array | Uint16Array>;
  private readonly fifos = new Map<number, number[]>();

  constructor(unit: number, sizes: TableSizes) {
    this.unit = unit;
    this.sizes = sizes;
    this.tables = {
      coils: new Uint8Array(sizes.coils),
      discrete: new Uint8Array(sizes.discrete),
      holding: new Uint16Array(sizes.holding),
      input: new Uint16Array(sizes.input),
    };
  }

  /** True when [start, start+count) lies inside the table. */
  inRange(table: Table, start: number, count: number): boolean {
    return (
      Number.isInteger(start) &&
      Number.isInteger(count) &&
      start >= 0 &&
      count >= 1 &&
      start + count <= this.sizes[table]
    );
  }

  read(table: Table, start: number, count: number): StoreResult<number[]> {
    if (!this.inRange(table, start, count)) return ADDRESS_ERROR;
    return { ok: true, value: Array.from(this.tables[table].subarray(start, start + count)) };
  }

  /** Client write of consecutive values (bits 0/1 or 16-bit words). All-or-nothing. */
  write(table: Table, start: number, values: readonly number[]): StoreResult<void> {
    if (!this.inRange(table, start, values.length)) return ADDRESS_ERROR;
    const t = this.tables[table];
    const isBits = table === 'coils' || table === 'discrete';
    values.forEach((v, i) => {
      t[start + i] = isBits ? (v ? 1 : 0) : v & 0xffff;
    });
    return { ok: true, value: undefined };
  }

  /** Direct read for the PLC program and tests (no range result): out of range reads 0. */
  get(table: Table, address: number): number {
    return this.tables[table][address] ?? 0;
  }

  /** PLC program write (dynamics): clamps to the word range, ignores addresses outside the table. */
  set(table: Table, address: number, value: number): void {
    const t = this.tables[table];
    if (address < 0 || address >= t.length) return;
    const isBits = table === 'coils' || table === 'discrete';
    t[address] = isBits ? (value ? 1 : 0) : Math.max(0, Math.min(0xffff, Math.round(value)));
  }

  /** Defines (or replaces) a FIFO queue read by FC24 at `pointer` [MB-APP 6.18]. */
  setFifo(pointer: number, values: readonly number[]): void {
    this.fifos.set(
      pointer,
      values.map((v) => v & 0xffff),
    );
  }

  /** FC24: the queue at `pointer`, or exception 02 when there is none. Count > 31 is checked by the caller. */
  readFifo(pointer: number): StoreResult<number[]> {
    const q = this.fifos.get(pointer);
    return q ? { ok: true, value: [...q] } : ADDRESS_ERROR;
  }

  /** A JSON-friendly copy of a slice, for the control channel. */
  snapshot(table: Table, start = 0, count = this.sizes[table] - start): number[] {
    const end = Math.min(this.sizes[table], start + Math.max(0, count));
    return Array.from(this.tables[table].subarray(Math.max(0, start), end));
  }
}
