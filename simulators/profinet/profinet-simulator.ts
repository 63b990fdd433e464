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
import { silentLogger, type SimLogger } from '../sim-logger.js';
import { ArTable, type ArInfo } from './ar-table.js';
import { DiagnosisBook } from './diagnosis-book.js';
import { checkPnScenario, loadPnScenarioFile } from './load-pn-scenario.js';
import { LogbookRing, LogDetail } from './logbook-ring.js';
import { PnCounterSet, type PnSimCounters } from './pn-counters.js';
import { faultStatus, NO_PN_FAULT, type PnFault } from './pn-fault.js';
import { handleCmRequest } from './pn-handler.js';
import { startPnControlServer, type PnControlTarget } from './pn-control.js';
import type { PnScenario } from './pn-scenario.js';
import { PnUdpServer } from './pn-server.js';
import { RecordStore } from './record-store.js';

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
  const scenario =
    typeof opts.scenario === 'string' ? loadPnScenarioFile(opts.scenario) : checkPnScenario(opts.scenario);
  const logger = opts.logger ?? silentLogger;
  const host = opts.host ?? '127.0.0.1';
  const now = opts.now ?? Date.now;
  const counters = new PnCounterSet();
  const logbook = new LogbookRing(scenario.logbookSize ?? 32, now);
  const diagnosis = new DiagnosisBook(scenario.diagnosis ?? []);
  const store = new RecordStore(scenario, diagnosis, logbook);
  const ars = new ArTable({
    max: opts.maxArs ?? scenario.ars?.max ?? 1,
    now,
    ...((opts.arTimeoutMs ?? scenario.ars?.activityTimeoutMs)
      ? { activityTimeoutMs: opts.arTimeoutMs ?? scenario.ars?.activityTimeoutMs }
      : {}),
    deviceAccess: scenario.ars?.deviceAccess ?? true,
  });
  ars.onExpire = (ar) => {
    counters.ar('expired', ars.size);
    logbook.add(pnioStatusFromHex('cf814005'), LogDetail.ArTimedOut, ar.arUuid);
    logger.info({ ar: ar.arUuid }, 'AR dropped: activity timeout');
  };
  let fault: PnFault = NO_PN_FAULT;
  let serverBoot = Math.floor(now() / 1000) >>> 0;
  let crashed = false;
  let closed = false;
  const exit = opts.exit ?? ((code: number) => process.exit(code));

  const server = new PnUdpServer({
    host,
    answerByteOrder: opts.answerByteOrder ?? 'big',
    maxFragmentBody: opts.maxFragmentBody ?? DEFAULT_MAX_FRAGMENT_BODY,
    answerDelayMs: opts.answerDelayMs ?? 0,
    now,
    serverBoot: () => serverBoot,
    fault: () => fault,
    counters,
    logger,
    handle: (req, peer) =>
      handleCmRequest(
        {
          store,
          ars,
          logbook,
          counters,
          mac: scenario.device.mac,
          forcedStatus: () => faultStatus(fault),
          exitOnUserIndexRead: () => opts.exitOnUserIndexRead === true,
          crash: (why) => {
            crashed = true;
            logger.error({ why }, 'exitOnUserIndexRead: crashing');
            void server.close();
            exit(USER_INDEX_EXIT_CODE, why);
          },
        },
        req,
        peer,
      ),
  });
  const port = await server.listen(opts.port ?? 0);
  const sweepMs = opts.sweepMs ?? 500;
  const sweeper = sweepMs > 0 ? setInterval(() => ars.sweep(), sweepMs) : undefined;
  sweeper?.unref();

  const target: PnControlTarget = {
    state: () => sim.state(),
    counters: () => counters.snapshot(),
    resetCounters: () => counters.reset(),
    setFault: (f) => sim.setFault(f),
    restart: (downMs) => sim.restart(downMs),
    readRecord: (a) => store.peek(a),
    ars: () => ars.list(),
    diagnosis: () => diagnosis.list(),
    addDiagnosis: (d) => diagnosis.add(d),
    clearDiagnosis: (where) => diagnosis.clear(where),
    logbook: () => logbook.list(),
    addLogEntry: (status, detail) => logbook.add(pnioStatusFromHex(status), detail),
  };

  const sim: ProfinetSimulator = {
    host,
    port,
    controlPort: 0,
    scenario,
    objectUuid: pnioObjectUuid(scenario.device.vendorId, scenario.device.deviceId, scenario.device.instance ?? 1),
    counters: () => counters.snapshot(),
    resetCounters: () => counters.reset(),
    fault: () => fault,
    setFault(f) {
      fault = f;
      logger.info({ fault: f }, 'fault set');
    },
    readRecord: (a) => store.peek(a),
    ars: () => ars.list(),
    sweep: () => ars.sweep(),
    target,
    state: () => ({
      protocol: 'profinet',
      scenario: scenario.name,
      stationName: scenario.device.stationName,
      vendorId: scenario.device.vendorId,
      deviceId: scenario.device.deviceId,
      objectUuid: sim.objectUuid,
      host,
      port,
      controlPort: sim.controlPort,
      fault,
      exitOnUserIndexRead: opts.exitOnUserIndexRead === true,
      ars: ars.list().map((a) => a.arUuid),
      up: server.listening,
      crashed,
    }),
    async restart(downMs = 0) {
      if (closed || crashed) return;
      await server.close();
      ars.clear();
      counters.arCurrent(0);
      store.reset();
      serverBoot = (serverBoot + 1) >>> 0;
      counters.inc('restarts');
      logbook.add(undefined, LogDetail.Restarted);
      logger.info({ downMs }, 'restart: down');
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
      if (closed) return;
      await server.listen(port);
      logger.info({ port }, 'restart: up');
    },
    get crashed() {
      return crashed;
    },
    async close() {
      if (closed) return;
      closed = true;
      if (sweeper) clearInterval(sweeper);
      await server.close();
      control.closeAllConnections();
      await new Promise<void>((resolve) => control.close(() => resolve()));
    },
  };

  let control: Server;
  try {
    control = await startPnControlServer(target, opts.controlPort ?? 0);
  } catch (err) {
    if (sweeper) clearInterval(sweeper);
    await server.close();
    throw err;
  }
  (sim as { controlPort: number }).controlPort = (control.address() as AddressInfo).port;
  logger.info(
    { scenario: scenario.name, station: scenario.device.stationName, port, controlPort: sim.controlPort },
    'profinet simulator listening',
  );
  return sim;
}
