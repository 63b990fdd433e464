/**
 * The fleet's names, declared once: JetStream domains, KV buckets and keys, stream names and subjects, and the
 * SPIFFE IDs NATS maps to users. Everything that talks to NATS (the gateway's fleet link, `verigate control`,
 * fleet-config templates, the fleet lab) takes its names from here, so permissions and code cannot drift.
 *
 * Topology (docs/fleet.md): the hub is a 3-node JetStream cluster in domain `hub`; each site runs one leaf node
 * with JetStream in its own domain (the site name). Per site, the hub holds one KV bucket (`site-<site>`: the
 * signed policy, locks, grants and the control heartbeat); the site's leaf holds a mirror of it under the same
 * name, which the site's gateways watch. A per-site bucket (rather than one bucket with site-prefixed keys)
 * makes isolation a matter of stream names in permissions, not subject filters inside consumer requests.
 * Audit flows the other way: each gateway has its own stream `AUDIT-<gateway>` at its site's leaf (its two
 * audit subjects, `discard: new`, its own byte cap), so one gateway's full stream refuses only that gateway;
 * the hub's `AUDIT` stream sources every gateway's stream.
 */

/** The hub cluster's JetStream domain. */
export const HUB_DOMAIN = 'hub';

/** A site name is a NATS token, a JetStream domain and part of a stream name: keep it to this alphabet. */
export const SITE_NAME = /^[a-z0-9][a-z0-9-]{0,30}$/;
/** A gateway name inside a site (a subject token). */
export const GATEWAY_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** The KV bucket holding one site's fleet state, at the hub (origin) and at the site's leaf (mirror). */
export function siteBucket(site: string): string {
  return `site-${site}`;
}

/** Keys inside a site bucket. */
export const KEY_POLICY = 'policy';
export const KEY_HEARTBEAT = 'heartbeat';
export const LOCK_KEY_PREFIX = 'locks.';
export const GRANT_KEY_PREFIX = 'grants.';

export function lockKey(lockId: string): string {
  return `${LOCK_KEY_PREFIX}${lockId}`;
}
export function grantKey(grantId: string): string {
  return `${GRANT_KEY_PREFIX}${grantId}`;
}

/**
 * The hub's audit stream (domain `hub`, sourcing every gateway's edge stream). Also the name of the shared edge
 * stream of earlier versions (one per site, `audit.<site>.>`), which an upgraded site must drain and remove
 * (docs/fleet.md "Upgrading from the shared edge stream").
 */
export const AUDIT_STREAM = 'AUDIT';

/** Edge audit streams are named `AUDIT-<gateway>` (stream names allow [A-Za-z0-9_-], gateway names fit). */
const EDGE_AUDIT_PREFIX = `${AUDIT_STREAM}-`;

/** One gateway's audit stream at its site's leaf (domain = site): only its own subjects, its own byte cap. */
export function edgeAuditStream(gateway: string): string {
  return `${EDGE_AUDIT_PREFIX}${gateway}`;
}
/** The gateway an edge stream name belongs to, or null when the name is not a well-formed `AUDIT-<gateway>`. */
export function gatewayOfEdgeAuditStream(stream: string): string | null {
  if (!stream.startsWith(EDGE_AUDIT_PREFIX)) return null;
  const gateway = stream.slice(EDGE_AUDIT_PREFIX.length);
  return GATEWAY_NAME.test(gateway) ? gateway : null;
}

/** Event blocks of one gateway: `audit.<site>.<gateway>.events`; checkpoints: `….checkpoints`. */
export function auditEventsSubject(site: string, gateway: string): string {
  return `audit.${site}.${gateway}.events`;
}
export function auditCheckpointsSubject(site: string, gateway: string): string {
  return `audit.${site}.${gateway}.checkpoints`;
}
/** The subjects of one gateway's edge stream: exactly its events and checkpoints. */
export function gatewayAuditSubjects(site: string, gateway: string): [string, string] {
  return [auditEventsSubject(site, gateway), auditCheckpointsSubject(site, gateway)];
}
/** All audit subjects of one site (the filter `verigate control` lists a site's edge streams by). */
export function siteAuditSubjects(site: string): string {
  return `audit.${site}.>`;
}

/** Dedup id of an event block (JetStream `Nats-Msg-Id`): a re-sent block after a reconnect is stored once. */
export function blockMsgId(gateway: string, firstSeq: number, lastSeq: number): string {
  return `${gateway}:${firstSeq}-${lastSeq}`;
}

/** Each gateway's status beat (core NATS, crosses the leaf link when it is up): what `control status` shows. */
export function statusSubject(site: string, gateway: string): string {
  return `fleet.status.${site}.${gateway}`;
}
export const STATUS_SUBJECTS = 'fleet.status.>';

/** The JetStream API prefix of a domain, e.g. for a mirror or source that crosses the leaf link. */
export function jsApiPrefix(domain: string): string {
  return `$JS.${domain}.API`;
}

/** SPIFFE IDs NATS maps to users (`verify_and_map` of the URI SAN), under the fleet's trust domain. */
export const fleetIds = {
  control: (td: string) => `spiffe://${td}/fleet/control`,
  hubNode: (td: string, n: number) => `spiffe://${td}/fleet/hub/${n}`,
  leaf: (td: string, site: string) => `spiffe://${td}/fleet/site/${site}/leaf`,
  gateway: (td: string, site: string, gateway: string) => `spiffe://${td}/fleet/site/${site}/gateway/${gateway}`,
} as const;

/**
 * Delivery subjects of the cross-domain flows, under one prefix per site so leaf-link permissions can allow
 * exactly one site's traffic: the hub delivers a site's bucket to the leaf's mirror on `fleet.mirror.<site>`,
 * and a leaf delivers each gateway's audit stream to the hub's source of it on
 * `fleet.audit-source.<site>.<gateway>` (one subject per source: the hub tells its sources apart by it).
 */
export function mirrorDeliverSubject(site: string): string {
  return `fleet.mirror.${site}`;
}
export function auditDeliverSubject(site: string, gateway: string): string {
  return `${auditDeliverPrefix(site)}.${gateway}`;
}
export function auditDeliverPrefix(site: string): string {
  return `fleet.audit-source.${site}`;
}

/**
 * Durable consumers that carry the cross-domain flows (nats-server 2.14+ durable sourcing, ack policy
 * `flow_control`): at the hub on `KV_site-<site>` for the leaf's mirror, at the leaf on each `AUDIT-<gateway>`
 * for the hub's source of it. A durable consumer lets the far side resume the moment the near side answers again, instead of after
 * the ephemeral retry back-off (up to 2 min), and lets leaf permissions name exactly one consumer.
 */
export function mirrorConsumerName(site: string): string {
  return `mirror-${site}`;
}
export const AUDIT_SOURCE_CONSUMER = 'hub-source';

/**
 * Inbox prefix of `verigate control`'s requests INTO a site's domain (e.g. `$JS.<site>.API.STREAM.PURGE.AUDIT-gw-1`):
 * the site's leaf may publish replies only under its own prefix, so control makes such requests over a
 * connection opened with `inboxPrefix: controlInboxPrefix(site)`.
 */
export function controlInboxPrefix(site: string): string {
  return `_INBOX_control.${site}`;
}

/**
 * Inbox prefix of a gateway's connection to its leaf: its replies (JetStream API, acks, watch deliveries) come
 * under its own prefix, and its leaf user may subscribe only there, so one gateway cannot read a sibling's.
 */
export function gatewayInboxPrefix(site: string, gateway: string): string {
  return `_INBOX.${site}.${gateway}`;
}
