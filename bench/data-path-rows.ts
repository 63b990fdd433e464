/**
 * Data-path and handshake results → table rows. Every verigate aim is against haproxy measured in the same
 * run (aims.ts); the other terminators (stunnel, ghostunnel) and the Node TLS pipe are context, with their
 * own ratio to haproxy. Latency is "added": the path's percentile minus the direct path's.
 */
import { AIMS } from './aims.js';
import { formatSplit, totalUs } from './cpu-meter.js';
import type { DataPathOptions, PathResult } from './data-path.js';
import type { HandshakeResult } from './handshake-rate.js';
import type { RunResult } from './load-generator.js';
import { summarizePairs, type PairedLoad, type PairedResult } from './paired-throughput.js';
import { added, latencyRows } from './latency-rows.js';
import { pacedCpuRow } from './paced-cpu-row.js';
import type { PairedLatency } from './paired-latency.js';
import { pairsStealNote, stealNote } from './steal-meter.js';
import { ms, perSec, signedMs, times, type Row } from './table.js';
import { fails, short } from './window-notes.js';

const LABEL: Record<string, [string, string]> = {
  direct: ['1', 'Direct plain Modbus/TCP to the simulator'],
  pipe: ['2', 'Node TLS→TCP pipe, mTLS, no inspection'],
  stunnel: ['3', 'stunnel4, mTLS (client cert required)'],
  haproxy: ['3', 'haproxy, mTLS (verify required)'],
  ghostunnel: ['3', 'ghostunnel 1.8.4, mTLS (client SPIFFE ID allowed)'],
  verigate: ['4', 'verigate from dist/ (full gateway, policy + trust + metrics + audit)'],
};
const BASELINE = 'haproxy';

/**
 * Where a path's throughput goes: CPU µs per request of its server, the simulator and the load generator in
 * both closed-loop runs, and their sum against haproxy's (the cores are shared, so the sum bounds req/s).
 */
function cpuRow(
  n: string,
  name: string,
  r: PathResult,
  o: DataPathOptions,
  ref: PathResult | null,
  isRef: boolean,
): Row | null {
  const a = r.closed1.cpu;
  const b = r.closedN.cpu;
  if (!a || !b) return null;
  const refA = ref?.closed1.cpu;
  const refB = ref?.closedN.cpu;
  return {
    n,
    what: `${name}: CPU per request (server / simulator / load generator), ${o.connections} × 1; ${o.depthConnections} × ${o.depth}`,
    value: `${formatSplit(a)}; ${formatSplit(b)}`,
    ...(refA && refB && !isRef
      ? {
          baseline: `${BASELINE} ${totalUs(refA).toFixed(1)}; ${totalUs(refB).toFixed(1)} µs in all`,
          ratio: `${totalUs(a).toFixed(1)}; ${totalUs(b).toFixed(1)} µs in all`,
        }
      : {}),
  };
}

function contextRows(
  key: string,
  r: PathResult,
  o: DataPathOptions,
  direct: PathResult | null,
  ref: PathResult | null,
): Row[] {
  const [n, name] = LABEL[key] ?? ['?', key];
  const lat: Row = {
    n,
    what: `${name}: latency p50 / p99 @ ${o.rate} req/s; p99 @ ${o.highRate} req/s`,
    value: `${ms(r.paced.p50Us)} / ${ms(r.paced.p99Us)}${short(r.paced, o.rate)}; ${ms(r.pacedHigh.p99Us)}${short(r.pacedHigh, o.highRate)}${fails(r.paced, r.pacedHigh)}${stealNote([r.paced, r.pacedHigh])}`,
  };
  if (direct && key !== 'direct') {
    const a = added(r, direct);
    Object.assign(lat, {
      baseline: 'direct',
      ratio: `${signedMs(a.p50)} / ${signedMs(a.p99)}; ${signedMs(a.p99High)}`,
    });
  }
  const tput: Row = {
    n,
    what: `${name}: max throughput, ${o.connections} conns × 1 / ${o.depthConnections} conns × ${o.depth} in flight`,
    value: `${perSec(r.closed1.perSecond)} / ${perSec(r.closedN.perSecond)}${fails(r.closed1, r.closedN)}`,
  };
  if (ref && key !== 'direct' && key !== BASELINE) {
    Object.assign(tput, {
      baseline: BASELINE,
      ratio: `${times(r.closed1.perSecond / ref.closed1.perSecond)} / ${times(r.closedN.perSecond / ref.closedN.perSecond)}`,
    });
  }
  const cpu = cpuRow(n, name, r, o, ref, key === BASELINE);
  const paced = pacedCpuRow(n, name, r, o);
  return [lat, tput, ...(cpu ? [cpu] : []), ...(paced ? [paced] : [])];
}

/** The four verigate rows' names and aims, also printed (with NO) when verigate could not be measured. */
function verigateAims(o: DataPathOptions): { what: string; aim: string }[] {
  const t = `≥ ${AIMS.throughputVsHaproxy.toFixed(1)}× ${BASELINE}`;
  return [
    { what: `max throughput, ${o.connections} conns × 1 in flight`, aim: t },
    { what: `max throughput, ${o.depthConnections} conns × ${o.depth} in flight`, aim: t },
    {
      what: `added latency p50 / p99 @ ${o.rate} req/s`,
      aim: `p50 ≤ ${BASELINE}'s added + ${ms(AIMS.addedP50OverHaproxyUs)} / p99 ≤ +${ms(AIMS.addedP99Us)}`,
    },
    { what: `added latency p99 @ ${o.highRate} req/s`, aim: `≤ +${ms(AIMS.addedP99HighRateUs)}` },
  ];
}

/** An aim judged on alternating pairs (paired-throughput.ts): the median ratio, its range, no failure allowed. */
function pairsRow(n: string, what: string, pairs: PairedLoad, aim: number): Row {
  const s = summarizePairs(pairs);
  return {
    n,
    what,
    value: `${perSec(s.targetMedian)}${pairs.failed === 0 ? '' : `, ${pairs.failed} failed`}${pairsStealNote(pairs)}`,
    baseline: `${BASELINE} ${perSec(s.refMedian)} (same pairs)`,
    ratio: `${times(s.median)} (pairs ${times(s.min)}–${times(s.max)})`,
    aim: `≥ ${aim.toFixed(1)}× ${BASELINE}`,
    met: s.median >= aim && pairs.failed === 0,
  };
}

/**
 * The sequential run's throughput (context when the aims are judged on alternating pairs): measured like
 * every other path's, haproxy's tens of seconds before, so it carries the machine's drift in between.
 */
function sequentialRow(g: PathResult, o: DataPathOptions, ref: PathResult | null): Row {
  return {
    n: '4',
    what: `verigate: max throughput in the sequential run, ${o.connections} conns × 1 / ${o.depthConnections} conns × ${o.depth} in flight`,
    value: `${perSec(g.closed1.perSecond)} / ${perSec(g.closedN.perSecond)}${fails(g.closed1, g.closedN)}`,
    ...(ref
      ? {
          baseline: `${BASELINE} ${perSec(ref.closed1.perSecond)} / ${perSec(ref.closedN.perSecond)}`,
          ratio: `${times(g.closed1.perSecond / ref.closed1.perSecond)} / ${times(g.closedN.perSecond / ref.closedN.perSecond)}`,
        }
      : {}),
  };
}

/**
 * The issue's four data-path rows for verigate, each with its aim; `met` is unknown without haproxy. The
 * throughput aims are judged on the alternating pairs when they ran (paired-throughput.ts); if they failed
 * (a string: why), on the sequential run, and a row says why.
 */
function verigateRows(
  g: PathResult,
  o: DataPathOptions,
  direct: PathResult | null,
  ref: PathResult | null,
  refWhy: string,
  paired: PairedResult | string | undefined,
  pairedLatency: PairedLatency | string | undefined,
): Row[] {
  const name = 'verigate';
  const base = (fn: (h: PathResult) => string): string => (ref ? fn(ref) : `${BASELINE}: ${refWhy}`);
  const aim = `≥ ${AIMS.throughputVsHaproxy.toFixed(1)}× ${BASELINE}`;
  const tputRow = (label: string, pick: (p: PathResult) => RunResult, pairs: PairedLoad | null): Row => {
    const what = `${name}: max throughput, ${label}`;
    if (pairs !== null && pairs.ref.length > 0)
      return pairsRow(
        '4',
        `${what} (median of ${pairs.ref.length} alternating pairs)`,
        pairs,
        AIMS.throughputVsHaproxy,
      );
    const v = pick(g);
    const ratio = ref ? v.perSecond / pick(ref).perSecond : NaN;
    return {
      n: '4',
      what,
      value: `${perSec(v.perSecond)}${fails(v)}`,
      baseline: base((h) => `${BASELINE} ${perSec(pick(h).perSecond)}`),
      ratio: ref ? times(ratio) : '',
      aim,
      ...(ref ? { met: ratio >= AIMS.throughputVsHaproxy && v.failed === 0 } : {}),
    };
  };
  const p = typeof paired === 'object' ? paired : null;
  const rows = [
    tputRow(`${o.connections} conns × 1 in flight`, (x) => x.closed1, p?.single ?? null),
    tputRow(`${o.depthConnections} conns × ${o.depth} in flight`, (x) => x.closedN, p?.pipelined ?? null),
  ];
  if (p !== null) rows.push(sequentialRow(g, o, ref));
  else if (typeof paired === 'string')
    rows.push({ n: '4', what: 'verigate: throughput in alternating pairs with haproxy', value: paired });
  const cpu = cpuRow('4', name, g, o, ref, false);
  if (cpu) rows.push(cpu);
  rows.push(...latencyRows(g, o, direct, ref, refWhy, pairedLatency));
  const paced = pacedCpuRow('4', name, g, o);
  if (paced) rows.push(paced);
  return rows;
}

export function dataPathRows(
  results: Map<string, PathResult | string>,
  o: DataPathOptions,
  paired?: PairedResult | string,
  pairedLatency?: PairedLatency | string,
): Row[] {
  const ok = (k: string): PathResult | null => {
    const r = results.get(k);
    return r && typeof r !== 'string' ? r : null;
  };
  const direct = ok('direct');
  const ref = ok(BASELINE);
  const refWhy = typeof results.get(BASELINE) === 'string' ? (results.get(BASELINE) as string) : 'not measured';
  const rows: Row[] = [];
  for (const [key, r] of results) {
    const [n, name] = LABEL[key] ?? ['?', key];
    if (typeof r === 'string') {
      rows.push(
        ...(key === 'verigate'
          ? verigateAims(o).map((a) => ({ n, what: `verigate: ${a.what}`, value: r, aim: a.aim, met: false }))
          : [{ n, what: name, value: r }]),
      );
      continue;
    }
    if (key === 'verigate') rows.push(...verigateRows(r, o, direct, ref, refWhy, paired, pairedLatency));
    else rows.push(...contextRows(key, r, o, direct, ref));
  }
  return rows;
}

/**
 * Row 6. verigate's aim is judged on alternating pairs with haproxy when they ran (`paired`: the sessions/s of
 * each side per round); the sequential rate stays in its row as context.
 */
export function handshakeRows(hs: Map<string, HandshakeResult | string>, paired?: PairedLoad | string): Row[] {
  const r0 = hs.get(BASELINE);
  const ref = r0 && typeof r0 !== 'string' ? r0 : null;
  const byPairs = typeof paired === 'object' && paired.ref.length > 0;
  const rows: Row[] = [];
  for (const [key, r] of hs) {
    const what = `mTLS sessions/s (connect + full handshake + 1 read + close, 8 at once): ${key === 'pipe' ? 'Node TLS pipe' : key}`;
    const isGw = key === 'verigate';
    if (typeof r === 'string') {
      rows.push({
        n: '6',
        what,
        value: r,
        ...(isGw ? { aim: `≥ ${AIMS.handshakesVsHaproxy.toFixed(1)}× ${BASELINE}`, met: false } : {}),
      });
      continue;
    }
    const ratio = ref ? r.perSecond / ref.perSecond : NaN;
    const refCpu = ref?.cpu && key !== BASELINE ? `; ${totalUs(ref.cpu).toFixed(0)} µs CPU in all` : '';
    const cpu = r.cpu ? `; CPU per session ${formatSplit(r.cpu)} (server / simulator / client)` : '';
    const row: Row = {
      n: '6',
      what,
      value: `${perSec(r.perSecond)}${r.failed === 0 ? '' : `, ${r.failed} failed`}${cpu}`,
      ...(ref && key !== BASELINE
        ? {
            baseline: `${BASELINE} ${perSec(ref.perSecond)}${refCpu}`,
            ratio: `${times(ratio)}${r.cpu ? `; ${totalUs(r.cpu).toFixed(0)} µs CPU in all` : ''}`,
          }
        : {}),
      // judged here unless the pairs below ran: this sequential rate then stays as context
      ...(isGw && !byPairs ? { aim: `≥ ${AIMS.handshakesVsHaproxy.toFixed(1)}× ${BASELINE}` } : {}),
      ...(isGw && ref && !byPairs ? { met: ratio >= AIMS.handshakesVsHaproxy && r.failed === 0 } : {}),
    };
    rows.push(row);
  }
  if (typeof paired === 'string')
    rows.push({ n: '6', what: 'verigate: sessions/s in alternating pairs with haproxy', value: paired });
  else if (byPairs) {
    const what = `mTLS sessions/s, verigate (median of ${paired.ref.length} alternating pairs with ${BASELINE})`;
    rows.push(pairsRow('6', what, paired, AIMS.handshakesVsHaproxy));
  }
  return rows;
}
