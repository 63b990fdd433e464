/**
 * A running simulated PLC: memory + process models ticking, the Modbus/TCP server and the HTTP control
 * channel. `startSimulator` is what tests, the lab and the CLI call.
 */
import type { Server } from 'node:http';
import type { SimRtuOptions, Simulator, SimulatorOptions, SimulatorState } from './simulator-types.js';
import type { Table } from '../protocols/modbus/types.js';
import { startRtuListeners, type RtuListeners } from './rtu-listeners.js';
import { RtuLineLog } from './rtu-line-log.js';
import { controlPortOf, startControlServer, type ControlTarget } from './control-server.js';
import { NO_FAULT, type Fault } from './fault.js';
import { checkScenario, loadScenarioFile } from './load-scenario.js';
import { PlcMemory } from './plc-memory.js';
import { PlcServer } from './plc-server.js';
import type { RegisterStore } from './register-store.js';
import { createRequestHandler } from './request-handler.js';
import type { Scenario } from './scenario.js';
import { CounterSet } from './sim-counters.js';
import { silentLogger, type SimLogger } from './sim-logger.js';
import { realSimTimers, sleepOn, unrefSimTimer, type SimTimerHandle, type SimTimers } from './sim-timers.js';

export type { SimRtuOptions, Simulator, SimulatorOptions } from './simulator-types.js';

export async function startSimulator(opts: SimulatorOptions): Promise<Simulator> {
  const parts = buildPlcParts(opts);
  const state: PlcState = { fault: NO_FAULT, up: true, closed: false };
  const server = createPlcServer(opts, parts, state);
  const port = await server.listen(opts.port ?? 0);
  const rtuLog = new RtuLineLog();
  const rtu = opts.rtu ? await startRtuOrClose(opts.rtu, { opts, parts, state, server, rtuLog }) : null;
  const timer = startTicker(parts, opts.tickMs ?? 100);
  const running: RunningPlc = { parts, state, server, port, rtu, rtuLog, timer };
  const sim = simulatorFacade(running);
  const control = await startControlOrClose(running, sim, opts.controlPort ?? 0);
  state.control = control;
  (sim as { controlPort: number }).controlPort = controlPortOf(control);
  parts.logger.info({ scenario: parts.scenario.name, port, controlPort: sim.controlPort }, 'simulator listening');
  return sim;
}

/** What the PLC is made of, built once from the scenario. */
interface PlcParts {
  readonly scenario: Scenario;
  readonly logger: SimLogger;
  readonly host: string;
  readonly counters: CounterSet;
  readonly memory: PlcMemory;
  readonly timers: SimTimers;
}

/** What changes while the PLC runs. */
interface PlcState {
  fault: Fault;
  /** False while a restart has the PLC powered off. */
  up: boolean;
  closed: boolean;
  /** The control channel, once it listens. */
  control?: Server;
}

/** Everything the facade's methods reach. */
interface RunningPlc {
  readonly parts: PlcParts;
  readonly state: PlcState;
  readonly server: PlcServer;
  readonly port: number;
  readonly rtu: RtuListeners | null;
  readonly rtuLog: RtuLineLog;
  readonly timer: SimTimerHandle | undefined;
}

function buildPlcParts(opts: SimulatorOptions): PlcParts {
  const scenario = typeof opts.scenario === 'string' ? loadScenarioFile(opts.scenario) : checkScenario(opts.scenario);
  return {
    scenario,
    logger: opts.logger ?? silentLogger,
    host: opts.host ?? '127.0.0.1',
    counters: new CounterSet(),
    memory: new PlcMemory(scenario),
    timers: opts.timers ?? realSimTimers,
  };
}

function createPlcServer(opts: SimulatorOptions, parts: PlcParts, state: PlcState): PlcServer {
  const { memory, scenario, counters } = parts;
  return new PlcServer({
    host: parts.host,
    maxConnections: opts.maxConnections ?? 4,
    maxInFlight: opts.maxInFlight ?? 1,
    scanDelayMs: opts.scanDelayMs ?? 10,
    overLimit: opts.overLimit ?? 'close',
    handle: createRequestHandler({ memory, scenario, counters }),
    fault: () => state.fault,
    counters,
    logger: parts.logger,
    timers: parts.timers,
  });
}

/** The RTU line serves the same memory; if it cannot start, the Modbus/TCP server is closed again. */
async function startRtuOrClose(
  rtu: SimRtuOptions,
  d: { opts: SimulatorOptions; parts: PlcParts; state: PlcState; server: PlcServer; rtuLog: RtuLineLog },
): Promise<RtuListeners> {
  const { memory, scenario, counters } = d.parts;
  try {
    return await startRtuListeners(
      {
        ...(rtu.serialPath !== undefined ? { serialPath: rtu.serialPath } : {}),
        ...(rtu.tcpPort !== undefined ? { tcpPort: rtu.tcpPort } : {}),
        host: d.parts.host,
      },
      {
        format: rtu.format ?? { baudRate: 9600, dataBits: 8, parity: 'even', stopBits: 1 },
        pace: rtu.pace ?? 'bytes',
        scanDelayMs: d.opts.scanDelayMs ?? 10,
        handle: createRequestHandler({ memory, scenario, counters }),
        serves: (unit) => memory.lookup(unit) !== undefined,
        units: () => memory.units(),
        fault: () => d.state.fault,
        counters,
        log: d.rtuLog,
        logger: d.parts.logger,
        timers: d.parts.timers,
      },
    );
  } catch (err) {
    await d.server.close();
    throw err;
  }
}

/** Runs the process models every `tickMs`; 0 = no timer (tests drive them with `advance`). */
function startTicker({ memory, timers }: PlcParts, tickMs: number): SimTimerHandle | undefined {
  if (tickMs <= 0) return undefined;
  return unrefSimTimer(timers.setInterval(() => memory.step(tickMs), tickMs));
}

function simulatorFacade(d: RunningPlc): Simulator {
  const { parts, state, rtu, rtuLog } = d;
  const { counters, memory } = parts;
  const sim: Simulator = {
    port: d.port,
    controlPort: 0,
    counters: () => counters.snapshot(),
    events: counters,
    resetCounters: () => counters.reset(),
    fault: () => state.fault,
    setFault(f) {
      state.fault = f;
      parts.logger.info({ fault: f }, 'fault set');
    },
    store: (unit) => unitStore(parts, unit),
    advance: (ms) => memory.step(ms),
    rtuPort: rtu?.tcpPort ?? null,
    rtuStats: () => (rtu ? rtuLog.stats() : null),
    rtuEvents: () => rtuLog.events(),
    resetRtuLog: () => rtuLog.reset(),
    state: () => plcSnapshot(d, sim.controlPort),
    restart: (downMs = 0) => restartPlc(d, downMs),
    close: () => closePlc(d),
  };
  return sim;
}

function unitStore(parts: PlcParts, unit: number): RegisterStore {
  const s = parts.memory.lookup(unit);
  if (!s) throw new RangeError(`simulator: scenario '${parts.scenario.name}' serves no unit ${unit}`);
  return s;
}

function plcSnapshot(d: RunningPlc, controlPort: number): SimulatorState {
  return {
    scenario: d.parts.scenario.name,
    host: d.parts.host,
    port: d.port,
    controlPort,
    fault: d.state.fault,
    units: d.parts.memory.units(),
    connections: d.server.connectionCount,
    up: d.state.up,
  };
}

/** Power cycle: connections dropped, memory back to the scenario, the same port. */
async function restartPlc(d: RunningPlc, downMs: number): Promise<void> {
  const { parts, state, server } = d;
  if (state.closed) return;
  state.up = false;
  await server.close();
  parts.memory.reset();
  parts.counters.restarted();
  parts.logger.info({ downMs }, 'restart: down');
  if (downMs > 0) await sleepOn(parts.timers, downMs);
  if (state.closed) return;
  await server.listen(d.port);
  state.up = true;
  parts.logger.info({ port: d.port }, 'restart: up');
}

async function closePlc(d: RunningPlc): Promise<void> {
  const { state } = d;
  if (state.closed) return;
  state.closed = true;
  await stopListeners(d);
  const control = state.control;
  if (!control) return;
  control.closeAllConnections();
  await new Promise<void>((resolve) => control.close(() => resolve()));
}

/** The tick timer, the Modbus/TCP server and the RTU line; close and a failed start both end them. */
async function stopListeners(d: RunningPlc): Promise<void> {
  d.parts.timers.clearTimeout(d.timer);
  await d.server.close();
  await d.rtu?.close();
}

async function startControlOrClose(d: RunningPlc, sim: Simulator, port: number): Promise<Server> {
  try {
    return await startControlServer(controlTarget(d.parts, sim), port);
  } catch (err) {
    await stopListeners(d);
    throw err;
  }
}

/** What the HTTP control channel may do to the PLC. */
function controlTarget(parts: PlcParts, sim: Simulator): ControlTarget {
  return {
    state: () => sim.state(),
    counters: () => sim.counters(),
    resetCounters: () => sim.resetCounters(),
    setFault: (f) => sim.setFault(f),
    restart: (downMs) => sim.restart(downMs),
    readRegisters: (unit, table: Table, address, count) => {
      const r = parts.memory.lookup(unit)?.read(table, address, count);
      return r?.ok ? r.value : undefined;
    },
  };
}
