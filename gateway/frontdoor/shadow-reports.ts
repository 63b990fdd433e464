/**
 * What a shadow rule's match reports: a rule in `shadow` mode is evaluated beside the enforced policy, and its
 * verdict goes to metrics and the log (main.ts `onShadow`), never into the answer. Apart from the pipelines,
 * whose hot path then shows only what decides the answer.
 */
import type { PipelineDepsBase } from './pipeline-support.js';
import type { RoutedRecord } from './record-events.js';
import type { PolicyDecision, RoutedRequest } from './request-events.js';

/** What a shadow rule's match on a Modbus request reports (metrics and log, never the answer). */
export interface ShadowMatch {
  readonly session: string;
  readonly identity: string;
  readonly device: string;
  readonly fc: number;
  readonly ruleId: string;
  readonly effect: string;
  readonly enforced: string;
}

/** One `onShadow` per shadow rule that matched a Modbus request; nothing when none did or nobody listens. */
export function reportShadow(
  deps: Pick<PipelineDepsBase<unknown, unknown, ShadowMatch>, 'onShadow'>,
  req: RoutedRequest,
  decision: Pick<PolicyDecision, 'effect' | 'shadow'>,
): void {
  if (!decision.shadow || !deps.onShadow) return;
  for (const s of decision.shadow) {
    deps.onShadow({
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

/** What a shadow rule's match on a record request reports (metrics and log, never the answer). */
export interface RecordShadowMatch {
  readonly session: string;
  readonly identity: string;
  readonly device: string;
  readonly access: string;
  readonly index: number;
  readonly ruleId: string;
  readonly effect: string;
  readonly enforced: string;
}

/** One `onShadow` per shadow rule that matched a record request; nothing when none did or nobody listens. */
export function reportRecordShadow(
  deps: Pick<PipelineDepsBase<unknown, unknown, RecordShadowMatch>, 'onShadow'>,
  req: RoutedRecord,
  decision: Pick<PolicyDecision, 'effect' | 'shadow'>,
): void {
  if (!decision.shadow || !deps.onShadow) return;
  for (const s of decision.shadow) {
    deps.onShadow({
      session: req.session.id,
      identity: req.session.peer.id,
      device: req.device.config.name,
      access: req.request.access,
      index: req.request.index,
      ruleId: s.ruleId,
      effect: s.effect,
      enforced: decision.effect,
    });
  }
}
