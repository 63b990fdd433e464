/** Bench child: the turbine simulator with no scan delay, room for many connections and pipelining. */
import { fileURLToPath } from 'node:url';
import { startSimulator } from '../simulators/simulator.js';
import { serveChild } from './child-main.mjs';

await serveChild(async () => {
  const sim = await startSimulator({
    scenario: fileURLToPath(new URL('../simulators/scenarios/turbine.yaml', import.meta.url)),
    scanDelayMs: 0,
    maxConnections: 2048,
    maxInFlight: 16,
    tickMs: 0,
  });
  return {
    info: { port: sim.port },
    commands: { counters: () => ({ ...sim.counters() }) },
    stop: () => sim.close(),
  };
});
