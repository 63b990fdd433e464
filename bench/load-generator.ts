/**
 * The one load generator every row uses: our own Modbus/TCP client on the project's codec (encodeAdu +
 * MbapFramer), plain TCP or mTLS, over N connections. Every request is the same FC3 read of 10 holding
 * registers on unit 1 (the simulator's alias for 255, the gateway's route to turbine-1).
 *
 * - `runPaced`: open loop at a fixed rate, at most 1 request in flight per connection (like a SCADA poller);
 *   latency is from the write to the response, so it is the service time of the path under test.
 * - `runClosed`: closed loop, `depth` requests in flight per connection, for maximum throughput.
 * A failure is an exception response, a timeout, or a request lost with its connection.
 */
import net from 'node:net';
import tls from 'node:tls';
import { performance } from 'node:perf_hooks';
import { MbapFramer, encodeAdu, encodeRequest } from '../protocols/modbus/index.js';
import { startCpuWindow, type CpuProcs, type CpuSplit } from './cpu-meter.js';
import { startWaitWindow } from './sched-meter.js';
import { startStealWindow } from './steal-meter.js';

export interface Endpoint {
  readonly port: number;
  /** mTLS client credentials, or null for plain Modbus/TCP. */
  readonly tls: { readonly cert: string; readonly key: string; readonly ca: string } | null;
  /** The server process behind the port, when the bench started it: its CPU per request is reported. */
  readonly pid?: number | undefined;
}

export interface RunResult {
  readonly completed: number;
  readonly failed: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly p50Us: number;
  readonly p99Us: number;
  /** CPU µs per request over the recorded window, when processes to measure were given. */
  readonly cpu?: CpuSplit;
  /** µs per request each process waited on a runqueue (sched-meter.ts); open loop, when processes were given. */
  readonly wait?: CpuSplit;
  /** The hypervisor's steal in % of all CPU time over the recorded window (steal-meter.ts); undefined: no reading. */
  readonly stealPct?: number | undefined;
}

export const UNIT = 1;
const READ_PDU = encodeRequest({ type: 'read-registers', fc: 3, address: 0, quantity: 10 });
const TIMEOUT_MS = 2000;
const CONNECT_TIMEOUT_MS = 10_000;

type Done = (ok: boolean, latencyMs: number) => void;

export class ModbusClientConn {
  private tid = 0;
  private readonly framer = new MbapFramer();
  private readonly pending = new Map<number, { at: number; done: Done }>();
  private readonly sweep: NodeJS.Timeout;
  dead = false;

  private constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => this.fail());
    socket.on('close', () => this.fail());
    this.sweep = setInterval(() => this.expire(), 200);
  }

  /** Opens one connection; for TLS resolves after the handshake (the client's view of it). */
  static connect(ep: Endpoint): Promise<ModbusClientConn> {
    return new Promise((resolve, reject) => {
      const socket = ep.tls
        ? tls.connect({
            host: '127.0.0.1',
            port: ep.port,
            ...ep.tls,
            minVersion: 'TLSv1.2',
            checkServerIdentity: () => undefined,
          })
        : net.connect({ host: '127.0.0.1', port: ep.port });
      const timer = setTimeout(
        () => socket.destroy(new Error(`connect to 127.0.0.1:${ep.port} timed out`)),
        CONNECT_TIMEOUT_MS,
      );
      const failed = (err: Error): void => {
        clearTimeout(timer);
        reject(err);
      };
      socket.once(ep.tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        socket.removeListener('error', failed);
        resolve(new ModbusClientConn(socket));
      });
      socket.once('error', failed);
    });
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /** Sends the benchmark read; `done` is called exactly once. */
  send(done: Done): void {
    if (this.dead) return done(false, 0);
    this.tid = (this.tid + 1) & 0xffff;
    this.pending.set(this.tid, { at: performance.now(), done });
    this.socket.write(encodeAdu(this.tid, UNIT, READ_PDU));
  }

  /** Sends one read and waits for it. */
  request(): Promise<boolean> {
    return new Promise((resolve) => this.send((ok) => resolve(ok)));
  }

  close(): void {
    clearInterval(this.sweep);
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.framer.push(chunk);
    for (let r = this.framer.next(); ; r = this.framer.next()) {
      if (r.kind === 'need-more') return;
      if (r.kind === 'malformed') return void this.socket.destroy();
      const p = this.pending.get(r.frame.header.transactionId);
      if (!p) continue;
      this.pending.delete(r.frame.header.transactionId);
      p.done(r.frame.pdu[0] === 3, performance.now() - p.at);
    }
  }

  private expire(): void {
    const old = performance.now() - TIMEOUT_MS;
    for (const [tid, p] of this.pending) {
      if (p.at >= old) continue;
      this.pending.delete(tid);
      p.done(false, 0);
    }
  }

  private fail(): void {
    this.dead = true;
    clearInterval(this.sweep);
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.done(false, 0);
  }
}

/**
 * Opens `n` connections, at most `concurrency` handshakes at once. If one fails, those opened are closed (also those
 * that finish opening after the failure) and the failure is thrown: the caller has nothing to close.
 */
export async function openConnections(ep: Endpoint, n: number, concurrency = 32): Promise<ModbusClientConn[]> {
  const conns: ModbusClientConn[] = [];
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (next < n && !failed) {
      next++;
      const c = await ModbusClientConn.connect(ep);
      if (failed) c.close();
      else conns.push(c);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  } catch (err) {
    failed = true;
    for (const c of conns) c.close();
    throw err;
  }
  return conns;
}

export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

class Recorder {
  completed = 0;
  failed = 0;
  readonly latencies: number[] = [];
  recording = false;

  record(ok: boolean, ms: number): void {
    if (!this.recording) return;
    if (!ok) this.failed++;
    else {
      this.completed++;
      this.latencies.push(ms);
    }
  }

  result(seconds: number): RunResult {
    const s = Float64Array.from(this.latencies).sort();
    return {
      completed: this.completed,
      failed: this.failed,
      seconds,
      perSecond: this.completed / seconds,
      p50Us: percentile(s, 50) * 1000,
      p99Us: percentile(s, 99) * 1000,
    };
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Open loop: `rate` requests/s spread over the connections, 1 in flight each; the first `warmupMs` is not recorded. */
export async function runPaced(
  conns: ModbusClientConn[],
  o: { rate: number; durationMs: number; warmupMs: number; cpu?: CpuProcs },
): Promise<RunResult> {
  const rec = new Recorder();
  const total = Math.round((o.rate * (o.durationMs + o.warmupMs)) / 1000);
  let sent = 0;
  let rr = 0;
  const start = performance.now();
  const dispatch = (): void => {
    const due = Math.min(total, Math.floor(((performance.now() - start) * o.rate) / 1000));
    while (sent < due) {
      let conn: ModbusClientConn | undefined;
      for (let i = 0; i < conns.length && !conn; i++) {
        const c = conns[(rr + i) % conns.length] as ModbusClientConn;
        if (c.inFlight === 0 && !c.dead) conn = c;
      }
      if (!conn) return; // all busy: the backlog goes out as soon as one answers
      rr++;
      sent++;
      conn.send((ok, ms) => {
        rec.record(ok, ms);
        dispatch();
      });
    }
  };
  const timer = setInterval(dispatch, 1);
  await sleep(o.warmupMs);
  // the /proc readings first: they block the loop, which must not happen inside the recorded window
  const stealEnd = startStealWindow();
  const cpuEnd = o.cpu ? startCpuWindow(o.cpu) : null;
  const waitEnd = o.cpu ? startWaitWindow(o.cpu) : null;
  rec.recording = true;
  const t0 = performance.now();
  await sleep(o.durationMs);
  const seconds = (performance.now() - t0) / 1000;
  rec.recording = false;
  const stealPct = stealEnd();
  const cpu = cpuEnd?.(rec.completed);
  const wait = waitEnd?.(rec.completed);
  clearInterval(timer);
  await sleep(50);
  return { ...rec.result(seconds), ...(cpu ? { cpu } : {}), ...(wait ? { wait } : {}), stealPct };
}

/** Closed loop: each connection keeps `depth` requests in flight for warmup + duration. */
export async function runClosed(
  conns: ModbusClientConn[],
  o: { depth: number; durationMs: number; warmupMs: number; cpu?: CpuProcs },
): Promise<RunResult> {
  const rec = new Recorder();
  let running = true;
  const loop = (c: ModbusClientConn): void => {
    c.send((ok, ms) => {
      rec.record(ok, ms);
      if (running && !c.dead) loop(c);
    });
  };
  for (const c of conns) for (let i = 0; i < o.depth; i++) loop(c);
  await sleep(o.warmupMs);
  const cpuEnd = o.cpu ? startCpuWindow(o.cpu) : null;
  const stealEnd = startStealWindow();
  rec.recording = true;
  const t0 = performance.now();
  await sleep(o.durationMs);
  const seconds = (performance.now() - t0) / 1000;
  rec.recording = false;
  const cpu = cpuEnd?.(rec.completed);
  const stealPct = stealEnd();
  running = false;
  // let the last requests drain so the next run starts on idle connections
  for (let i = 0; i < 100 && conns.some((c) => c.inFlight > 0); i++) await sleep(20);
  return { ...rec.result(seconds), ...(cpu ? { cpu } : {}), stealPct };
}
