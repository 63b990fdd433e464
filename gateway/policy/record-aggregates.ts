/**
 * Records that return what other records hold [IEC 61158-6-10, Index]: the diagnosis of one subslot
 * (0x800A/0x800B/0x800C) is also in the slot's (0xC00x), the AR's (0xE00x), the API's (0xF00x) and the
 * device's (0xF80C) diagnosis; a subslot's identification (0x8000/0x8001) is also in the slot's (0xC000/0xC001),
 * the AR's (0xE000/0xE001) and, for the real one, the API's RealIdentificationData (0xF000). A deny of the
 * subslot record alone is read around through any aggregate another rule allows, so `policy check` says so
 * (`aggregateWarnings`); the policy itself stays as written.
 */
import type { CompiledPolicy, CompiledRecordEntry } from './compiled-policy.js';
import { inIntervals } from './ranges.js';

/** Subslot-level record → the slot/AR/API/device-level records that return the same entries. */
const AGGREGATES: ReadonlyMap<number, { readonly what: string; readonly in: readonly number[] }> = new Map([
  [0x800a, { what: 'diagnosis', in: [0xc00a, 0xe00a, 0xf00a, 0xf80c] }],
  [0x800b, { what: 'diagnosis', in: [0xc00b, 0xe00b, 0xf00b, 0xf80c] }],
  [0x800c, { what: 'diagnosis', in: [0xc00c, 0xe00c, 0xf00c, 0xf80c] }],
  [0x8000, { what: 'expected identification', in: [0xc000, 0xe000] }],
  [0x8001, { what: 'real identification', in: [0xc001, 0xe001, 0xf000] }],
]);

const hex = (n: number): string => `0x${n.toString(16).padStart(4, '0')}`;

/**
 * One warning per read deny entry naming a subslot record whose aggregates the same rule does not deny too:
 * the aggregates it leaves out return the denied entries to whoever another rule lets read them.
 */
export function aggregateWarnings(policy: CompiledPolicy): string[] {
  const out: string[] = [];
  for (const rule of policy.rules) {
    if (rule.effect !== 'deny') continue;
    const reads = rule.profinet.filter((e) => e.access === 'read');
    for (const e of reads) {
      for (const [index, agg] of AGGREGATES) {
        if (!inIntervals(e.indices, index)) continue;
        const open = agg.in.filter((a) => !reads.some((d: CompiledRecordEntry) => inIntervals(d.indices, a)));
        if (open.length === 0) continue;
        out.push(
          `rule ${rule.id}: denies ${agg.what} ${hex(index)}, but ${open.map(hex).join(', ')} return the same ` +
            'entries for the whole slot, AR, API or device: deny those too (or allow them to nobody it covers)',
        );
      }
    }
  }
  return out;
}
