/**
 * A running simulated PROFINET IO device: record store, ARs, the UDP PNIO-CM endpoint and the HTTP control
 * channel. `startProfinetSimulator` is what tests, the lab and the sim CLI call (like `startSimulator` for
 * Modbus).
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  DEFAULT_MAX_FRAGMENT_BODY,
  pnioObjectUuid,
  pnioStatusFromHex,
  PNIO_CM_UDP_PORT,
  type RecordAddress,
  type Uuid,
} from '../../protocols/profinet/index.js';
import type { SimLogger } from '../sim-logger.js';
import { realSimTimers, sleepOn, unrefSimTimer, type SimTimerHandle, type SimTimers } from '../sim-timers.js';
import type { ArInfo, ArTable } from './ar-table.js';
import { LogDetail } from './logbook-ring.js';
import type { PnSimCounters } from './pn-counters.js';
import { buildPnDeviceParts, type PnDeviceParts } from './pn-device-parts.js';
import { faultStatus, NO_PN_FAULT, type PnFault } from './pn-fault.js';
import { handleCmRequest, type HandlerDeps } from './pn-handler.js';
import { startPnControlServer, type PnControlTarget } from './pn-control.js';
import type { PnScenario } from './pn-scenario.js';
import { PnUdpServer } from './pn-server.js';

export { PNIO_CM_UDP_PORT };
export { recordKey, type PnSimCounters } from './pn-counters.js';
export type { PnFault } from './pn-fault.js';
export type { PnScenario } from './pn-scenario.js';

/** Exit code of the opt-in crash on a user-index read (EX_SOFTWARE). */
export const USER_INDEX_EXIT_CODE = 70;

export interface ProfinetSimulatorOptions {
  /** A scenario object, or the path of a PROFINET scenario YAML file. */
  readonly scenario: PnScenario | string;
  /** UDP listen address. Default 127.0.0.1. */
  readonly host?: string;
  /** UDP port; 0 (default here) = ephemeral. The CLI defaults to 34964. */
  readonly port?: number;
  /** Control channel port on 127.0.0.1; 0 (default) = ephemeral. */
  readonly controlPort?: number;
  /** `big` (default, like common stacks) or `echo` the request's DREP. */
  readonly answerByteOrder?: 'big' | 'echo';
  /** Body bytes per answer datagram before fragmenting. Default 1392 (1472-byte UDP payload, 1500 MTU). */
  readonly maxFragmentBody?: number;
  /** Delay before each answer (ms). Default 0. */
  readonly answerDelayMs?: number;
  /** Overrides the scenario's `ars.max`. */
  readonly maxArs?: number;
  /** Overrides the scenario's / initiator's AR activity timeout. */
  readonly arTimeoutMs?: number;
  /** Opt-in: a read of a user index (0x0000–0x7FFF) makes the device exit (the crash seen on a real stack). */
  readonly exitOnUserIndexRead?: boolean;
  /** What "exit" does; default `process.exit(70)`. Tests inject a recorder. */
  readonly exit?: (code: number, why: string) => void;
  /** Clock (ms) for AR timeouts, fragments and logbook stamps. Default Date.now. */
  readonly now?: () => number;
  /** Period of the idle-AR sweep (ms); 0 = no timer (expiry still runs on every request). Default 500. */
  readonly sweepMs?: number;
  readonly logger?: SimLogger;
  /** The AR sweep, answer delays and restart downtime (../sim-timers.ts). Default real timers. */
  readonly timers?: SimTimers;
}

export interface ProfinetSimulator {
  readonly host: string;
  readonly port: number;
  readonly controlPort: number;
  readonly scenario: PnScenario;
  /** Object UUID of the device (DEA00000-6C97-11D1-8271-instance/device/vendor). */
  readonly objectUuid: Uuid;
  counters(): PnSimCounters;
  resetCounters(): void;
  fault(): PnFault;
  setFault(f: PnFault): void;
  /** Current bytes of a record (what a read returns), or undefined. */
  readRecord(a: RecordAddress): Buffer | undefined;
  ars(): ArInfo[];
  /** Drop idle ARs now (tests: after moving the injected clock). */
  sweep(): number;
  target: PnControlTarget;
  state(): object;
  /** Power cycle: stop answering for `downMs`, drop ARs and calls, reset records, listen again. */
  restart(downMs?: number): Promise<void>;
  /** True once the user-index crash fired: the UDP endpoint is gone. */
  readonly crashed: boolean;
  close(): Promise<void>;
}

export async function startProfinetSimulator(opts: ProfinetSimulatorOptions): Promise<ProfinetSimulator> {
  const parts = buildPnDeviceParts(opts);
  const state: DeviceState = { fault: NO_PN_FAULT, serverBoot: Math.floor(parts.now() / 1000) >>> 0, crashed: false };
  const server = createUdpServer(opts, parts, state);
  const port = await server.listen(opts.port ?? 0);
  const timers = opts.timers ?? realSimTimers;
  const sweeper = startSweeper(parts.ars, opts.sweepMs ?? 500, timers);
  const sim = simulatorFacade({ opts, parts, state, server, port, sweeper, timers });
  let control: Server;
  try {
    control = await startPnControlServer(sim.target, opts.controlPort ?? 0);
  } catch (err) {
    timers.clearTimeout(sweeper);
    await server.close();
    throw err;
  }
  state.control = control;
  (sim as { controlPort: number }).controlPort = (control.address() as AddressInfo).port;
  parts.logger.info(
    { scenario: parts.scenario.name, station: parts.scenario.device.stationName, port, controlPort: sim.controlPort },
    'profinet simulator listening',
  );
  return sim;
}

/** What changes while the device runs. */
interface DeviceState {
  fault: PnFault;
  /** Bumped on each restart: a controller sees a new server boot time in the RPC header. */
  serverBoot: number;
  crashed: boolean;
  closed?: boolean;
  /** The control channel, once it listens. */
  control?: Server;
}

/** Everything the facade's methods reach. */
interface RunningDevice {
  readonly opts: ProfinetSimulatorOptions;
  readonly parts: PnDeviceParts;
  readonly state: DeviceState;
  readonly server: PnUdpServer;
  readonly port: number;
  readonly sweeper: SimTimerHandle | undefined;
  readonly timers: SimTimers;
}

function createUdpServer(opts: ProfinetSimulatorOptions, parts: PnDeviceParts, state: DeviceState): PnUdpServer {
  const server: PnUdpServer = new PnUdpServer({
    host: parts.host,
    answerByteOrder: opts.answerByteOrder ?? 'big',
    maxFragmentBody: opts.maxFragmentBody ?? DEFAULT_MAX_FRAGMENT_BODY,
    answerDelayMs: opts.answerDelayMs ?? 0,
    timers: opts.timers ?? realSimTimers,
    now: parts.now,
    serverBoot: () => state.serverBoot,
    fault: () => state.fault,
    counters: parts.counters,
    logger: parts.logger,
    handle: (req, peer) => handleCmRequest(handlerDeps(opts, parts, state, server), req, peer),
  });
  return server;
}

function handlerDeps(
  opts: ProfinetSimulatorOptions,
  parts: PnDeviceParts,
  state: DeviceState,
  server: PnUdpServer,
): HandlerDeps {
  const { store, ars, logbook, counters } = parts;
  return {
    store,
    ars,
    logbook,
    counters,
    mac: parts.scenario.device.mac,
    forcedStatus: () => faultStatus(state.fault),
    exitOnUserIndexRead: () => opts.exitOnUserIndexRead === true,
    crash: (why) => crashDevice(opts, parts.logger, state, server, why),
  };
}

/** The opt-in user-index crash: the UDP endpoint goes away and the process exits, like the real stack. */
function crashDevice(
  opts: ProfinetSimulatorOptions,
  logger: SimLogger,
  state: DeviceState,
  server: PnUdpServer,
  why: string,
): void {
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  state.crashed = true;
  logger.error({ why }, 'exitOnUserIndexRead: crashing');
  void server.close();
  exit(USER_INDEX_EXIT_CODE, why);
}

/** Drops idle ARs between requests; 0 = no timer (expiry still runs on every request). */
function startSweeper(ars: ArTable, sweepMs: number, timers: SimTimers): SimTimerHandle | undefined {
  if (sweepMs <= 0) return undefined;
  return unrefSimTimer(timers.setInterval(() => ars.sweep(), sweepMs));
}

function simulatorFacade(d: RunningDevice): ProfinetSimulator {
  const { parts, state } = d;
  const { scenario, counters, store, ars } = parts;
  const sim: ProfinetSimulator = {
    host: parts.host,
    port: d.port,
    controlPort: 0,
    scenario,
    objectUuid: pnioObjectUuid(scenario.device.vendorId, scenario.device.deviceId, scenario.device.instance ?? 1),
    counters: () => counters.snapshot(),
    resetCounters: () => counters.reset(),
    fault: () => state.fault,
    setFault(f) {
      state.fault = f;
      parts.logger.info({ fault: f }, 'fault set');
    },
    readRecord: (a) => store.peek(a),
    ars: () => ars.list(),
    sweep: () => ars.sweep(),
    target: controlTarget(parts, () => sim),
    state: () => deviceSnapshot(d, sim),
    restart: (downMs = 0) => restartDevice(d, downMs),
    get crashed() {
      return state.crashed;
    },
    close: () => closeDevice(d),
  };
  return sim;
}

/** What the HTTP control channel may do to the device. */
function controlTarget(parts: PnDeviceParts, sim: () => ProfinetSimulator): PnControlTarget {
  const { counters, store, ars, diagnosis, logbook } = parts;
  return {
    state: () => sim().state(),
    counters: () => counters.snapshot(),
    resetCounters: () => counters.reset(),
    setFault: (f) => sim().setFault(f),
    restart: (downMs) => sim().restart(downMs),
    readRecord: (a) => store.peek(a),
    ars: () => ars.list(),
    diagnosis: () => diagnosis.list(),
    addDiagnosis: (d) => diagnosis.add(d),
    clearDiagnosis: (where) => diagnosis.clear(where),
    logbook: () => logbook.list(),
    addLogEntry: (status, detail) => logbook.add(pnioStatusFromHex(status), detail),
  };
}

function deviceSnapshot(d: RunningDevice, sim: ProfinetSimulator): object {
  const { scenario, ars } = d.parts;
  return {
    protocol: 'profinet',
    scenario: scenario.name,
    stationName: scenario.device.stationName,
    vendorId: scenario.device.vendorId,
    deviceId: scenario.device.deviceId,
    objectUuid: sim.objectUuid,
    host: d.parts.host,
    port: d.port,
    controlPort: sim.controlPort,
    fault: d.state.fault,
    exitOnUserIndexRead: d.opts.exitOnUserIndexRead === true,
    ars: ars.list().map((a) => a.arUuid),
    up: d.server.listening,
    crashed: d.state.crashed,
  };
}

/** Power cycle: ARs and records as after boot, a new server boot time, the same port. */
async function restartDevice(d: RunningDevice, downMs: number): Promise<void> {
  const { parts, state, server } = d;
  if (state.closed || state.crashed) return;
  await server.close();
  parts.ars.clear();
  parts.counters.arCurrent(0);
  parts.store.reset();
  state.serverBoot = (state.serverBoot + 1) >>> 0;
  parts.counters.inc('restarts');
  parts.logbook.add(undefined, LogDetail.Restarted);
  parts.logger.info({ downMs }, 'restart: down');
  if (downMs > 0) await sleepOn(d.timers, downMs);
  if (state.closed) return;
  await server.listen(d.port);
  parts.logger.info({ port: d.port }, 'restart: up');
}

async function closeDevice(d: RunningDevice): Promise<void> {
  const { state } = d;
  if (state.closed) return;
  state.closed = true;
  d.timers.clearTimeout(d.sweeper);
  await d.server.close();
  const control = state.control;
  if (!control) return;
  control.closeAllConnections();
  await new Promise<void>((resolve) => control.close(() => resolve()));
}
