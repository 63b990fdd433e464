/**
 * Policy decision cost (docs/architecture.md "Performance aims": ≤ 2 µs median with 10,000 rules). A generated
 * policy of `ruleCount` rules over many principals, devices and register ranges (allow and deny, reads and
 * value-checked writes, some device globs) against a 1-rule baseline, same request mix. Each `evaluate` call is timed
 * alone with hrtime; the timer's own cost, measured in the same run, is subtracted.
 * Steady state: the (device, peer) view is cached after a session's first request, as in the gateway; the
 * `first` figures are that first request (view build) for new (peer, device) pairs.
 */
import { performance } from 'node:perf_hooks';
import { classify, type ClassifiedRequest, type ModbusRequest } from '../protocols/modbus/index.js';
import { compilePolicyText, evaluate, type CompiledPolicy, type PeerRef } from '../gateway/policy/index.js';
import { percentile } from './load-generator.js';

const TD = 'plant.example';
const DEVICES = 200;
const SERVICES = 1000;
const TEAMS = 500;

export interface PolicyEvalResult {
  readonly rules: number;
  readonly compileMs: number;
  readonly medianNs: number;
  readonly p99Ns: number;
  readonly firstMedianNs: number;
  readonly allowShare: number;
}

/** Deterministic generator: the same policy every run. */
export function generatePolicy(ruleCount: number): string {
  const lines = [`version: 1`, `trustDomain: ${TD}`, `rules:`];
  for (let i = 0; i < ruleCount; i++) {
    const a = (i * 97) % 60000;
    const deny = i % 20 === 19;
    const devices = i % 100 === 0 ? `["line-${i % 7}-*"]` : `[plc-${i % DEVICES}, plc-${(i * 7 + 3) % DEVICES}]`;
    lines.push(`  - id: r${i}`);
    lines.push(`    principals: [spiffe://${TD}/team-${i % TEAMS}/*, spiffe://${TD}/svc-${i % SERVICES}]`);
    lines.push(`    devices: ${devices}`);
    if (deny) {
      lines.push(`    effect: deny`);
      lines.push(`    deny: [{ access: write, table: holding, addresses: ${a}-${a + 4} }]`);
    } else {
      lines.push(`    allow:`);
      lines.push(`      - { access: read, tables: [holding, input], addresses: ${a}-${a + 199} }`);
      lines.push(`      - { access: write, table: holding, addresses: "${a + 10}-${a + 19}", values: 0..1000 }`);
    }
  }
  return `${lines.join('\n')}\n`;
}

const TRIVIAL = `version: 1
trustDomain: ${TD}
rules:
  - id: all-reads
    principals: [spiffe://${TD}/**]
    devices: ["*"]
    allow: [{ access: read, tables: [holding, input], addresses: 0-65535 }]
`;

interface Query {
  readonly peer: PeerRef;
  readonly device: string;
  readonly req: ClassifiedRequest;
}

/** A fixed mix: reads and writes by principals that exist, on devices their rules name or not. */
function queries(n: number, seed: number): Query[] {
  let x = seed >>> 0;
  const rnd = (m: number): number => {
    // mulberry32: good low bits, unlike a plain LCG
    x = (x + 0x6d2b79f5) >>> 0;
    let t = Math.imul(x ^ (x >>> 15), 1 | x);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) % m;
  };
  const out: Query[] = [];
  for (let k = 0; k < n; k++) {
    const i = rnd(10000);
    const a = (i * 97) % 60000;
    const peer: PeerRef = {
      id: k % 2 ? `spiffe://${TD}/svc-${i % SERVICES}` : `spiffe://${TD}/team-${i % TEAMS}/host-${k % 5}`,
      role: null,
    };
    const device = rnd(4) === 0 ? `plc-${rnd(DEVICES)}` : `plc-${i % DEVICES}`;
    const r: ModbusRequest =
      rnd(3) === 0
        ? { type: 'write-single-register', fc: 6, address: a + 10 + rnd(12), value: rnd(1200) }
        : { type: 'read-registers', fc: rnd(2) ? 3 : 4, address: a + rnd(220), quantity: 1 + rnd(10) };
    out.push({ peer, device, req: classify(r, 1) });
  }
  return out;
}

/** Median cost of reading the clock twice, to subtract from each sample. */
function timerOverheadNs(): number {
  const s = new Float64Array(20000);
  for (let i = 0; i < s.length; i++) {
    const t0 = process.hrtime.bigint();
    s[i] = Number(process.hrtime.bigint() - t0);
  }
  return percentile(s.sort(), 50);
}

function timeAll(
  policy: CompiledPolicy,
  qs: Query[],
  rounds: number,
  now: Date,
  overhead: number,
): { s: Float64Array; allows: number } {
  const s = new Float64Array(qs.length * rounds);
  let allows = 0;
  let j = 0;
  for (let r = 0; r < rounds; r++) {
    for (const q of qs) {
      const t0 = process.hrtime.bigint();
      const d = evaluate(policy, q.peer, q.device, q.req, now);
      s[j++] = Math.max(0, Number(process.hrtime.bigint() - t0) - overhead);
      if (d.effect === 'allow') allows++;
    }
  }
  return { s: s.sort(), allows };
}

export function runPolicyEval(ruleCount: number, samples: number): PolicyEvalResult {
  const t0 = performance.now();
  const policy = compilePolicyText(ruleCount === 1 ? TRIVIAL : generatePolicy(ruleCount), `bench-${ruleCount}-rules`);
  const compileMs = performance.now() - t0;
  const overhead = timerOverheadNs();
  const now = new Date();
  // first decisions: pairs never seen (views built on demand)
  const first = timeAll(policy, queries(Math.min(2000, samples), 7), 1, now, overhead);
  const qs = queries(1000, 42);
  timeAll(policy, qs, 3, now, overhead); // warm: views cached, code optimised
  const warm = timeAll(policy, qs, Math.max(1, Math.round(samples / qs.length)), now, overhead);
  return {
    rules: ruleCount,
    compileMs,
    medianNs: percentile(warm.s, 50),
    p99Ns: percentile(warm.s, 99),
    firstMedianNs: percentile(first.s, 50),
    allowShare: warm.allows / warm.s.length,
  };
}
