/**
 * Hub-side fleet resources (docs/fleet.md), ensured idempotently by `verigate control init` and the fleet lab:
 * per site the KV bucket `site-<site>` (the origin the site's leaf mirrors) and the hub `AUDIT` stream, which
 * sources every site's edge `AUDIT` stream across the leaf link (external API `$JS.<site>.API`, deliveries under
 * the site's own prefix so leaf permissions can name them).
 */
import type { NatsConnection } from '@nats-io/transport-node';
import {
  JetStreamApiCodes,
  JetStreamApiError,
  jetstreamManager,
  StorageType,
  type JetStreamManager,
  type StreamConfig,
  type StreamSource,
} from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { AUDIT_STREAM, auditDeliverPrefix, jsApiPrefix, siteBucket } from './fleet-topology.js';

export interface HubProvisionOptions {
  readonly sites: readonly string[];
  /** Replicas of the site buckets and of the hub AUDIT stream (3 in a 3-node hub). */
  readonly replicas?: number;
  /** Revisions kept per key (locks and grants are small; the policy history helps an audit). */
  readonly history?: number;
}

export interface HubProvisionResult {
  readonly bucketsCreated: readonly string[];
  readonly sourcesAdded: readonly string[];
}

const DEFAULT_REPLICAS = 3;
const DEFAULT_HISTORY = 5;

export async function ensureHubResources(nc: NatsConnection, opts: HubProvisionOptions): Promise<HubProvisionResult> {
  const replicas = opts.replicas ?? DEFAULT_REPLICAS;
  const jsm = await jetstreamManager(nc);
  const bucketsCreated: string[] = [];
  for (const site of opts.sites) {
    const bucket = siteBucket(site);
    if (await streamExists(jsm, `KV_${bucket}`)) continue;
    await new Kvm(jsm.jetstream()).create(bucket, { replicas, history: opts.history ?? DEFAULT_HISTORY });
    bucketsCreated.push(bucket);
  }
  const sourcesAdded = await ensureHubAuditStream(jsm, opts.sites, replicas);
  return { bucketsCreated, sourcesAdded };
}

/** The hub AUDIT stream's source for one site: the edge stream of the same name in the site's domain. */
export function siteAuditSource(site: string): StreamSource {
  return { name: AUDIT_STREAM, external: { api: jsApiPrefix(site), deliver: auditDeliverPrefix(site) } };
}

/** Creates the hub AUDIT stream, or adds the sources of sites it does not source yet (existing ones are kept). */
async function ensureHubAuditStream(
  jsm: JetStreamManager,
  sites: readonly string[],
  replicas: number,
): Promise<string[]> {
  const info = await streamInfo(jsm, AUDIT_STREAM);
  const have = new Set((info?.config.sources ?? []).map((s) => s.external?.api ?? ''));
  const missing = sites.filter((site) => !have.has(jsApiPrefix(site)));
  if (info === null) {
    const config: Partial<StreamConfig> & { name: string } = {
      name: AUDIT_STREAM,
      // No subjects: the hub stream holds only what it sources, so a core-NATS message crossing a leaf link
      // on an audit subject can never be stored twice.
      subjects: [],
      sources: sites.map(siteAuditSource),
      storage: StorageType.File,
      num_replicas: replicas,
    };
    await jsm.streams.add(config);
    return [...sites];
  }
  if (missing.length === 0) return [];
  await jsm.streams.update(AUDIT_STREAM, {
    ...info.config,
    sources: [...(info.config.sources ?? []), ...missing.map(siteAuditSource)],
  });
  return missing;
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

async function streamExists(jsm: JetStreamManager, name: string): Promise<boolean> {
  return (await streamInfo(jsm, name)) !== null;
}
