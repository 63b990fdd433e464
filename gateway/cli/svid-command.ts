/**
 * `verigate svid mint --id spiffe://TD/PATH --out DIR [--role NAME] [--ttl 24h] [--ca-dir DIR]`
 * Dev issuer: mints an X.509-SVID from the embedded dev CA (created on first use in --ca-dir, default
 * `.verigate/dev-ca`) and writes DIR/svid.pem (chain, leaf first), DIR/key.pem (PKCS#8, 0600) and
 * DIR/bundle.pem (the CA to trust). Like `spire-server x509 mint`: not rotated, for clients and labs.
 * Exit codes: 0 written, 2 bad usage or an unusable CA directory.
 */
import { X509Certificate } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { tryParseDuration } from '../config/duration.js';
import { isGatewayError, errorMessage } from '../errors.js';
import { DevCa } from '../identity/dev-ca.js';
import { tryParseSpiffeId } from '../identity/spiffe-id.js';
import { derToPem } from '../identity/x509-svid.js';
import { EXIT_OK, EXIT_USAGE, type CliCommand, type CliIo } from './cli-io.js';

export const DEFAULT_CA_DIR = '.verigate/dev-ca';
export const SVID_FILE = 'svid.pem';
export const KEY_FILE = 'key.pem';
export const BUNDLE_FILE = 'bundle.pem';

const USAGE = [
  'usage: verigate svid mint --id spiffe://TRUST_DOMAIN/PATH --out DIR [--role NAME] [--ttl 24h] [--ca-dir DIR]',
  '  --id      SPIFFE ID of the workload (its trust domain selects the dev CA)',
  '  --out     directory for svid.pem, key.pem (0600) and bundle.pem',
  '  --role    Modbus/TCP Security role (extension 1.3.6.1.4.1.50316.802.1)',
  '  --ttl     lifetime: 30s, 5m, 24h, 7d (default 24h; capped at the CA lifetime)',
  `  --ca-dir  dev CA directory (default ${DEFAULT_CA_DIR}; created with 0600 files)`,
].join('\n');

const OPTIONS = {
  id: { type: 'string' },
  out: { type: 'string' },
  role: { type: 'string' },
  ttl: { type: 'string' },
  'ca-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

interface MintArgs {
  readonly id: string;
  readonly out: string;
  readonly role: string | undefined;
  readonly ttlSeconds: number;
  readonly caDir: string;
}

export const svidCommand: CliCommand = async (args, io) => {
  let parsed;
  try {
    parsed = parseArgs({ args: [...args], allowPositionals: true, options: OPTIONS, strict: true });
  } catch (err) {
    return usage(io, errorMessage(err));
  }
  if (parsed.values.help === true) {
    io.out(USAGE);
    return EXIT_OK;
  }
  const [verb, ...extra] = parsed.positionals;
  if (verb !== 'mint')
    return usage(io, verb === undefined ? 'missing subcommand "mint"' : `unknown subcommand ${JSON.stringify(verb)}`);
  if (extra.length > 0) return usage(io, `unexpected argument ${JSON.stringify(extra[0])}`);
  const checked = checkArgs(parsed.values, io.cwd);
  if (typeof checked === 'string') return usage(io, checked);
  try {
    await mint(checked, io);
    return EXIT_OK;
  } catch (err) {
    if (!isGatewayError(err)) throw err;
    const cause = err.cause instanceof Error ? ` (${err.cause.message})` : '';
    io.err(`verigate svid: ${err.message}${cause} [${err.code}]`);
    return EXIT_USAGE;
  }
};

function checkArgs(
  v: { id?: string; out?: string; role?: string; ttl?: string; 'ca-dir'?: string },
  cwd: string,
): MintArgs | string {
  if (v.id === undefined) return '--id is required';
  const id = tryParseSpiffeId(v.id);
  if (!id.ok) return `--id ${JSON.stringify(v.id)} is not a SPIFFE ID: ${id.reason}`;
  if (id.id.isRoot())
    return '--id must have a path (spiffe://TRUST_DOMAIN/PATH): an SVID cannot carry the trust-domain ID';
  if (v.out === undefined || v.out === '') return '--out DIR is required';
  if (v.role === '') return '--role must not be empty';
  const ttlMs = tryParseDuration(v.ttl ?? '24h');
  if (ttlMs === null) return `--ttl ${JSON.stringify(v.ttl)} is not a duration like 30s, 5m, 24h or 7d`;
  if (ttlMs < 1000 || ttlMs % 1000 !== 0)
    return `--ttl must be a whole number of seconds ≥ 1s, got ${JSON.stringify(v.ttl)}`;
  return {
    id: id.id.toString(),
    out: resolve(cwd, v.out),
    role: v.role,
    ttlSeconds: ttlMs / 1000,
    caDir: resolve(cwd, v['ca-dir'] ?? DEFAULT_CA_DIR),
  };
}

async function mint(a: MintArgs, io: CliIo): Promise<void> {
  const td = a.id.slice('spiffe://'.length).split('/')[0] as string;
  const ca = await DevCa.loadOrCreate(a.caDir, td);
  const svid = await ca.mintX509Svid({
    spiffeId: a.id,
    ttlSeconds: a.ttlSeconds,
    ...(a.role !== undefined ? { role: a.role } : {}),
  });
  await mkdir(a.out, { recursive: true, mode: 0o700 });
  const keyPath = join(a.out, KEY_FILE);
  await writeFile(join(a.out, SVID_FILE), svid.chainDer.map((d) => derToPem(d, 'CERTIFICATE')).join(''), {
    mode: 0o644,
  });
  await writeFile(keyPath, derToPem(svid.keyDer, 'PRIVATE KEY'), { mode: 0o600 });
  await chmod(keyPath, 0o600);
  await writeFile(join(a.out, BUNDLE_FILE), ca.bundlePem(), { mode: 0o644 });
  const notAfter = new Date(new X509Certificate(svid.chainDer[0] as Buffer).validTo).toISOString();
  io.out(`minted ${a.id}${a.role !== undefined ? ` (role ${a.role})` : ''}, valid until ${notAfter}`);
  io.out(`  ${join(a.out, SVID_FILE)}\n  ${keyPath} (0600)\n  ${join(a.out, BUNDLE_FILE)}   (dev CA ${a.caDir})`);
}

function usage(io: CliIo, problem: string | null): number {
  if (problem !== null) io.err(`verigate svid: ${problem}`);
  io.err(USAGE);
  return EXIT_USAGE;
}
