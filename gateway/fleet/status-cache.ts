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

export class StatusCache {
  private readonly latest = new Map<string, CachedStatus>();
  rejected = 0;

  /** Takes one message; false (and counted) when it is not a well-formed beat for its subject. */
  accept(subject: string, data: Uint8Array, receivedAt: number): boolean {
    const beat = parseBeat(subject, data);
    if (beat === null) {
      this.rejected += 1;
      return false;
    }
    const key = `${beat.site}/${beat.gateway}`;
    const prev = this.latest.get(key);
    // Beats can cross: keep the newer by the gateway's own time.
    if (prev && Date.parse(prev.beat.time) > Date.parse(beat.time)) return true;
    this.latest.set(key, { beat, receivedAt });
    return true;
  }

  list(): CachedStatus[] {
    return [...this.latest.values()].sort((a, b) =>
      `${a.beat.site}/${a.beat.gateway}`.localeCompare(`${b.beat.site}/${b.beat.gateway}`),
    );
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
