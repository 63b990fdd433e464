/**
 * `verigate control init` — creates what the hub needs for every configured site, idempotently: the site
 * buckets `site-<site>` (R3) and the hub `AUDIT` stream (gateway/fleet/hub-provision.ts), which `control serve`
 * makes source each gateway's edge stream as it finds it at a site. Run again after adding a site; existing
 * buckets and sources are kept.
 */
import { ensureHubResources } from '../fleet/hub-provision.js';
import { EXIT_OK, EXIT_USAGE, type CliIo } from './cli-io.js';
import { emit, loadConfigOrReport, parseControlArgs, usage, withHub } from './control-cli.js';

const USAGE = [
  'usage: verigate control init [--replicas 3] [--json]',
  '  creates the hub bucket of every configured site and the hub AUDIT stream (idempotent)',
].join('\n');

export async function controlInit(args: readonly string[], io: CliIo): Promise<number> {
  const p = parseControlArgs(args, { replicas: { type: 'string' } });
  if (typeof p === 'string') return usage(io, USAGE, p);
  if (p.values['help'] === true) {
    io.out(USAGE);
    return EXIT_OK;
  }
  if (p.positionals.length > 0) return usage(io, USAGE, `unexpected ${p.positionals.join(' ')}`);
  const replicasText = p.values['replicas'];
  const replicas = typeof replicasText === 'string' ? Number(replicasText) : 3;
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > 5)
    return usage(io, USAGE, '--replicas must be 1..5 (3 for a 3-node hub)');
  const config = loadConfigOrReport(io, p.values);
  if (config === null) return EXIT_USAGE;
  return withHub(io, config, async (s) => {
    const r = await ensureHubResources(s.hub.nc, { sites: config.sites, replicas });
    emit(io, p.values['json'] === true, { sites: config.sites, ...r }, () => [
      `buckets created: ${r.bucketsCreated.join(', ') || '(none: all existed)'}`,
      `audit sources added: ${r.sourcesAdded.join(', ') || "(none: control serve adds each gateway's as it appears)"}`,
      `sites: ${config.sites.join(', ')}`,
    ]);
    return EXIT_OK;
  });
}
