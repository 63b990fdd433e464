/**
 * Applies the site bucket's `policy` entry (a signed envelope, policy-envelope.ts) to this gateway:
 *  1. verify the envelope (chain at signedAt, signer, signature, sha256, site, revision > the applied one);
 *  2. run the text through the SAME path as a hot reload (PolicyHolder.reloadText: schema, compile, in-file
 *     tests; the old policy stays on failure, audited `policy.reload-failed` with `source: fleet`);
 *  3. only then write it atomically over the policy file (so a restart while offline starts with it) and
 *     persist the applied revision in the state dir (`<state>/fleet/policy-revision.json`).
 * A refused envelope is audited `policy.reload-failed` (`source: fleet`, `revision`, `code`, the reason in
 * `error`); one that is already in force is not (it is re-delivered at every start).
 */
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { AuditSink } from '../audit/audit-events.js';
import { errorMessage } from '../errors.js';
import type { BundleSet } from '../identity/bundle-set.js';
import { nullLogger, type Logger } from '../logger.js';
import type { PolicyOrigin, ReloadResult } from '../policy/policy-holder.js';
import { readDurableJson, writeDurableJson } from '../trust/durable-json.js';
import { verifyPolicyEnvelope } from './policy-envelope.js';

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
  readonly logger?: Logger;
}

interface RevisionFile {
  readonly revision: number;
  readonly sha256?: string;
  readonly appliedAt?: string;
}

export type ApplyOutcome =
  | { readonly applied: true; readonly revision: number; readonly version: string }
  | { readonly applied: false; readonly code: string; readonly detail: string };

export class FleetPolicyApply {
  private revision: number;
  private readonly file: string;
  private readonly logger: Logger;

  constructor(private readonly opts: FleetPolicyApplyOptions) {
    this.logger = opts.logger ?? nullLogger;
    this.file = join(opts.stateDir, 'fleet', 'policy-revision.json');
    this.revision = this.readRevision();
  }

  /** The revision in force (0: none applied from the fleet yet). */
  appliedRevision(): number {
    return this.revision;
  }

  /** Never throws: every outcome is a value, refusals are audited. */
  apply(value: unknown): ApplyOutcome {
    const o = this.opts;
    const verdict = verifyPolicyEnvelope(value, {
      bundle: o.bundles(),
      signers: o.signers,
      site: o.site,
      appliedRevision: this.revision,
      now: new Date(o.now()),
    });
    const revision = revisionOf(value);
    if (!verdict.ok) {
      if (verdict.code !== 'already-applied') this.refused(verdict.code, verdict.detail, revision);
      return { applied: false, code: verdict.code, detail: verdict.detail };
    }
    const origin = { source: 'fleet' as const, revision, sourceName: `fleet:${o.site}:r${revision}` };
    const r = o.policy.reloadText(verdict.policyText, 'fleet', origin);
    if (!r.ok) return { applied: false, code: r.code ?? 'policy-invalid', detail: r.error }; // audited by the holder
    try {
      writeTextAtomically(o.policyFile, verdict.policyText);
      writeDurableJson(this.file, {
        revision,
        sha256: (value as { sha256: string }).sha256,
        appliedAt: new Date(o.now()).toISOString(),
      } satisfies RevisionFile);
    } catch (err) {
      // enforced now, but a restart would start from the old file: say so loudly (the next envelope retries)
      this.logger.error({ revision, err: errorMessage(err) }, 'fleet: policy applied but could not be persisted');
    }
    this.revision = revision;
    this.logger.info({ revision, version: r.version }, 'fleet: policy revision applied');
    return { applied: true, revision, version: r.version };
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

  private readRevision(): number {
    const r = readDurableJson<RevisionFile>(this.file);
    if (r.kind === 'ok' && Number.isSafeInteger(r.value.revision) && r.value.revision >= 0) return r.value.revision;
    if (r.kind === 'unreadable' || r.kind === 'ok')
      this.logger.warn({ file: this.file }, 'fleet: applied policy revision unreadable; accepting any newer envelope');
    return 0;
  }
}

function revisionOf(v: unknown): number {
  const r = v !== null && typeof v === 'object' ? (v as { revision?: unknown }).revision : undefined;
  return typeof r === 'number' && Number.isSafeInteger(r) ? r : 0;
}

/** Temp file, fsync, rename, fsync the directory: a crash leaves the old or the new policy, never a torn one. */
function writeTextAtomically(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.fleet.tmp`;
  const fd = openSync(tmp, 'w', 0o644);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dfd = openSync(dirname(path), 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}
