/**
 * Commissioning ("learn") mode: per device, until a hard end time, a Modbus request of a LISTED identity that
 * the policy would deny for lack of a grant (no-rule, address-/value-/function-not-allowed) is allowed,
 * answered normally and recorded as `decision: learn` with the rule and reason the enforced policy gave
 * (`learn <reason>`), so `verigate policy learn` can propose least privilege from it (docs/policy.md
 * "Commissioning a plant").
 *
 * It must be impossible to leave on by accident [IEC 62443-3-3 SR 2.8, SR 6.2]: the end is absolute (at most
 * 30 days after start, else a config error), `learn.started` / `learn.ended` are audited, `/readyz` and the
 * metrics show it (`verigate_learn_active{device}`, `verigate_learn_requests_total{device}`), and a warning is
 * logged every hour while it lasts. What it never does: learn for unlisted identities (they stay default
 * deny), override an explicit `deny` rule, a malformed request, a schedule, unit list or broadcast write, or
 * grant a register that a JIT rule of the identity covers without its approved grant (the deny names the JIT
 * rule in `jitRule`: even a value or range outside that rule stays denied); and
 * the runtime gates (locks, the trust score's read-only downgrade) still judge the learned allow after it.
 * The end is checked on every request against the injected clock, so it holds even if a timer fires late.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ClassifiedRequest } from '../../protocols/modbus/types.js';
import type { AuditSink } from '../audit/audit-events.js';
import { GatewayError } from '../errors.js';
import { tryCompileIdPattern, type IdPattern } from '../identity/spiffe-id-pattern.js';
import type { PolicyVerdict } from '../trust/runtime-gate.js';
import { MAX_TIMER_MS, unrefTimer, type TimerHandle, type Timers } from '../timers.js';

/**
 * Reason of a learned allow: `learn <the enforced reason>`; the audit event then says `decision: learn`
 * (gateway/frontdoor/request-events.ts).
 */
export const LEARN_REASON_PREFIX = 'learn ';

/** The longest a learning window may last from the gateway's start. */
export const MAX_LEARN_MS = 30 * 86_400_000;
const HOURLY_MS = 3_600_000;
/** Policy denials that only say "nothing grants this": what commissioning may allow and record. */
const LEARNABLE = new Set(['no-rule', 'address-not-allowed', 'value-not-allowed', 'function-not-allowed']);

export interface LearnDeviceConfig {
  readonly name: string;
  readonly learn?: { readonly untilMs: number; readonly principals: readonly string[] } | null;
}

export interface LearnModeOptions {
  readonly devices: readonly LearnDeviceConfig[];
  readonly audit: AuditSink;
  readonly timers: Timers;
  readonly now: () => number;
  readonly registry: Registry;
  readonly logger: { warn(o: object, m: string): void; info(o: object, m: string): void };
}

/** What the request pipeline asks (gateway/frontdoor/request-pipeline.ts `authorize`). */
export interface LearnJudge {
  /** The enforced decision, or — learning, a listed identity, a learnable deny — an allow recorded as `learn`. */
  judge<D extends LearnableVerdict>(
    peer: { readonly id: string },
    device: string,
    req: ClassifiedRequest,
    decision: D,
    nowMs: number,
  ): D;
}

/** The policy's verdict; `jitRule` set = the request touches registers of a JIT rule (policy Decision). */
export type LearnableVerdict = PolicyVerdict & { readonly jitRule?: string };

interface Window {
  readonly device: string;
  readonly untilMs: number;
  readonly principals: readonly IdPattern[];
  readonly listed: readonly string[];
  learned: number;
  ended: boolean;
  endTimer: TimerHandle | null;
}

export class LearnMode implements LearnJudge {
  private readonly windows = new Map<string, Window>();
  private hourly: TimerHandle | null = null;
  private readonly active: Gauge<'device'>;
  private readonly learnedTotal: Counter<'device'>;

  /** Throws GW_ERR_CONFIG_INVALID for an end more than 30 days ahead or a bad principal pattern. */
  constructor(private readonly o: LearnModeOptions) {
    const now = o.now();
    for (const d of o.devices) {
      if (!d.learn) continue;
      if (d.learn.untilMs - now > MAX_LEARN_MS) {
        throw new GatewayError(
          'GW_ERR_CONFIG_INVALID',
          `config: devices ${d.name}: learn.until ${new Date(d.learn.untilMs).toISOString()} is more than 30 days ahead: commissioning mode must end within 30 days`,
        );
      }
      const principals = d.learn.principals.map((p) => {
        const r = tryCompileIdPattern(p);
        if (!r.ok)
          throw new GatewayError(
            'GW_ERR_CONFIG_INVALID',
            `config: devices ${d.name}: learn.principals: invalid SPIFFE ID pattern ${JSON.stringify(p)}: ${r.reason}`,
          );
        return r.pattern;
      });
      this.windows.set(d.name, {
        device: d.name,
        untilMs: d.learn.untilMs,
        principals,
        listed: d.learn.principals,
        learned: 0,
        ended: d.learn.untilMs <= now,
        endTimer: null,
      });
    }
    this.active = new Gauge({
      name: 'verigate_learn_active',
      help: 'commissioning (learn) mode on this device: 1 while requests the policy would deny are allowed for listed identities',
      labelNames: ['device'],
      registers: [o.registry],
    });
    this.learnedTotal = new Counter({
      name: 'verigate_learn_requests_total',
      help: 'requests of listed identities the policy would deny that commissioning mode let through to the runtime gates (locks, read-only downgrade)',
      labelNames: ['device'],
      registers: [o.registry],
    });
  }

  /** Audits `learn.started` for every window still open, arms its end and the hourly warning. */
  start(): void {
    const now = this.o.now();
    for (const w of this.windows.values()) {
      this.active.set({ device: w.device }, w.ended ? 0 : 1);
      if (w.ended) {
        this.o.logger.info(
          { device: w.device, until: iso(w.untilMs) },
          'learn mode: the window has already ended; the policy is enforced (remove the learn block)',
        );
        continue;
      }
      this.o.audit.append({
        type: 'learn.started',
        device: w.device,
        until: iso(w.untilMs),
        principals: [...w.listed],
      });
      this.warn(w, now);
      this.armEnd(w);
    }
    if ([...this.windows.values()].some((w) => !w.ended)) {
      this.hourly = unrefTimer(this.o.timers.setInterval(() => this.tick(), HOURLY_MS));
    }
  }

  judge<D extends LearnableVerdict>(
    peer: { readonly id: string },
    device: string,
    req: ClassifiedRequest,
    decision: D,
    nowMs: number,
  ): D {
    // a register a JIT rule protects needs an approved grant: never learned (gateway/policy/evaluate.ts)
    if (decision.effect !== 'deny' || decision.jitRule !== undefined) return decision;
    const w = this.windows.get(device);
    if (w === undefined || w.ended) return decision;
    if (nowMs >= w.untilMs) {
      this.end(w, 'until');
      return decision;
    }
    if (!learnable(decision.reason) || (req.unit === 0 && req.kind !== 'read')) return decision;
    if (!w.principals.some((p) => p.matches(peer.id))) return decision;
    w.learned++;
    this.learnedTotal.inc({ device });
    // the would-be rule and reason stay in the record; shadow verdicts too; no obligations (nothing granted it)
    return {
      ...decision,
      effect: 'allow',
      reason: `${LEARN_REASON_PREFIX}${decision.reason}`,
      obligations: undefined,
      essential: undefined,
    };
  }

  /** For `/readyz`: ok (learning is not a fault) with what is learning until when. */
  status(): { ok: true; detail: string } {
    const open = [...this.windows.values()].filter((w) => !w.ended);
    if (open.length === 0) return { ok: true, detail: 'off' };
    return {
      ok: true,
      detail: open.map((w) => `learning ${w.device} until ${iso(w.untilMs)} (${w.learned} learned)`).join('; '),
    };
  }

  /** Gateway stop: every open window ends (`learn.ended` reason `stopped`); timers cleared. */
  stop(): void {
    for (const w of this.windows.values()) this.end(w, 'stopped');
    if (this.hourly !== null) this.o.timers.clearTimeout(this.hourly);
    this.hourly = null;
  }

  private tick(): void {
    const now = this.o.now();
    for (const w of this.windows.values()) {
      if (w.ended) continue;
      if (now >= w.untilMs) this.end(w, 'until');
      else this.warn(w, now);
    }
  }

  /** Node timers overflow past 2^31−1 ms (~24.8 days): re-arm in steps until the end. */
  private armEnd(w: Window): void {
    const left = w.untilMs - this.o.now();
    if (left <= 0) {
      this.end(w, 'until');
      return;
    }
    w.endTimer = unrefTimer(this.o.timers.setTimeout(() => this.armEnd(w), Math.min(left, MAX_TIMER_MS)));
  }

  private end(w: Window, reason: 'until' | 'stopped'): void {
    if (w.ended) return;
    w.ended = true;
    if (w.endTimer !== null) this.o.timers.clearTimeout(w.endTimer);
    w.endTimer = null;
    this.active.set({ device: w.device }, 0);
    this.o.audit.append({ type: 'learn.ended', device: w.device, reason, until: iso(w.untilMs), learned: w.learned });
    this.o.logger.warn(
      { device: w.device, reason, learned: w.learned },
      `learn mode ENDED on ${w.device} (${reason}): the policy is enforced again`,
    );
  }

  private warn(w: Window, now: number): void {
    const hours = Math.round((w.untilMs - now) / HOURLY_MS);
    this.o.logger.warn(
      { device: w.device, until: iso(w.untilMs), principals: w.listed, learned: w.learned },
      `LEARN MODE ACTIVE on ${w.device}: requests the policy would deny are ALLOWED for ${w.listed.join(', ')} until ${iso(w.untilMs)} (~${hours} h left, ${w.learned} learned)`,
    );
  }
}

function learnable(reason: string): boolean {
  const i = reason.indexOf(' ');
  return LEARNABLE.has(i < 0 ? reason : reason.slice(0, i));
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
