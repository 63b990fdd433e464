/**
 * Allow entries that look like they grant a container write but grant nothing (record-container.ts judges a
 * container by what it carries [IEC 61158-6-10 Index: WriteMultiple 0xE040, CombinedObjectContainer 0x80B0]):
 * - an allow write entry covering 0x80B0: the gateway refuses every CombinedObjectContainer write
 *   (`container-not-judged`), whatever the rules say, so the entry never grants that index;
 * - an allow write entry covering 0xE040: the outer WriteMultiple record needs no grant and gets none from
 *   it; each inner write needs its own allow entry.
 * (A `jit` rule's writes are refused inside a WriteMultiple too; that is not warned about: the refusal's own
 * detail says to write the record alone, and a JIT rule is right to grant single writes.)
 * `policy check` prints them as warnings; the policy itself stays as written.
 */
import { COMBINED_OBJECT_CONTAINER_INDEX, WRITE_MULTIPLE_INDEX } from '../../protocols/profinet/index.js';
import type { CompiledPolicy } from './compiled-policy.js';
import { inIntervals } from './ranges.js';

export function containerWarnings(policy: CompiledPolicy): string[] {
  const out: string[] = [];
  for (const rule of policy.rules) {
    if (rule.effect !== 'allow') continue;
    const writes = rule.profinet.filter((e) => e.access === 'write');
    if (writes.some((e) => inIntervals(e.indices, COMBINED_OBJECT_CONTAINER_INDEX)))
      out.push(
        `rule ${rule.id}: allows writes to 0x80b0 (CombinedObjectContainer), which the gateway always refuses ` +
          '(container-not-judged): the entry never grants that index',
      );
    if (writes.some((e) => inIntervals(e.indices, WRITE_MULTIPLE_INDEX)))
      out.push(
        `rule ${rule.id}: allows writes to 0xe040 (WriteMultiple), which grants nothing by itself: ` +
          'each write a WriteMultiple carries needs its own allow entry',
      );
  }
  return out;
}
