/**
 * Edge-side fleet resources at a site's leaf (docs/fleet.md), ensured idempotently by the gateway at start and
 * by the fleet lab: the mirror of the hub's site bucket (same name, source in domain `hub`, deliveries under
 * the site's own prefix) and the gateway's OWN audit stream `AUDIT-<gateway>`, capped with `discard: new` so a
 * full stream refuses new blocks (the gateway's audit failure policy takes over) instead of silently dropping
 * old ones. One stream per gateway, each with its own byte cap: a gateway that fills its stream (a flood of
 * audited denials while the hub is away) is refused alone, its siblings keep their room. A gateway may only
 * create them (fleet-config-render.ts): an existing stream whose config differs is put back only by a user
 * allowed to update it, else reported. The durable consumer the hub's AUDIT stream sources each gateway stream
 * through is `verigate control`'s to ensure, across the leaf link (ensureEdgeAuditSource), not a gateway's.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import {
  DiscardPolicy,
  jetstreamManager,
  StorageType,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import {
  AUDIT_SOURCE_CONSUMER,
  AUDIT_STREAM,
  HUB_DOMAIN,
  auditDeliverSubject,
  edgeAuditStream,
  gatewayAuditSubjects,
  jsApiPrefix,
  mirrorConsumerName,
  mirrorDeliverSubject,
  siteBucket,
} from './fleet-topology.js';
import { errorMessage } from '../errors.js';
import { ensureSourcingConsumer, streamInfo } from './hub-provision.js';

export interface EdgeProvisionOptions {
  readonly site: string;
  /** The gateway whose audit stream this is (`AUDIT-<gateway>`). */
  readonly gateway: string;
  /** Cap of the gateway's edge audit stream in bytes (`fleet.audit.streamMaxBytes`). */
  readonly auditMaxBytes: number;
}

/** Block dedup window (`Nats-Msg-Id`): a block re-sent after a reconnect within it is stored once. */
export const AUDIT_DUPLICATE_WINDOW_NS = 10 * 60 * 1_000_000_000;

export interface EdgeProvisionResult {
  readonly mirrorCreated: boolean;
  readonly auditCreated: boolean;
  readonly auditUpdated: boolean;
  /** Why an audit stream whose config differs was not put back (a gateway may not update it), else null. */
  readonly auditMismatch: string | null;
}

export async function ensureEdgeResources(
  nc: NatsConnection,
  opts: EdgeProvisionOptions,
): Promise<EdgeProvisionResult> {
  const jsm = await jetstreamManager(nc);
  const bucket = siteBucket(opts.site);
  let mirrorCreated = false;
  if ((await streamInfo(jsm, `KV_${bucket}`)) === null) {
    await new Kvm(jsm.jetstream()).create(bucket, {
      mirror: {
        name: bucket,
        external: { api: jsApiPrefix(HUB_DOMAIN), deliver: '' },
        consumer: { name: mirrorConsumerName(opts.site), deliver_subject: mirrorDeliverSubject(opts.site) },
      },
    });
    mirrorCreated = true;
  }
  const audit = await ensureAuditStream(jsm, opts);
  return { mirrorCreated, ...audit };
}

/**
 * The durable consumer on a gateway's edge audit stream that the hub's source of it attaches to, ensured by
 * `verigate control` through the site's domain (`jsm` of domain `<site>`): created, or its deliver subject and
 * filter put back. Returns true when it was created or put back now.
 */
export function ensureEdgeAuditSource(jsm: JetStreamManager, site: string, gateway: string): Promise<boolean> {
  return ensureSourcingConsumer(
    jsm,
    edgeAuditStream(gateway),
    AUDIT_SOURCE_CONSUMER,
    auditDeliverSubject(site, gateway),
  );
}

export function edgeAuditConfig(opts: EdgeProvisionOptions): Partial<StreamConfig> & { name: string } {
  return {
    name: edgeAuditStream(opts.gateway),
    subjects: gatewayAuditSubjects(opts.site, opts.gateway),
    discard: DiscardPolicy.New,
    max_bytes: opts.auditMaxBytes,
    duplicate_window: AUDIT_DUPLICATE_WINDOW_NS,
    storage: StorageType.File,
    num_replicas: 1,
    // Direct get by subject: a gateway reads back its own last block (permission scoped to its subjects).
    allow_direct: true,
    // No other limit: only control's purge removes what the hub has not verified yet.
    max_age: 0,
    max_msgs: -1,
    max_msgs_per_subject: -1,
  };
}

async function ensureAuditStream(
  jsm: JetStreamManager,
  opts: EdgeProvisionOptions,
): Promise<{ auditCreated: boolean; auditUpdated: boolean; auditMismatch: string | null }> {
  const want = edgeAuditConfig(opts);
  const info = await streamInfo(jsm, want.name);
  if (info === null) {
    await jsm.streams.add(want).catch((err: unknown) => {
      throw new Error(refusedText(want.name, opts.auditMaxBytes, err));
    });
    return { auditCreated: true, auditUpdated: false, auditMismatch: null };
  }
  const c = info.config as unknown as Record<string, unknown>;
  const differs = Object.entries(want).filter(([k, v]) => JSON.stringify(c[k] ?? null) !== JSON.stringify(v));
  if (differs.length === 0) return { auditCreated: false, auditUpdated: false, auditMismatch: null };
  try {
    // every intended setting, not the existing ones kept beside them (a max_age set by someone else goes)
    await jsm.streams.update(want.name, { ...info.config, ...want });
    return { auditCreated: false, auditUpdated: true, auditMismatch: null };
  } catch (err) {
    const fields = differs.map(([k]) => k).join(', ');
    return { auditCreated: false, auditUpdated: false, auditMismatch: `${fields} differ: ${errorMessage(err)}` };
  }
}

/**
 * Why the leaf refused to create a gateway's stream, for the operator. JetStream reserves a file stream's
 * max_bytes against the leaf's max_file_store when it is made, so the streams of a site's gateways together
 * must fit it; and the shared `AUDIT` stream of earlier versions claims every audit subject of the site.
 */
function refusedText(stream: string, maxBytes: number, err: unknown): string {
  const msg = errorMessage(err);
  if (/insufficient (storage )?resources/i.test(msg))
    return `the leaf's JetStream store cannot reserve ${maxBytes} bytes (fleet.audit.streamMaxBytes) for stream ${stream}: the audit streams of the site's gateways together must fit the leaf's max_file_store (${msg})`;
  if (/subjects overlap/i.test(msg))
    return `stream ${stream} cannot be created: its subjects are held by another stream (the shared ${AUDIT_STREAM} stream of an earlier version? docs/fleet.md "Upgrading from the shared edge stream") (${msg})`;
  return `stream ${stream} cannot be created: ${msg}`;
}
