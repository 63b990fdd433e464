/**
 * Clients for the pre-handshake adversarial tests: raw TCP connections that never speak, real TLS clients whose
 * bytes reach the wire a few at a time (slow drip), a self-refilling flood of both, a minimal gRPC unary call
 * over Node's http2 (grpc-js cannot bind a local address), and the audit trail as parsed events.
 * Every socket may be bound to another loopback source address (`localAddress`: all of 127.0.0.0/8 is local).
 */
import { readdirSync, readFileSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import tls from 'node:tls';

export interface Creds {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

/** One client-side connection as the attacker sees it. */
export interface Probe {
  readonly localPort: number;
  readonly openedAt: number;
  closedAt: number | null;
  /** Application data came back (drip clients only): the gateway completed the handshake and served it. */
  served: boolean;
  readonly closed: Promise<void>;
}

/** A TCP connection that sends nothing. */
export function idleConnection(port: number, localAddress = '127.0.0.1'): Promise<Probe> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host: '127.0.0.1', localAddress });
    let probe: Probe | null = null;
    const closed = new Promise<void>((r) =>
      sock.once('close', () => {
        if (probe) probe.closedAt = Date.now();
        r();
      }),
    );
    sock.on('error', () => {});
    sock.once('connect', () => {
      probe = { localPort: sock.localPort ?? -1, openedAt: Date.now(), closedAt: null, served: false, closed };
      resolve(probe);
    });
    sock.once('error', reject);
  });
}

/**
 * A real TLS client (valid credentials if given) whose outgoing bytes are released `bytesPerTick` every
 * `tickMs`: without an absolute deadline its handshake eventually completes and is served. Once its own side
 * of the handshake is done (in TLS 1.3 that is before the server has seen the client's flight) it sends
 * `request` (e.g. a Modbus read or the HTTP/2 preface); any answer means the gateway served it.
 */
export function dripConnection(
  port: number,
  creds: Creds,
  o: { bytesPerTick: number; tickMs: number; localAddress?: string; request: Buffer },
): Promise<Probe> {
  return new Promise((resolve, reject) => {
    const raw = net.connect({ port, host: '127.0.0.1', localAddress: o.localAddress ?? '127.0.0.1' });
    let queued = Buffer.alloc(0);
    const wire = new Duplex({
      write(chunk: Buffer, _enc, cb) {
        queued = Buffer.concat([queued, chunk]);
        cb();
      },
      read() {},
    });
    raw.on('data', (d: Buffer) => wire.push(d));
    const timer = setInterval(() => {
      if (queued.length === 0 || raw.destroyed) return;
      raw.write(queued.subarray(0, o.bytesPerTick));
      queued = queued.subarray(o.bytesPerTick);
    }, o.tickMs);
    const client = tls.connect({ socket: wire, ...creds, minVersion: 'TLSv1.2', checkServerIdentity: () => undefined });
    client.on('error', () => {});
    let probe: Probe | null = null;
    client.once('secureConnect', () => client.write(o.request));
    client.on('data', () => {
      if (probe) probe.served = true;
    });
    const closed = new Promise<void>((r) =>
      raw.once('close', () => {
        clearInterval(timer);
        if (probe) probe.closedAt = Date.now();
        wire.push(null);
        client.destroy();
        r();
      }),
    );
    raw.on('error', () => {});
    raw.once('connect', () => {
      probe = { localPort: raw.localPort ?? -1, openedAt: Date.now(), closedAt: null, served: false, closed };
      resolve(probe);
    });
    raw.once('error', reject);
  });
}

export interface FloodOptions {
  readonly idle: number;
  readonly drip: number;
  readonly idleFrom: string;
  readonly dripFrom: string;
  readonly dripCreds: Creds;
  readonly dripBytesPerTick: number;
  readonly dripTickMs: number;
  readonly dripRequest: Buffer;
  /** Pause before replacing a closed connection (bounds the connect rate). */
  readonly reopenMs: number;
}

/** Keeps `idle` + `drip` connections open, replacing each one the gateway closes, until stop(). */
export class Flood {
  readonly idleProbes: Probe[] = [];
  readonly dripProbes: Probe[] = [];
  private running = true;
  private readonly loops: Promise<void>[] = [];

  constructor(
    private readonly port: number,
    private readonly o: FloodOptions,
  ) {
    for (let i = 0; i < o.idle; i++)
      this.loops.push(this.loop(() => idleConnection(port, o.idleFrom), this.idleProbes));
    for (let i = 0; i < o.drip; i++) {
      this.loops.push(
        this.loop(
          () =>
            dripConnection(port, o.dripCreds, {
              bytesPerTick: o.dripBytesPerTick,
              tickMs: o.dripTickMs,
              localAddress: o.dripFrom,
              request: o.dripRequest,
            }),
          this.dripProbes,
        ),
      );
    }
  }

  /** Stops replacing connections and waits until the gateway has closed every one still open. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  private async loop(open: () => Promise<Probe>, into: Probe[]): Promise<void> {
    while (this.running) {
      const p = await open().catch(() => null);
      if (p) {
        into.push(p);
        await p.closed;
      }
      await new Promise((r) => setTimeout(r, this.o.reopenMs));
    }
  }
}

/** A unary gRPC call over HTTP/2 + mTLS from `localAddress`; resolves with the grpc-status (null: none). */
export function grpcUnary(
  port: number,
  creds: Creds,
  path: string,
  message: Buffer,
  localAddress: string,
): Promise<{ status: number | null; body: Buffer }> {
  return new Promise((resolve) => {
    const session = http2.connect(`https://127.0.0.1:${port}`, {
      // tls.connect hands net options such as localAddress on to net.connect (not in its typings).
      createConnection: () =>
        tls.connect({
          host: '127.0.0.1',
          port,
          ...creds,
          ALPNProtocols: ['h2'],
          minVersion: 'TLSv1.2',
          checkServerIdentity: () => undefined,
          ...{ localAddress },
        }),
    });
    const done = (status: number | null, body: Buffer): void => {
      clearTimeout(timer);
      session.close();
      resolve({ status, body });
    };
    const timer = setTimeout(() => {
      session.destroy();
      resolve({ status: null, body: Buffer.alloc(0) });
    }, 5000);
    session.on('error', () => done(null, Buffer.alloc(0)));
    const req = session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    const chunks: Buffer[] = [];
    let status: number | null = null;
    req.on('response', (headers) => {
      if (headers['grpc-status'] !== undefined) status = Number(headers['grpc-status']);
    });
    req.on('trailers', (trailers: http2.IncomingHttpHeaders) => {
      if (trailers['grpc-status'] !== undefined) status = Number(trailers['grpc-status']);
    });
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => done(status, Buffer.concat(chunks)));
    req.on('error', () => done(null, Buffer.alloc(0)));
    const frame = Buffer.alloc(5 + message.length);
    frame.writeUInt32BE(message.length, 1);
    message.copy(frame, 5);
    req.end(frame);
  });
}

export type AuditEvent = Record<string, unknown> & { type: string; seq: number };

/** Every event of the trail in `auditDir`, in order. */
export function readAuditEvents(auditDir: string): AuditEvent[] {
  const files = readdirSync(auditDir)
    .filter((f) => f.startsWith('audit-') && f.endsWith('.jsonl'))
    .sort();
  return files
    .flatMap((f) => readFileSync(join(auditDir, f), 'utf8').split('\n'))
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as AuditEvent)
    .sort((a, b) => a.seq - b.seq);
}

/**
 * The handshake.rejected events of one listener, by the client-side `address:port` they name, in order (a
 * flood reuses ephemeral ports: the n-th connection from a port matches the n-th event naming it).
 */
export function rejectionsByPeer(auditDir: string, transport: string): Map<string, AuditEvent[]> {
  const out = new Map<string, AuditEvent[]>();
  for (const e of readAuditEvents(auditDir)) {
    if (e.type !== 'handshake.rejected' || e.transport !== transport) continue;
    const k = String(e.peer);
    out.set(k, [...(out.get(k) ?? []), e]);
  }
  return out;
}
