/**
 * The simulated PLC's public shape: what `startSimulator` (simulator.ts) takes and the handle it returns to
 * tests, the lab and the CLI.
 */
import type { LineFormat } from '../protocols/modbus/index.js';
import type { Fault } from './fault.js';
import type { RegisterStore } from './register-store.js';
import type { LineEvent, RtuStats } from './rtu-line-log.js';
import type { RtuPace } from './rtu-server.js';
import type { Scenario } from './scenario.js';
import type { SimCounterEvents, SimCounters } from './sim-counters.js';
import type { SimLogger } from './sim-logger.js';
import type { SimTimers } from './sim-timers.js';

export interface SimulatorOptions {
  /** A scenario object, or the path of a scenario YAML file. */
  readonly scenario: Scenario | string;
  /** Modbus listen address. Default 127.0.0.1. */
  readonly host?: string;
  /** Modbus port; 0 (default) = ephemeral. */
  readonly port?: number;
  /** Control channel port on 127.0.0.1; 0 (default) = ephemeral. */
  readonly controlPort?: number;
  /** Delay before each answer, like a PLC scan. Default 10 ms; 0 for benchmarks. */
  readonly scanDelayMs?: number;
  /** Simultaneous connections; more are accepted and closed at once. Default 4. */
  readonly maxConnections?: number;
  /** How an over-limit connection ends: FIN (default) or RST. */
  readonly overLimit?: 'close' | 'reset';
  /** Requests executed at once per connection (the rest wait, in order). Default 1. */
  readonly maxInFlight?: number;
  /** Process-model tick period (ms). Default 100; 0 = no timer (drive it with `advance`). */
  readonly tickMs?: number;
  readonly logger?: SimLogger;
  /** Scan and slow-fault delays, the process tick, restart downtime, RTU line timing. Default real timers. */
  readonly timers?: SimTimers;
  /** Also serve the units as an RTU line (rtu-server.ts): on a serial path (a PTY) and/or RTU over TCP. */
  readonly rtu?: SimRtuOptions;
}

export interface SimRtuOptions {
  readonly serialPath?: string;
  /** RTU-over-TCP port (0 = ephemeral). */
  readonly tcpPort?: number;
  /** Line format; default 9600 8E1 [MB-SERIAL 2.5.1]. A slow baud rate makes every answer slow. */
  readonly format?: LineFormat;
  /**
   * How answers leave on the serial path (rtu-server.ts): `bytes` (default) character by character at the baud
   * rate, like a UART; `frame` each whole frame once its time on the wire has passed; `none` at once. Timers
   * pace `bytes`, so a stall of this process (or of the PTY relay) mid-answer is a real pause on the wire, which
   * a master rightly reads as a frame cut short: tests on a loaded machine that are not about that use `frame`.
   */
  readonly pace?: RtuPace;
}

export interface SimulatorState {
  readonly scenario: string;
  readonly host: string;
  readonly port: number;
  readonly controlPort: number;
  readonly fault: Fault;
  readonly units: number[];
  readonly connections: number;
  readonly up: boolean;
}

/** The simulator's counter changes as events, each right after its counter moved (sim-counters.ts). */
export interface SimEvents {
  on<K extends keyof SimCounterEvents>(event: K, listener: (...args: SimCounterEvents[K]) => void): unknown;
  off<K extends keyof SimCounterEvents>(event: K, listener: (...args: SimCounterEvents[K]) => void): unknown;
}

export interface Simulator {
  readonly port: number;
  readonly controlPort: number;
  counters(): SimCounters;
  /** 'request', 'dropped', 'connectionOpened', 'connectionClosed', 'restarted' …: what in-process tests await. */
  readonly events: SimEvents;
  resetCounters(): void;
  fault(): Fault;
  setFault(f: Fault): void;
  /** The memory behind `unit` (aliases included). Throws RangeError for a unit this PLC does not serve. */
  store(unit: number): RegisterStore;
  /** Runs the process models for `ms` of simulated time at once (tests use this with `tickMs: 0`). */
  advance(ms: number): void;
  state(): SimulatorState;
  /** Power cycle: drop connections, stop listening for `downMs`, reset memory to the scenario, listen again. */
  restart(downMs?: number): Promise<void>;
  /** RTU-over-TCP port, when `rtu.tcpPort` was given. */
  readonly rtuPort: number | null;
  /** What the RTU line saw (requests, answers, collisions, noise), when `rtu` was given. */
  rtuStats(): RtuStats | null;
  rtuEvents(): LineEvent[];
  resetRtuLog(): void;
  close(): Promise<void>;
}
