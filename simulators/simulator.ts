/**
 * A running simulated PLC: memory + process models ticking, the Modbus/TCP server and the HTTP control
 * channel. `startSimulator` is what tests, the lab and the CLI call.
 */
import type { Server } from 'node:http';
import type { Table } from '../protocols/modbus/types.js';
import type { LineFormat } from '../protocols/modbus/index.js';
import { startRtuListeners, type RtuListeners } from './rtu-listeners.js';
import { RtuLineLog, type LineEvent, type RtuStats } from './rtu-line-log.js';
import { controlPortOf, startControlServer } from './control-server.js';
import { NO_FAULT, type Fault } from './fault.js';
import { checkScenario, loadScenarioFile } from './load-scenario.js';
import { PlcMemory } from './plc-memory.js';
import { PlcServer } from './plc-server.js';
import type { RegisterStore } from './register-store.js';
import { createRequestHandler } from './request-handler.js';
import type { Scenario } from './scenario.js';
import { CounterSet, type SimCounters } from './sim-counters.js';
import { silentLogger, type SimLogger } from './sim-logger.js';

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
  /** Also serve the units as an RTU line (rtu-server.ts): on a serial path (a PTY) and/or RTU over TCP. */
  readonly rtu?: SimRtuOptions;
}

export interface SimRtuOptions {
  readonly serialPath?: string;
  /** RTU-over-TCP port (0 = ephemeral). */
  readonly tcpPort?: number;
  /** Line format; default 9600 8E1 [MB-SERIAL 2.5.1]. A slow baud rate makes every answer slow. */
  readonly format?: LineFormat;
  /** Send answers at the baud rate, byte by byte (default true). */
  readonly pace?: boolean;
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

export interface Simulator {
  readonly port: number;
  readonly controlPort: number;
  counters(): SimCounters;
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

export async function startSimulator(opts: SimulatorOptions): Promise<Simulator> {
  const scenario = typeof opts.scenario === 'string' ? loadScenarioFile(opts.scenario) : checkScenario(opts.scenario);
  const logger = opts.logger ?? silentLogger;
  const host = opts.host ?? '127.0.0.1';
  const counters = new CounterSet();
  const memory = new PlcMemory(scenario);
  let fault: Fault = NO_FAULT;
  const server = new PlcServer({
    host,
    maxConnections: opts.maxConnections ?? 4,
    maxInFlight: opts.maxInFlight ?? 1,
    scanDelayMs: opts.scanDelayMs ?? 10,
    overLimit: opts.overLimit ?? 'close',
    handle: createRequestHandler({ memory, scenario, counters }),
    fault: () => fault,
    counters,
    logger,
  });
  const port = await server.listen(opts.port ?? 0);
  const rtuLog = new RtuLineLog();
  let rtu: RtuListeners | null = null;
  if (opts.rtu) {
    try {
      rtu = await startRtuListeners(
        {
          ...(opts.rtu.serialPath !== undefined ? { serialPath: opts.rtu.serialPath } : {}),
          ...(opts.rtu.tcpPort !== undefined ? { tcpPort: opts.rtu.tcpPort } : {}),
          host,
        },
        {
          format: opts.rtu.format ?? { baudRate: 9600, dataBits: 8, parity: 'even', stopBits: 1 },
          pace: opts.rtu.pace === false ? 'none' : 'bytes',
          scanDelayMs: opts.scanDelayMs ?? 10,
          handle: createRequestHandler({ memory, scenario, counters }),
          serves: (unit) => memory.lookup(unit) !== undefined,
          units: () => memory.units(),
          fault: () => fault,
          counters,
          log: rtuLog,
          logger,
        },
      );
    } catch (err) {
      await server.close();
      throw err;
    }
  }
  let up = true;
  let closed = false;

  const tickMs = opts.tickMs ?? 100;
  const timer = tickMs > 0 ? setInterval(() => memory.step(tickMs), tickMs) : undefined;
  timer?.unref();

  const sim: Simulator = {
    port,
    controlPort: 0,
    counters: () => counters.snapshot(),
    resetCounters: () => counters.reset(),
    fault: () => fault,
    setFault(f) {
      fault = f;
      logger.info({ fault: f }, 'fault set');
    },
    store(unit) {
      const s = memory.lookup(unit);
      if (!s) throw new RangeError(`simulator: scenario '${scenario.name}' serves no unit ${unit}`);
      return s;
    },
    advance: (ms) => memory.step(ms),
    rtuPort: rtu?.tcpPort ?? null,
    rtuStats: () => (rtu ? rtuLog.stats() : null),
    rtuEvents: () => rtuLog.events(),
    resetRtuLog: () => rtuLog.reset(),
    state: () => ({
      scenario: scenario.name,
      host,
      port,
      controlPort: sim.controlPort,
      fault,
      units: memory.units(),
      connections: server.connectionCount,
      up,
    }),
    async restart(downMs = 0) {
      if (closed) return;
      up = false;
      await server.close();
      memory.reset();
      counters.restarted();
      logger.info({ downMs }, 'restart: down');
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
      if (closed) return;
      await server.listen(port);
      up = true;
      logger.info({ port }, 'restart: up');
    },
    async close() {
      if (closed) return;
      closed = true;
      if (timer) clearInterval(timer);
      await server.close();
      await rtu?.close();
      control.closeAllConnections();
      await new Promise<void>((resolve) => control.close(() => resolve()));
    },
  };

  let control: Server;
  try {
    control = await startControlServer(
      {
        state: () => sim.state(),
        counters: () => sim.counters(),
        resetCounters: () => sim.resetCounters(),
        setFault: (f) => sim.setFault(f),
        restart: (downMs) => sim.restart(downMs),
        readRegisters: (unit, table: Table, address, count) => {
          const s = memory.lookup(unit);
          const r = s?.read(table, address, count);
          return r?.ok ? r.value : undefined;
        },
      },
      opts.controlPort ?? 0,
    );
  } catch (err) {
    if (timer) clearInterval(timer);
    await server.close();
    await rtu?.close();
    throw err;
  }
  (sim as { controlPort: number }).controlPort = controlPortOf(control);
  logger.info({ scenario: scenario.name, port, controlPort: sim.controlPort }, 'simulator listening');
  return sim;
}
