/**
 * What an allow owes the runtime. The allow check records here every rule that granted part of a request;
 * from them follow the decision's rule id (the first), its obligations (a JIT grant to hold, every granting
 * rule's rate to respect) and whether it is essential. Obligations are not verdicts: the runtime checks grants and buckets.
 */
import {
  denyDecision,
  type CompiledRule,
  type Decision,
  type JitObligation,
  type Obligations,
  type RateObligation,
  type RegisterSpan,
  type StrictObligation,
} from './compiled-policy.js';
import type { Target } from './judged-request.js';

const NO_RULE: Decision = Object.freeze(denyDecision(null, { code: 'no-rule', detail: '' }));

export class Grants {
  /** The first rule that granted anything: the decision's rule id. */
  private first: CompiledRule | null = null;
  /** The first granting rule that needs a JIT grant, and the first with a rate. */
  private jitRule: CompiledRule | null = null;
  private rateRule: CompiledRule | null = null;
  /**
   * The other rate-limited granting rules, each once (null until a second one grants: the common one-rule case
   * allocates nothing). Every one's bucket is charged: a part granted by a 1/s rule must not ride on a 100/s one.
   */
  private moreRateRules: CompiledRule[] | null = null;
  /**
   * `lockMode: strict` granting rules: the one with the tightest own `maxStaleness`, and the first with none
   * (the gateway's default). Every strict rule that granted a part must be honoured: the tightest limit applies.
   */
  private tightStrict: CompiledRule | null = null;
  private defaultStrict: CompiledRule | null = null;
  /** Registers granted by JIT rules (null until one is): what the grant must cover. */
  private jitReads: RegisterSpan[] | null = null;
  private jitWrites: RegisterSpan[] | null = null;
  /** A rule needing no JIT grant granted some register or the function. */
  private freeGrant = false;
  /** A JIT rule granted the function itself: its grant must cover the whole request. */
  private jitWhole = false;
  /** Every granting rule so far is `essential`. */
  private allEssential = true;

  /** `rule` allows the request's (non read/write) function code. */
  grantFunction(rule: CompiledRule): void {
    this.note(rule);
    if (rule.jit !== null) this.jitWhole = true;
    else this.freeGrant = true;
  }

  /** `rule` allows addresses [from, to] of `t`: remembered when the rule needs a JIT grant. */
  grantRegisters(rule: CompiledRule, t: Target, from: number, to: number): void {
    this.note(rule);
    if (rule.jit === null) {
      this.freeGrant = true;
      return;
    }
    const spans = t.access === 'read' ? (this.jitReads ??= []) : (this.jitWrites ??= []);
    const last = spans[spans.length - 1];
    if (last !== undefined && last.table === t.table && last.start + last.count === from) {
      spans[spans.length - 1] = { table: t.table, start: last.start, count: to - last.start + 1 };
    } else {
      spans.push({ table: t.table, start: from, count: to - from + 1 });
    }
  }

  /** The allow these grants make (`no-rule` deny when nothing was granted). */
  decision(): Decision {
    const first = this.first;
    if (first === null) return NO_RULE;
    if (this.firstRuleSaysItAll(first)) return first.allowDecision;
    const obligations = this.obligations();
    // Essential only when every granting rule is: one non-essential register makes the request ordinary.
    const essential = this.allEssential ? { essential: true as const } : {};
    return obligations === null
      ? { effect: 'allow', ruleId: first.id, code: 'allowed', detail: '', reason: 'allowed', ...essential }
      : {
          effect: 'allow',
          ruleId: first.id,
          code: 'allowed',
          detail: '',
          reason: 'allowed',
          obligations,
          ...essential,
        };
  }

  private note(rule: CompiledRule): void {
    if (this.first === null) this.first = rule;
    if (!rule.essential) this.allEssential = false;
    if (this.jitRule === null && rule.jit !== null) this.jitRule = rule;
    if (rule.rate !== null && rule !== this.rateRule) this.noteRate(rule);
    if (rule.strict !== null) this.noteStrict(rule, rule.strict.maxStalenessMs);
  }

  private noteRate(rule: CompiledRule): void {
    if (this.rateRule === null) this.rateRule = rule;
    else if (this.moreRateRules === null) this.moreRateRules = [rule];
    else if (!this.moreRateRules.includes(rule)) this.moreRateRules.push(rule);
  }

  private noteStrict(rule: CompiledRule, limit: number | null): void {
    if (limit === null) this.defaultStrict ??= rule;
    else if (limit < (this.tightStrict?.strict?.maxStalenessMs ?? Number.POSITIVE_INFINITY)) this.tightStrict = rule;
  }

  /**
   * The common case, answered with the first rule's shared (allocation-free) decision: its own JIT, rate and
   * strictness are exactly the obligations there are, a JIT grant (if any) must cover the whole request, and it is
   * essential exactly when the whole allow is.
   */
  private firstRuleSaysItAll(first: CompiledRule): boolean {
    return (
      this.jitRule === (first.jit !== null ? first : null) &&
      this.rateRule === (first.rate !== null ? first : null) &&
      this.moreRateRules === null &&
      this.strictObligation() === first.strict &&
      (this.jitRule === null || !this.freeGrant) &&
      first.essential === this.allEssential
    );
  }

  private obligations(): Obligations | null {
    const jit = this.jitObligation();
    const rate = this.rateRule?.rate ?? null;
    const rates = this.rateObligations(rate);
    const strict = this.strictObligation();
    if (jit === null && rate === null && strict === null) return null;
    return {
      ...(jit ? { jit } : {}),
      ...(rate ? { rate } : {}),
      ...(rates ? { rates } : {}),
      ...(strict ? { strict } : {}),
    };
  }

  /** Every granting rule's rate, the first one's first; null with fewer than two (then `rate` says it all). */
  private rateObligations(first: RateObligation | null): readonly RateObligation[] | null {
    if (first === null || this.moreRateRules === null) return null;
    const all = [first];
    for (const r of this.moreRateRules) if (r.rate !== null) all.push(r.rate);
    return all;
  }

  /**
   * The tightest limit of every strict rule that granted a part (an FC23 whose read half rule A allows with 10 m
   * and write half rule B with 30 s is judged against 30 s). A rule without its own maxStaleness means the
   * gateway's default, unknown to the policy: with an explicit limit too, the runtime takes the tighter of both.
   * One kind alone is that rule's own (shared) obligation.
   */
  private strictObligation(): StrictObligation | null {
    const tight = this.tightStrict?.strict ?? null;
    const byDefault = this.defaultStrict?.strict ?? null;
    if (tight === null || byDefault === null) return tight ?? byDefault;
    return { ...tight, defaultRuleId: byDefault.ruleId };
  }

  /**
   * Rules needing no grant granted the rest: the grant need only cover what the JIT rules granted. Several
   * JIT rules: the first one's grant must cover all of it (stricter, never looser, than one grant each).
   */
  private jitObligation(): JitObligation | null {
    const jit = this.jitRule?.jit ?? null;
    if (jit === null || !this.freeGrant || this.jitWhole) return jit;
    return { ...jit, scope: { reads: this.jitReads ?? [], writes: this.jitWrites ?? [] } };
  }
}
