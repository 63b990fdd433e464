/**
 * `verigate control serve` (heartbeat + audit collector, as an operator runs it) against the fleet lab, for the
 * fleet tests that need the centre's audit half: a fleet-control.yaml for `sites` with audit.dir `dir`, the
 * serve's log kept (debug) so a test can see its edge purges.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { memoryIo } from '../../gateway/cli/cli-io.js';
import { controlServe, type ServeState } from '../../gateway/cli/control-serve.js';
import type { GatewayAuditReport } from '../../gateway/fleet/audit-collector.js';
import { eventually } from '../helpers/eventually.js';
import type { FleetLab } from './fleet-lab.js';

export interface ServedAudit {
  report(): GatewayAuditReport[];
  /**
   * serve's edge purges of a site in order: answered (`ok`), or not (`failed`: leaf away, a reply it may not
   * send, or a timeout on a loaded machine, retried at the next purge).
   */
  purges(site: string): ('ok' | 'failed')[];
  stop(): Promise<void>;
}

/** Resolves once serve runs with its collector. */
export async function serveAudit(lab: FleetLab, dir: string, sites: readonly string[]): Promise<ServedAudit> {
  const config = join(lab.dir, `fleet-control-${sites.join('-')}.yaml`);
  const c = lab.control;
  writeFileSync(
    config,
    [
      'version: 1',
      `hub: { urls: [${lab.hubUrls.join(', ')}], connectTimeout: 5s }`,
      `identity: { files: { cert: "${c.certFile}", key: "${c.keyFile}", bundle: "${lab.caFile}" } }`,
      `sites: [${sites.join(', ')}]`,
      `audit: { dir: "${dir}" }`,
    ].join('\n') + '\n',
  );
  let stop!: () => void;
  const stopped = new Promise<void>((r) => (stop = r));
  let state: ServeState | null = null;
  const io = memoryIo({}, lab.dir);
  const log: string[] = [];
  const serving = controlServe(['--config', config], io, {
    stop: stopped,
    logger: pino({ level: 'debug' }, { write: (line: string) => void log.push(line) }),
    onReady: (s) => (state = s),
  });
  const ready = await eventually(
    'control serve ready',
    async () => {
      if (state === null && (await Promise.race([serving, Promise.resolve(null)])) !== null)
        throw new Error(`control serve exited: ${io.stderr.join('\n')}`);
      return state;
    },
    { timeoutMs: 15_000 },
  );
  const collector = ready.audit!.collector;
  return {
    report: () => collector.report(),
    purges: (site) =>
      log
        .filter((l) => /edge purge(d| failed)/.test(l) && l.includes(`"site":"${site}"`))
        .map((l) => (l.includes('edge purged') ? 'ok' : 'failed')),
    stop: async () => {
      stop();
      await serving;
    },
  };
}
