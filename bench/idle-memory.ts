/**
 * Measurement 7: gateway RSS with `sessions` idle mTLS sessions (aim in aims.ts; docs/architecture.md
 * "Performance aims"). The gateway runs from dist/ alone in a plain `node` child (started with --expose-gc so
 * each reading follows a full GC); baselines are the same child before any session and an empty `node`
 * child (what Node itself costs). Each session does one read (proof it passed peer verification), then idles.
 * Two readings with the sessions open: 0.5 s after the last read, and after `SETTLE_MS` more of idling. The aim
 * is judged on the second: V8 shrinks its young generation once allocation stops (its memory reducer), so the
 * first still holds what the burst of 1,000 handshakes left, which an idle gateway does not keep.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnBenchChild } from './bench-child.js';
import type { BenchPki } from './bench-pki.js';
import { spawnGateway } from './gateway-fixture.js';
import { openConnections, type ModbusClientConn } from './load-generator.js';

export interface MemoryResult {
  readonly sessions: number;
  readonly liveSessions: number;
  readonly baselineRss: number;
  /** 0.5 s after the last session's read. */
  readonly rss: number;
  /** After `SETTLE_MS` more with every session idle (the reading the aim is judged on). */
  readonly settledRss: number;
  readonly settleMs: number;
  readonly peakRss: number;
  /** An empty plain `node` child (the child protocol only). */
  readonly nodeRss: number;
}

/**
 * Long enough for V8's memory reducer to shrink the young generation after the handshake burst. Traced with a
 * `gc` PerformanceObserver in the child: its memory-reducing GC finished 11.6–12 s after the 0.5 s reading's
 * forced GC, so a 12 s reading caught it about half the time (119.5 or 135.6 MB in back-to-back runs).
 */
const SETTLE_MS = 20_000;

async function emptyNodeRss(dir: string): Promise<number> {
  const child = await spawnBenchChild(
    fileURLToPath(new URL('./null-child.mjs', import.meta.url)),
    [],
    join(dir, 'null.log'),
    ['--expose-gc'],
  );
  try {
    return ((await child.command('rss')) as { rss: number }).rss;
  } finally {
    await child.stop();
  }
}

export async function measureIdleMemory(
  dir: string,
  pki: BenchPki,
  simPort: number,
  sessions: number,
): Promise<MemoryResult> {
  const nodeRss = await emptyNodeRss(dir);
  const gw = await spawnGateway({ dir: join(dir, 'gw-memory'), caDir: pki.caDir, simPort, upstreamConnections: 8 }, [
    '--expose-gc',
  ]);
  let conns: ModbusClientConn[] = [];
  try {
    const port = gw.info.port as number;
    // warm the path with one session so lazy parts (upstream connection, audit segment) count in the baseline
    const [warm] = await openConnections({ port, tls: pki.client }, 1);
    await warm?.request();
    warm?.close();
    await new Promise((r) => setTimeout(r, 300));
    const base = (await gw.command('rss')) as { rss: number };
    // 8 at once: in TLS 1.3 the client is done before the server has checked its certificate, so 16 at once
    // could exceed the gateway's per-source pending-handshake bound (16) and be refused, as designed
    conns = await openConnections({ port, tls: pki.client }, sessions, 8);
    const oks = await Promise.all(conns.map((c) => c.request()));
    await new Promise((r) => setTimeout(r, 500));
    const live = (await gw.command('sessions')) as { sessions: number };
    const after = (await gw.command('rss')) as { rss: number; maxRss: number };
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const settled = (await gw.command('rss')) as { rss: number; maxRss: number };
    return {
      sessions: oks.filter(Boolean).length,
      liveSessions: live.sessions,
      baselineRss: base.rss,
      rss: after.rss,
      settledRss: settled.rss,
      settleMs: SETTLE_MS,
      peakRss: settled.maxRss,
      nodeRss,
    };
  } finally {
    for (const c of conns) c.close();
    await gw.stop();
  }
}
