/**
 * The one path every request takes after its front door decoded it [DESIGN "One request, end to end" 4–10]:
 * route → policy (pure) → runtime gates (locks, JIT, rate, trust) → upstream → response check → audit.
 * Both front doors call `handle()`; only how the request arrived and how the answer leaves differ.
 * Everything here returns values: a hostile or failing request never throws.
 */
import type { ClassifiedRequest } from '../../protocols/modbus/types.js';
import { exceptionPdu, isExceptionPdu, isMutating } from '../../protocols/modbus/index.js';
import { Outcomes, type Outcome } from '../errors.js';
import type { AuditSink } from '../audit/audit-events.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { PolicyVerdict, RuntimeGate } from '../trust/runtime-gate.js';
import type { UpstreamRequest, UpstreamResult } from '../upstream/types.js';
import type { DeviceConfig } from '../config/gateway-config.js';
import type { Session } from './session.js';

/** The enforced policy as the pipeline sees it; swapped as one reference on reload. */
export interface PolicyEngine {
  readonly version: string;
  evaluate(peer: { id: string; role: string | null }, device: string, req: ClassifiedRequest, now: Date): PolicyVerdict & {
    readonly shadow?: readonly { ruleId: string; effect: 'allow' | 'deny' }[];
  };
}

export interface Upstream {
  submit(req: UpstreamRequest): Promise<UpstreamResult>;
}

export interface PipelineDeps {
  readonly policy: () => PolicyEngine;
  readonly gate: RuntimeGate;
  readonly audit: AuditSink & { healthy(): boolean };
  readonly metrics: GatewayMetrics;
  readonly now: () => number;
  readonly onShadow?: (e: { session: string; identity: string; device: string; fc: number; ruleId: string; effect: string; enforced: string }) => void;
}

export interface PipelineRequest {
  readonly session: Session;
  readonly device: { readonly config: DeviceConfig; readonly pool: Upstream };
  /** Classified with the unit id that is forwarded (so policy judges what reaches the PLC). */
  readonly classified: ClassifiedRequest;
  /** Request PDU as received (function code first); forwarded unchanged. */
  readonly pdu: Buffer;
  readonly transactionId?: number;
}

export interface PipelineResult {
  readonly outcome: Outcome;
  /** Response PDU for the client: the PLC's answer, or an exception built here. */
  readonly pdu: Buffer;
  readonly reason: string;
  readonly ruleId: string | null;
}


type ShadowList = readonly { ruleId: string; effect: 'allow' | 'deny' }[];
interface Verdict {
  readonly effect: 'allow' | 'deny';
  readonly outcome: Outcome;
  readonly reason: string;
  readonly ruleId: string | null;
  readonly shadow?: ShadowList;
}

export class RequestPipeline {
  constructor(private readonly deps: PipelineDeps) {}

  async handle(req: PipelineRequest): Promise<PipelineResult> {
    const started = this.deps.now();
    const { session, device, classified } = req;
    const policy = this.deps.policy();
    const verdict = this.authorize(req, policy, started);
    let outcome: Outcome;
    let pdu: Buffer;
    if (verdict.effect === 'deny') {
      outcome = verdict.outcome;
      pdu = exceptionPdu(classified.fc, Outcomes[outcome].exception ?? 0x01);
    } else {
      const upstream = await device.pool.submit({
        clientKey: session.peer.id,
        unitId: classified.unit,
        pdu: req.pdu,
        isWrite: isMutating(classified),
        // A killed, locked or expired session takes its still-queued requests (writes included) with it.
        signal: session.signal,
      });
      ({ outcome, pdu } = this.fromUpstream(classified.fc, upstream));
    }
    const denied = outcome === 'denied';
    const now = this.deps.now();
    session.noteRequest(device.config.name, isMutating(classified), denied, now);
    this.deps.gate.observe(session, device.config.name, classified, denied, now);
    this.record(req, policy.version, verdict, outcome, pdu, now - started);
    return { outcome, pdu, reason: verdict.reason, ruleId: verdict.ruleId };
  }

  private authorize(req: PipelineRequest, policy: PolicyEngine, now: number): Verdict {
    const { session, device, classified } = req;
    // IEC 62443-3-3 SR 2.10: with fail-closed auditing, nothing is allowed that cannot be recorded.
    if (!this.deps.audit.healthy()) return { effect: 'deny', outcome: 'audit-unavailable', reason: 'audit-unavailable', ruleId: null };
    const peer = { id: session.peer.id, role: session.peer.role };
    const decision = policy.evaluate(peer, device.config.name, classified, new Date(now));
    this.reportShadow(req, decision);
    const shadow = decision.shadow && decision.shadow.length > 0 ? { shadow: decision.shadow } : {};
    if (decision.effect === 'deny') return { effect: 'deny', outcome: 'denied', reason: decision.reason, ruleId: decision.ruleId, ...shadow };
    const gate = this.deps.gate.check(session, device.config.name, classified, decision, now);
    if (gate.effect === 'deny') return { effect: 'deny', outcome: 'denied', reason: gate.reason, ruleId: decision.ruleId, ...shadow };
    return { effect: 'allow', outcome: 'ok', reason: decision.reason, ruleId: decision.ruleId, ...shadow };
  }

  /**
   * A request refused before policy (no device for its unit id, or a structurally invalid PDU) is still a
   * request: audited and counted, so probing unit ids or fuzzing leaves a trail.
   */
  refused(session: Session, unit: number, fc: number, outcome: 'no-route' | 'invalid-request', reason: string): void {
    session.noteRequest(null, false, true, this.deps.now());
    this.deps.metrics.requests.inc({ outcome, device: '', fc: String(fc) });
    this.deps.audit.append({
      type: 'request.decision', session: session.id, identity: session.peer.id,
      ...(session.peer.role ? { role: session.peer.role } : {}),
      device: '', unit, fc, reads: [], writes: [], decision: 'deny', ruleId: null, reason,
      outcome: Outcomes[outcome].audit, latencyMs: 0, policyVersion: this.deps.policy().version,
    });
  }

  /** Maps an upstream result to the client's answer: 0x0A no path, 0x0B no response [MB-APP 7]. */
  private fromUpstream(fc: number, r: UpstreamResult): { outcome: Outcome; pdu: Buffer } {
    switch (r.kind) {
      case 'response':
        return { outcome: isExceptionPdu(r.pdu) ? 'plc-exception' : 'ok', pdu: r.pdu };
      case 'timeout':
        return { outcome: 'timeout', pdu: exceptionPdu(fc, 0x0b) };
      case 'queue-full':
        return { outcome: 'queue-full', pdu: exceptionPdu(fc, 0x0a) };
      case 'unavailable':
        return r.sent ? { outcome: 'no-answer', pdu: exceptionPdu(fc, 0x0b) } : { outcome: 'upstream-unavailable', pdu: exceptionPdu(fc, 0x0a) };
      case 'invalid-response':
        return { outcome: 'no-answer', pdu: exceptionPdu(fc, 0x0b) };
    }
  }

  private reportShadow(req: PipelineRequest, decision: ReturnType<PolicyEngine['evaluate']>): void {
    if (!decision.shadow || !this.deps.onShadow) return;
    for (const s of decision.shadow) {
      this.deps.onShadow({
        session: req.session.id,
        identity: req.session.peer.id,
        device: req.device.config.name,
        fc: req.classified.fc,
        ruleId: s.ruleId,
        effect: s.effect,
        enforced: decision.effect,
      });
    }
  }

  private record(req: PipelineRequest, policyVersion: string, verdict: Verdict,
    outcome: Outcome, pdu: Buffer, latencyMs: number): void {
    const { session, device, classified } = req;
    const fcLabel = String(classified.fc);
    this.deps.metrics.requests.inc({ outcome, device: device.config.name, fc: fcLabel });
    this.deps.metrics.latency.observe({ device: device.config.name }, latencyMs / 1000);
    this.deps.audit.append({
      type: 'request.decision',
      session: session.id,
      identity: session.peer.id,
      ...(session.peer.role ? { role: session.peer.role } : {}),
      device: device.config.name,
      unit: classified.unit,
      fc: classified.fc,
      ...(classified.subFunction !== undefined ? { subFunction: classified.subFunction } : {}),
      ...(req.transactionId !== undefined ? { transactionId: req.transactionId } : {}),
      reads: classified.reads,
      writes: classified.writes,
      decision: verdict.effect,
      ruleId: verdict.ruleId,
      reason: verdict.reason,
      outcome: Outcomes[outcome].audit,
      ...(outcome === 'plc-exception' ? { exception: pdu[1] ?? 0 } : {}),
      latencyMs: Math.round(latencyMs * 1000) / 1000,
      policyVersion,
      ...(verdict.shadow ? { shadow: verdict.shadow } : {}),
    });
  }
}
