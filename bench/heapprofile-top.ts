/**
 * Top allocation sites of a V8 sampling heap profile (what `HeapProfiler.stopSampling` returns and Chrome
 * DevTools saves as `.heapprofile`): a call tree whose nodes carry `selfSize`, V8's estimate of the bytes
 * allocated by that function at that stack (samples scaled by the sampling interval). Two views:
 * - self: bytes per (function, location) summed over every tree node, the function that allocated;
 * - own: bytes per nearest caller in the project's own code (`own(location)`), walking up from the allocating
 *   frame (itself included), so `Buffer.concat` or `new Promise` is charged to the gateway function that asked.
 * Pure: file reading and source maps are the caller's (`locate`), as in cpuprofile-top.ts.
 */
import { defaultLocate, type CallFrame } from './cpuprofile-top.js';

export interface HeapNode {
  readonly callFrame: CallFrame;
  readonly selfSize: number;
  readonly id: number;
  readonly children: readonly HeapNode[];
}

export interface HeapProfile {
  readonly head: HeapNode;
}

export interface AllocEntry {
  readonly functionName: string;
  readonly location: string;
  readonly bytes: number;
  /** Share of all bytes in the profile, in percent. */
  readonly pct: number;
}

export interface AllocTop {
  readonly totalBytes: number;
  readonly self: readonly AllocEntry[];
  /** By nearest own-code caller; frames with no own caller on their stack are one `(outside the project)` entry. */
  readonly own: readonly AllocEntry[];
}

export interface AllocTopOptions {
  readonly top: number;
  readonly locate?: (frame: CallFrame) => string;
  /** Is this (located) frame the project's own code? Default: nothing is (every own entry is outside). */
  readonly own?: (location: string) => boolean;
}

const isPseudo = (f: CallFrame): boolean => f.url === '' && f.functionName.startsWith('(');

export function topAllocations(p: HeapProfile, o: AllocTopOptions): AllocTop {
  const locate = o.locate ?? defaultLocate;
  const isOwn = o.own ?? (() => false);
  const self = new Map<string, { functionName: string; location: string; bytes: number }>();
  const own = new Map<string, { functionName: string; location: string; bytes: number }>();
  const add = (m: typeof self, functionName: string, location: string, bytes: number): void => {
    const key = `${functionName}\u0000${location}`;
    const e = m.get(key) ?? m.set(key, { functionName, location, bytes: 0 }).get(key)!;
    e.bytes += bytes;
  };
  let total = 0;
  // iterative walk (the tree can be deep); each item carries its parent frame and its nearest own-code caller
  const todo: { n: HeapNode; parent: CallFrame | null; owner: { name: string; location: string } | null }[] = [
    { n: p.head, parent: null, owner: null },
  ];
  for (let item = todo.pop(); item !== undefined; item = todo.pop()) {
    const { n, parent } = item;
    const f = n.callFrame;
    const name = f.functionName || '(anonymous)';
    const location = isPseudo(f)
      ? ''
      : f.url !== ''
        ? locate(f)
        : parent && parent.url !== ''
          ? `(native) ← ${parent.functionName || '(anonymous)'} ${locate(parent)}`
          : '(native)';
    const owner = f.url !== '' && isOwn(location) ? { name, location } : item.owner;
    if (n.selfSize > 0) {
      total += n.selfSize;
      add(self, name, location, n.selfSize);
      add(own, owner?.name ?? '(outside the project)', owner?.location ?? '', n.selfSize);
    }
    for (const c of n.children) todo.push({ n: c, parent: f, owner });
  }
  const entries = (m: typeof self): AllocEntry[] =>
    [...m.values()]
      .sort((a, b) => b.bytes - a.bytes || a.functionName.localeCompare(b.functionName))
      .slice(0, o.top)
      .map((e) => ({ ...e, pct: total === 0 ? 0 : (100 * e.bytes) / total }));
  return { totalBytes: total, self: entries(self), own: entries(own) };
}

const kb = (bytes: number): string =>
  bytes >= 10 * 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(0)} MB` : `${(bytes / 1024).toFixed(0)} KB`;

/** The entries as aligned lines: `bytes  %  [bytes per request]  function  file:line`. */
export function formatAllocations(entries: readonly AllocEntry[], requests: number): string {
  const w = Math.max(8, ...entries.map((e) => e.functionName.length));
  return entries
    .map(
      (e) =>
        `${kb(e.bytes).padStart(7)} ${e.pct.toFixed(1).padStart(5)} %` +
        `${requests > 0 ? `${(e.bytes / requests).toFixed(0).padStart(7)} B/req` : ''}  ${e.functionName.padEnd(w)}  ${e.location}`,
    )
    .join('\n');
}
