/**
 * The fleet parts of fleet-component.ts, built and started: loaded by that component only when gateway.yaml has
 * `fleet:` (with the NATS client they need).
 */
import { readFileSync } from 'node:fs';
import type tls from 'node:tls';
import { connect as natsConnect, type NatsConnection } from '@nats-io/transport-node';
import { errorMessage } from '../errors.js';
import { AuditBlockPublisher } from '../fleet/audit-block-publisher.js';
import { natsAuditStream } from '../fleet/audit-stream-nats.js';
import { ensureEdgeResources } from '../fleet/edge-provision.js';
import { createFleetEnforcement, type FleetEnforcement } from '../fleet/fleet-enforcement.js';
import { FleetLink } from '../fleet/fleet-link.js';
import { FleetPolicyApply } from '../fleet/fleet-policy-apply.js';
import { edgeAuditStream, fleetIds, gatewayInboxPrefix } from '../fleet/fleet-topology.js';
import { SiteStateWatch } from '../fleet/site-state-watch.js';
import { StatusBeat } from '../fleet/status-beat.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { SessionRegistry } from '../frontdoor/session-registry.js';
import type { GatewayIdentity } from '../gateway-identity.js';
import { authorizeId } from '../identity/authorizers.js';
import { clientTlsOptions } from '../identity/tls-options.js';
import { svidPem } from '../identity/x509-svid.js';
import type { FleetConfig } from '../config/gateway-config.js';
import type { PolicyHolder } from '../policy/policy-holder.js';
import type { TrustRuntime } from '../trust/trust-runtime.js';
import type { GatewayEnv } from './gateway-env.js';

export interface FleetDeps {
  readonly identity: GatewayIdentity;
  readonly policy: PolicyHolder;
  readonly audit: AuditLog;
  readonly trust: TrustRuntime;
  readonly sessions: SessionRegistry;
}

export interface RunningFleet {
  readonly link: FleetLink;
  readonly watch: SiteStateWatch;
  readonly apply: FleetPolicyApply;
  readonly enforcement: FleetEnforcement;
  readonly publisher: AuditBlockPublisher;
  readonly beat: StatusBeat;
}

/** Builds the parts (each its own step below), wires them to the link and the identity, then starts them. */
export function startFleet(env: GatewayEnv, f: FleetConfig, deps: FleetDeps): RunningFleet {
  const enforcement = createEnforcement(env, f, deps);
  const apply = createPolicyApply(env, f, deps);
  const link = createLink(env, f, deps);
  const watch = createWatch(env, f, enforcement, apply);
  const publisher = createPublisher(env, f, deps, link);
  const beat = createBeat(env, f, deps, { link, apply, enforcement, publisher });
  link.onConnection((nc) => void ensureThenWatch(env, f, nc, watch));
  deps.identity.onUpdate(() => {
    link.rotate(); // a new SVID: connect anew with it, then drain the old connection
    apply.recheck(); // a new trust bundle may verify an envelope refused for its signer chain
  });
  link.start();
  beat.start();
  return { link, watch, apply, enforcement, publisher, beat };
}

/** Locks, grants and the heartbeat from the bucket enforced through the trust runtime; staleness. */
function createEnforcement(env: GatewayEnv, f: FleetConfig, deps: FleetDeps): FleetEnforcement {
  return createFleetEnforcement({
    trust: deps.trust,
    stateDir: env.config.stateDir,
    now: env.now,
    monotonic: () => env.deadlines.now(), // a wall-clock step never makes the box look fresher
    maxStalenessMs: f.maxStalenessMs,
    metrics: env.metrics,
    logger: env.logger,
  });
}

/** Signed policy envelopes verified and applied through the hot-reload path. */
function createPolicyApply(env: GatewayEnv, f: FleetConfig, deps: FleetDeps): FleetPolicyApply {
  return new FleetPolicyApply({
    site: f.site,
    signers: f.policySigners,
    bundles: () => deps.identity.source.getBundleSet(),
    policy: deps.policy,
    policyFile: env.config.policy.file,
    stateDir: env.config.stateDir,
    audit: deps.audit,
    now: env.now,
    maxAgeMs: f.policyMaxAgeMs,
    timers: env.timers,
    logger: env.logger,
  });
}

/** The connection to the site's leaf: mTLS with the current SVID, replies under this gateway's own prefix. */
function createLink(env: GatewayEnv, f: FleetConfig, deps: FleetDeps): FleetLink {
  return new FleetLink({
    url: f.leaf.url,
    name: `verigate ${f.site}/${f.name}`,
    tls: () => leafTls(f, deps.identity),
    // its leaf user may subscribe nowhere else (fleet-config-render.ts)
    connect: (o) => natsConnect({ ...o, inboxPrefix: gatewayInboxPrefix(f.site, f.name) }),
    timers: env.timers,
    logger: env.logger,
  });
}

/** The watch of the site bucket's mirror, feeding enforcement and policy apply. */
function createWatch(
  env: GatewayEnv,
  f: FleetConfig,
  enforcement: FleetEnforcement,
  apply: FleetPolicyApply,
): SiteStateWatch {
  return new SiteStateWatch({
    site: f.site,
    handlers: enforcement.handlers,
    policy: (value) => void apply.apply(value),
    // a resync reconciles only against a mirror at least as new as what this gateway had already seen
    knownHeartbeat: () => enforcement.staleness.last(),
    timers: env.timers,
    logger: env.logger,
  });
}

/** The audit log's copy into this gateway's own edge audit stream (`AUDIT-<gateway>`). */
function createPublisher(env: GatewayEnv, f: FleetConfig, deps: FleetDeps, link: FleetLink): AuditBlockPublisher {
  return new AuditBlockPublisher({
    site: f.site,
    gateway: f.name,
    dir: env.config.audit.dir,
    log: deps.audit,
    port: natsAuditStream(() => link.current(), { stream: edgeAuditStream(f.name) }),
    timers: env.timers,
    maxBlockEvents: f.audit.maxBlockEvents,
    maxBlockDelayMs: f.audit.maxBlockDelayMs,
    // a block must fit the edge stream many times over (discard new refuses one larger than the room left)
    maxBlockBytes: Math.min(512 * 1024, Math.floor(f.audit.streamMaxBytes / 8)),
    registry: env.metrics.registry,
    logger: env.logger,
  });
}

/** The status beat `verigate control status` shows. */
function createBeat(
  env: GatewayEnv,
  f: FleetConfig,
  deps: FleetDeps,
  parts: Pick<RunningFleet, 'link' | 'apply' | 'enforcement' | 'publisher'>,
): StatusBeat {
  const { link, apply, enforcement, publisher } = parts;
  return new StatusBeat({
    site: f.site,
    gateway: f.name,
    everyMs: f.statusEveryMs,
    timers: env.timers,
    logger: env.logger,
    connection: () => (link.isConnected() ? link.current() : null),
    sources: {
      policyRevision: () => apply.appliedRevision(),
      policyVersion: () => deps.policy.current.version,
      stalenessSeconds: () => enforcement.staleness.stalenessSeconds(),
      sessions: () => deps.sessions.size,
      audit: () => ({ lastSeq: deps.audit.head().seq, publishedSeq: publisher.publishedSeq }),
    },
  });
}

/**
 * On every new connection: the mirror and this gateway's edge audit stream exist before the watch opens the
 * bucket (idempotent; a failure is retried at the next connection, and the publisher keeps retrying its resume).
 */
async function ensureThenWatch(env: GatewayEnv, f: FleetConfig, nc: NatsConnection, watch: SiteStateWatch) {
  try {
    const r = await ensureEdgeResources(nc, { site: f.site, gateway: f.name, auditMaxBytes: f.audit.streamMaxBytes });
    if (r.auditMismatch !== null)
      env.logger.warn({ mismatch: r.auditMismatch }, "fleet: the edge audit stream differs from this gateway's config");
  } catch (err) {
    // error, not warn: without its stream the gateway's audit never leaves the box (e.g. no room at the leaf)
    env.logger.error({ err: errorMessage(err) }, 'fleet: edge resources not ensured');
  } finally {
    watch.attach(nc);
  }
}

/**
 * Mutual TLS to the leaf with the CURRENT SVID. The leaf is authenticated as the site's leaf SPIFFE ID against
 * our bundle [X509-SVID 5]; with `leaf.caFile` by that CA and the usual host name check instead.
 */
function leafTls(f: FleetConfig, identity: GatewayIdentity): tls.ConnectionOptions {
  const svid = identity.source.getX509Svid(); // throws while failed closed: the link retries
  const bundles = identity.source.getBundleSet();
  if (f.leaf.caFile === null)
    return clientTlsOptions(svid, bundles, {
      authorizer: authorizeId(fleetIds.leaf(svid.id.trustDomain.name, f.site)),
    });
  const pem = svidPem(svid);
  return { cert: pem.certPem, key: pem.keyPem, ca: readFileSync(f.leaf.caFile, 'utf8'), minVersion: 'TLSv1.2' };
}
