/**
 * Bench child: the full gateway from a gateway.yaml, alone in its process so its RSS is its own.
 * Commands: `rss` (see child-main.ts), `sessions` (live Modbus/TCP Security sessions), `rotations` (SVID
 * updates seen since start). Arg: <gateway.yaml>.
 */
import pino from 'pino';
import { loadGatewayConfig } from '../gateway/config/gateway-config.js';
import { startGateway } from '../gateway/main.js';
import { serveChild } from './child-main.js';

const [configFile] = process.argv.slice(2) as [string];

await serveChild(async () => {
  const logger = pino({ level: 'warn', name: 'verigate-bench' }, pino.destination(2));
  const gw = await startGateway(loadGatewayConfig(configFile), { logger });
  let rotations = 0;
  gw.identity.onUpdate(() => rotations++);
  return {
    info: { port: gw.endpoints.mbaps.port, spiffeId: gw.identity.spiffeId() },
    commands: {
      sessions: () => ({ sessions: gw.sessions.size }),
      rotations: () => ({ rotations, notAfter: gw.identity.source.getX509Svid().notAfter.toISOString() }),
    },
    stop: () => gw.stop(),
  };
});
