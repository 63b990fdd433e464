/**
 * The counting half of the audit throttle (audit-throttle.ts): which rate-bounded event may still be written
 * this interval, and the counts of those that were not, for the next `audit.suppressed` summary.
 * Every structure is bounded [IEC 62443-3-3 SR 7.1]: tracked keys per class (`maxKeys`; later keys share the
 * key `other`) and summary entries (`summaryEntries`; later (key, reason) pairs share `other`/`other` of
 * their class), so neither memory nor a summary grows with the number of attacking sources.
 */
import type { SuppressedClassCount, SuppressedCount, ThrottleClass } from './audit-events.js';

export const THROTTLE_CLASSES: readonly ThrottleClass[] = ['pre-auth', 'denial', 'zero-right'];
export const OTHER = 'other';
/** Keys and reasons are clipped in summaries so one summary stays bounded in bytes. */
export const MAX_KEY_CHARS = 128;
export const MAX_REASON_CHARS = 64;

export interface TallyLimits {
  /** Events written individually per key per interval. */
  readonly perKey: number;
  /** Events written individually per class per interval (all keys together). */
  readonly perClass: number;
  /** Distinct keys tracked per class per interval. */
  readonly maxKeys: number;
  /** Distinct (class, key, reason) entries per summary, besides one overflow entry per class. */
  readonly summaryEntries: number;
}

export type SuppressCause = keyof SuppressedClassCount['causes'];

export interface Classified {
  readonly cls: ThrottleClass;
  readonly key: string;
  readonly reason: string;
}

interface ClassReport {
  recorded: number;
  suppressed: number;
  causes: { perKey: number; perClass: number; reserve: number; oversize: number };
}

/** Per-interval write allowances: reset at every interval boundary. */
class Allowance {
  private readonly byKey = new Map<ThrottleClass, Map<string, number>>();
  private readonly byClass = new Map<ThrottleClass, number>();

  constructor(private readonly limits: TallyLimits) {}

  /** null = may be written (and is counted as such); else why not. */
  take(c: Classified): 'perKey' | 'perClass' | null {
    if ((this.byClass.get(c.cls) ?? 0) >= this.limits.perClass) return 'perClass';
    let keys = this.byKey.get(c.cls);
    if (keys === undefined) this.byKey.set(c.cls, (keys = new Map<string, number>()));
    const key = keys.has(c.key) || keys.size < this.limits.maxKeys ? c.key : OTHER;
    const n = keys.get(key) ?? 0;
    if (n >= this.limits.perKey) return 'perKey';
    keys.set(key, n + 1);
    this.byClass.set(c.cls, (this.byClass.get(c.cls) ?? 0) + 1);
    return null;
  }
}

export class SuppressionTally {
  private allowance: Allowance;
  private reports = new Map<ThrottleClass, ClassReport>();
  private entries = new Map<string, { -readonly [K in keyof SuppressedCount]: SuppressedCount[K] }>();
  private regularEntries = 0;
  private suppressedTotal = 0;

  constructor(private readonly limits: TallyLimits) {
    this.allowance = new Allowance(limits);
  }

  /** Anything counted that a summary must still report? */
  get pending(): boolean {
    return this.suppressedTotal > 0;
  }

  /** Decide for one event: null = write it individually; else it is counted here under that cause. */
  admit(c: Classified, forced: 'reserve' | 'oversize' | null): SuppressCause | null {
    const cause: SuppressCause | null = forced ?? this.allowance.take(c);
    const r = this.report(c.cls);
    if (cause === null) {
      r.recorded++;
      return null;
    }
    r.suppressed++;
    r.causes[cause]++;
    this.suppressedTotal++;
    this.count(c);
    return cause;
  }

  /** A written event did not make it into the log after all (write failed): it is lost, not recorded. */
  unrecord(cls: ThrottleClass): void {
    this.report(cls).recorded--;
  }

  /** New interval: fresh allowances. */
  nextInterval(): void {
    this.allowance = new Allowance(this.limits);
  }

  /** The summary body of what was counted since the last reset (classes with no events are left out). */
  summary(): { classes: SuppressedClassCount[]; counts: SuppressedCount[] } {
    const classes: SuppressedClassCount[] = [];
    for (const cls of THROTTLE_CLASSES) {
      const r = this.reports.get(cls);
      if (r !== undefined)
        classes.push({ class: cls, recorded: r.recorded, suppressed: r.suppressed, causes: { ...r.causes } });
    }
    return { classes, counts: [...this.entries.values()].map((e) => ({ ...e })) };
  }

  /** After a summary is in the log (or when there was nothing to summarize): start counting afresh. */
  reset(): void {
    this.reports = new Map();
    this.entries = new Map();
    this.regularEntries = 0;
    this.suppressedTotal = 0;
  }

  private report(cls: ThrottleClass): ClassReport {
    let r = this.reports.get(cls);
    if (r === undefined)
      this.reports.set(
        cls,
        (r = { recorded: 0, suppressed: 0, causes: { perKey: 0, perClass: 0, reserve: 0, oversize: 0 } }),
      );
    return r;
  }

  private count(c: Classified): void {
    const key = clip(c.key, MAX_KEY_CHARS);
    const reason = clip(c.reason, MAX_REASON_CHARS);
    const exact = entryId(c.cls, key, reason);
    const regular = this.entries.has(exact) || this.regularEntries < this.limits.summaryEntries;
    const id = regular ? exact : entryId(c.cls, OTHER, OTHER);
    const e = this.entries.get(id);
    if (e !== undefined) {
      e.count++;
      return;
    }
    this.entries.set(
      id,
      regular ? { class: c.cls, key, reason, count: 1 } : { class: c.cls, key: OTHER, reason: OTHER, count: 1 },
    );
    if (regular) this.regularEntries++;
  }
}

function entryId(cls: ThrottleClass, key: string, reason: string): string {
  return `${cls}\u0000${key}\u0000${reason}`;
}

/**
 * Printable ASCII without quote and backslash (each character one byte in the JSON line, so a summary's size has a
 * bound: audit-bound.ts), clipped to `max` characters (the last one `~` when clipped).
 */
function clip(s: string, max: number): string {
  const clean = s.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return clean.length <= max ? clean : `${clean.slice(0, max - 1)}~`;
}
