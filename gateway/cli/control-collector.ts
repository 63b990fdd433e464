/**
 * `control serve`'s audit half: the hub AUDIT stream collector (gateway/fleet/audit-collector-nats.ts) writing
 * per-gateway trails under `audit.dir`, checkpoint signers anchored in the control's trust bundle, and the
 * fleet's SIEM export. The export is done once, here, for the whole fleet — the gateways need no syslog of
 * their own. Each gateway gets its own exporter (and spool under `spoolDir/<site>/<gateway>`) whose syslog
 * HOSTNAME is `<gateway>.<site>`: a relay keeps the originator's HOSTNAME [RFC 5424 6.2.4], so the SIEM still
 * sees which box an event came from, and one gateway's backlog cannot delay another's.
 *
 * The edge purge is a request into a site's JetStream domain, answered by the site's leaf across the leaf link;
 * the leaf may publish replies only under `controlInboxPrefix(site)` (fleet-config-render.ts), so each site gets
 * a hub connection of its own with that inbox prefix (opened on the first purge, closed on stop). Without it no
 * purge is ever answered and a capped edge stream never drains.
 */
import { readFileSync } from 'node:fs';
import type { NatsConnection } from '@nats-io/transport-node';
import { join } from 'node:path';
import { SyslogExporter } from '../audit/syslog-exporter.js';
import type { VerifiedSink } from '../fleet/audit-collector.js';
import { NatsAuditCollector } from '../fleet/audit-collector-nats.js';
import { checkpointSignerFor, type FleetControlConfig } from '../fleet/fleet-control-config.js';
import { controlInboxPrefix } from '../fleet/fleet-topology.js';
import { svidPem } from '../identity/x509-svid.js';
import type { Logger } from '../logger.js';
import type { Timers } from '../timers.js';
import type { HubSession } from './control-cli.js';
import { connectHub, type Hub } from './control-hub.js';
import type { ControlIdentity } from './control-identity.js';

export interface RunningCollector {
  readonly collector: NatsAuditCollector;
  /** Moves to a new hub connection (a renewed SVID); the per-site purge connections are reopened too. */
  rotate(nc: NatsConnection): Promise<void>;
  stop(): Promise<void>;
}

export async function startControlCollector(
  s: HubSession,
  o: {
    readonly logger: Logger;
    readonly timers: Timers;
    readonly sourceOf?: (site: string, gateway: string) => string;
  },
): Promise<RunningCollector> {
  const siem = siemSink(s.config, s.identity, o.logger, o.timers);
  const bundle = s.identity.bundles().get(s.identity.trustDomain());
  const sites = siteConnections(s);
  const collector = new NatsAuditCollector(s.hub.nc, {
    dir: s.config.audit.dir,
    timers: o.timers,
    logger: o.logger,
    now: () => o.timers.now(),
    signerFor: checkpointSignerFor(s.config, s.identity.trustDomain()),
    // names come from the leaves: only configured sites, a bounded number of gateways each
    sites: s.config.sites,
    maxGatewaysPerSite: s.config.maxGatewaysPerSite,
    ...(o.sourceOf === undefined ? {} : { sourceOf: o.sourceOf }),
    siteConnection: sites.open,
    ...(bundle ? { trustBundlePem: bundle.pem() } : {}),
    ...(siem ? { sink: siem.sink } : {}),
  });
  try {
    await collector.start();
  } catch (err) {
    await sites.close();
    throw err;
  }
  return {
    collector,
    rotate: async (nc) => {
      collector.useConnection(nc);
      await sites.close(); // drained; opened again with the current SVID at the next purge
    },
    stop: async () => {
      await collector.stop(); // waits for a purge in flight
      await sites.close();
      await siem?.close();
    },
  };
}

/** One hub connection per site with `inboxPrefix: controlInboxPrefix(site)`; a failed open is tried again. */
function siteConnections(s: HubSession): {
  readonly open: (site: string) => Promise<Hub['nc']>;
  readonly close: () => Promise<void>;
} {
  const hubs = new Map<string, Promise<Hub>>();
  return {
    open: (site) => {
      let hub = hubs.get(site);
      if (hub === undefined) {
        hub = connectHub(s.config, s.identity, {
          name: `verigate-control-${site}`,
          inboxPrefix: controlInboxPrefix(site),
        });
        hubs.set(site, hub);
        hub.catch(() => hubs.delete(site));
      }
      return hub.then((h) => h.nc);
    },
    close: async () => {
      const open = [...hubs.values()];
      hubs.clear();
      await Promise.all(open.map((h) => h.then((x) => x.close()).catch(() => undefined)));
    },
  };
}

/** The per-gateway syslog exporters behind one VerifiedSink, or null when no `audit.syslog` is configured. */
function siemSink(
  config: FleetControlConfig,
  identity: ControlIdentity,
  logger: Logger,
  timers: Timers,
): { sink: VerifiedSink; close(): Promise<void> } | null {
  const syslog = config.audit.syslog;
  if (!syslog) return null;
  const exporters = new Map<string, SyslogExporter>();
  const exporterOf = (site: string, gateway: string): SyslogExporter => {
    const key = `${site}/${gateway}`;
    let e = exporters.get(key);
    if (!e) {
      e = new SyslogExporter({
        host: syslog.host,
        port: syslog.port,
        format: syslog.format,
        hostname: `${gateway}.${site}`,
        spool: { dir: join(syslog.spoolDir, site, gateway), maxBytes: syslog.spoolMaxBytes },
        // Mutual TLS with the control's current SVID, read per connect (rotation).
        tls: () => {
          const pem = svidPem(identity.svid());
          const ca = syslog.caFile
            ? readFileSync(syslog.caFile, 'utf8')
            : identity.bundles().allAuthoritiesPem().join('');
          return { cert: pem.certPem, key: pem.keyPem, ca, servername: syslog.host, minVersion: 'TLSv1.2' };
        },
        logger,
        timers,
      });
      exporters.set(key, e);
    }
    return e;
  };
  return {
    sink: {
      event: (site, gateway, rec) => exporterOf(site, gateway).enqueue(rec),
      checkpoint: (site, gateway, cp) => exporterOf(site, gateway).enqueueCheckpoint(cp),
    },
    close: async () => {
      await Promise.all([...exporters.values()].map((e) => e.close()));
    },
  };
}
