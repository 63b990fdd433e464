/**
 * Bench child: the full gateway from a gateway.yaml, alone in its process so its RSS is its own, run from the
 * compiled dist/ as users run it (`node dist/...`, no tsx; see dist-build.ts for how the bench keeps dist/
 * fresh). Commands: `rss` (see child-main.mjs), `sessions` (live Modbus/TCP Security sessions), `rotations`
 * (SVID updates seen since start), `memSplit` (where the RSS is, memory-split.mjs), `heapSnapshot`, `clock`
 * (profiler clock), `requests` (Modbus requests done), `usage` (CPU µs used and requests done), `heapStart`/`heapStop` (sampling heap profiler, see
 * heap-sampler.mjs; the profile is written beside the config). Args: <gateway.yaml>. Ready info: the Modbus/TCP Security port, and the
 * gRPC port when the config enables that listener.
 */
import { dirname, join } from 'node:path';
import { serveChild } from './child-main.mjs';

const dist = new URL('../dist/', import.meta.url);
const { default: pino } = await import('pino');
const { loadGatewayConfig } = await import(new URL('gateway/config/gateway-config.js', dist).href);
const { startGateway } = await import(new URL('gateway/main.js', dist).href);

const [configFile] = process.argv.slice(2);

await serveChild(async () => {
  const logger = pino({ level: 'warn', name: 'verigate-bench' }, pino.destination(2));
  const gw = await startGateway(loadGatewayConfig(configFile), { logger });
  let rotations = 0;
  gw.identity.onUpdate(() => rotations++);
  return {
    info: {
      port: gw.endpoints.mbaps.port,
      grpcPort: gw.endpoints.grpc?.port ?? null,
      spiffeId: gw.identity.spiffeId(),
    },
    commands: {
      sessions: () => ({ sessions: gw.sessions.size }),
      // µs on the monotonic clock V8's CPU profiler stamps samples with (bench/profile.ts cuts its window by it)
      clock: () => ({ us: Number(process.hrtime.bigint() / 1000n) }),
      rotations: () => ({ rotations, notAfter: gw.identity.source.getX509Svid().notAfter.toISOString() }),
      requests: async () => ({
        requests: (await gw.metrics.requests.get()).values.reduce((n, v) => n + v.value, 0),
      }),
      // CPU time this process used (user + system, µs) with the request count: CPU per request, which a busy
      // shared machine disturbs far less than requests per second
      usage: async () => {
        const { user, system } = process.cpuUsage();
        return {
          cpuUs: user + system,
          requests: (await gw.metrics.requests.get()).values.reduce((n, v) => n + v.value, 0),
        };
      },
      // where the RSS is (for row 7's base): V8 heap spaces and code, and /proc/self/smaps resident KB by mapping
      memSplit: async () => (await import('./memory-split.mjs')).memorySplit(),
      // a full heap snapshot beside the config (open in Chrome DevTools' Memory tab)
      heapSnapshot: async () => {
        const { writeHeapSnapshot } = await import('node:v8');
        return { file: writeHeapSnapshot(join(dirname(configFile), 'gateway.heapsnapshot')) };
      },
      heapStart: async () => {
        await (await import('./heap-sampler.mjs')).startHeapSampling();
        return { started: true };
      },
      heapStop: async () => {
        const file = join(dirname(configFile), 'gateway.heapprofile');
        await (await import('./heap-sampler.mjs')).stopHeapSampling(file);
        return { file };
      },
    },
    stop: () => gw.stop(),
  };
});
