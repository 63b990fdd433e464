/**
 * Results → table rows: ratios against the same run's baselines, and the aims (docs/architecture.md
 * "Performance aims") where one applies.
 */
import { AIMS } from './aims.js';
import type { GrpcOutcome } from './grpc-rate.js';
import { summarizePairs } from './paired-throughput.js';
import { pairsStealNote } from './steal-meter.js';
import type { MemoryResult } from './idle-memory.js';
import type { PolicyEvalResult } from './policy-eval.js';
import type { RotationResult } from './rotation.js';
import { mb, ns, perSec, times, type Row } from './table.js';

export { dataPathRows, handshakeRows } from './data-path-rows.js';

export function policyRows(trivial: PolicyEvalResult, big: PolicyEvalResult): Row[] {
  return [
    {
      n: '5',
      what: `Policy evaluate, ${big.rules.toLocaleString('en-US')} rules: median / p99 per decision (${(big.allowShare * 100).toFixed(0)} % allow)`,
      value: `${ns(big.medianNs)} / ${ns(big.p99Ns)}`,
      baseline: `1 rule: ${ns(trivial.medianNs)} / ${ns(trivial.p99Ns)}`,
      ratio: times(big.medianNs / Math.max(1, trivial.medianNs)),
      aim: '≤ 2 µs median',
      met: big.medianNs <= 2000,
    },
    {
      n: '5',
      what: `Policy: first decision of a new (peer, device) pair (view build), median; compile time`,
      value: `${ns(big.firstMedianNs)}; compile ${(big.compileMs / 1000).toFixed(1)} s`,
      baseline: `1 rule: ${ns(trivial.firstMedianNs)}; ${trivial.compileMs.toFixed(0)} ms`,
    },
  ];
}

export function memoryRows(m: MemoryResult): Row[] {
  const perSession = (m.settledRss - m.baselineRss) / Math.max(1, m.sessions) / 1024;
  return [
    {
      n: '7',
      what: `Gateway RSS (from dist/, after a GC) with ${m.sessions.toLocaleString('en-US')} idle mTLS sessions (${m.liveSessions} live in the gateway): after ${m.settleMs / 1000} s idle; 0.5 s after the last read; peak`,
      value: `${mb(m.settledRss)}; ${mb(m.rss)}; peak ${mb(m.peakRss)}`,
      baseline: `0 sessions: ${mb(m.baselineRss)}; empty node child: ${mb(m.nodeRss)}`,
      ratio: `+${mb(m.settledRss - m.baselineRss)} (${perSession.toFixed(0)} KB/session)`,
      aim: `≤ ${mb(AIMS.idleRssBytes)}`,
      met: m.settledRss <= AIMS.idleRssBytes && m.sessions === m.liveSessions,
    },
  ];
}

export function grpcRows(r: GrpcOutcome | string, o: { channels: number; inFlight: number }): Row[] {
  const what = `gRPC unary ReadHoldingRegisters/s (10 registers), ${o.channels} channels × ${o.inFlight} calls in flight`;
  const aim = `≥ ${AIMS.grpcVsBare.toFixed(1)}× bare grpc-js`;
  if (typeof r === 'string') return [{ n: '9', what, value: r, aim, met: false }];
  const fails = (failed: number): string => (failed === 0 ? '' : `, ${failed} failed`);
  if ('bare' in r)
    return [
      {
        n: '9',
        what: `${what}: verigate`,
        value: `${perSec(r.gateway.perSecond)}${fails(r.gateway.failed)}`,
        baseline: `bare grpc-js: ${r.bare}`,
        aim,
      },
    ];
  const s = summarizePairs(r.pairs);
  return [
    {
      n: '9',
      what: `${what}: verigate (policy + audit per call; median of ${r.pairs.ref.length} alternating pairs)`,
      value: `${perSec(s.targetMedian)}${fails(r.pairs.failed)}${pairsStealNote(r.pairs)}`,
      baseline: `bare grpc-js server, same proto, fixed answer: ${perSec(s.refMedian)} (same pairs)`,
      ratio: `${times(s.median)} (pairs ${times(s.min)}–${times(s.max)})`,
      aim,
      met: s.median >= AIMS.grpcVsBare && r.pairs.failed === 0,
    },
  ];
}

export function rotationRows(r: RotationResult): Row[] {
  return [
    {
      n: '8',
      what: `Failed requests across gateway SVID rotation under load (${r.seconds.toFixed(0)} s, ${r.newSessions} new sessions)`,
      value: `${r.failed} of ${r.requests.toLocaleString('en-US')} requests; ${r.failedSessions} failed handshakes`,
      baseline: `${r.rotations} rotation${r.rotations === 1 ? '' : 's'}`,
      aim: `${AIMS.rotationFailures} failed, ≥ 1 rotation`,
      met: r.failed === AIMS.rotationFailures && r.failedSessions === 0 && r.rotations >= 1,
    },
  ];
}
