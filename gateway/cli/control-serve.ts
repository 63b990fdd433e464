/**
 * `verigate control serve` — the fleet centre's long-running half (docs/fleet.md): writes the heartbeat into
 * every site bucket every `heartbeatEvery`, keeps the latest status beat of every gateway, and runs the audit
 * collector (gateway/fleet/audit-collector.ts: consume the hub AUDIT stream, verify each gateway's chain,
 * write per-gateway files, purge the edges) with the fleet's one SIEM exporter. SIGTERM or SIGINT stops it
 * cleanly: heartbeat ticks end, puts in flight complete, the collector and exporter close, the connection
 * drains. Timers are injected (gateway/timers.ts) so tests drive the heartbeat with fake timers.
 */
import pino from 'pino';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { FleetControlConfig } from '../fleet/fleet-control-config.js';
import { KEY_HEARTBEAT, STATUS_SUBJECTS } from '../fleet/fleet-topology.js';
import { HeartbeatWriter } from '../fleet/heartbeat-writer.js';
import { StatusCache } from '../fleet/status-cache.js';
import type { Logger } from '../logger.js';
import { systemTimers, type Timers } from '../timers.js';
import { EXIT_CHECK_FAILED, EXIT_OK, EXIT_USAGE, type CliIo } from './cli-io.js';
import { loadConfigOrReport, parseControlArgs, usage, withHub, type HubSession } from './control-cli.js';
import { startControlCollector, type RunningCollector } from './control-collector.js';
import { connectHub } from './control-hub.js';
import { RotatingHub } from './control-hub-rotation.js';
import { errorMessage } from '../errors.js';

const USAGE = [
  'usage: verigate control serve [--config fleet-control.yaml] [--no-audit]',
  '  heartbeat to every site, audit collection + verification + SIEM export, gateway status; stops on SIGTERM',
].join('\n');

export interface ServeDeps {
  readonly timers?: Timers;
  /** Resolves when serve must stop; default: the first SIGTERM or SIGINT. */
  readonly stop?: Promise<void>;
  readonly logger?: Logger;
  /** Called once everything runs (tests read the status cache and heartbeat through it). */
  readonly onReady?: (state: ServeState) => void;
  /**
   * The `Nats-Stream-Source` stream id of each gateway's audit at the hub (default hub-provision.ts
   * gatewayAuditSourceName); a single-server test hub sources from local streams named otherwise.
   */
  readonly auditSourceOf?: (site: string, gateway: string) => string;
}

export interface ServeState {
  readonly status: StatusCache;
  readonly heartbeat: HeartbeatWriter;
  /** Null with --no-audit. */
  readonly audit: RunningCollector | null;
  /** The hub connection in use now (a renewed SVID replaces it). */
  connection(): NatsConnection;
}

export async function controlServe(args: readonly string[], io: CliIo, deps: ServeDeps = {}): Promise<number> {
  const p = parseControlArgs(args, { 'no-audit': { type: 'boolean' } });
  if (typeof p === 'string') return usage(io, USAGE, p);
  if (p.values['help'] === true) {
    io.out(USAGE);
    return EXIT_OK;
  }
  if (p.positionals.length > 0) return usage(io, USAGE, `unexpected ${p.positionals.join(' ')}`);
  const config = loadConfigOrReport(io, p.values);
  if (config === null) return EXIT_USAGE;
  const logger = deps.logger ?? pino({ level: config.logLevel, name: 'verigate-control' }, pino.destination(2));
  const stop = deps.stop ?? untilSignal();
  const audit = p.values['no-audit'] !== true;
  // SVID files are re-read on the same timers, so a rotation reaches the hub connection (control-hub-rotation.ts)
  return withHub(io, config, (s) => serve(s, { ...deps, io, logger, stop, audit }), logger, {
    timers: deps.timers ?? systemTimers,
  });
}

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      process.off('SIGTERM', done);
      process.off('SIGINT', done);
      resolve();
    };
    process.on('SIGTERM', done);
    process.on('SIGINT', done);
  });
}

async function serve(
  s: HubSession,
  o: ServeDeps & { io: CliIo; logger: Logger; stop: Promise<void>; audit: boolean },
): Promise<number> {
  const { config } = s;
  const timers = o.timers ?? systemTimers;
  // a renewed SVID opens a new hub connection; everything below moves to it (control-hub-rotation.ts)
  const hub = new RotatingHub(s.hub, { connect: () => connectHub(config, s.identity), timers, logger: o.logger });
  const status = new StatusCache({ sites: config.sites, maxGatewaysPerSite: config.maxGatewaysPerSite });
  let sub = subscribeStatus(hub.nc, status, config, timers, o.logger);
  hub.onRotate((nc) => {
    sub.unsubscribe();
    sub = subscribeStatus(nc, status, config, timers, o.logger);
  });
  const heartbeat = new HeartbeatWriter({
    sites: config.sites,
    by: s.identity.spiffeId(),
    everyMs: config.heartbeatEveryMs,
    timers,
    put: async (site, json) => (await hub.site(site)).put(KEY_HEARTBEAT, json),
    logger: o.logger,
  });
  heartbeat.start();
  const offUpdate = s.identity.onUpdate(() => void hub.rotate());
  let collector: RunningCollector | null = null;
  try {
    if (o.audit) {
      try {
        collector = await startControlCollector(s, {
          logger: o.logger,
          timers,
          ...(o.auditSourceOf === undefined ? {} : { sourceOf: o.auditSourceOf }),
        });
      } catch (err) {
        o.io.err(
          `control serve: cannot start the audit collector: ${errorMessage(err)} (run \`verigate control init\` first, or --no-audit)`,
        );
        return EXIT_CHECK_FAILED;
      }
      const running = collector;
      hub.onRotate((nc) => running.rotate(nc));
    }
    o.logger.info({ sites: config.sites, everyMs: config.heartbeatEveryMs, audit: o.audit }, 'control serving');
    o.onReady?.({ status, heartbeat, audit: collector, connection: () => hub.nc });
    await o.stop;
    o.logger.info({ lastSeq: heartbeat.lastSeq }, 'control stopping');
  } finally {
    offUpdate();
    await heartbeat.stop();
    sub.unsubscribe();
    await collector?.stop().catch((err: unknown) => {
      o.logger.error({ err: errorMessage(err) }, 'audit collector did not stop cleanly');
    });
    await hub.close();
  }
  return EXIT_OK;
}

/** The latest status beat of every gateway, kept from a subscription on `nc`. */
function subscribeStatus(
  nc: NatsConnection,
  status: StatusCache,
  config: FleetControlConfig,
  timers: Timers,
  logger: Logger,
): Subscription {
  return nc.subscribe(STATUS_SUBJECTS, {
    callback: (_err, m) => {
      const ignored = status.ignored;
      const accepted = status.accept(m.subject, m.data, timers.now());
      if (accepted === 'new') logger.info({ subject: m.subject }, 'first status beat of a gateway');
      // logged at powers of two: a leaf sending beats for ever new names cannot flood the log
      else if (status.ignored > ignored && (status.ignored & (status.ignored - 1)) === 0)
        logger.warn(
          { subject: m.subject, ignored: status.ignored, maxGatewaysPerSite: config.maxGatewaysPerSite },
          'status beats of a site not configured, or of more gateways than maxGatewaysPerSite, ignored',
        );
    },
  });
}
