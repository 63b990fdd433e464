/**
 * Applies the site bucket's `policy` entry (a signed envelope, policy-envelope.ts) to this gateway:
 *  1. verify the envelope (chain at signedAt, signer, signature, sha256, site, revision > the applied one);
 *  2. run the text through the SAME path as a hot reload (PolicyHolder.reloadText: schema, compile, in-file
 *     tests; the old policy stays on failure, audited `policy.reload-failed` with `source: fleet`);
 *  3. only then write it atomically over the policy file (so a restart while offline starts with it) and
 *     persist the applied revision in the state dir (`<state>/fleet/policy-revision.json`).
 * A refused envelope is audited `policy.reload-failed` (`source: fleet`, `revision`, `code`, the reason in
 * `error`); one that is already in force is not (it is re-delivered at every start). The same revision with
 * another text (a republish after the `policy` key or the bucket was lost) is refused as `revision-conflict`.
 *
 * The watch hands each bucket entry over once, so what could be lost is retried here (every `retryEveryMs`):
 *  - a policy in force whose files could not be written: the revision is NOT advanced (a local reload would
 *    read the old file; status must not claim the new revision), the write is retried (re-enforcing the text
 *    first, should a local reload have rolled it back) and the revision advances once it is on disk;
 *  - the last envelope refused as `signed-in-future` or `untrusted-signer-chain` (our clock or trust bundle
 *    may be behind): checked again on the timer and on `recheck()` (a bundle update), audited only if the
 *    outcome changes. A newer bucket entry replaces it.
 */
import { join } from 'node:path';
import { writeFileAtomically } from '../atomic-file.js';
import type { AuditSink } from '../audit/audit-events.js';
import { errorMessage } from '../errors.js';
import type { BundleSet } from '../identity/bundle-set.js';
import { nullLogger, type Logger } from '../logger.js';
import type { PolicyOrigin, ReloadResult } from '../policy/policy-holder.js';
import { unrefTimer, type TimerHandle, type Timers } from '../timers.js';
import { readDurableJson, writeDurableJson } from '../trust/durable-json.js';
import { verifyPolicyEnvelope, type EnvelopeVerdict } from './policy-envelope.js';

/** The part of PolicyHolder the apply uses. */
export interface PolicyReloader {
  readonly current: { readonly version: string };
  reloadText(text: string, trigger: string, origin: PolicyOrigin): ReloadResult;
}

export interface FleetPolicyApplyOptions {
  readonly site: string;
  /** `fleet.policySigners`. */
  readonly signers: readonly string[];
  /** The gateway's current trust bundles (they rotate with the SVID). */
  readonly bundles: () => BundleSet;
  readonly policy: PolicyReloader;
  /** gateway.yaml `policy.file`: rewritten after a successful apply. */
  readonly policyFile: string;
  /** gateway.yaml `state.dir`. */
  readonly stateDir: string;
  readonly audit: AuditSink;
  /** Wall clock, epoch ms (compared with `signedAt`). */
  readonly now: () => number;
  /** `fleet.policyMaxAge`: how long ago a new envelope may have been signed. Default MAX_SIGNED_AT_AGE_MS. */
  readonly maxAgeMs?: number;
  /** Arms the retries (a failed write, an envelope kept for a re-check). */
  readonly timers: Timers;
  /** Pace of those retries. Default 30 s. */
  readonly retryEveryMs?: number;
  readonly logger?: Logger;
}

interface RevisionFile {
  readonly revision: number;
  readonly sha256?: string;
  readonly appliedAt?: string;
  /** The applied envelope's signedAt: a newer revision may not be signed before it. */
  readonly signedAt?: string;
}

export type ApplyOutcome =
  | { readonly applied: true; readonly revision: number; readonly version: string; readonly persisted: boolean }
  | { readonly applied: false; readonly code: string; readonly detail: string };

/** Refusals a later clock or trust bundle may lift: the envelope is kept and checked again. */
const RECHECKED: ReadonlySet<string> = new Set(['signed-in-future', 'untrusted-signer-chain']);
const DEFAULT_RETRY_MS = 30_000;

/** A policy in force whose files are not written yet. */
interface Unpersisted {
  readonly text: string;
  readonly revision: number;
  readonly sha256: string;
  /** epoch ms */
  readonly signedAt: number | null;
  readonly origin: PolicyOrigin;
}

export class FleetPolicyApply {
  private revision: number;
  /** sha256 of the text of the applied revision (null: unknown, a revision file without it). */
  private sha256: string | null;
  private signedAt: number | null;
  private unpersisted: Unpersisted | null = null;
  private kept: { readonly value: unknown; readonly code: string } | null = null;
  private timer: TimerHandle | undefined;
  private closed = false;
  private readonly file: string;
  private readonly logger: Logger;

  constructor(private readonly opts: FleetPolicyApplyOptions) {
    this.logger = opts.logger ?? nullLogger;
    this.file = join(opts.stateDir, 'fleet', 'policy-revision.json');
    const persisted = this.readRevision();
    this.revision = persisted.revision;
    this.sha256 = persisted.sha256 ?? null;
    this.signedAt = persisted.signedAt === undefined ? null : Date.parse(persisted.signedAt) || null;
  }

  /** The revision in force and on disk (0: none applied from the fleet yet). */
  appliedRevision(): number {
    return this.revision;
  }

  /** A revision enforced but not yet written to the policy file (its write is being retried), or null. */
  unpersistedRevision(): number | null {
    return this.unpersisted?.revision ?? null;
  }

  /** A bucket entry. Never throws: every outcome is a value, refusals are audited. */
  apply(value: unknown): ApplyOutcome {
    this.kept = null; // a newer entry replaces the one kept for a re-check
    const outcome = this.applyOnce(value, null);
    if (!outcome.applied && RECHECKED.has(outcome.code)) this.kept = { value, code: outcome.code };
    this.arm();
    return outcome;
  }

  /** The trust bundle changed (or the clock may have caught up): check a kept envelope again now. */
  recheck(): void {
    this.opts.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.retry();
  }

  /** Stops the retries. */
  close(): void {
    this.closed = true;
    this.opts.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    if (this.closed || this.timer !== undefined || (this.unpersisted === null && this.kept === null)) return;
    this.timer = unrefTimer(
      this.opts.timers.setTimeout(() => {
        this.timer = undefined;
        this.retry();
      }, this.opts.retryEveryMs ?? DEFAULT_RETRY_MS),
    );
  }

  private retry(): void {
    if (this.closed) return;
    if (this.unpersisted !== null) this.persistAgain(this.unpersisted);
    const kept = this.kept;
    if (kept !== null) {
      // audited only when the outcome changed: the same refusal every 30 s would flood the audit log
      const outcome = this.applyOnce(kept.value, kept.code);
      this.kept = !outcome.applied && RECHECKED.has(outcome.code) ? { value: kept.value, code: outcome.code } : null;
    }
    this.arm();
  }

  /** Verify, reload, persist; `quiet`: a refusal code not audited again (a re-check of a kept envelope). */
  private applyOnce(value: unknown, quiet: string | null): ApplyOutcome {
    const revision = revisionOf(value);
    const verdict = this.verify(value, revision);
    if (!verdict.ok) {
      if (verdict.code !== 'already-applied' && verdict.code !== quiet)
        this.refused(verdict.code, verdict.detail, revision);
      return { applied: false, code: verdict.code, detail: verdict.detail };
    }
    const o = this.opts;
    const origin = { source: 'fleet' as const, revision, sourceName: `fleet:${o.site}:r${revision}` };
    const r = o.policy.reloadText(verdict.policyText, 'fleet', origin);
    if (!r.ok) return { applied: false, code: r.code ?? 'policy-invalid', detail: r.error }; // audited by the holder
    const p = { text: verdict.policyText, revision, sha256: shaOf(value), signedAt: signedAtOf(value), origin };
    const persisted = this.persist(p);
    if (persisted) this.logger.info({ revision, version: r.version }, 'fleet: policy revision applied');
    return { applied: true, revision, version: r.version, persisted };
  }

  /**
   * verifyPolicyEnvelope, plus: the applied revision again with another text is not "already applied" — it is
   * a republish that restarted the revisions (the key or the bucket was lost at the hub), refused on its own
   * code once it verifies, so the operator sees why the gateways do not take it.
   */
  private verify(value: unknown, revision: number): EnvelopeVerdict | { ok: false; code: string; detail: string } {
    const o = this.opts;
    const check = (appliedRevision: number, appliedSignedAt: number | null): EnvelopeVerdict =>
      verifyPolicyEnvelope(value, {
        bundle: o.bundles(),
        signers: o.signers,
        site: o.site,
        appliedRevision,
        appliedSignedAt,
        now: new Date(o.now()),
        maxAgeMs: o.maxAgeMs,
      });
    // In force is the unpersisted revision when its file write is being retried (always above this.revision):
    // comparing with the persisted one would let an envelope in between apply and roll the enforced text back.
    const inForce = this.unpersisted ?? { revision: this.revision, sha256: this.sha256, signedAt: this.signedAt };
    const verdict = check(inForce.revision, inForce.signedAt);
    if (verdict.ok || verdict.code !== 'already-applied' || inForce.sha256 === null || shaOf(value) === inForce.sha256)
      return verdict;
    const signed = check(revision - 1, null);
    if (!signed.ok) return signed;
    return {
      ok: false,
      code: 'revision-conflict',
      detail: `revision ${revision} is the one in force with another text (sha256 ${inForce.sha256}): a republish must take a revision above ${inForce.revision}`,
    };
  }

  /** Writes the policy file and the revision; advances the revision only once both are on disk. */
  private persist(p: Unpersisted): boolean {
    try {
      // a crash leaves the old or the new policy, never a torn one
      writeFileAtomically(this.opts.policyFile, p.text, { mode: 0o644 });
      writeDurableJson(this.file, {
        revision: p.revision,
        sha256: p.sha256,
        appliedAt: new Date(this.opts.now()).toISOString(),
        ...(p.signedAt === null ? {} : { signedAt: new Date(p.signedAt).toISOString() }),
      } satisfies RevisionFile);
    } catch (err) {
      // enforced now, but the file still holds the old policy: a restart or a local reload would bring it back
      this.logger.error(
        { revision: p.revision, err: errorMessage(err), retryMs: this.opts.retryEveryMs ?? DEFAULT_RETRY_MS },
        'fleet: policy in force but its file could not be written; the applied revision stays, retrying',
      );
      this.unpersisted = p;
      return false;
    }
    this.unpersisted = null;
    this.revision = p.revision;
    this.sha256 = p.sha256;
    this.signedAt = p.signedAt;
    return true;
  }

  /** A retry: the text in force again (a local reload may have read the old file meanwhile), then its files. */
  private persistAgain(p: Unpersisted): void {
    const r = this.opts.policy.reloadText(p.text, 'fleet', p.origin);
    if (!r.ok) {
      this.unpersisted = null; // audited by the holder; nothing left to persist
      return;
    }
    if (this.persist(p)) this.logger.info({ revision: p.revision }, 'fleet: policy revision written at last');
  }

  private refused(code: string, detail: string, revision: number): void {
    const keptVersion = this.opts.policy.current.version;
    this.opts.audit.append({
      type: 'policy.reload-failed',
      error: `fleet policy envelope refused (${code}): ${detail}`,
      keptVersion,
      source: 'fleet',
      revision,
      code,
    });
    this.logger.error(
      { code, detail, revision, keptVersion },
      'fleet: policy envelope refused; the policy in force stays',
    );
  }

  private readRevision(): RevisionFile {
    const r = readDurableJson<RevisionFile>(this.file);
    if (r.kind === 'ok' && Number.isSafeInteger(r.value.revision) && r.value.revision >= 0) return r.value;
    if (r.kind === 'unreadable' || r.kind === 'ok')
      this.logger.warn({ file: this.file }, 'fleet: applied policy revision unreadable; accepting any newer envelope');
    return { revision: 0 };
  }
}

function revisionOf(v: unknown): number {
  const r = v !== null && typeof v === 'object' ? (v as { revision?: unknown }).revision : undefined;
  return typeof r === 'number' && Number.isSafeInteger(r) ? r : 0;
}

/** The envelope's `signedAt`, epoch ms (null when absent: a verified envelope always has one). */
function signedAtOf(v: unknown): number | null {
  const s = v !== null && typeof v === 'object' ? (v as { signedAt?: unknown }).signedAt : undefined;
  return typeof s === 'string' ? Date.parse(s) || null : null;
}

/** The envelope's `sha256` member ('' when absent: a verified envelope always has one). */
function shaOf(v: unknown): string {
  const h = v !== null && typeof v === 'object' ? (v as { sha256?: unknown }).sha256 : undefined;
  return typeof h === 'string' ? h : '';
}
