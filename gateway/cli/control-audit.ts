/**
 * `verigate control audit verify` — re-checks the per-gateway trails `control serve` collected under
 * `audit.dir/<site>/<gateway>/` the way `verigate audit verify` checks a box (hash chain, seq 1..N with no gap
 * or duplicate, signed checkpoints anchored in the control's trust bundle, no span longer than the checkpoint
 * interval without one), and fails on any verification problem the collector recorded (`problems.jsonl`).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { verifyAuditDir } from '../audit/audit-verify.js';
import { errorMessage } from '../errors.js';
import { PROBLEMS_FILE } from '../fleet/audit-gateway-trail.js';
import { checkpointSignerFor } from '../fleet/fleet-control-config.js';
import { GATEWAY_NAME, SITE_NAME } from '../fleet/fleet-topology.js';
import { nullLogger } from '../logger.js';
import { EXIT_CHECK_FAILED, EXIT_OK, EXIT_USAGE, type CliIo } from './cli-io.js';
import { emit, list, loadConfigOrReport, parseControlArgs, usage } from './control-cli.js';
import { openControlIdentity } from './control-identity.js';

const USAGE = [
  'usage: verigate control audit verify [--site S]… [--allow-missing-checkpoints] [--json]',
  "  verifies every collected trail under fleet-control.yaml's audit.dir; exit 1 on the first bad one",
].join('\n');

export interface TrailVerdict {
  readonly site: string;
  readonly gateway: string;
  readonly ok: boolean;
  readonly events: number;
  readonly checkpoints: number;
  readonly lastSeq: number;
  readonly problems: readonly string[];
}

export async function controlAudit(args: readonly string[], io: CliIo): Promise<number> {
  const p = parseControlArgs(args, {
    site: { type: 'string', multiple: true },
    'allow-missing-checkpoints': { type: 'boolean' },
  });
  if (typeof p === 'string') return usage(io, USAGE, p);
  if (p.values['help'] === true) {
    io.out(USAGE);
    return EXIT_OK;
  }
  if (p.positionals.join(' ') !== 'verify') return usage(io, USAGE, null);
  const config = loadConfigOrReport(io, p.values);
  if (config === null) return EXIT_USAGE;
  let bundlePem: string;
  let signerFor: (site: string, gateway: string) => string | undefined;
  try {
    const identity = await openControlIdentity(config, nullLogger);
    bundlePem = identity.bundles().get(identity.trustDomain())?.pem() ?? '';
    signerFor = checkpointSignerFor(config, identity.trustDomain());
    identity.close();
  } catch (err) {
    io.err(`control audit: no trust bundle to anchor checkpoints: ${errorMessage(err)}`);
    return EXIT_CHECK_FAILED;
  }
  const sites = list(p.values['site']);
  const verdicts = verifyTrails(config.audit.dir, {
    sites: sites.length > 0 ? sites : config.sites,
    checkpointIntervalMs: config.audit.checkpointEveryMs,
    allowMissingCheckpoints: p.values['allow-missing-checkpoints'] === true,
    trustBundlePem: bundlePem,
    signerFor,
  });
  emit(io, p.values['json'] === true, verdicts, () =>
    verdicts.length === 0
      ? [`no collected trails under ${config.audit.dir}`]
      : verdicts.map((v) =>
          v.ok
            ? `ok: ${v.site}/${v.gateway}: ${v.events} events, ${v.checkpoints} checkpoints, head seq ${v.lastSeq}`
            : `FAIL: ${v.site}/${v.gateway}: ${v.problems.join('; ')}`,
        ),
  );
  return verdicts.every((v) => v.ok) ? EXIT_OK : EXIT_CHECK_FAILED;
}

export function verifyTrails(
  dir: string,
  o: {
    readonly sites: readonly string[];
    readonly checkpointIntervalMs: number;
    readonly allowMissingCheckpoints: boolean;
    readonly trustBundlePem: string;
    /** The SPIFFE ID each gateway's checkpoints must be signed by (fleet-control.yaml audit.checkpointSigner). */
    readonly signerFor?: (site: string, gateway: string) => string | undefined;
  },
): TrailVerdict[] {
  const out: TrailVerdict[] = [];
  for (const site of o.sites.filter((s) => SITE_NAME.test(s) && existsSync(join(dir, s)))) {
    const gateways = readdirSync(join(dir, site), { withFileTypes: true })
      .filter((e) => e.isDirectory() && GATEWAY_NAME.test(e.name))
      .map((e) => e.name)
      .sort();
    for (const gateway of gateways) out.push(verifyOne(join(dir, site, gateway), site, gateway, o));
  }
  return out;
}

function verifyOne(
  trail: string,
  site: string,
  gateway: string,
  o: {
    checkpointIntervalMs: number;
    allowMissingCheckpoints: boolean;
    trustBundlePem: string;
    signerFor?: (site: string, gateway: string) => string | undefined;
  },
): TrailVerdict {
  const problems = recordedProblems(join(trail, PROBLEMS_FILE));
  const signer = o.signerFor?.(site, gateway);
  const r = verifyAuditDir(trail, {
    ...(signer === undefined ? {} : { signer }),
    checkpointIntervalMs: o.checkpointIntervalMs,
    allowMissingCheckpoints: o.allowMissingCheckpoints,
    ...(o.trustBundlePem ? { trustBundlePem: o.trustBundlePem } : {}),
  });
  if (!r.ok) {
    const seq = r.firstBad.seq === undefined ? '' : ` (seq ${r.firstBad.seq})`;
    problems.push(`${r.firstBad.segment}:${r.firstBad.line}${seq}: ${r.reason}`);
    return { site, gateway, ok: false, events: 0, checkpoints: 0, lastSeq: 0, problems };
  }
  return {
    site,
    gateway,
    ok: problems.length === 0,
    events: r.events,
    checkpoints: r.checkpoints,
    lastSeq: r.lastSeq,
    problems,
  };
}

/** The collector's recorded verification problems (one JSON line each), as text. */
function recordedProblems(file: string): string[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      try {
        const o = JSON.parse(l) as { problem?: unknown };
        return `collector: ${typeof o.problem === 'string' ? o.problem : l}`;
      } catch {
        return `collector: ${l}`;
      }
    });
}
