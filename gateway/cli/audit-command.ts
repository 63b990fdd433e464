/**
 * `verigate audit verify DIR`: verifies the hash chain and signed checkpoints of an audit directory; names the
 * first bad record (segment:line, seq) and why. Exit 0 ok, 1 check failed, 2 usage (docs/reference.md "Exit
 * codes"). Only checkpoints kept off the box (`--checkpoint`: the SIEM's copy of the exported stream, or JSON
 * lines) detect a trail re-chained on the box; a trail with no checkpoint at all that spans more than the
 * checkpoint interval fails unless `--allow-missing-checkpoints`, and so do events after the last checkpoint
 * that span more than it.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { errorMessage } from '../errors.js';
import { DEFAULT_CHECKPOINT_EVERY_MS } from '../audit/audit-checkpoint.js';
import { verifyAuditDir, type VerifyOptions, type VerifyResult } from '../audit/audit-verify.js';
import { parseExternalCheckpoints, type ExternalCheckpoint } from '../audit/external-checkpoints.js';
import { formatDuration, tryParseDuration } from '../config/duration.js';
import { EXIT_CHECK_FAILED, EXIT_OK, EXIT_USAGE, type CliCommand, type CliIo } from './cli-io.js';

const USAGE =
  'usage: verigate audit verify DIR [--bundle TRUST_BUNDLE.pem] [--signer SPIFFE_ID] [--checkpoint FILE]...\n' +
  '                           [--checkpoint-interval 60s] [--allow-missing-checkpoints]\n' +
  "  --signer                     every checkpoint must be signed by this identity (the gateway's)\n" +
  "  --checkpoint FILE            checkpoints kept off the box: the SIEM's copy of the exported stream (RFC 5424\n" +
  '                               or CEF lines; its audit.checkpoint messages are used) or JSON lines; repeatable.\n' +
  '                               Only these detect a trail re-chained on the box\n' +
  `  --checkpoint-interval DUR    the gateway's audit.checkpoint.every (default ${formatDuration(DEFAULT_CHECKPOINT_EVERY_MS)})\n` +
  '  --allow-missing-checkpoints  accept a trail (or its events after the last checkpoint) spanning longer than\n' +
  '                               the interval without a checkpoint';

const OPTIONS = {
  bundle: { type: 'string' },
  signer: { type: 'string' },
  checkpoint: { type: 'string', multiple: true },
  'checkpoint-interval': { type: 'string' },
  'allow-missing-checkpoints': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Verification reads the trail synchronously; the command keeps the Promise shape every CliCommand has. */
export const auditCommand: CliCommand = (args, io) => Promise.resolve(audit(args, io));

function audit(args: readonly string[], io: CliIo): number {
  const parsed = parseAuditArgs(args, io);
  if (typeof parsed === 'number') return parsed;
  const opts = verifyOptions(io, parsed.values);
  if (typeof opts === 'number') return opts;
  let r: VerifyResult;
  try {
    r = verifyAuditDir(parsed.dir, opts);
  } catch (err) {
    io.err(
      `verigate audit verify: cannot read ${parsed.dir}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)} (give the audit directory)`,
    );
    return EXIT_USAGE;
  }
  return r.ok ? reportVerified(io, r, parsed.dir, opts) : reportFailure(io, r);
}

interface AuditValues {
  readonly bundle?: string;
  readonly signer?: string;
  readonly checkpoint?: readonly string[];
  readonly 'checkpoint-interval'?: string;
  readonly 'allow-missing-checkpoints'?: boolean;
  readonly help?: boolean;
}

/** `verify DIR` and the flags, or the exit code once usage (or help) was printed. */
function parseAuditArgs(args: readonly string[], io: CliIo): { dir: string; values: AuditValues } | number {
  let parsed;
  try {
    parsed = parseArgs({ args: [...args], allowPositionals: true, options: OPTIONS });
  } catch (err) {
    return usage(io, errorMessage(err));
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
  return { dir: resolve(io.cwd, dirArg), values: parsed.values };
}

/** The verifier's options from the flags (interval, trust bundle, off-box checkpoints), or exit 2 after saying why. */
function verifyOptions(io: CliIo, v: AuditValues): VerifyOptions | number {
  const intervalMs = checkpointInterval(io, v['checkpoint-interval']);
  if (intervalMs === null) return EXIT_USAGE;
  const trustBundlePem = v.bundle === undefined ? undefined : readBundle(io, resolve(io.cwd, v.bundle));
  if (trustBundlePem === null) return EXIT_USAGE;
  const external: ExternalCheckpoint[] = [];
  for (const f of v.checkpoint ?? []) {
    const got = readExternal(io, resolve(io.cwd, f), f);
    if (got === null) return EXIT_USAGE;
    external.push(...got);
  }
  return {
    checkpointIntervalMs: intervalMs,
    allowMissingCheckpoints: v['allow-missing-checkpoints'] === true,
    ...(trustBundlePem === undefined ? {} : { trustBundlePem }),
    ...(v.signer === undefined ? {} : { signer: v.signer }),
    ...(external.length === 0 ? {} : { external }),
  };
}

/** `--checkpoint-interval` in ms (the default when absent), or null after printing usage. */
function checkpointInterval(io: CliIo, text: string | undefined): number | null {
  if (text === undefined) return DEFAULT_CHECKPOINT_EVERY_MS;
  const ms = tryParseDuration(text);
  if (ms === null || ms === 0) {
    usage(io, `--checkpoint-interval: "${text}" is not a duration (e.g. 60s, 5m)`);
    return null;
  }
  return ms;
}

/** The trust bundle's PEM, or null after saying why it cannot be read. */
function readBundle(io: CliIo, bundlePath: string): string | null {
  try {
    return readFileSync(bundlePath, 'utf8');
  } catch (err) {
    io.err(`audit: cannot read trust bundle ${bundlePath}: ${errorMessage(err)}`);
    return null;
  }
}

/** The verified trail in one line, then what this verification could not detect. */
function reportVerified(io: CliIo, r: Extract<VerifyResult, { ok: true }>, dir: string, opts: VerifyOptions): number {
  const external = opts.external?.length ?? 0;
  const off = external > 0 ? `, ${external} off-box checkpoints matched` : '';
  io.out(
    `ok: ${r.events} events, ${r.checkpoints} checkpoints verified${off} in ${dir} (head seq ${r.lastSeq} ${r.headHash})`,
  );
  if (r.checkpoints === 0 && external === 0 && r.events > 0) {
    io.out('note: no signed checkpoints: a truncated tail cannot be detected (configure audit.checkpoint)');
  } else if (opts.trustBundlePem === undefined) {
    io.out('note: checkpoint signers were not checked against a trust bundle (pass --bundle to anchor them)');
  }
  if (external === 0 && r.events > 0) {
    io.out(
      "note: only checkpoints kept off the box (--checkpoint with the SIEM's copy) detect a trail re-chained on the box",
    );
  }
  return EXIT_OK;
}

/** The first bad record (segment:line, seq) and why. */
function reportFailure(io: CliIo, r: Extract<VerifyResult, { ok: false }>): number {
  const seq = r.firstBad.seq === undefined ? '' : ` (seq ${r.firstBad.seq})`;
  io.err(`FAIL: ${r.firstBad.segment}:${r.firstBad.line}${seq}: ${r.reason}`);
  if (r.reason.startsWith('no checkpoint')) {
    io.err(
      "hint: verify against the SIEM's copy with --checkpoint FILE; --allow-missing-checkpoints accepts a trail written without checkpoints",
    );
  }
  return EXIT_CHECK_FAILED;
}

function usage(io: CliIo, message: string): number {
  io.err(`audit: ${message}`);
  io.err(USAGE);
  return EXIT_USAGE;
}

/** Off-box checkpoints from one file, or null after reporting why they cannot be used (exit 2). */
function readExternal(io: CliIo, file: string, shown: string): ExternalCheckpoint[] | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    io.err(`audit: cannot read checkpoints from ${file}: ${errorMessage(err)}`);
    return null;
  }
  const p = parseExternalCheckpoints(text, shown);
  if (!p.ok) {
    io.err(`audit: ${shown}:${p.line}: ${p.error}`);
    return null;
  }
  if (p.checkpoints.length === 0) {
    io.err(
      `audit: ${shown} holds no checkpoint (no audit.checkpoint message, no checkpoint JSON line): is it the exported stream?`,
    );
    return null;
  }
  return p.checkpoints;
}
