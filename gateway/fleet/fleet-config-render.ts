/**
 * Renders nats-server configuration for the fleet (docs/fleet.md): a hub cluster node and a site's edge leaf.
 * Users are SPIFFE IDs: with `verify_and_map` nats-server takes the client certificate's URI SAN as the user
 * name and looks it up in the account's `users` (nats-server docs, "TLS Mutual Authentication / verify_and_map").
 * The permissions here ARE the isolation model; fleet-config/README.md explains each subject, and
 * test/fleet/fleet-isolation.test.ts proves what they refuse.
 */
import {
  AUDIT_SOURCE_CONSUMER,
  AUDIT_STREAM,
  HUB_DOMAIN,
  auditDeliverPrefix,
  controlInboxPrefix,
  edgeAuditStream,
  fleetIds,
  gatewayAuditSubjects,
  gatewayInboxPrefix,
  jsApiPrefix,
  mirrorConsumerName,
  mirrorDeliverSubject,
  siteBucket,
  statusSubject,
} from './fleet-topology.js';

/** The account every fleet user lives in, at the hub and at each leaf (JetStream enabled). */
export const FLEET_ACCOUNT = 'FLEET';

export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
}

export interface HubNodeSpec {
  readonly trustDomain: string;
  /** 1-based node number; the server name is `hub-<n>`. */
  readonly node: number;
  readonly host: string;
  readonly clientPort: number;
  readonly clusterPort: number;
  readonly leafPort: number;
  /** `host:port` of every hub node's cluster listener (this node's own entry is harmless). */
  readonly routes: readonly string[];
  readonly storeDir: string;
  readonly tls: TlsFiles;
  readonly sites: readonly string[];
  readonly maxFileStore?: string;
}

export interface LeafSpec {
  readonly trustDomain: string;
  readonly site: string;
  readonly host: string;
  readonly clientPort: number;
  /** HTTP monitoring port on `host` (/varz, /leafz, /jsz); absent = no monitoring listener. */
  readonly monitorPort?: number;
  /** `host:port` of the hub nodes' leafnode listeners. */
  readonly hubLeafUrls: readonly string[];
  readonly storeDir: string;
  readonly tls: TlsFiles;
  /** Gateway names allowed to connect at this leaf (one user and one edge audit stream each). */
  readonly gateways: readonly string[];
  /** false renders the leaf without its remote: the link to the hub is cut (applied by a config reload). */
  readonly linkEnabled?: boolean;
  /**
   * JetStream file store; default 1 GB per gateway plus 1 GB: each gateway's audit stream reserves its
   * `fleet.audit.streamMaxBytes` (default 1 GiB) against it when made, and a stream that does not fit is refused.
   */
  readonly maxFileStore?: string;
}

export interface Permissions {
  readonly publish: readonly string[];
  readonly subscribe: readonly string[];
}

/**
 * What a site's leaf connection may do at the hub, from the leaf's point of view (nats-server reverses the
 * directions inside the hub). `publish`: requests and deliveries flowing leaf → hub; `subscribe`: interest the
 * hub honours, i.e. what flows hub → leaf. Only the site's own bucket and audit streams appear. The hub config
 * is rendered from the site list and knows no gateway names, so the stream token of the audit flows is `*`:
 * any stream of THIS site's domain, through the `hub-source` consumer only; requests into the site's domain
 * come from `verigate control` alone (no other leaf may publish them).
 */
export function leafLinkPermissions(site: string): Permissions {
  const bucket = `KV_${siteBucket(site)}`;
  const mirror = mirrorConsumerName(site);
  const hubApi = jsApiPrefix(HUB_DOMAIN);
  const siteApi = jsApiPrefix(site);
  const source = AUDIT_SOURCE_CONSUMER;
  return {
    publish: [
      // The leaf's mirror of the site bucket: reset its durable consumer at the hub, ack by flow control.
      `${hubApi}.CONSUMER.RESET.${bucket}.${mirror}`,
      `$JS.FC.${HUB_DOMAIN}.*.${bucket}.${mirror}.>`,
      // The hub's source of each gateway's audit stream: API replies to the hub's requests, the deliveries.
      `$JSC.R.${site}.*.*.${source}.>`,
      `${auditDeliverPrefix(site)}.*`,
      // Status beats of the site's gateways.
      `fleet.status.${site}.>`,
      // Replies to control's requests to this site (`allow_responses` does not apply across a leaf link).
      `${controlInboxPrefix(site)}.>`,
    ],
    subscribe: [
      `$JSC.R.${HUB_DOMAIN}.*.${bucket}.${mirror}.>`,
      mirrorDeliverSubject(site),
      `${siteApi}.CONSUMER.RESET.*.${source}`,
      `$JS.FC.${site}.*.*.${source}.>`,
      // `verigate control` finds the gateway streams, purges what it verified and reads a stream's state.
      `${siteApi}.STREAM.NAMES`,
      `${siteApi}.STREAM.INFO.*`,
      `${siteApi}.STREAM.PURGE.*`,
      // ... and ensures the durable consumer each source attaches to (no gateway may change it).
      `${siteApi}.CONSUMER.INFO.*.${source}`,
      `${siteApi}.CONSUMER.CREATE.*.${source}`,
      // The leaf forwards its interest in its API mapping `${siteApi}.CONSUMER.>` only when its reverse match
      // finds an allowed subject under it, and nats-server's reverse match does not descend past a `*` inside
      // a subject (messages are then checked one by one, where `*` works): this literal — a read of the source
      // consumer of the shared stream of earlier versions, harmless — anchors that interest.
      `${siteApi}.CONSUMER.INFO.${AUDIT_STREAM}.${source}`,
      // ... and removes the shared edge stream of earlier versions once it is drained (an upgrade).
      `${siteApi}.STREAM.DELETE.${AUDIT_STREAM}`,
    ],
  };
}

/**
 * What a gateway may do at its site's leaf: read and watch the site bucket's mirror, create its edge resources
 * when missing (the mirror bucket and its OWN audit stream `AUDIT-<gateway>`: CREATE only, so it cannot change
 * their limits or the consumer the hub sources through — `verigate control` ensures that one), publish its own
 * audit blocks and checkpoints (its two subjects, nothing a sibling's stream holds) and status beat, and
 * receive replies under its own inbox prefix only (not a sibling gateway's). No wildcard reaches a sibling's
 * stream: a gateway cannot fill, read or create another gateway's.
 */
export function gatewayPermissions(site: string, gateway: string): Permissions {
  const bucket = `KV_${siteBucket(site)}`;
  const audit = edgeAuditStream(gateway);
  const [events, checkpoints] = gatewayAuditSubjects(site, gateway);
  return {
    publish: [
      '$JS.API.INFO',
      `$JS.API.STREAM.INFO.${bucket}`,
      `$JS.API.STREAM.CREATE.${bucket}`,
      `$JS.API.STREAM.MSG.GET.${bucket}`,
      `$JS.API.DIRECT.GET.${bucket}`,
      `$JS.API.DIRECT.GET.${bucket}.>`,
      `$JS.API.CONSUMER.CREATE.${bucket}`,
      `$JS.API.CONSUMER.CREATE.${bucket}.>`,
      `$JS.API.CONSUMER.INFO.${bucket}.>`,
      `$JS.API.CONSUMER.DELETE.${bucket}.>`,
      `$JS.FC.${site}.*.${bucket}.>`,
      `$JS.API.STREAM.INFO.${audit}`,
      `$JS.API.STREAM.CREATE.${audit}`,
      // The audit block publisher resumes after its own last stored block (direct get, last by subject).
      `$JS.API.DIRECT.GET.${audit}.audit.${site}.${gateway}.>`,
      events,
      checkpoints,
      statusSubject(site, gateway),
    ],
    subscribe: [`${gatewayInboxPrefix(site, gateway)}.>`],
  };
}

/** nats-server config syntax accepts JSON values; quoting every string keeps `$`, `>` and `:` literal. */
function q(s: string): string {
  return JSON.stringify(s);
}

function list(items: readonly string[]): string {
  return `[${items.map(q).join(', ')}]`;
}

function perms(p: Permissions): string {
  return `{ publish: { allow: ${list(p.publish)} }, subscribe: { allow: ${list(p.subscribe)} } }`;
}

function tlsBlock(tls: TlsFiles, mode: 'verify_and_map' | 'verify'): string {
  return `tls {
    cert_file: ${q(tls.certFile)}
    key_file: ${q(tls.keyFile)}
    ca_file: ${q(tls.caFile)}
    ${mode}: true
    timeout: 5
  }`;
}

/**
 * Scoped reply subjects for internally issued JetStream API requests (`$JSC.R.<domain>.<acc>.<stream>.…`) and
 * stream-scoped ack/flow-control subjects, so leaf permissions can name one stream (nats-server 2.14+ flags).
 */
const FEATURE_FLAGS = `feature_flags {
  js_api_reply_v2: true
  js_ack_fc_v2: true
}`;

export function renderHubNode(s: HubNodeSpec): string {
  const users = [
    `{ user: ${q(fleetIds.control(s.trustDomain))} }`,
    ...s.sites.map(
      (site) =>
        `{ user: ${q(fleetIds.leaf(s.trustDomain, site))}, allowed_connection_types: ["LEAFNODE"], permissions: ${perms(leafLinkPermissions(site))} }`,
    ),
  ];
  return `# hub node ${s.node} of the fleet (JetStream domain ${HUB_DOMAIN}); rendered by gateway/fleet/fleet-config-render.ts
server_name: ${q(`hub-${s.node}`)}
host: ${q(s.host)}
port: ${s.clientPort}
${FEATURE_FLAGS}
${tlsBlock(s.tls, 'verify_and_map')}
jetstream {
  domain: ${q(HUB_DOMAIN)}
  store_dir: ${q(s.storeDir)}
  max_memory_store: 64MB
  max_file_store: ${s.maxFileStore ?? '1GB'}
}
cluster {
  name: "hub"
  host: ${q(s.host)}
  port: ${s.clusterPort}
  ${tlsBlock(s.tls, 'verify')}
  routes: ${list(s.routes.map((r) => `tls://${r}`))}
}
leafnodes {
  host: ${q(s.host)}
  port: ${s.leafPort}
  ${tlsBlock(s.tls, 'verify_and_map')}
}
accounts {
  ${FLEET_ACCOUNT} {
    jetstream: enabled
    users: [
      ${users.join('\n      ')}
    ]
  }
}
`;
}

export function renderLeaf(s: LeafSpec): string {
  const users = s.gateways.map(
    (gw) =>
      `{ user: ${q(fleetIds.gateway(s.trustDomain, s.site, gw))}, permissions: ${perms(gatewayPermissions(s.site, gw))} }`,
  );
  const remote =
    s.linkEnabled === false
      ? '  # link to the hub cut (remote removed; restored by a config reload)\n  remotes: []'
      : `  remotes: [
    {
      urls: ${list(s.hubLeafUrls.map((u) => `tls://${u}`))}
      account: ${q(FLEET_ACCOUNT)}
      ${tlsBlock(s.tls, 'verify').replace(/\n {4}verify: true/, '')}
    }
  ]`;
  return `# edge leaf of site ${s.site} (JetStream domain ${s.site}); rendered by gateway/fleet/fleet-config-render.ts
server_name: ${q(`leaf-${s.site}`)}
host: ${q(s.host)}
port: ${s.clientPort}
${s.monitorPort !== undefined ? `http: ${q(`${s.host}:${s.monitorPort}`)}\n` : ''}${FEATURE_FLAGS}
${tlsBlock(s.tls, 'verify_and_map')}
jetstream {
  domain: ${q(s.site)}
  store_dir: ${q(s.storeDir)}
  max_memory_store: 16MB
  max_file_store: ${s.maxFileStore ?? `${s.gateways.length + 1}GB`}
}
leafnodes {
${remote}
}
accounts {
  ${FLEET_ACCOUNT} {
    jetstream: enabled
    users: [
      ${users.join('\n      ')}
    ]
  }
}
# edge audit streams (one per gateway, each reserving its streamMaxBytes): ${s.gateways.map(edgeAuditStream).join(', ')}
`;
}
