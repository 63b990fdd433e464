/**
 * What each hop of the heartbeat's path shows at one instant, for a fleet lab test that waits for a heartbeat
 * after a leaf link returns (docs/fleet.md "Staleness", known issue). One line per hop, so a stall in a
 * whole-suite run says where the heartbeat stopped:
 *   hub      the newest `heartbeat` in the hub bucket (is `control serve` still writing?) and the stream's leader
 *   consumer the durable consumer the leaf's mirror attaches to (`mirror-<site>`): delivered, ack floor, pending
 *   mirror   the leaf's mirror stream (/jsz): last sequence, lag, time since it last heard the hub, its error
 *   gateway  the watch's last revision, the staleness, whether the gateway's leaf connection is up
 *   logs     the last few warnings and errors of the leaf and of each hub node
 * Every probe is bounded (3 s) and a failing one says why in its line instead of throwing.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { errorMessage } from '../../gateway/errors.js';
import { HUB_DOMAIN, KEY_HEARTBEAT, mirrorConsumerName, siteBucket } from '../../gateway/fleet/fleet-topology.js';
import type { FleetLab } from './fleet-lab.js';
import type { FleetGateway } from './fleet-gateway.js';

const PROBE_MS = 3000;
const LOG_LINES = 4;

export async function mirrorEvidence(lab: FleetLab, site: string, gw?: FleetGateway): Promise<string[]> {
  const bucket = siteBucket(site);
  const lines = [await hubSide(lab, site, bucket), await leafSide(lab, site, bucket)];
  // the servers' own words: warnings and errors (a mirror consumer error, a raft group without a leader)
  lines.push(...lastProblems(`leaf-${site}`, await lab.site(site).log()));
  for (const n of [1, 2, 3]) lines.push(...lastProblems(`hub-${n}`, await lab.hub.log(n)));
  const f = gw?.gateway().fleet;
  if (f)
    lines.push(
      `gateway: watch revision ${f.watch.lastRevision()}, staleness ${f.enforcement.staleness.stalenessSeconds().toFixed(1)} s, leaf connection ${f.link.isConnected() ? 'up' : 'down'}`,
    );
  return lines;
}

async function hubSide(lab: FleetLab, site: string, bucket: string): Promise<string> {
  try {
    const nc = await lab.connectAs(lab.control, lab.hubUrls, { timeout: PROBE_MS, reconnect: false });
    try {
      const jsm = await jetstreamManager(nc, { domain: HUB_DOMAIN, timeout: PROBE_MS });
      const si = await jsm.streams.info(`KV_${bucket}`);
      const hb = await (await new Kvm(nc).open(bucket)).get(KEY_HEARTBEAT);
      const age = hb ? ((Date.now() - hb.created.getTime()) / 1000).toFixed(1) : '-';
      const ci = await jsm.consumers.info(`KV_${bucket}`, mirrorConsumerName(site));
      const replicas = (ci.cluster?.replicas ?? []).map((r) => `${r.name} ${r.current ? 'current' : 'behind'}`);
      // typed as nanos by the client, sent by the server as an RFC 3339 time
      const at: unknown = ci.delivered.last_active;
      const lastSent = typeof at === 'string' ? ((Date.now() - Date.parse(at)) / 1000).toFixed(1) : '-';
      return [
        `hub: heartbeat revision ${hb?.revision ?? 'none'} (${age} s old), stream last ${si.state.last_seq}, leader ${si.cluster?.leader ?? '?'}`,
        `consumer ${ci.name}: delivered ${ci.delivered.stream_seq} (last ${lastSent} s ago), ack floor ${ci.ack_floor.stream_seq}, pending ${ci.num_pending}, ack pending ${ci.num_ack_pending}, leader ${ci.cluster?.leader ?? 'none'}, replicas ${replicas.join(', ') || '?'}`,
      ].join('; ');
    } finally {
      await nc.close();
    }
  } catch (err) {
    return `hub: not readable (${errorMessage(err)})`;
  }
}

interface JszStream {
  name: string;
  state?: { last_seq?: number };
  mirror?: { lag?: number; active?: number; error?: unknown };
}

async function leafSide(lab: FleetLab, site: string, bucket: string): Promise<string> {
  try {
    const url = `${lab.site(site).monitorUrl}/jsz?accounts=true&streams=true&config=true`;
    const r = await fetch(url, { signal: AbortSignal.timeout(PROBE_MS) });
    const j = (await r.json()) as { account_details?: { stream_detail?: JszStream[] }[] };
    const s = (j.account_details ?? []).flatMap((a) => a.stream_detail ?? []).find((x) => x.name === `KV_${bucket}`);
    if (!s) return `mirror: no stream KV_${bucket} at the leaf`;
    const active = s.mirror?.active === undefined ? '?' : (s.mirror.active / 1e9).toFixed(1);
    const error = s.mirror?.error === undefined ? 'none' : JSON.stringify(s.mirror.error);
    return `mirror: last ${s.state?.last_seq ?? '?'}, lag ${s.mirror?.lag ?? '?'}, heard the hub ${active} s ago, error ${error}, link ${(await lab.site(site).linkUp()) ? 'up' : 'down'}`;
  } catch (err) {
    return `mirror: not readable (${errorMessage(err)})`;
  }
}

/** The last `LOG_LINES` [WRN]/[ERR] lines of one server's log, each prefixed with the server's name. */
function lastProblems(name: string, log: string): string[] {
  return log
    .split('\n')
    .filter((l) => /\[(WRN|ERR)\]/.test(l))
    .slice(-LOG_LINES)
    .map((l) => `${name}: ${l.slice(0, 300)}`);
}
