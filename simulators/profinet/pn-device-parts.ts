/**
 * The parts of a simulated PROFINET IO device — record store, diagnosis, logbook, AR table, counters — built
 * once from the scenario and shared by the UDP endpoint, the control channel and the running simulator
 * (`profinet-simulator.ts`).
 */
import { pnioStatusFromHex } from '../../protocols/profinet/index.js';
import { silentLogger, type SimLogger } from '../sim-logger.js';
import { ArTable, type ArInfo, type ArTableOptions } from './ar-table.js';
import { DiagnosisBook } from './diagnosis-book.js';
import { checkPnScenario, loadPnScenarioFile } from './load-pn-scenario.js';
import { LogbookRing, LogDetail } from './logbook-ring.js';
import { PnCounterSet } from './pn-counters.js';
import type { PnScenario } from './pn-scenario.js';
import { RecordStore } from './record-store.js';

/** The options the parts read (a `ProfinetSimulatorOptions` fits; the fields are documented there). */
export interface PnDevicePartsOptions {
  readonly scenario: PnScenario | string;
  readonly host?: string;
  readonly now?: () => number;
  readonly maxArs?: number;
  readonly arTimeoutMs?: number;
  readonly logger?: SimLogger;
}

/** What the device is made of: built once from the scenario, shared by the endpoint, control and simulator. */
export interface PnDeviceParts {
  readonly host: string;
  readonly scenario: PnScenario;
  readonly logger: SimLogger;
  readonly now: () => number;
  readonly counters: PnCounterSet;
  readonly logbook: LogbookRing;
  readonly diagnosis: DiagnosisBook;
  readonly store: RecordStore;
  readonly ars: ArTable;
}

export function buildPnDeviceParts(opts: PnDevicePartsOptions): PnDeviceParts {
  const scenario =
    typeof opts.scenario === 'string' ? loadPnScenarioFile(opts.scenario) : checkPnScenario(opts.scenario);
  const logger = opts.logger ?? silentLogger;
  const now = opts.now ?? Date.now;
  const counters = new PnCounterSet();
  const logbook = new LogbookRing(scenario.logbookSize ?? 32, now);
  const diagnosis = new DiagnosisBook(scenario.diagnosis ?? []);
  const store = new RecordStore(scenario, diagnosis, logbook);
  const ars = new ArTable(arTableOptions(opts, scenario, now));
  const parts: PnDeviceParts = {
    host: opts.host ?? '127.0.0.1',
    scenario,
    logger,
    now,
    counters,
    logbook,
    diagnosis,
    store,
    ars,
  };
  ars.onExpire = (ar) => recordArExpiry(parts, ar);
  return parts;
}

/** The options override the scenario's `ars` block; an activity timeout of 0 means the initiator's own. */
function arTableOptions(opts: PnDevicePartsOptions, scenario: PnScenario, now: () => number): ArTableOptions {
  const activityTimeoutMs = opts.arTimeoutMs ?? scenario.ars?.activityTimeoutMs;
  return {
    max: opts.maxArs ?? scenario.ars?.max ?? 1,
    now,
    ...(activityTimeoutMs ? { activityTimeoutMs } : {}),
    deviceAccess: scenario.ars?.deviceAccess ?? true,
  };
}

function recordArExpiry(parts: PnDeviceParts, ar: ArInfo): void {
  parts.counters.ar('expired', parts.ars.size);
  parts.logbook.add(pnioStatusFromHex('cf814005'), LogDetail.ArTimedOut, ar.arUuid);
  parts.logger.info({ ar: ar.arUuid }, 'AR dropped: activity timeout');
}
