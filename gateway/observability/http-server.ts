/**
 * The operator's HTTP endpoint: Prometheus `/metrics`, liveness `/healthz`, readiness `/readyz`.
 * Ready means the gateway can do its job safely: a valid SVID, a loaded policy and a writable audit trail
 * (when auditing fails closed). Each check is reported by name so an operator sees which one is failing.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorMessage } from '../errors.js';
import type { GatewayMetrics } from './metrics.js';

export type ReadinessCheck = () => { ok: boolean; detail?: string };

export class ObservabilityServer {
  private server: http.Server | null = null;

  constructor(
    private readonly metrics: GatewayMetrics,
    private readonly checks: Record<string, ReadinessCheck>,
  ) {}

  async listen(host: string, port: number): Promise<AddressInfo> {
    const server = http.createServer((req, res) => void this.route(req, res));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    return server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  readiness(): { ready: boolean; checks: Record<string, { ok: boolean; detail?: string }> } {
    const checks = Object.fromEntries(Object.entries(this.checks).map(([name, check]) => [name, safe(check)]));
    return { ready: Object.values(checks).every((c) => c.ok), checks };
  }

  private async route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') return send(res, 405, 'text/plain', 'method not allowed\n');
    if (path === '/metrics')
      return send(res, 200, this.metrics.registry.contentType, await this.metrics.registry.metrics());
    if (path === '/healthz') return send(res, 200, 'application/json', '{"status":"alive"}\n');
    if (path === '/readyz') {
      const r = this.readiness();
      return send(res, r.ready ? 200 : 503, 'application/json', JSON.stringify(r) + '\n');
    }
    return send(res, 404, 'text/plain', 'not found\n');
  }
}

function safe(check: ReadinessCheck): { ok: boolean; detail?: string } {
  try {
    return check();
  } catch (err) {
    return { ok: false, detail: errorMessage(err) };
  }
}

function send(res: http.ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}
