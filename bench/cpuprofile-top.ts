/**
 * Top self-time entries of a V8 `.cpuprofile` (what `node --cpu-prof` writes): a JSON object with `nodes`
 * (each a call-tree node: id, callFrame {functionName, url, lineNumber, columnNumber}, hitCount, children),
 * `startTime`/`endTime` and `samples` + `timeDeltas` (one sampled node id per tick, µs since the previous).
 * Self time of a function = the samples whose leaf is that function, summed over every tree node with the
 * same (function, location). Pure: file reading and source maps are the caller's (`locate`).
 */
export interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  /** 0-based, as V8 writes them. */
  readonly lineNumber: number;
  readonly columnNumber: number;
}

export interface CpuProfile {
  readonly nodes: readonly {
    readonly id: number;
    readonly callFrame: CallFrame;
    readonly hitCount?: number;
    readonly children?: readonly number[];
  }[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples?: readonly number[];
  readonly timeDeltas?: readonly number[];
}

export interface TopEntry {
  readonly functionName: string;
  /** `file:line` (1-based), after `locate`; a native function (no URL) says where it was called from. */
  readonly location: string;
  readonly samples: number;
  /** Share of the busy samples (all but `(idle)`), in percent. */
  readonly selfPct: number;
}

export interface TopResult {
  readonly entries: readonly TopEntry[];
  /** Samples counted (inside the window when one is given). */
  readonly samples: number;
  /** Share of `(idle)` samples, percent of all counted. */
  readonly idlePct: number;
  /** False when a window was asked for but no sample fell in it, so every sample was counted. */
  readonly windowed: boolean;
}

export interface TopOptions {
  readonly top: number;
  /** Where a frame is, as `file:line`; default: the URL's path and the 1-based line. */
  readonly locate?: (frame: CallFrame) => string;
  /** Count only samples taken in [fromUs, toUs] (the profile's own clock, µs). */
  readonly window?: { readonly fromUs: number; readonly toUs: number };
}

export const defaultLocate = (f: CallFrame): string =>
  f.url === '' ? '(native)' : `${f.url.replace(/^file:\/\//, '')}:${f.lineNumber + 1}`;

/** Samples per node id: from `samples` (optionally inside a window), else the nodes' `hitCount`. */
function hitsPerNode(p: CpuProfile, window: TopOptions['window']): { hits: Map<number, number>; windowed: boolean } {
  const hits = new Map<number, number>();
  if (p.samples && p.timeDeltas && p.samples.length === p.timeDeltas.length) {
    let t = p.startTime;
    for (let i = 0; i < p.samples.length; i++) {
      t += p.timeDeltas[i] as number;
      if (window && (t < window.fromUs || t > window.toUs)) continue;
      const id = p.samples[i] as number;
      hits.set(id, (hits.get(id) ?? 0) + 1);
    }
    if (hits.size > 0 || !window) return { hits, windowed: window !== undefined };
  }
  for (const n of p.nodes) hits.set(n.id, n.hitCount ?? 0);
  return { hits, windowed: false };
}

/** V8's pseudo-frames: (program), (garbage collector), (idle), (root). */
const isPseudo = (f: CallFrame): boolean => f.url === '' && f.functionName.startsWith('(');

export function topSelfTime(p: CpuProfile, o: TopOptions): TopResult {
  const locate = o.locate ?? defaultLocate;
  const { hits, windowed } = hitsPerNode(p, o.window);
  const parent = new Map<number, CallFrame>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.callFrame);
  const where = (id: number, f: CallFrame): string => {
    if (isPseudo(f)) return '';
    if (f.url !== '') return locate(f);
    // a native function (fs.writeSync's writeBuffer, crypto): its JS caller says whose work it is
    const caller = parent.get(id);
    return caller && caller.url !== ''
      ? `(native) ← ${caller.functionName || '(anonymous)'} ${locate(caller)}`
      : '(native)';
  };
  const byKey = new Map<string, { functionName: string; location: string; samples: number }>();
  let total = 0;
  let idle = 0;
  for (const n of p.nodes) {
    const h = hits.get(n.id) ?? 0;
    if (h === 0) continue;
    total += h;
    const functionName = n.callFrame.functionName || '(anonymous)';
    if (functionName === '(idle)') {
      idle += h;
      continue;
    }
    const location = where(n.id, n.callFrame);
    const key = `${functionName}\u0000${location}`;
    const e = byKey.get(key) ?? byKey.set(key, { functionName, location, samples: 0 }).get(key)!;
    e.samples += h;
  }
  const busy = Math.max(1, total - idle);
  const entries = [...byKey.values()]
    .sort((a, b) => b.samples - a.samples || a.functionName.localeCompare(b.functionName))
    .slice(0, o.top)
    .map((e) => ({ ...e, selfPct: (100 * e.samples) / busy }));
  return { entries, samples: total, idlePct: total === 0 ? 0 : (100 * idle) / total, windowed };
}

/** The entries as aligned text lines: `self%  function  file:line`. */
export function formatTop(r: TopResult): string {
  const w = Math.max(8, ...r.entries.map((e) => e.functionName.length));
  return r.entries
    .map((e) => `${e.selfPct.toFixed(1).padStart(5)} %  ${e.functionName.padEnd(w)}  ${e.location}`)
    .join('\n');
}
