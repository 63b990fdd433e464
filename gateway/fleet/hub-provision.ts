/**
 * Hub-side fleet resources (docs/fleet.md), ensured idempotently by `verigate control init` and the fleet lab:
 * per site the KV bucket `site-<site>` (the origin the site's leaf mirrors) and the hub `AUDIT` stream, which
 * sources every gateway's edge stream `AUDIT-<gateway>` across its site's leaf link (external API
 * `$JS.<site>.API`, deliveries under the site's own prefix so leaf permissions can name them). The hub config
 * knows no gateway names: `control serve` adds the source of each gateway stream it finds at a site
 * (addHubAuditSources; init adds those it is told of).
 */
import { createHash } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstreamManager,
  StorageType,
  type JetStreamManager,
  type JsMsg,
  type StreamConfig,
  type StreamSource,
} from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import {
  AUDIT_SOURCE_CONSUMER,
  AUDIT_STREAM,
  auditDeliverSubject,
  edgeAuditStream,
  jsApiPrefix,
  mirrorConsumerName,
  mirrorDeliverSubject,
  siteBucket,
} from './fleet-topology.js';
import { withPlacementRetry, type PlacementRetryOptions } from './placement-retry.js';

export interface HubProvisionOptions {
  readonly sites: readonly string[];
  /** Gateways known per site, whose edge streams the hub AUDIT stream sources from the start (the lab). */
  readonly gateways?: Readonly<Record<string, readonly string[]>>;
  /** Replicas of the site buckets and of the hub AUDIT stream (3 in a 3-node hub). */
  readonly replicas?: number;
  /** Revisions kept per key (locks and grants are small; the policy history helps an audit). */
  readonly history?: number;
  /** How long a hub whose cluster has not settled yet is given to place the assets (placement-retry.ts). */
  readonly placement?: PlacementRetryOptions;
}

export interface HubProvisionResult {
  readonly bucketsCreated: readonly string[];
  readonly mirrorConsumersCreated: readonly string[];
  readonly sourcesAdded: readonly string[];
}

const DEFAULT_REPLICAS = 3;
const DEFAULT_HISTORY = 5;

export async function ensureHubResources(nc: NatsConnection, opts: HubProvisionOptions): Promise<HubProvisionResult> {
  const replicas = opts.replicas ?? DEFAULT_REPLICAS;
  const jsm = await jetstreamManager(nc);
  const bucketsCreated: string[] = [];
  const mirrorConsumersCreated: string[] = [];
  // each step is idempotent, so a step the unsettled cluster refused is simply run again
  const settled = <T>(step: () => Promise<T>): Promise<T> => withPlacementRetry(step, opts.placement);
  for (const site of opts.sites) {
    const bucket = siteBucket(site);
    const created = await settled(async () => {
      if (await streamExists(jsm, `KV_${bucket}`)) return false;
      await new Kvm(jsm.jetstream()).create(bucket, { replicas, history: opts.history ?? DEFAULT_HISTORY });
      return true;
    });
    if (created) bucketsCreated.push(bucket);
    if (
      await settled(() =>
        ensureSourcingConsumer(jsm, `KV_${bucket}`, mirrorConsumerName(site), mirrorDeliverSubject(site)),
      )
    )
      mirrorConsumersCreated.push(mirrorConsumerName(site));
  }
  const known = opts.sites.flatMap((site) => (opts.gateways?.[site] ?? []).map((gateway) => ({ site, gateway })));
  const sourcesAdded = await settled(() => ensureHubAuditStream(jsm, known, replicas));
  return { bucketsCreated, mirrorConsumersCreated, sourcesAdded };
}

/** Sourcing consumers ack by flow control: 1 s heartbeats, no ack wait, no max deliver (nats-server ADR-60). */
const MAX_ACK_PENDING = 10_000;
const SOURCE_HEARTBEAT_NS = 1_000_000_000;

/**
 * Ensures the durable push consumer a cross-domain mirror or source attaches to (`consumer` of the mirror or
 * source config), with its deliver subject and no filter: one changed by someone else (which would send the
 * stream elsewhere, or only part of it) is put back. Returns true when it was created or put back now.
 */
export async function ensureSourcingConsumer(
  jsm: JetStreamManager,
  stream: string,
  name: string,
  deliverSubject: string,
): Promise<boolean> {
  let have: Awaited<ReturnType<JetStreamManager['consumers']['info']>>['config'] | null = null;
  try {
    have = (await jsm.consumers.info(stream, name)).config;
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound)) throw err;
  }
  if (have !== null) {
    const filtered = (have.filter_subject ?? '') !== '' || (have.filter_subjects ?? []).length > 0;
    if (have.deliver_subject === deliverSubject && !filtered) return false;
    await jsm.consumers.update(stream, name, {
      deliver_subject: deliverSubject,
      filter_subject: '',
      filter_subjects: [],
    });
    return true;
  }
  await jsm.consumers.add(stream, {
    durable_name: name,
    deliver_subject: deliverSubject,
    deliver_policy: DeliverPolicy.All,
    ack_policy: AckPolicy.FlowControl,
    flow_control: true,
    idle_heartbeat: SOURCE_HEARTBEAT_NS,
    max_ack_pending: MAX_ACK_PENDING,
  });
  return true;
}

/** One gateway at one site: whose edge audit stream the hub sources. */
export interface GatewayRef {
  readonly site: string;
  readonly gateway: string;
}

/** The hub AUDIT stream's source for one gateway: its edge stream in its site's domain. */
export function gatewayAuditSource(site: string, gateway: string): StreamSource {
  return {
    name: edgeAuditStream(gateway),
    external: { api: jsApiPrefix(site), deliver: '' },
    consumer: { name: AUDIT_SOURCE_CONSUMER, deliver_subject: auditDeliverSubject(site, gateway) },
  };
}

/**
 * The stream id the hub stamps on every message it sources from one gateway's edge stream (the first token of
 * its `Nats-Stream-Source` header): `AUDIT-<gateway>:<hash of the site's API prefix>:C=<hash of the consumer
 * name>`, as nats-server composes a source's index name (server/stream.go composeIName, getHash in
 * server/events.go). The hub sets the header itself and drops any the source message carried, so it names the
 * stream and leaf link a message really came through, whatever subject that leaf chose to store it under.
 */
export function gatewayAuditSourceName(site: string, gateway: string): string {
  return `${edgeAuditStream(gateway)}:${natsHash(jsApiPrefix(site))}:C=${natsHash(AUDIT_SOURCE_CONSUMER)}`;
}

/** The edge seq a sourced message came from: `Nats-Stream-Source: <stream[:hash]> <seq> <filter> …`. */
export function edgeSeqOf(m: Pick<JsMsg, 'headers'>): number | null {
  const v = m.headers?.get('Nats-Stream-Source');
  const seq = v === undefined || v === '' ? NaN : Number(v.split(' ')[1]);
  return Number.isSafeInteger(seq) && seq > 0 ? seq : null;
}

/** The source id the hub stamped on a sourced message (gatewayAuditSourceName), null when not sourced. */
export function streamSourceOf(m: Pick<JsMsg, 'headers'>): string | null {
  const v = m.headers?.get('Nats-Stream-Source');
  return v === undefined || v === '' ? null : (v.split(' ')[0] ?? null);
}

const HASH_DIGITS = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** nats-server's getHash: the first 8 bytes of SHA-256, each as a base-62 digit. */
function natsHash(name: string): string {
  const b = createHash('sha256').update(name).digest();
  return Array.from(b.subarray(0, 8), (x) => HASH_DIGITS[x % HASH_DIGITS.length]).join('');
}

/** Creates the hub AUDIT stream, or adds the sources of gateways it does not source yet (existing ones kept). */
async function ensureHubAuditStream(
  jsm: JetStreamManager,
  gateways: readonly GatewayRef[],
  replicas: number,
): Promise<string[]> {
  if ((await streamInfo(jsm, AUDIT_STREAM)) === null) {
    const config: Partial<StreamConfig> & { name: string } = {
      name: AUDIT_STREAM,
      // No subjects: the hub stream holds only what it sources, so a core-NATS message crossing a leaf link
      // on an audit subject can never be stored twice. (Made before any gateway is known, nats-server gives it
      // its own name `AUDIT` as subject, which only control may publish and the collector ignores.)
      subjects: [],
      sources: gateways.map((g) => gatewayAuditSource(g.site, g.gateway)),
      storage: StorageType.File,
      num_replicas: replicas,
    };
    await jsm.streams.add(config);
    return gateways.map((g) => `${g.site}/${g.gateway}`);
  }
  return addHubAuditSources(jsm, gateways);
}

/**
 * Adds to the hub AUDIT stream the sources of the gateways it does not source yet (existing sources are kept,
 * a gateway's is recognised by its site's API prefix and its stream name). Returns the `site/gateway` added.
 */
export async function addHubAuditSources(jsm: JetStreamManager, gateways: readonly GatewayRef[]): Promise<string[]> {
  const info = await jsm.streams.info(AUDIT_STREAM);
  const have = new Set((info.config.sources ?? []).map((s) => `${s.external?.api ?? ''} ${s.name}`));
  const missing = new Map<string, GatewayRef>();
  for (const g of gateways)
    if (!have.has(`${jsApiPrefix(g.site)} ${edgeAuditStream(g.gateway)}`)) missing.set(`${g.site}/${g.gateway}`, g);
  if (missing.size === 0) return [];
  const added = [...missing.values()].map((g) => gatewayAuditSource(g.site, g.gateway));
  await jsm.streams.update(AUDIT_STREAM, { ...info.config, sources: [...(info.config.sources ?? []), ...added] });
  return [...missing.keys()];
}

/** A stream's info, or null when it does not exist (other JetStream errors are thrown). */
export async function streamInfo(
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

async function streamExists(jsm: JetStreamManager, name: string): Promise<boolean> {
  return (await streamInfo(jsm, name)) !== null;
}
