/**
 * Measurement 6: new mTLS sessions per second. Each of `concurrency` workers loops: connect, full mutual TLS
 * handshake (no resumption), one read — the proof that the server accepted the client certificate, since in
 * TLS 1.3 the client finishes before the server has checked it — then close. The CPU each process spent per
 * session is reported beside the rate (cpu-meter.ts): the client side's handshake work shares the cores.
 * Like the throughput rows, the window opens after `warmupMs` of the same loop: a Node server (the gateway, the
 * Node pipe) otherwise spends the first seconds interpreting and compiling its per-connection code, which the
 * C and Go terminators never do — a JIT warm-up, not the steady cost of a handshake.
 */
import { performance } from 'node:perf_hooks';
import { startCpuWindow, type CpuSplit } from './cpu-meter.js';
import { ModbusClientConn, type Endpoint } from './load-generator.js';
import { startStealWindow } from './steal-meter.js';

export interface HandshakeResult {
  readonly perSecond: number;
  readonly completed: number;
  readonly failed: number;
  /** CPU µs per completed session: the server, the simulator (its one read) and the client side. */
  readonly cpu?: CpuSplit;
  /** The hypervisor's steal in % of all CPU time over the window (steal-meter.ts). */
  readonly stealPct?: number | undefined;
}

export async function measureHandshakes(
  ep: Endpoint,
  o: { concurrency: number; durationMs: number; warmupMs?: number; simPid?: number | undefined },
): Promise<HandshakeResult> {
  let counting = false;
  let completed = 0;
  let failed = 0;
  const end = performance.now() + (o.warmupMs ?? 0) + o.durationMs;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      let ok = false;
      try {
        const c = await ModbusClientConn.connect(ep);
        ok = await c.request();
        c.close();
      } catch {
        ok = false;
      }
      if (!counting) continue;
      if (ok) completed++;
      else failed++;
    }
  };
  const workers = Promise.all(Array.from({ length: o.concurrency }, worker));
  if (o.warmupMs) await new Promise((r) => setTimeout(r, o.warmupMs));
  const cpuEnd = startCpuWindow({ server: ep.pid, sim: o.simPid }); // the /proc reads before the window opens
  const stealEnd = startStealWindow();
  // sessions that started in the warm-up and end in the window count (as in-flight ones at its end do not)
  counting = true;
  const t0 = performance.now();
  await workers;
  const seconds = (performance.now() - t0) / 1000;
  return { perSecond: completed / seconds, completed, failed, cpu: cpuEnd(completed), stealPct: stealEnd() };
}
