/**
 * `verigate control status` — per gateway: policy revision, staleness, sessions and audit lag (docs/fleet.md
 * "Status"). It listens to the gateways' status beats on `fleet.status.>` for `--wait` (a little over one
 * beat interval), and reads from the hub AUDIT stream the last event block each gateway has there: audit lag
 * = the gateway's last local seq − the last seq at the hub. A gateway with blocks at the hub but no beat in
 * the window is listed as silent (cut off, or down).
 */
import { AUDIT_STREAM, STATUS_SUBJECTS } from '../fleet/fleet-topology.js';
import { StatusCache, type StatusBeat } from '../fleet/status-cache.js';
import { tryParseDuration } from '../config/duration.js';
import { EXIT_CHECK_FAILED, EXIT_OK, EXIT_USAGE, type CliIo } from './cli-io.js';
import { emit, loadConfigOrReport, parseControlArgs, str, usage, withHub, type HubSession } from './control-cli.js';

const USAGE = [
  'usage: verigate control status [--wait 3s] [--json]',
  '  per gateway: policy revision, staleness, sessions, audit lag; exit 1 if a gateway of the hub stream is silent',
].join('\n');

const EVENTS_FILTER = 'audit.*.*.events';

export interface GatewayStatus {
  readonly site: string;
  readonly gateway: string;
  /** Null: no beat within the wait (the gateway is only known from its audit at the hub). */
  readonly beat: StatusBeat | null;
  readonly beatAgeSeconds: number | null;
  /** Last event seq of this gateway stored at the hub (0: none). */
  readonly hubSeq: number;
  /** beat.audit.lastSeq − hubSeq, null without a beat. */
  readonly auditLag: number | null;
}

export async function controlStatus(args: readonly string[], io: CliIo, now: () => number = Date.now): Promise<number> {
  const p = parseControlArgs(args, { wait: { type: 'string' } });
  if (typeof p === 'string') return usage(io, USAGE, p);
  if (p.values['help'] === true) {
    io.out(USAGE);
    return EXIT_OK;
  }
  if (p.positionals.length > 0) return usage(io, USAGE, `unexpected ${p.positionals.join(' ')}`);
  const waitMs = tryParseDuration(str(p.values, 'wait') ?? '3s');
  if (waitMs === null) return usage(io, USAGE, '--wait must be a duration such as 3s');
  const config = loadConfigOrReport(io, p.values);
  if (config === null) return EXIT_USAGE;
  return withHub(io, config, async (s) => {
    const rows = await gatherStatus(s, waitMs, now);
    const silent = rows.filter((r) => r.beat === null);
    emit(io, p.values['json'] === true, rows, () => (rows.length === 0 ? ['no gateways seen'] : rows.map(statusLine)));
    return silent.length === 0 ? EXIT_OK : EXIT_CHECK_FAILED;
  });
}

export async function gatherStatus(s: HubSession, waitMs: number, now: () => number): Promise<GatewayStatus[]> {
  const cache = new StatusCache({ sites: s.config.sites, maxGatewaysPerSite: s.config.maxGatewaysPerSite });
  const sub = s.hub.nc.subscribe(STATUS_SUBJECTS, {
    callback: (_err, m) => {
      cache.accept(m.subject, m.data, now());
    },
  });
  await new Promise((r) => setTimeout(r, waitMs));
  sub.unsubscribe();
  const hub = await hubSeqs(s);
  const rows = new Map<string, GatewayStatus>();
  for (const { beat, receivedAt } of cache.list()) {
    const key = `${beat.site}/${beat.gateway}`;
    const hubSeq = hub.get(key) ?? 0;
    rows.set(key, {
      site: beat.site,
      gateway: beat.gateway,
      beat,
      beatAgeSeconds: Math.max(0, (receivedAt - Date.parse(beat.time)) / 1000),
      hubSeq,
      auditLag: Math.max(0, beat.audit.lastSeq - hubSeq),
    });
  }
  for (const [key, hubSeq] of hub) {
    if (rows.has(key)) continue;
    const [site = '', gateway = ''] = key.split('/');
    rows.set(key, { site, gateway, beat: null, beatAgeSeconds: null, hubSeq, auditLag: null });
  }
  return [...rows.values()].sort((a, b) => `${a.site}/${a.gateway}`.localeCompare(`${b.site}/${b.gateway}`));
}

/** `site/gateway` → last event seq stored at the hub (from the last block on each gateway's events subject). */
async function hubSeqs(s: HubSession): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const jsm = await s.hub.jsm();
  let subjects: Record<string, number>;
  try {
    subjects = (await jsm.streams.info(AUDIT_STREAM, { subjects_filter: EVENTS_FILTER })).state.subjects ?? {};
  } catch {
    return out; // no hub AUDIT stream yet (`control init` not run): no audit figures
  }
  for (const subject of Object.keys(subjects)) {
    const [, site, gateway] = subject.split('.');
    const m = await jsm.streams.getMessage(AUDIT_STREAM, { last_by_subj: subject }).catch(() => null);
    let last = 0;
    try {
      const body = m ? (JSON.parse(m.string()) as { last?: unknown }) : {};
      last = typeof body.last === 'number' ? body.last : 0;
    } catch {
      last = 0;
    }
    out.set(`${site}/${gateway}`, last);
  }
  return out;
}

function statusLine(r: GatewayStatus): string {
  const name = `${r.site}/${r.gateway}`;
  if (r.beat === null) return `${name}: SILENT (no status beat; hub audit seq ${r.hubSeq})`;
  const b = r.beat;
  const stale = b.stalenessSeconds === null ? 'never synced' : `${b.stalenessSeconds.toFixed(1)}s`;
  return (
    `${name}: policy rev ${b.policyRevision} (${b.policyVersion || '-'}), staleness ${stale}, sessions ${b.sessions}, ` +
    `audit lag ${r.auditLag} (local ${b.audit.lastSeq}, published ${b.audit.publishedSeq}, hub ${r.hubSeq})`
  );
}
