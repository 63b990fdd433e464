/**
 * Edge-side fleet resources at a site's leaf (docs/fleet.md), ensured idempotently by the gateway at start and
 * by the fleet lab: the mirror of the hub's site bucket (same name, source in domain `hub`, deliveries under
 * the site's own prefix) and the site's `AUDIT` stream, capped with `discard: new` so a full stream refuses
 * new blocks (the gateway's audit failure policy takes over) instead of silently dropping old ones, and the
 * durable consumer the hub's AUDIT stream sources through.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
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
  jsApiPrefix,
  mirrorConsumerName,
  mirrorDeliverSubject,
  siteAuditSubjects,
  siteBucket,
} from './fleet-topology.js';
import { ensureSourcingConsumer } from './hub-provision.js';

export interface EdgeProvisionOptions {
  readonly site: string;
  /** Cap of the edge AUDIT stream in bytes (`fleet.audit.streamMaxBytes`). */
  readonly auditMaxBytes: number;
}

/** Block dedup window (`Nats-Msg-Id`): a block re-sent after a reconnect within it is stored once. */
export const AUDIT_DUPLICATE_WINDOW_NS = 10 * 60 * 1_000_000_000;

export interface EdgeProvisionResult {
  readonly mirrorCreated: boolean;
  readonly auditCreated: boolean;
  readonly auditUpdated: boolean;
  /** The durable consumer the hub's AUDIT source attaches to. */
  readonly sourceConsumerCreated: boolean;
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
  const sourceConsumerCreated = await ensureSourcingConsumer(
    jsm,
    AUDIT_STREAM,
    AUDIT_SOURCE_CONSUMER,
    auditDeliverSubject(opts.site),
  );
  return { mirrorCreated, ...audit, sourceConsumerCreated };
}

export function edgeAuditConfig(opts: EdgeProvisionOptions): Partial<StreamConfig> & { name: string } {
  return {
    name: AUDIT_STREAM,
    subjects: [siteAuditSubjects(opts.site)],
    discard: DiscardPolicy.New,
    max_bytes: opts.auditMaxBytes,
    duplicate_window: AUDIT_DUPLICATE_WINDOW_NS,
    storage: StorageType.File,
    num_replicas: 1,
    // Direct get by subject: a gateway reads back its own last block (permission scoped to its subjects).
    allow_direct: true,
  };
}

async function ensureAuditStream(
  jsm: JetStreamManager,
  opts: EdgeProvisionOptions,
): Promise<{ auditCreated: boolean; auditUpdated: boolean }> {
  const want = edgeAuditConfig(opts);
  const info = await streamInfo(jsm, AUDIT_STREAM);
  if (info === null) {
    await jsm.streams.add(want);
    return { auditCreated: true, auditUpdated: false };
  }
  const c = info.config;
  const same =
    c.max_bytes === want.max_bytes &&
    c.discard === want.discard &&
    c.duplicate_window === want.duplicate_window &&
    c.allow_direct === want.allow_direct &&
    (c.subjects ?? []).join() === (want.subjects ?? []).join();
  if (same) return { auditCreated: false, auditUpdated: false };
  await jsm.streams.update(AUDIT_STREAM, { ...c, ...want });
  return { auditCreated: false, auditUpdated: true };
}

async function streamInfo(
  jsm: JetStreamManager,
  name: string,
): Promise<Awaited<ReturnType<JetStreamManager['streams']['info']>> | null> {
  try {
    return await jsm.streams.info(name);
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) return null;
    throw err;
  }
}
