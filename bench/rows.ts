/**
 * Results → table rows: ratios against the same run's baselines, and the aims (docs/architecture.md
 * "Performance aims") where one applies.
 */
import type { DataPathOptions, PathResult } from './data-path.js';
import type { HandshakeResult } from './handshake-rate.js';
import type { MemoryResult } from './idle-memory.js';
import type { PolicyEvalResult } from './policy-eval.js';
import type { RotationResult } from './rotation.js';
import { mb, ms, ns, perSec, signedMs, times, type Row } from './table.js';

const LABEL: Record<string, [string, string]> = {
  direct: ['1', 'Direct plain Modbus/TCP to the simulator'],
  pipe: ['2', 'Node TLS→TCP pipe, mTLS, no inspection'],
  stunnel: ['3', 'stunnel4, mTLS (client cert required)'],
  haproxy: ['3', 'haproxy, mTLS (verify required)'],
  verigate: ['4', 'verigate (full gateway, policy + audit)'],
};

const fails = (...r: { failed: number }[]): string => {
  const f = r.reduce((a, x) => a + x.failed, 0);
  return f === 0 ? '' : `, ${f} failed`;
};

export function dataPathRows(results: Map<string, PathResult | string>, o: DataPathOptions): Row[] {
  const rows: Row[] = [];
  const direct = results.get('direct');
  const pipe = results.get('pipe');
  for (const [key, r] of results) {
    const [n, name] = LABEL[key] ?? ['?', key];
    if (typeof r === 'string') {
      rows.push({ n, what: name, value: r });
      continue;
    }
    // open loop: say so when the path could not keep up with the offered rate
    const short = r.paced.perSecond < 0.95 * o.rate ? ` (only ${perSec(r.paced.perSecond)} served)` : '';
    const lat: Row = { n, what: `${name}: latency p50 / p99 @ ${o.rate} req/s`, value: `${ms(r.paced.p50Us)} / ${ms(r.paced.p99Us)}${fails(r.paced)}${short}` };
    const t1: Row = { n, what: `${name}: max throughput, ${o.connections} conns × 1 in flight`, value: `${perSec(r.closed1.perSecond)}${fails(r.closed1)}` };
    const tn: Row = { n, what: `${name}: max throughput, ${o.connections} conns × ${o.depth} in flight`, value: `${perSec(r.closedN.perSecond)}${fails(r.closedN)}` };
    if (key !== 'direct' && direct && typeof direct !== 'string') {
      const d50 = r.paced.p50Us - direct.paced.p50Us;
      const d99 = r.paced.p99Us - direct.paced.p99Us;
      Object.assign(lat, { baseline: 'direct', ratio: `${signedMs(d50)} / ${signedMs(d99)}` });
      if (key === 'verigate') Object.assign(lat, { aim: 'added ≤ 0.2 ms / ≤ 1 ms', met: d50 <= 200 && d99 <= 1000 });
    }
    if (key !== 'direct' && key !== 'pipe' && pipe && typeof pipe !== 'string') {
      const r1 = r.closed1.perSecond / pipe.closed1.perSecond;
      const rn = r.closedN.perSecond / pipe.closedN.perSecond;
      Object.assign(t1, { baseline: 'TLS pipe', ratio: times(r1) });
      Object.assign(tn, { baseline: 'TLS pipe', ratio: times(rn) });
      if (key === 'verigate') {
        Object.assign(t1, { aim: '≥ 0.7× pipe', met: r1 >= 0.7 });
        Object.assign(tn, { aim: '≥ 0.7× pipe', met: rn >= 0.7 });
      }
    } else if (key === 'pipe' && direct && typeof direct !== 'string') {
      Object.assign(t1, { baseline: 'direct', ratio: times(r.closed1.perSecond / direct.closed1.perSecond) });
      Object.assign(tn, { baseline: 'direct', ratio: times(r.closedN.perSecond / direct.closedN.perSecond) });
    }
    rows.push(lat, t1, tn);
  }
  const gw = results.get('verigate');
  if (gw && typeof gw !== 'string') {
    for (const key of ['stunnel', 'haproxy']) {
      const b = results.get(key);
      if (!b || typeof b === 'string') continue;
      rows.push({
        n: '4',
        what: `verigate vs ${key}: throughput ×1 / ×${o.depth} in flight`,
        value: `${perSec(gw.closed1.perSecond)} / ${perSec(gw.closedN.perSecond)}`,
        baseline: `${perSec(b.closed1.perSecond)} / ${perSec(b.closedN.perSecond)}`,
        ratio: `${times(gw.closed1.perSecond / b.closed1.perSecond)} / ${times(gw.closedN.perSecond / b.closedN.perSecond)}`,
      });
    }
  }
  return rows;
}

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

export function handshakeRows(hs: Map<string, HandshakeResult | string>): Row[] {
  const pipe = hs.get('pipe');
  const rows: Row[] = [];
  const ordered = [...hs].sort(([a], [b]) => Number(b === 'pipe') - Number(a === 'pipe')); // baseline first
  for (const [key, r] of ordered) {
    const what = `mTLS sessions/s (connect + full handshake + 1 read + close, 8 at once): ${key === 'pipe' ? 'TLS pipe' : key}`;
    if (typeof r === 'string') {
      rows.push({ n: '6', what, value: r });
      continue;
    }
    const row: Row = { n: '6', what, value: `${perSec(r.perSecond)}${fails(r)}` };
    if (key !== 'pipe' && pipe && typeof pipe !== 'string') Object.assign(row, { baseline: 'TLS pipe', ratio: times(r.perSecond / pipe.perSecond) });
    rows.push(row);
  }
  return rows;
}

export function memoryRows(m: MemoryResult): Row[] {
  return [
    {
      n: '7',
      what: `Gateway RSS with ${m.sessions.toLocaleString('en-US')} idle mTLS sessions (${m.liveSessions} live in the gateway); peak`,
      value: `${mb(m.rss)}; peak ${mb(m.peakRss)}`,
      baseline: `0 sessions: ${mb(m.baselineRss)} (empty node+tsx child: ${mb(m.tsxRss)})`,
      ratio: `+${mb(m.rss - m.baselineRss)} (${((m.rss - m.baselineRss) / Math.max(1, m.sessions) / 1024).toFixed(0)} KB/session)`,
      aim: '≤ 150 MB',
      met: m.peakRss <= 150 * 1048576 && m.sessions === m.liveSessions,
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
      aim: '0 failed, ≥ 1 rotation',
      met: r.failed === 0 && r.failedSessions === 0 && r.rotations >= 1,
    },
  ];
}
