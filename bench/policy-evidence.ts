/**
 * `policy learn` and `policy replay` over a large audit trail (issue 13: 1,000,000 recorded events in under a
 * minute, bounded memory). Generates a valid hash-chained trail (16 MiB segments, as the gateway writes them)
 * of plant-like traffic — a historian polling, an HMI reading and writing setpoints, an engineer writing a
 * block, a stranger denied, sessions opening — then runs learn and replay each in a child process and reports
 * wall time, events per second and the child's peak RSS.
 *
 *   node --import tsx bench/policy-evidence.ts [--events 1000000] [--keep]
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { canonicalLine } from '../gateway/audit/canonical-line.js';
import { GENESIS_HASH } from '../gateway/audit/audit-events.js';
import { segmentName } from '../gateway/audit/audit-segments.js';

const TD = 'plant.example';
const SEGMENT_BYTES = 16 * 1024 * 1024;
const SKIP = new Set(['hash', 'seq', 'time', 'prev']);
const START_MS = Date.parse('2026-03-02T06:00:00.000Z');

/** The i-th event of the generated plant traffic (deterministic). */
function eventAt(i: number): Record<string, unknown> {
  const k = i % 100;
  const common = { session: `s${i % 7}`, unit: 255, latencyMs: 1, policyVersion: 'bench', outcome: 'ok' };
  if (k < 50) {
    const start = (i % 10) * 10;
    return {
      type: 'request.decision',
      ...common,
      identity: `spiffe://${TD}/historian`,
      device: 'turbine-1',
      fc: 4,
      reads: [{ table: 'input', start, count: 10 }],
      writes: [],
      decision: 'allow',
      ruleId: 'historian-reads',
      reason: 'allowed',
    };
  }
  if (k < 80) {
    return {
      type: 'request.decision',
      ...common,
      identity: `spiffe://${TD}/hmi/line1`,
      device: 'turbine-1',
      fc: 3,
      reads: [{ table: 'holding', start: 0, count: 20 }],
      writes: [],
      decision: 'learn',
      ruleId: null,
      reason: 'learn no-rule',
    };
  }
  if (k < 90) {
    const value = 1000 + ((i * 37) % 2600);
    return {
      type: 'request.decision',
      ...common,
      identity: `spiffe://${TD}/hmi/line1`,
      device: 'turbine-1',
      fc: 6,
      reads: [],
      writes: [{ table: 'holding', start: 100 + (i % 3), count: 1, values: [value] }],
      decision: 'learn',
      ruleId: null,
      reason: 'learn no-rule',
    };
  }
  if (k < 95) {
    return {
      type: 'request.decision',
      ...common,
      identity: `spiffe://${TD}/eng/alice`,
      device: 'tank-1',
      fc: 16,
      reads: [],
      writes: [{ table: 'holding', start: 200, count: 4, values: [1, 2, 3, i % 5] }],
      decision: 'learn',
      ruleId: null,
      reason: 'learn no-rule',
    };
  }
  if (k < 98) {
    return {
      type: 'request.decision',
      ...common,
      identity: `spiffe://${TD}/stranger`,
      device: 'turbine-1',
      fc: 6,
      reads: [],
      writes: [{ table: 'holding', start: 100, count: 1, values: [9999] }],
      decision: 'deny',
      ruleId: null,
      reason: 'no-rule',
      outcome: 'denied',
    };
  }
  return {
    type: 'session.open',
    session: `s${i}`,
    identity: `spiffe://${TD}/historian`,
    peer: '127.0.0.1:40000',
    transport: 'mbaps',
  };
}

/** Writes `events` chained events into `dir` (about 20 per ms of trail time); returns bytes written. */
export function generateTrail(dir: string, events: number): number {
  let prev = GENESIS_HASH;
  let fd = -1;
  let segBytes = SEGMENT_BYTES;
  let total = 0;
  let chunk: string[] = [];
  let chunkBytes = 0;
  const flush = (): void => {
    if (chunk.length === 0) return;
    writeSync(fd, chunk.join(''));
    chunk = [];
    chunkBytes = 0;
  };
  for (let seq = 1; seq <= events; seq++) {
    const { line, hash } = canonicalLine(
      eventAt(seq),
      { seq, time: new Date(START_MS + Math.floor(seq / 20)).toISOString(), prev },
      SKIP,
    );
    const bytes = Buffer.byteLength(line) + 1;
    if (segBytes + bytes > SEGMENT_BYTES) {
      flush();
      if (fd >= 0) closeSync(fd);
      fd = openSync(join(dir, segmentName(seq)), 'w');
      segBytes = 0;
    }
    chunk.push(line + '\n');
    chunkBytes += bytes;
    segBytes += bytes;
    total += bytes;
    prev = hash;
    if (chunkBytes > 1 << 20) flush();
  }
  flush();
  if (fd >= 0) closeSync(fd);
  return total;
}

interface ChildFigures {
  readonly ms: number;
  readonly maxRssMb: number;
  readonly detail: string;
}

/** Runs learn or replay in a fresh process (its peak RSS is its own). */
function runChild(phase: 'learn' | 'replay', dir: string, policy: string): ChildFigures {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', import.meta.filename, '--child', phase, '--dir', dir, '--policy', policy],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`${phase} child failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() as string) as ChildFigures;
}

async function child(phase: string, dir: string, policy: string): Promise<void> {
  const { writeFileSync, readFileSync } = await import('node:fs');
  const verify = { allowMissingCheckpoints: true };
  const t0 = performance.now();
  let detail: string;
  if (phase === 'learn') {
    const { learnPolicy } = await import('../gateway/evidence/learn.js');
    const r = learnPolicy({ dir, verify, window: {}, base: null });
    if (!r.ok) throw new Error(JSON.stringify(r));
    writeFileSync(policy, r.text);
    detail = `${r.rules.length} rules, ${r.learned} of ${r.requests} requests learned, ${r.tests.allow + r.tests.deny} tests`;
  } else {
    const { replayTrail } = await import('../gateway/evidence/policy-replay.js');
    const { compilePolicyText } = await import('../gateway/policy/compile-policy.js');
    const r = replayTrail({
      dir,
      verify,
      window: {},
      candidate: compilePolicyText(readFileSync(policy, 'utf8'), policy),
    });
    if (!r.ok) throw new Error(JSON.stringify(r));
    detail = `${r.requests} requests: ${r.tightened} allow→deny, ${r.loosened} deny→allow, ${r.unchanged} unchanged`;
  }
  const ms = performance.now() - t0;
  console.log(JSON.stringify({ ms, maxRssMb: process.resourceUsage().maxRSS / 1024, detail }));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      events: { type: 'string' },
      keep: { type: 'boolean' },
      child: { type: 'string' },
      dir: { type: 'string' },
      policy: { type: 'string' },
    },
  });
  if (values.child !== undefined) return child(values.child, values.dir as string, values.policy as string);
  const events = Number(values.events ?? 1_000_000);
  const dir = mkdtempSync(join(tmpdir(), 'vg-evidence-'));
  try {
    const audit = join(dir, 'audit');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(audit);
    const t0 = performance.now();
    const bytes = generateTrail(audit, events);
    console.log(
      `generated ${events.toLocaleString('en')} events (${(bytes / 2 ** 20).toFixed(0)} MiB) in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    const policy = join(dir, 'proposed.yaml');
    for (const phase of ['learn', 'replay'] as const) {
      const f = runChild(phase, audit, policy);
      const rate = Math.round(events / (f.ms / 1000));
      console.log(
        `${phase.padEnd(6)} ${(f.ms / 1000).toFixed(1)} s  ${rate.toLocaleString('en')} events/s  peak RSS ${f.maxRssMb.toFixed(0)} MB  (${f.detail})  aim < 60 s: ${f.ms < 60_000 ? 'ok' : 'NO'}`,
      );
    }
  } finally {
    if (values.keep === true) console.log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

await main();
