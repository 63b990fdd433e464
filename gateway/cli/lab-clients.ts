/**
 * The sample identities of the lab and, for lab.json, what the sample policy grants each of them, read from
 * the policy's own rules so the description cannot drift from what is enforced.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { compileIdPattern } from '../identity/spiffe-id-pattern.js';

export interface LabClient {
  readonly name: string;
  readonly spiffeId: string;
  readonly role?: string;
}

export const LAB_CLIENTS: readonly LabClient[] = [
  { name: 'historian', spiffeId: 'spiffe://plant.example/historian' },
  { name: 'hmi', spiffeId: 'spiffe://plant.example/hmi/line1', role: 'operator' },
  { name: 'engineer', spiffeId: 'spiffe://plant.example/eng/alice' },
  { name: 'shift-lead', spiffeId: 'spiffe://plant.example/ops/shift-lead' },
  { name: 'stranger', spiffeId: 'spiffe://plant.example/stranger' },
];

interface RuleLike {
  id: string;
  effect?: string;
  principals?: string[];
  devices?: string[];
  allow?: unknown[];
  functions?: unknown[];
  profinet?: unknown[];
  jit?: unknown;
  mode?: string;
}

/**
 * The enforced allow rules of the policy whose principals name this identity, reduced to plain data: Modbus
 * `allow` entries, `functions` and PROFINET record entries (`profinet`), with their JIT terms.
 */
export function grantsFor(policyFile: string, spiffeId: string): unknown[] {
  const doc = parse(readFileSync(policyFile, 'utf8')) as { rules?: RuleLike[]; admins?: unknown };
  const rules = (doc.rules ?? []).filter(
    (r) =>
      (r.effect ?? 'allow') === 'allow' &&
      r.mode !== 'shadow' &&
      (r.principals ?? []).some((p) => !p.startsWith('role:') && compileIdPattern(p).matches(spiffeId)),
  );
  return rules.map((r) => ({
    rule: r.id,
    devices: r.devices ?? [],
    ...(r.allow ? { allow: r.allow } : {}),
    ...(r.functions ? { functions: r.functions } : {}),
    ...(r.profinet ? { profinet: r.profinet } : {}),
    ...(r.jit ? { jit: r.jit } : {}),
  }));
}
