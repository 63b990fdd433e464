/**
 * Measurement 8: zero failed requests across a gateway SVID rotation under load. A gateway with a short dev
 * SVID TTL (the dev issuer rotates at half of it) takes paced load on long-lived sessions plus a churn of new
 * sessions (handshake, a few reads, close), so both the sessions that live through a rotation and the
 * handshakes made after it (new certificate, same bundle) are counted.
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { BenchPki } from './bench-pki.js';
import { spawnGateway } from './gateway-fixture.js';
import { ModbusClientConn, openConnections, runPaced, type Endpoint } from './load-generator.js';

export interface RotationResult {
  readonly requests: number;
  readonly failed: number;
  readonly newSessions: number;
  readonly failedSessions: number;
  readonly rotations: number;
  readonly seconds: number;
}

async function churn(
  ep: Endpoint,
  untilMs: number,
): Promise<{ requests: number; failed: number; sessions: number; failedSessions: number }> {
  const r = { requests: 0, failed: 0, sessions: 0, failedSessions: 0 };
  while (performance.now() < untilMs) {
    let c: ModbusClientConn;
    try {
      c = await ModbusClientConn.connect(ep);
      r.sessions++;
    } catch {
      r.failedSessions++;
      continue;
    }
    for (let i = 0; i < 5; i++) {
      if (await c.request()) r.requests++;
      else r.failed++;
    }
    c.close();
    await new Promise((res) => setTimeout(res, 20));
  }
  return r;
}

export async function measureRotation(
  dir: string,
  pki: BenchPki,
  simPort: number,
  o: { svidTtlS: number; durationMs: number; rate: number },
): Promise<RotationResult> {
  const gw = await spawnGateway({
    dir: join(dir, 'gw-rotation'),
    caDir: pki.caDir,
    simPort,
    upstreamConnections: 8,
    svidTtl: `${o.svidTtlS}s`,
  });
  try {
    const ep: Endpoint = { port: gw.info.port as number, tls: pki.client };
    const conns = await openConnections(ep, 8);
    const before = (await gw.command('rotations')) as { rotations: number };
    const until = performance.now() + o.durationMs;
    const [paced, ...churned] = await Promise.all([
      runPaced(conns, { rate: o.rate, durationMs: o.durationMs, warmupMs: 0 }),
      churn(ep, until),
      churn(ep, until),
    ]);
    for (const c of conns) c.close();
    const after = (await gw.command('rotations')) as { rotations: number };
    const sum = (k: 'requests' | 'failed' | 'sessions' | 'failedSessions'): number =>
      churned.reduce((a, c) => a + c[k], 0);
    return {
      requests: paced.completed + paced.failed + sum('requests') + sum('failed'),
      failed: paced.failed + sum('failed'),
      newSessions: sum('sessions'),
      failedSessions: sum('failedSessions'),
      rotations: after.rotations - before.rotations,
      seconds: paced.seconds,
    };
  } finally {
    await gw.stop();
  }
}
