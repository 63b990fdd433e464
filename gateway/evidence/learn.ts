/**
 * `verigate policy learn`: read a verified audit trail, keep what was allowed (or allowed by commissioning
 * mode, `decision: learn`) and, with a base policy, what the base would not already allow, and propose the
 * least-privilege rules for it (learn-rules.ts) with generated tests (learn-tests.ts). The result is
 * compiled and its tests run before it is returned, so a proposal that `policy check` would refuse is never
 * written. Denied requests are never learned: an identity that was only denied gets no rule. Nor, unless
 * `includeShadow`, are requests a policy in `mode: shadow` let through (`shadow-mode …`): the enforced policy
 * denied them, and a trail recorded under a shadow policy must not make rules for identities it never listed.
 */
import { configErrorDetails, formatDetail } from '../config/load-yaml.js';
import { isGatewayError } from '../errors.js';
import type { CompiledPolicy } from '../policy/compiled-policy.js';
import { reasonCode } from '../policy/compiled-policy.js';
import { compilePolicyText } from '../policy/compile-policy.js';
import { evaluate } from '../policy/evaluate.js';
import { loadPolicyText } from '../policy/load-policy.js';
import { runPolicyTests } from '../policy/policy-tests.js';
import { LearnEvidence } from './learn-evidence.js';
import { renderProposal } from './learn-document.js';
import { DEFAULT_PROPOSAL, type ProposalOptions } from './learn-proposal.js';
import { proposeRules, type ProposedRule } from './learn-rules.js';
import { generateTests } from './learn-tests.js';
import type { RecordedRequest } from './recorded-request.js';
import { readVerifiedTrail, type TrailResult, type TrailVerify, type TrailWindow } from './verified-trail.js';

export interface LearnInput {
  readonly dir: string;
  readonly verify: TrailVerify;
  readonly window: TrailWindow;
  /** The policy in force while learning: what it allows is not learned again; its rules and tests are kept. */
  readonly base: { readonly text: string; readonly file: string } | null;
  readonly options?: Partial<ProposalOptions>;
  /** Shown in the header comment (e.g. the command line). */
  readonly provenance?: string;
  /** Learn requests allowed only by a shadow-mode policy (`reason: shadow-mode …`) too (`--include-shadow`). */
  readonly includeShadow?: boolean;
}

/** Why a shadow-mode allow was not learned (the CLI names it). */
export const SKIPPED_SHADOW = 'allowed only by a shadow-mode policy (pass --include-shadow to learn them)';

export type LearnResult =
  | {
      readonly ok: true;
      readonly text: string;
      readonly rules: readonly ProposedRule[];
      readonly tests: { readonly allow: number; readonly deny: number };
      /** Observed samples the proposal does not allow (a bug; named in `warnings`, left out of the tests). */
      readonly notAllowed: number;
      readonly events: number;
      readonly requests: number;
      readonly learned: number;
      readonly skipped: ReadonlyMap<string, number>;
      readonly warnings: readonly string[];
    }
  | { readonly ok: false; readonly trail: Extract<TrailResult, { ok: false }> }
  | { readonly ok: false; readonly error: string };

export function learnPolicy(input: LearnInput): LearnResult {
  const o: ProposalOptions = { ...DEFAULT_PROPOSAL, ...input.options };
  const base = input.base === null ? null : loadPolicyText(input.base.text, input.base.file);
  const ev = new LearnEvidence(o.maxDistinct);
  const seen = new Set<string>();
  let learned = 0;
  const trail = readVerifiedTrail(input.dir, input.verify, input.window, (r) => {
    seen.add(r.identity);
    if (consider(ev, base, r, input.includeShadow === true)) learned++;
  });
  if (!trail.ok) return { ok: false, trail };
  const trustDomain = base?.trustDomain ?? trustDomainOf([...ev.groups.values()].map((g) => g.identity));
  if (typeof trustDomain !== 'string') return { ok: false, error: trustDomain.error };
  const rules = proposeRules(ev, seen, new Set(base?.rules.map((r) => r.id) ?? []), o);
  const header = ` proposed by \`verigate policy learn\`${input.provenance ? ` (${input.provenance})` : ''}: ${learned} learned of ${trail.requests} requests in ${trail.events} audit events`;
  let dropBaseTests = new Map<number, string>();
  const render = (tests: Parameters<typeof renderProposal>[0]['tests']): string =>
    renderProposal({ baseText: input.base?.text ?? null, trustDomain, header, rules, tests, dropBaseTests });
  let draft: CompiledPolicy;
  try {
    draft = compilePolicyText(render([]), 'proposed policy');
  } catch (err) {
    return { ok: false, error: `the proposal does not compile (a bug): ${describeError(err)}` };
  }
  dropBaseTests = contradictedTests(draft);
  const generated = generateTests(draft, rules);
  const text = render(generated.tests);
  try {
    loadPolicyText(text, 'proposed policy');
  } catch (err) {
    return { ok: false, error: `the proposal fails its own checks (a bug): ${describeError(err)}` };
  }
  const allow = generated.tests.filter((t) => t.expect === 'allow').length;
  return {
    ok: true,
    text,
    rules,
    tests: { allow, deny: generated.tests.length - allow },
    notAllowed: generated.problems.length,
    events: trail.events,
    requests: trail.requests,
    learned,
    skipped: ev.skipped,
    warnings: [...generated.problems, ...[...dropBaseTests.values()].map((why) => `dropped base test ${why}`)],
  };
}

/** Learns one recorded request, or counts why not; true when learned. */
function consider(ev: LearnEvidence, base: CompiledPolicy | null, r: RecordedRequest, shadow: boolean): boolean {
  if (r.decision === 'deny') {
    ev.skip('denied (never learned)');
    return false;
  }
  if (!shadow && r.decision === 'allow' && reasonCode(r.reason) === 'shadow-mode') {
    ev.skip(SKIPPED_SHADOW);
    return false;
  }
  if (r.kind === 'record') {
    ev.skip('PROFINET record requests (not learned: write profinet rules by hand)');
    return false;
  }
  if (!Number.isInteger(r.request.unit) || r.request.unit < 0 || r.request.unit > 255) {
    // the unit id is one byte [MB-TCP 3.1.3]: no gateway recorded this, and no `units:` could name it
    ev.skip('unit ids outside 0-255 (malformed events)');
    return false;
  }
  if (base !== null) {
    if (!r.identity.startsWith(`spiffe://${base.trustDomain}/`)) {
      ev.skip("identities outside the base policy's trust domain");
      return false;
    }
    const d = evaluate(base, { id: r.identity, role: r.role }, r.device, r.request, new Date(r.decidedMs));
    if (d.effect === 'allow' && !d.reason.startsWith('shadow-mode ')) {
      ev.skip('already allowed by the base policy');
      return false;
    }
    if (reasonCode(d.reason) === 'explicit-deny' || d.reason.startsWith('shadow-mode explicit-deny')) {
      ev.skip('explicitly denied by the base policy');
      return false;
    }
  }
  ev.add(r);
  return true;
}

/**
 * Tests of the base policy the proposal fails: they described the commissioning state (e.g. "the HMI may not
 * write yet") and the observed traffic now contradicts them. They are left out of the proposal and named, so
 * the reviewer sees each one instead of a proposal that cannot load.
 */
function contradictedTests(draft: CompiledPolicy): Map<number, string> {
  const out = new Map<number, string>();
  draft.tests.forEach((t, i) => {
    const failed = runPolicyTests({ ...draft, tests: [t] }).failures[0];
    if (failed !== undefined) out.set(i, `"${t.label}": ${failed.message.replace(/^[^:]*: /, '')}`);
  });
  return out;
}

function trustDomainOf(ids: readonly string[]): string | { error: string } {
  const domains = new Set(ids.map((id) => /^spiffe:\/\/([^/]+)/.exec(id)?.[1] ?? '?'));
  if (domains.size === 1) return [...domains][0]!;
  if (domains.size === 0) return { error: 'nothing to learn: no allowed request in the trail (or in --since/--until)' };
  return {
    error: `identities of several trust domains (${[...domains].join(', ')}): give --base with the trust domain to keep`,
  };
}

function describeError(err: unknown): string {
  if (!isGatewayError(err)) throw err;
  const details = configErrorDetails(err);
  return details.length === 0 ? err.message : details.map(formatDetail).join('; ');
}
