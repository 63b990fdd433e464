/**
 * `verigate audit verify DIR [--bundle PEM]`: verifies the hash chain and signed checkpoints of an audit
 * directory; names the first bad record (segment:line, seq) and why. Exit 0 ok, 1 check failed, 2 usage
 * [DESIGN "Contracts users see"].
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { verifyAuditDir } from '../audit/audit-verify.js';
import type { Checkpoint } from '../audit/audit-checkpoint.js';
import { EXIT_CHECK_FAILED, EXIT_OK, EXIT_USAGE, type CliCommand } from './cli-io.js';

const USAGE = 'usage: verigate audit verify DIR [--bundle TRUST_BUNDLE.pem] [--signer SPIFFE_ID] [--checkpoint FILE]\n' +
  '  --signer      every checkpoint must be signed by this identity (the gateway\'s)\n' +
  '  --checkpoint  checkpoints kept off the box (JSON lines, e.g. from the SIEM): the log must still contain them';

export const auditCommand: CliCommand = async (args, io) => {
  let parsed;
  try {
    parsed = parseArgs({ args: [...args], allowPositionals: true, options: { bundle: { type: 'string' }, signer: { type: 'string' }, checkpoint: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  } catch (err) {
    io.err(`audit: ${(err as Error).message}`);
    io.err(USAGE);
    return EXIT_USAGE;
  }
  const [sub, dirArg, ...extra] = parsed.positionals;
  if (parsed.values.help === true) {
    io.out(USAGE);
    return EXIT_OK;
  }
  if (sub !== 'verify' || dirArg === undefined || extra.length > 0) {
    io.err(USAGE);
    return EXIT_USAGE;
  }
  const dir = resolve(io.cwd, dirArg);
  let trustBundlePem: string | undefined;
  if (parsed.values.bundle !== undefined) {
    const bundlePath = resolve(io.cwd, parsed.values.bundle);
    try {
      trustBundlePem = readFileSync(bundlePath, 'utf8');
    } catch (err) {
      io.err(`audit: cannot read trust bundle ${bundlePath}: ${(err as Error).message}`);
      return EXIT_USAGE;
    }
  }
  let external: Checkpoint[] | undefined;
  if (parsed.values.checkpoint !== undefined) {
    const file = resolve(io.cwd, parsed.values.checkpoint);
    try {
      external = readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Checkpoint);
    } catch (err) {
      io.err(`audit: cannot read checkpoints from ${file}: ${(err as Error).message}`);
      return EXIT_USAGE;
    }
  }
  let r: ReturnType<typeof verifyAuditDir>;
  try {
    r = verifyAuditDir(dir, {
      ...(trustBundlePem === undefined ? {} : { trustBundlePem }),
      ...(parsed.values.signer === undefined ? {} : { signer: parsed.values.signer }),
      ...(external === undefined ? {} : { external }),
    });
  } catch (err) {
    io.err(`verigate audit verify: cannot read ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (give the audit directory)`);
    return EXIT_USAGE;
  }
  if (r.ok) {
    io.out(`ok: ${r.events} events, ${r.checkpoints} checkpoints verified in ${dir} (head seq ${r.lastSeq} ${r.headHash})`);
    if (r.checkpoints === 0 && r.events > 0) {
      io.out('note: no signed checkpoints: a truncated tail cannot be detected (configure audit.checkpoint)');
    } else if (trustBundlePem === undefined) {
      io.out('note: checkpoint signers were not checked against a trust bundle (pass --bundle to anchor them)');
    }
    return EXIT_OK;
  }
  const seq = r.firstBad.seq === undefined ? '' : ` (seq ${r.firstBad.seq})`;
  io.err(`FAIL: ${r.firstBad.segment}:${r.firstBad.line}${seq}: ${r.reason}`);
  return EXIT_CHECK_FAILED;
};
