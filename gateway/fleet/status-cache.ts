/**
 * The latest status beat of every gateway (`fleet.status.<site>.<gateway>`, docs/fleet.md "Status"), as
 * `verigate control serve` keeps it and `verigate control status` shows it. A beat is network input: one
 * that does not parse, or whose site/gateway disagree with its subject, is counted and dropped, never thrown.
 */
import { GATEWAY_NAME, SITE_NAME } from './fleet-topology.js';

export interface StatusBeat {
  readonly site: string;
  readonly gateway: string;
  readonly time: string;
  readonly policyRevision: number;
  readonly policyVersion: string;
  readonly stalenessSeconds: number | null;
  readonly sessions: number;
  readonly audit: { readonly lastSeq: number; readonly publishedSeq: number };
}

export interface CachedStatus {
  readonly beat: StatusBeat;
  /** When this process received it (epoch ms on the caller's clock). */
  readonly receivedAt: number;
}

const SUBJECT = /^fleet\.status\.([^.]+)\.([^.]+)$/;

export interface StatusCacheOptions {
  /** Only beats of these sites are kept (default: any). */
  readonly sites?: readonly string[];
  /** Gateway names kept per site (default unbounded); a beat of a further name is ignored. */
  readonly maxGatewaysPerSite?: number;
}

/** What accept() did with a beat: kept for a gateway seen before, for a new one, or dropped. */
export type Accepted = 'updated' | 'new' | false;

export class StatusCache {
  /** site → gateway → latest beat: names come from the network, so both levels are bounded. */
  private readonly latest = new Map<string, Map<string, CachedStatus>>();
  private readonly sites: ReadonlySet<string> | null;
  private count = 0;
  /** Beats that do not parse or disagree with their subject. */
  rejected = 0;
  /** Well-formed beats of a site not configured, or of a gateway over the per-site cap. */
  ignored = 0;

  constructor(private readonly opts: StatusCacheOptions = {}) {
    this.sites = opts.sites === undefined ? null : new Set(opts.sites);
  }

  /** Gateways held. */
  get size(): number {
    return this.count;
  }

  /** Takes one message; false (and counted) when it is not a well-formed beat for its subject or not kept. */
  accept(subject: string, data: Uint8Array, receivedAt: number): Accepted {
    const beat = parseBeat(subject, data);
    if (beat === null) {
      this.rejected += 1;
      return false;
    }
    const site = this.siteMap(beat.site);
    const prev = site?.get(beat.gateway);
    if (site === null || (prev === undefined && site.size >= (this.opts.maxGatewaysPerSite ?? Infinity))) {
      this.ignored += 1;
      return false;
    }
    // Beats can cross: keep the newer by the gateway's own time.
    if (prev && Date.parse(prev.beat.time) > Date.parse(beat.time)) return 'updated';
    site.set(beat.gateway, { beat, receivedAt });
    if (prev !== undefined) return 'updated';
    this.count += 1;
    return 'new';
  }

  list(): CachedStatus[] {
    return [...this.latest.values()]
      .flatMap((m) => [...m.values()])
      .sort((a, b) => `${a.beat.site}/${a.beat.gateway}`.localeCompare(`${b.beat.site}/${b.beat.gateway}`));
  }

  /** The site's map, made on first use; null for a site not configured. */
  private siteMap(site: string): Map<string, CachedStatus> | null {
    let m = this.latest.get(site);
    if (m === undefined) {
      if (this.sites !== null && !this.sites.has(site)) return null;
      m = new Map();
      this.latest.set(site, m);
    }
    return m;
  }
}

const num = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

export function parseBeat(subject: string, data: Uint8Array): StatusBeat | null {
  const m = SUBJECT.exec(subject);
  if (!m || data.byteLength > 64 * 1024) return null;
  let o: Record<string, unknown>;
  try {
    const v: unknown = JSON.parse(Buffer.from(data).toString('utf8'));
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return null;
    o = v as Record<string, unknown>;
  } catch {
    return null;
  }
  const [, site, gateway] = m;
  if (o['site'] !== site || o['gateway'] !== gateway) return null;
  if (!SITE_NAME.test(site ?? '') || !GATEWAY_NAME.test(gateway ?? '')) return null;
  const audit = o['audit'] as Record<string, unknown> | undefined;
  const time = o['time'];
  if (typeof time !== 'string' || Number.isNaN(Date.parse(time))) return null;
  if (!num(o['policyRevision']) || !num(o['sessions'])) return null;
  if (!audit || typeof audit !== 'object' || !num(audit['lastSeq']) || !num(audit['publishedSeq'])) return null;
  const staleness = o['stalenessSeconds'];
  return {
    site: site as string,
    gateway: gateway as string,
    time,
    policyRevision: o['policyRevision'],
    policyVersion: typeof o['policyVersion'] === 'string' ? o['policyVersion'] : '',
    stalenessSeconds: num(staleness) ? staleness : null,
    sessions: o['sessions'],
    audit: { lastSeq: audit['lastSeq'], publishedSeq: audit['publishedSeq'] },
  };
}
