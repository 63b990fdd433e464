/** Bench child: the turbine simulator with no scan delay, room for many connections and pipelining. */
import { startSimulator } from '../simulators/simulator.js';
import { serveChild } from './child-main.js';

await serveChild(async () => {
  const sim = await startSimulator({
    scenario: 'simulators/scenarios/turbine.yaml', scanDelayMs: 0, maxConnections: 2048, maxInFlight: 16, tickMs: 0,
  });
  return {
    info: { port: sim.port },
    commands: { counters: () => ({ ...sim.counters() }) },
    stop: () => sim.close(),
  };
});
