/**
 * The enforced policy as one reference, and its reload [issue: hot reload]: SIGHUP, a file change or the admin
 * call load + compile + test the new file completely, then swap the one reference. A failing file leaves the
 * old policy in force and reports every problem with file:line (audit `policy.reload-failed`, log, metric).
 * Optionally a candidate policy (`policy.shadowFile`) is evaluated beside the enforced one on every request
 * and its verdicts are reported, never enforced (Envoy's shadow rules).
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { ClassifiedRequest } from '../../protocols/modbus/types.js';
import type { RecordRequest } from '../../protocols/profinet/record-request.js';
import type { AuditSink } from '../audit/audit-events.js';
import { errorMessage, isGatewayError } from '../errors.js';
import type { Logger } from '../logger.js';
import { systemTimers, type TimerHandle, type Timers } from '../timers.js';
import type { CompiledPolicy, Decision, PeerRef, ShadowResult } from './compiled-policy.js';
import { evaluate } from './evaluate.js';
import { evaluateRecord } from './evaluate-record.js';
import { loadPolicyFile, loadPolicyText } from './load-policy.js';

export interface PolicyEngineView {
  readonly version: string;
  evaluate(peer: PeerRef, device: string, req: ClassifiedRequest, now: Date): Decision;
  /** PROFINET record services (read/write one record), same Decision shape and candidate reporting. */
  evaluateRecord(peer: PeerRef, device: string, req: RecordRequest, now: Date): Decision;
}

export type ReloadResult =
  { ok: true; version: string; changed: boolean } | { ok: false; error: string; keptVersion: string; code?: string };

/** Where a policy text came from, when not from the policy file (audited with the reload events). */
export interface PolicyOrigin {
  readonly source: 'fleet';
  readonly revision: number;
  /** Names the text in file:line errors. */
  readonly sourceName: string;
}

export interface PolicyHolderOptions {
  readonly audit: AuditSink;
  readonly logger?: Logger;
  readonly metrics?: { policyReloads: { inc(labels: { result: string }): void } };
  readonly shadowFile?: string | null;
  /** Arms the file-watch debounce (gateway/timers.ts); default systemTimers. */
  readonly timers?: Timers;
}

/** The symlink a Kubernetes ConfigMap volume's atomic writer swaps on every update (kubernetes AtomicWriter). */
const CONFIGMAP_DATA_LINK = '..data';

export class PolicyHolder {
  private policy: CompiledPolicy;
  private candidate: CompiledPolicy | null = null;
  private view: PolicyEngineView;
  private watcher: FSWatcher | null = null;
  private fileWatcher: FSWatcher | null = null;
  private debounce: TimerHandle | null = null;
  private readonly swapHandlers: ((next: CompiledPolicy, previous: CompiledPolicy) => void)[] = [];

  private constructor(
    private readonly file: string,
    first: CompiledPolicy,
    private readonly opts: PolicyHolderOptions,
  ) {
    this.policy = first;
    if (opts.shadowFile) this.candidate = loadPolicyFile(opts.shadowFile);
    this.view = this.buildView();
  }

  /** Startup load: a bad policy here is fatal (GatewayError with file:line), there is nothing to keep. */
  static load(file: string, opts: PolicyHolderOptions): PolicyHolder {
    return new PolicyHolder(file, loadPolicyFile(file), opts);
  }

  get current(): CompiledPolicy {
    return this.policy;
  }

  /** What the request pipeline calls: the enforced verdict plus the candidate's, if any, as shadow results. */
  get engine(): PolicyEngineView {
    return this.view;
  }

  onSwap(handler: (next: CompiledPolicy, previous: CompiledPolicy) => void): void {
    this.swapHandlers.push(handler);
  }

  reload(trigger: string): ReloadResult {
    this.reloadCandidate(trigger);
    return this.swapIn(trigger, () => loadPolicyFile(this.file), null);
  }

  /**
   * A policy text from elsewhere (the fleet's signed envelope) through the same path as a reload of the file:
   * schema, compile and in-file tests, the old policy kept on failure, the same events, metric and swap. The
   * caller writes the file once this succeeded.
   */
  reloadText(text: string, trigger: string, origin: PolicyOrigin): ReloadResult {
    return this.swapIn(trigger, () => loadPolicyText(text, origin.sourceName), origin);
  }

  private swapIn(trigger: string, load: () => CompiledPolicy, origin: PolicyOrigin | null): ReloadResult {
    const from = origin ? { source: origin.source, revision: origin.revision } : {};
    const previous = this.policy;
    let next: CompiledPolicy;
    try {
      next = load();
    } catch (err) {
      const error = errorMessage(err);
      const code =
        isGatewayError(err) && err.code === 'GW_ERR_POLICY_TEST_FAILED' ? 'policy-test-failed' : 'policy-invalid';
      this.opts.metrics?.policyReloads.inc({ result: 'failed' });
      this.opts.audit.append({
        type: 'policy.reload-failed',
        file: this.file,
        error,
        keptVersion: previous.version,
        ...(origin ? { ...from, code } : {}),
      });
      this.opts.logger?.error(
        { trigger, file: this.file, error, ...from },
        'policy reload failed; the previous policy stays in force',
      );
      return { ok: false, error, keptVersion: previous.version, code };
    }
    if (next.version === previous.version) {
      this.view = this.buildView(); // the candidate may have changed
      return { ok: true, version: next.version, changed: false };
    }
    this.policy = next;
    this.view = this.buildView();
    this.opts.metrics?.policyReloads.inc({ result: 'ok' });
    this.opts.audit.append({
      type: 'policy.reloaded',
      policyVersion: next.version,
      previousVersion: previous.version,
      file: this.file,
      rules: next.rules.length,
      ...from,
    });
    this.opts.logger?.info({ trigger, version: next.version, previous: previous.version, ...from }, 'policy reloaded');
    for (const h of this.swapHandlers) h(next, previous);
    return { ok: true, version: next.version, changed: true };
  }

  /** The shadow candidate follows every reload too; a broken candidate keeps the previous one (it is never enforced). */
  private reloadCandidate(trigger: string): void {
    if (!this.opts.shadowFile) return;
    try {
      this.candidate = loadPolicyFile(this.opts.shadowFile);
    } catch (err) {
      this.opts.logger?.error(
        { trigger, file: this.opts.shadowFile, error: errorMessage(err) },
        'shadow policy reload failed; the previous candidate stays',
      );
    }
  }

  /**
   * Reload when the file changes (editors write in bursts: debounced). The parent directory is watched, filtered
   * on the file's name: an atomic save (write a temporary file, rename it over the policy — editors, `kubectl cp`,
   * configuration management) puts a new inode under the name, and a watch on the file itself follows the old
   * inode and falls silent after the first such save [inotify(7): watches are on inodes]. A Kubernetes ConfigMap
   * volume swaps the directory's `..data` symlink instead (the file is a symlink through it), so that name
   * counts too. A platform that gives no name reloads on any event of the directory. The file itself is
   * watched as well: a policy that is a symlink into another directory, or a single-file bind mount edited in
   * place on the host, changes where the directory sees nothing; that watch is re-armed after every reload,
   * since an atomic save leaves it on the old inode.
   */
  watch(debounceMs = 200): void {
    if (this.watcher) return;
    const timers = this.opts.timers ?? systemTimers;
    const name = basename(this.file);
    const schedule = (): void => {
      timers.clearTimeout(this.debounce);
      this.debounce = timers.setTimeout(() => {
        this.debounce = null;
        this.reload('file-change');
        this.watchFile(schedule);
      }, debounceMs);
    };
    this.watcher = watch(dirname(this.file), (_event, changed) => {
      if (changed !== null && changed !== name && changed !== CONFIGMAP_DATA_LINK) return;
      schedule();
    });
    this.watcher.on('error', () => undefined);
    this.watchFile(schedule);
  }

  /** (Re-)watches the file itself, following a symlink to its target; a missing file is left to the directory. */
  private watchFile(onChange: () => void): void {
    this.fileWatcher?.close();
    this.fileWatcher = null;
    try {
      this.fileWatcher = watch(this.file, onChange);
      this.fileWatcher.on('error', () => undefined);
    } catch {
      // gone between saves: the directory's watch sees it come back
    }
  }

  close(): void {
    this.watcher?.close();
    this.watcher = null;
    this.fileWatcher?.close();
    this.fileWatcher = null;
    (this.opts.timers ?? systemTimers).clearTimeout(this.debounce);
    this.debounce = null;
  }

  private buildView(): PolicyEngineView {
    const enforced = this.policy;
    const candidate = this.candidate;
    if (!candidate) {
      return {
        version: enforced.version,
        evaluate: (peer, device, req, now) => evaluate(enforced, peer, device, req, now),
        evaluateRecord: (peer, device, req, now) => evaluateRecord(enforced, peer, device, req, now),
      };
    }
    const withCandidate = (d: Decision, c: Decision): Decision => {
      const shadow: ShadowResult[] = [
        ...(d.shadow ?? []),
        { ruleId: `candidate:${c.ruleId ?? c.reason}`, effect: c.effect },
      ];
      return { ...d, shadow };
    };
    return {
      version: enforced.version,
      evaluate: (peer, device, req, now) =>
        withCandidate(evaluate(enforced, peer, device, req, now), evaluate(candidate, peer, device, req, now)),
      evaluateRecord: (peer, device, req, now) =>
        withCandidate(
          evaluateRecord(enforced, peer, device, req, now),
          evaluateRecord(candidate, peer, device, req, now),
        ),
    };
  }
}
