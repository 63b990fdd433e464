/**
 * The centre's audit collector (docs/fleet.md "Audit"), transport-free: `verigate control serve` feeds it the
 * hub `AUDIT` stream's messages in order (audit-collector-nats.ts), it verifies each gateway's chain
 * incrementally (audit-chain-verify.ts), appends what verified to the gateway's trail in the control's audit
 * dir (audit-gateway-trail.ts), hands verified events and checkpoints to the fleet's one SIEM export, and says
 * up to which edge-stream seq each gateway's messages are done with, so the edge stream can be purged.
 *
 * Durability order, per batch of messages: handle() each (written, not yet synced) → commit() (fdatasync) →
 * acknowledge them → purge the edges. A crash before the acknowledgement redelivers; re-sent identical
 * blocks are ignored, so nothing is appended twice.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Checkpoint } from '../audit/audit-checkpoint.js';
import type { AuditRecord } from '../audit/audit-events.js';
import { errorMessage } from '../errors.js';
import { nullLogger, type Logger } from '../logger.js';
import { decodeBlock, decodeCheckpoint } from './audit-block.js';
import { verifyBlock, verifyCheckpoint, type CheckpointCheck } from './audit-chain-verify.js';
import { GatewayTrail } from './audit-gateway-trail.js';
import { GATEWAY_NAME, SITE_NAME } from './fleet-topology.js';

export interface CollectedMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  /** The message's seq in its gateway's edge stream (from `Nats-Stream-Source`), null when unknown. */
  readonly edgeSeq: number | null;
  /** The source the hub stamped on it (the first token of `Nats-Stream-Source`), null when not sourced. */
  readonly source?: string | null;
}

/** The fleet's one SIEM feed: called once per verified event / checkpoint, after it is in the trail file. */
export interface VerifiedSink {
  event?(site: string, gateway: string, rec: AuditRecord): void;
  checkpoint?(site: string, gateway: string, cp: Checkpoint): void;
}

export interface AuditCollectorOptions {
  /** The control's audit dir: one `<site>/<gateway>/` trail each. */
  readonly dir: string;
  /** Checkpoint signers must chain to this bundle (PEM), when given. */
  readonly trustBundlePem?: string;
  /** The SPIFFE ID a gateway's checkpoints must be signed by (e.g. fleetIds.gateway), when known. */
  readonly signerFor?: (site: string, gateway: string) => string | undefined;
  readonly sink?: VerifiedSink;
  readonly segmentBytes?: number;
  readonly now?: () => number;
  readonly logger?: Logger;
  /** Only these sites are collected (default: any); a message of another is ignored. */
  readonly sites?: readonly string[];
  /**
   * The `Nats-Stream-Source` stream id a gateway's messages must carry (hub-provision.ts
   * gatewayAuditSourceName: that gateway's edge stream at its site): a leaf may store anything under any
   * subject in any of its streams, so the subject alone does not say which gateway's stream, nor which site, a
   * message came from. Unchecked when absent (messages not read from the hub stream).
   */
  readonly sourceOf?: (site: string, gateway: string) => string;
  /** Gateway trails per site (default 256); messages of further new names are ignored. */
  readonly maxGatewaysPerSite?: number;
}

export interface GatewayAuditReport {
  readonly site: string;
  readonly gateway: string;
  readonly lastSeq: number;
  readonly headHash: string;
  readonly lastCheckpointSeq: number;
  readonly pendingCheckpoints: number;
  readonly problems: readonly string[];
}

export interface PurgeTarget {
  readonly site: string;
  readonly gateway: string;
  /** Purge the gateway's edge messages below this edge seq (this one, the last verified block, stays). */
  readonly keepFrom: number;
}

export const DEFAULT_MAX_GATEWAYS_PER_SITE = 256;

/** Checkpoints naming events not verified yet, per gateway (the newest are kept; dropping one is a problem). */
const MAX_PENDING = 16;

interface Gateway {
  readonly site: string;
  readonly name: string;
  readonly trail: GatewayTrail;
  readonly pending: { cp: Checkpoint; edgeSeq: number | null }[];
  /** Edge seq of the last events block verified (appended or an identical re-send). */
  lastGoodEdgeSeq: number | null;
}

export class AuditCollector {
  private readonly gateways = new Map<string, Gateway>();
  private readonly perSite = new Map<string, number>();
  private readonly sites: ReadonlySet<string> | null;
  /** Messages not collected: an unknown subject or site, a wrong source, a name over the cap (see admit()). */
  ignored = 0;

  constructor(private readonly opts: AuditCollectorOptions) {
    this.sites = opts.sites === undefined ? null : new Set(opts.sites);
  }

  /** Verifies one message and appends what verified; throws only when the trail cannot be written. */
  handle(m: CollectedMessage): void {
    const parts = m.subject.split('.');
    const [prefix, site = '', name = '', kind] = parts;
    if (parts.length !== 4 || prefix !== 'audit' || !SITE_NAME.test(site) || !GATEWAY_NAME.test(name))
      return this.ignore(m, 'message on an unknown subject');
    if (kind !== 'events' && kind !== 'checkpoints') return this.ignore(m, 'message on an unknown subject');
    if (this.sites !== null && !this.sites.has(site)) return this.ignore(m, 'message of a site not configured');
    if (this.opts.sourceOf !== undefined && m.source !== this.opts.sourceOf(site, name))
      return this.ignore(m, `message on a ${site}/${name} subject that did not come from that gateway's edge stream`);
    const gw = this.gateways.get(`${site}/${name}`) ?? this.newGateway(site, name, kind, m);
    if (gw === null) return;
    if (kind === 'events') this.handleBlock(gw, m);
    else this.handleCheckpoint(gw, m);
  }

  /** Makes everything handled so far durable (before the messages are acknowledged). */
  commit(): void {
    for (const g of this.gateways.values()) g.trail.sync();
  }

  /** Per gateway: how far the edge stream may be purged (never past a problem or a pending checkpoint). */
  purgeTargets(): PurgeTarget[] {
    const out: PurgeTarget[] = [];
    for (const g of this.gateways.values()) {
      if (g.lastGoodEdgeSeq === null || g.trail.problems.length > 0) continue;
      const keepFrom = Math.min(g.lastGoodEdgeSeq, ...g.pending.map((p) => p.edgeSeq ?? Infinity));
      out.push({ site: g.site, gateway: g.name, keepFrom });
    }
    return out;
  }

  report(): GatewayAuditReport[] {
    return [...this.gateways.values()]
      .map((g) => ({
        site: g.site,
        gateway: g.name,
        lastSeq: g.trail.lastSeq,
        headHash: g.trail.headHash,
        lastCheckpointSeq: g.trail.lastCheckpointSeq,
        pendingCheckpoints: g.pending.length,
        problems: [...g.trail.problems],
      }))
      .sort((a, b) => (a.site + '/' + a.gateway < b.site + '/' + b.gateway ? -1 : 1));
  }

  close(): void {
    for (const g of this.gateways.values()) g.trail.close();
    this.gateways.clear();
  }

  private get log(): Logger {
    return this.opts.logger ?? nullLogger;
  }

  /**
   * A trail for a gateway not held yet: one collected before (its directory exists), or a new name whose first
   * message is a well-formed block or checkpoint of that gateway — and at most maxGatewaysPerSite per site, so
   * names a leaf makes up cannot make the centre open trails (and SIEM exporters) without bound.
   */
  private newGateway(site: string, name: string, kind: string, m: CollectedMessage): Gateway | null {
    const count = this.perSite.get(site) ?? 0;
    const why =
      count >= (this.opts.maxGatewaysPerSite ?? DEFAULT_MAX_GATEWAYS_PER_SITE)
        ? `a gateway over maxGatewaysPerSite at ${site}`
        : this.notFirstMessage(site, name, kind, m);
    if (why !== null) {
      this.ignore(m, why);
      return null;
    }
    const trail = new GatewayTrail(join(this.opts.dir, site, name), this.opts.segmentBytes);
    const g: Gateway = { site, name, trail, pending: [], lastGoodEdgeSeq: null };
    this.gateways.set(`${site}/${name}`, g);
    this.perSite.set(site, count + 1);
    return g;
  }

  /** Why this cannot open a new gateway's trail, or null (a trail on disk is always reopened: its problems count). */
  private notFirstMessage(site: string, name: string, kind: string, m: CollectedMessage): string | null {
    if (existsSync(join(this.opts.dir, site, name))) return null;
    const d = kind === 'events' ? decodeBlock(m.data) : decodeCheckpoint(m.data);
    return typeof d === 'string' || d.site !== site || d.gateway !== name
      ? 'a first message of a new gateway that is not its well-formed block or checkpoint'
      : null;
  }

  /** Counted, and logged at powers of two: a leaf sending such messages without end cannot flood the log. */
  private ignore(m: CollectedMessage, why: string): void {
    this.ignored += 1;
    if ((this.ignored & (this.ignored - 1)) === 0)
      this.log.warn(
        { subject: m.subject, source: m.source ?? null, ignored: this.ignored },
        `fleet audit: ${why}, ignored`,
      );
  }

  private problem(g: Gateway, problem: string): void {
    this.log.error({ site: g.site, gateway: g.name, problem }, 'fleet audit: verification problem');
    const now = new Date((this.opts.now ?? Date.now)()).toISOString();
    g.trail.noteProblem(problem, now);
  }

  private handleBlock(g: Gateway, m: CollectedMessage): void {
    const b = decodeBlock(m.data);
    if (typeof b === 'string') return this.problem(g, b);
    if (b.site !== g.site || b.gateway !== g.name)
      return this.problem(g, `block names ${b.site}/${b.gateway} on ${g.site}/${g.name}'s subject`);
    const v = verifyBlock(g.trail, b, (seq) => g.trail.hashAt(seq));
    if (v.kind === 'problem') return this.problem(g, v.problem);
    if (v.kind === 'append') {
      const before = g.trail.lastSeq;
      try {
        g.trail.append(v.events);
      } finally {
        // what reached the file is exported even when the rest failed (it comes again, and then only the rest)
        for (const e of v.events) if (e.seq <= g.trail.lastSeq && e.seq > before) this.exportEvent(g, e);
      }
      this.recheckPending(g);
    }
    if (m.edgeSeq !== null) g.lastGoodEdgeSeq = m.edgeSeq;
  }

  private handleCheckpoint(g: Gateway, m: CollectedMessage): void {
    const c = decodeCheckpoint(m.data);
    if (typeof c === 'string') return this.problem(g, c);
    if (c.site !== g.site || c.gateway !== g.name)
      return this.problem(g, `checkpoint names ${c.site}/${c.gateway} on ${g.site}/${g.name}'s subject`);
    this.checkpoint(g, c.checkpoint, m.edgeSeq);
  }

  private checkpoint(g: Gateway, cp: Checkpoint, edgeSeq: number | null): void {
    const v = verifyCheckpoint(cp, g.trail, (seq) => g.trail.hashAt(seq), this.check(g));
    if (v.kind === 'problem') return this.problem(g, v.problem);
    if (v.kind === 'pending') {
      if (!g.pending.some((p) => p.cp.seq === cp.seq)) g.pending.push({ cp, edgeSeq });
      if (g.pending.length > MAX_PENDING) this.dropPending(g);
      return;
    }
    if (cp.seq <= g.trail.lastCheckpointSeq) return; // already stored (a re-send)
    g.trail.appendCheckpoint(cp);
    this.export(() => this.opts.sink?.checkpoint?.(g.site, g.name, cp));
  }

  /**
   * A signed checkpoint that will never be verified: a problem, which also keeps the edge stream from being
   * purged past its message (only the pending list held it back, and it is dropped from that now).
   */
  private dropPending(g: Gateway): void {
    const dropped = g.pending.shift()!;
    this.problem(
      g,
      `checkpoint ${dropped.cp.seq} dropped unverified: more than ${MAX_PENDING} checkpoints ahead of the verified chain (last verified event ${g.trail.lastSeq})`,
    );
  }

  private recheckPending(g: Gateway): void {
    const due = g.pending.filter((p) => p.cp.seq <= g.trail.lastSeq);
    if (due.length === 0) return;
    g.pending.splice(0, g.pending.length, ...g.pending.filter((p) => p.cp.seq > g.trail.lastSeq));
    for (const p of due.sort((a, b) => a.cp.seq - b.cp.seq)) this.checkpoint(g, p.cp, p.edgeSeq);
  }

  private check(g: Gateway): CheckpointCheck {
    const signer = this.opts.signerFor?.(g.site, g.name);
    return {
      ...(this.opts.trustBundlePem === undefined ? {} : { trustBundlePem: this.opts.trustBundlePem }),
      ...(signer === undefined ? {} : { signer }),
    };
  }

  private exportEvent(g: Gateway, e: AuditRecord): void {
    this.export(() => this.opts.sink?.event?.(g.site, g.name, e));
  }

  private export(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'fleet audit: SIEM export threw');
    }
  }
}
