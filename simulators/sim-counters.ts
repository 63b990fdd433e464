/**
 * What the simulator did, so a test can prove from the outside what reached the PLC: requests by function
 * code, every register or bit written (keyed `table:unit:address`, unit = the store's primary id, so a write
 * through an alias counts once), exceptions by code, connections accepted/refused/current, faults applied.
 */
import { EventEmitter } from 'node:events';
import type { Table } from '../protocols/modbus/types.js';

export interface SimCounters {
  readonly requests: number;
  /** Requests received, by function code (decimal string). */
  readonly byFc: Readonly<Record<string, number>>;
  /** Exception responses sent, by exception code (decimal string). */
  readonly exceptions: Readonly<Record<string, number>>;
  /** Client writes applied, `table:unit:address` → times written. */
  readonly writes: Readonly<Record<string, number>>;
  readonly malformed: number;
  /** Requests dropped by the `silent` fault or sent to an ignored unit. */
  readonly dropped: number;
  /** Connections closed by the `close` fault. */
  readonly closedByFault: number;
  readonly connections: {
    readonly current: number;
    readonly peak: number;
    readonly accepted: number;
    readonly refused: number;
  };
  readonly restarts: number;
}

export function writeKey(table: Table, unit: number, address: number): string {
  return `${table}:${unit}:${address}`;
}

/**
 * Emitted right after the counter of the same name changed: what a test in the same process awaits ("the
 * request reached the PLC", "the connection closed on the PLC's side") instead of polling `snapshot()`.
 */
export interface SimCounterEvents {
  request: [fc: number];
  exception: [code: number];
  write: [];
  malformed: [];
  dropped: [];
  closedByFault: [];
  connectionOpened: [];
  connectionClosed: [];
  connectionRefused: [];
  restarted: [];
}

export class CounterSet extends EventEmitter<SimCounterEvents> {
  private c = fresh();

  request(fc: number): void {
    this.c.requests++;
    bump(this.c.byFc, String(fc));
    this.emit('request', fc);
  }
  exception(code: number): void {
    bump(this.c.exceptions, String(code));
    this.emit('exception', code);
  }
  write(table: Table, unit: number, address: number, count: number): void {
    for (let i = 0; i < count; i++) bump(this.c.writes, writeKey(table, unit, address + i));
    this.emit('write');
  }
  malformed(): void {
    this.c.malformed++;
    this.emit('malformed');
  }
  dropped(): void {
    this.c.dropped++;
    this.emit('dropped');
  }
  closedByFault(): void {
    this.c.closedByFault++;
    this.emit('closedByFault');
  }
  connectionOpened(): void {
    const k = this.c.connections;
    k.accepted++;
    k.current++;
    k.peak = Math.max(k.peak, k.current);
    this.emit('connectionOpened');
  }
  connectionClosed(): void {
    this.c.connections.current--;
    this.emit('connectionClosed');
  }
  connectionRefused(): void {
    this.c.connections.refused++;
    this.emit('connectionRefused');
  }
  restarted(): void {
    this.c.restarts++;
    this.emit('restarted');
  }

  /** Zero everything but the live connection count. */
  reset(): void {
    const current = this.c.connections.current;
    this.c = fresh();
    this.c.connections.current = current;
    this.c.connections.peak = current;
  }

  snapshot(): SimCounters {
    return structuredClone(this.c);
  }
}

function fresh() {
  return {
    requests: 0,
    byFc: {} as Record<string, number>,
    exceptions: {} as Record<string, number>,
    writes: {} as Record<string, number>,
    malformed: 0,
    dropped: 0,
    closedByFault: 0,
    connections: { current: 0, peak: 0, accepted: 0, refused: 0 },
    restarts: 0,
  };
}

function bump(map: Record<string, number>, key: string): void {
  map[key] = (map[key] ?? 0) + 1;
}
