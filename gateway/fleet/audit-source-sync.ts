/**
 * Keeps the hub `AUDIT` stream sourcing every gateway stream of a site (docs/fleet.md "Audit flow"). The hub
 * config and fleet-control.yaml name sites, not gateways: a gateway makes its own edge stream `AUDIT-<gateway>`
 * when it first starts, so `verigate control serve` finds the site's gateways by listing the streams of the
 * site's domain that hold its audit subjects (`$JS.<site>.API.STREAM.NAMES` across the leaf link), ensures the
 * durable consumer each is sourced through (a gateway may not make or change it) and adds the hub sources that
 * are missing (existing ones are kept). The names come from the leaf: at most `maxGateways` per site, the bound
 * that already limits the trails the collector keeps, so a compromised leaf cannot make the centre hold
 * sources without end.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import { ensureEdgeAuditSource } from './edge-provision.js';
import { gatewayOfEdgeAuditStream, siteAuditSubjects } from './fleet-topology.js';
import { addHubAuditSources } from './hub-provision.js';

export interface SiteAuditSources {
  /** The gateways whose edge streams the site lists (at most maxGateways). */
  readonly gateways: readonly string[];
  /** Gateways whose source consumer at the site was created or put back now. */
  readonly consumersEnsured: readonly string[];
  /** `site/gateway` of the hub sources added now. */
  readonly sourcesAdded: readonly string[];
}

/** The gateways of a site's edge audit streams (`edge`: a manager of the site's domain), at most `max`. */
export async function siteGatewayStreams(edge: JetStreamManager, site: string, max: number): Promise<string[]> {
  const out: string[] = [];
  for await (const name of edge.streams.names(siteAuditSubjects(site))) {
    const gateway = gatewayOfEdgeAuditStream(name);
    if (gateway !== null && !out.includes(gateway)) out.push(gateway);
    if (out.length >= max) break;
  }
  return out;
}

/** `edge`: the site's domain (across the leaf link); `hub`: the hub's, where the AUDIT stream is. */
export async function syncSiteAuditSources(
  edge: JetStreamManager,
  hub: JetStreamManager,
  site: string,
  maxGateways: number,
): Promise<SiteAuditSources> {
  const gateways = await siteGatewayStreams(edge, site, maxGateways);
  const consumersEnsured: string[] = [];
  // the consumer first: the hub's source attaches to it by name
  for (const gateway of gateways) if (await ensureEdgeAuditSource(edge, site, gateway)) consumersEnsured.push(gateway);
  const sourcesAdded = await addHubAuditSources(
    hub,
    gateways.map((gateway) => ({ site, gateway })),
  );
  return { gateways, consumersEnsured, sourcesAdded };
}
