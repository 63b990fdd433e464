/**
 * Measurement 6: new mTLS sessions per second. Each of `concurrency` workers loops: connect, full mutual TLS
 * handshake (no resumption), one read — the proof that the server accepted the client certificate, since in
 * TLS 1.3 the client finishes before the server has checked it — then close. The CPU each process spent per
 * session is reported beside the rate (cpu-meter.ts): the client side's handshake work shares the cores.
 */
import { performance } from 'node:perf_hooks';
import { startCpuWindow, type CpuSplit } from './cpu-meter.js';
import { ModbusClientConn, type Endpoint } from './load-generator.js';

export interface HandshakeResult {
  readonly perSecond: number;
  readonly completed: number;
  readonly failed: number;
  /** CPU µs per completed session: the server, the simulator (its one read) and the client side. */
  readonly cpu?: CpuSplit;
}

export async function measureHandshakes(
  ep: Endpoint,
  o: { concurrency: number; durationMs: number; simPid?: number | undefined },
): Promise<HandshakeResult> {
  const cpuEnd = startCpuWindow({ server: ep.pid, sim: o.simPid });
  let completed = 0;
  let failed = 0;
  const t0 = performance.now();
  const end = t0 + o.durationMs;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      try {
        const c = await ModbusClientConn.connect(ep);
        const ok = await c.request();
        c.close();
        if (ok) completed++;
        else failed++;
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  return { perSecond: completed / seconds, completed, failed, cpu: cpuEnd(completed) };
}
