/**
 * A JIT grant issued at the centre is checked against the JIT rules of the policy published to the site, by
 * the same code the gateway's admin API runs (gateway/trust/grant-service.ts): the scope must lie inside one
 * entry of a JIT rule the requester falls under, the duration within its maxDuration, every approver one the
 * rule names (no self-approval), and at least `threshold` of them. The service runs in a throw-away directory
 * with no audit: here it only judges; the site's gateways audit the grant when they apply it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditSink } from '../audit/audit-events.js';
import type { CompiledPolicy } from '../policy/compiled-policy.js';
import { GrantService, type Grant, type GrantRequest } from '../trust/grant-service.js';

const judgeOnly: AuditSink = { append: () => ({ ok: true, seq: null, summarized: true }) };

export type GrantCheck = { ok: true; grant: Grant } | { ok: false; message: string };

/** The active grant the request becomes under `policy` at `now`, or why it cannot be issued. */
export function checkGrant(
  policy: CompiledPolicy,
  req: GrantRequest,
  approvers: readonly string[],
  now: number,
): GrantCheck {
  const dir = mkdtempSync(join(tmpdir(), 'verigate-grant-check-'));
  try {
    const service = new GrantService(
      dir,
      () => policy,
      judgeOnly,
      () => now,
    );
    const asked = service.request(req);
    if (!asked.ok) return { ok: false, message: asked.message };
    let grant = asked.grant;
    for (const approver of approvers) {
      const r = service.approve(grant.id, approver);
      if (!r.ok) return { ok: false, message: `approver ${approver}: ${r.message}` };
      grant = r.grant;
    }
    if (grant.status !== 'active') {
      const threshold = policy.rules.find((r) => r.id === grant.ruleId)?.jit?.threshold ?? '?';
      return {
        ok: false,
        message: `rule ${grant.ruleId} needs ${threshold} distinct approver(s), ${approvers.length} given`,
      };
    }
    return { ok: true, grant };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
