/**
 * What `policy check` warns about: a policy that compiles and passes its own tests but does not do what it
 * looks like it does. Shadow mode (nothing enforced), a JIT rule naming functions (a grant covers registers
 * only), read denies that aggregate records read around (record-aggregates.ts), and allow entries on container
 * records that grant nothing (container-warnings.ts). The policy itself stays as written.
 */
import type { CompiledPolicy } from './compiled-policy.js';
import { containerWarnings } from './container-warnings.js';
import { aggregateWarnings } from './record-aggregates.js';

/** Function codes whose requests touch registers (protocols/modbus/classify.ts): the only ones a JIT grant can cover. */
const REGISTER_FCS: ReadonlySet<number> = new Set([1, 2, 3, 4, 5, 6, 15, 16, 22, 23, 24]);

export function policyWarnings(policy: CompiledPolicy): string[] {
  const out: string[] = [];
  if (policy.mode === 'shadow') out.push('mode: shadow — test mode, denials are reported but NOT enforced');
  for (const rule of policy.rules) {
    const none = [...rule.functions.keys()].filter((fc) => rule.jit !== null && !REGISTER_FCS.has(fc));
    if (none.length > 0)
      out.push(
        `rule ${rule.id}: a JIT grant names registers, never functions: fc ${none.join(', ')} (no register touched) is always refused jit-required`,
      );
  }
  return [...out, ...aggregateWarnings(policy), ...containerWarnings(policy)];
}
