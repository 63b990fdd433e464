/**
 * Writes to container record indices, whose data carries further record requests [IEC 61158-6-10 Index]:
 * the outer index says nothing about what the device will do, so a container write is judged by what it
 * carries or not at all.
 *
 * - WriteMultiple (0xE040, IODWriteMultipleReq) is decoded (protocols/profinet/records/write-multiple.ts) and
 *   every inner write is judged as if it were written alone: explicit deny on any of them (or on the outer
 *   0xE040 record) denies, every one must be allowed with its own length and value limits, and the allow
 *   carries every granting rule's obligations (grants.ts). The outer record needs no allow entry of its own.
 * - A JIT grant covers one index range of one rule and the runtime checks it against the outer request, so an
 *   inner write whose only grant is a `jit` rule is refused (`container-not-judged`): write it on its own.
 * - Any other container (CombinedObjectContainer 0x80B0), a WriteMultiple nested in one, or one that does not
 *   decode is refused: the gateway does not send what it cannot judge. Shadow mode does not lift these.
 */
import { containerIndexName, decodeWriteMultiple, WRITE_MULTIPLE_INDEX } from '../../protocols/profinet/index.js';
import type { RecordRequest } from '../../protocols/profinet/record-request.js';
import { denyDecision, type CompiledRule, type Decision, type RuleSetView } from './compiled-policy.js';
import { Grants } from './grants.js';
import { allowScan, denyHit, isRefusal, recordLabel, type RecordCtx } from './record-judge.js';
import type { PolicyReason } from '../reasons.js';

/** A container write's inner writes as record requests, or why it cannot be judged; null: not a container write. */
export function containerWrites(req: RecordRequest): readonly RecordRequest[] | PolicyReason | null {
  if (req.access !== 'write') return null;
  const name = containerIndexName(req.index);
  if (name === null) return null;
  if (req.index !== WRITE_MULTIPLE_INDEX)
    return {
      code: 'container-not-judged',
      detail: `write ${recordLabel(req)} (${name}): its contents are not decoded`,
    };
  const decoded = decodeWriteMultiple(req.data as Buffer);
  if (!decoded.ok) return { code: 'malformed-request', detail: `WriteMultiple ${recordLabel(req)}: ${decoded.detail}` };
  const inner: RecordRequest[] = [];
  for (const w of decoded.value) {
    const r: RecordRequest = { access: 'write', ...w, length: w.data.length };
    const nested = containerIndexName(w.index);
    if (nested !== null)
      return { code: 'container-not-judged', detail: `write ${recordLabel(r)} (${nested}) inside WriteMultiple` };
    inner.push(r);
  }
  return inner;
}

/** The first deny rule hitting the outer record or any inner write. */
export function containerDenyHit(
  deny: RuleSetView,
  outer: RecordRequest,
  inner: readonly RecordRequest[],
  ctx: RecordCtx,
): ReturnType<typeof denyHit> {
  for (const r of [outer, ...inner]) {
    const hit = denyHit(deny, r, ctx);
    if (hit !== null) return hit;
  }
  return null;
}

/** Allow only when every inner write is allowed, by rules needing no JIT grant; the obligations of all of them. */
export function containerGrant(allow: RuleSetView, inner: readonly RecordRequest[], ctx: RecordCtx): Decision {
  const grants = new Grants();
  const rated = new Set<CompiledRule>();
  for (let i = 0; i < inner.length; i++) {
    const r = inner[i] as RecordRequest;
    const granted = allowScan(allow, r, ctx);
    const where = ` (inner write ${i} of WriteMultiple)`;
    if (isRefusal(granted)) return denyDecision(null, { code: granted.code, detail: granted.detail + where });
    if (granted.jit !== null)
      return denyDecision(null, {
        code: 'container-not-judged',
        detail: `write ${recordLabel(r)} needs a JIT grant of ${granted.id}${where}: write it on its own`,
      });
    // The runtime charges one token per granting rule per request: a rate-limited rule granting two inner writes
    // would let one WriteMultiple run many writes for one token, so such writes must go one by one.
    if (granted.rate !== null) {
      if (rated.has(granted))
        return denyDecision(null, {
          code: 'container-not-judged',
          detail: `rule ${granted.id} has a rate and grants more than one write of this WriteMultiple${where}: write them on their own`,
        });
      rated.add(granted);
    }
    // One whole-request grant per inner write: each granting rule's rate, strictness and essential flag count.
    grants.grantFunction(granted);
  }
  return grants.decision();
}
