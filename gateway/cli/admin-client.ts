/**
 * The admin CLI's side of the gRPC API: where the gateway is (`--server`, `VERIGATE_GRPC`, or a lab's
 * lab.json), which SVID the caller presents (`--cert/--key/--bundle`, or `--lab DIR --as NAME`), and a channel
 * that verifies the GATEWAY as an X.509-SVID of the caller's own trust domain [X509-SVID 5]: the bundle is
 * the only CA, and instead of a hostname check the server's chain is verified against that bundle with the
 * SPIFFE rules (exactly one URI SAN, leaf not a CA, ...), then its ID is authorized [X509-SVID 5 "authorize
 * the ID"; go-spiffe tlsconfig.AuthorizeID]. The CLI always pins the gateway's own SPIFFE ID (`--gateway-id`,
 * `VERIGATE_GATEWAY_ID`, or lab.json's `gatewayId`): any workload of the trust domain holds a valid SVID, and
 * without the pin one of them could pose as the gateway and receive the operator's lock, grant and reload
 * calls. Also used by tests as a plain SPIFFE gRPC client (authorizing any member of the trust domain).
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { errorMessage } from '../errors.js';
import { loadVerigateServices } from '../frontdoor/grpc-proto.js';
import { authorizeMemberOf, type Authorizer } from '../identity/authorizers.js';
import { BundleSet, X509Bundle } from '../identity/bundle-set.js';
import { verifyPeerChain } from '../identity/peer-verifier.js';
import { parseSpiffeId } from '../identity/spiffe-id.js';
import { chainFromPeerCertificate } from '../identity/tls-options.js';
import { svidIdOf } from '../identity/x509-svid.js';

export interface SvidPems {
  readonly certPem: string;
  readonly keyPem: string;
  readonly bundlePem: string;
}

export interface AdminTarget {
  readonly server: string;
  readonly pems: SvidPems;
  /** The gateway's SPIFFE ID: the server must present exactly this ID. */
  readonly gatewayId: string;
}

export interface TargetOptions {
  readonly server?: string | undefined;
  readonly lab?: string | undefined;
  readonly as?: string | undefined;
  readonly cert?: string | undefined;
  readonly key?: string | undefined;
  readonly bundle?: string | undefined;
  readonly gatewayId?: string | undefined;
}

interface LabJsonView {
  gatewayId?: string;
  endpoints?: { grpc?: { host: string; port: number } };
  clients?: Record<string, { cert: string; key: string; bundle: string }>;
}

/** Resolves server and credentials from options, env and lab.json; a string is a usage error. */
export function resolveAdminTarget(o: TargetOptions, env: NodeJS.ProcessEnv, cwd: string): AdminTarget | string {
  const at = (p: string): string => resolve(cwd, p);
  let lab: LabJsonView | null = null;
  if (o.lab) {
    try {
      lab = JSON.parse(readFileSync(at(`${o.lab}/lab.json`), 'utf8')) as LabJsonView;
    } catch (e) {
      return `cannot read ${o.lab}/lab.json: ${errorMessage(e)}`;
    }
  }
  const labGrpc = lab?.endpoints?.grpc;
  // An empty flag or variable counts as unset.
  const server = o.server || env['VERIGATE_GRPC'] || (labGrpc ? `${labGrpc.host}:${labGrpc.port}` : undefined);
  if (!server) return 'no gateway address: give --server host:port, set VERIGATE_GRPC, or --lab DIR';
  let files: { cert: string; key: string; bundle: string };
  if (o.as) {
    if (!lab) return '--as NAME needs --lab DIR';
    const c = lab.clients?.[o.as];
    if (!c) return `lab.json has no client "${o.as}" (known: ${Object.keys(lab.clients ?? {}).join(', ')})`;
    // lab.json paths are absolute when `verigate lab` writes them; relative ones are taken from the lab dir.
    const inLab = (p: string): string => resolve(at(o.lab ?? '.'), p);
    files = { cert: inLab(c.cert), key: inLab(c.key), bundle: inLab(c.bundle) };
  } else if (o.cert && o.key && o.bundle) {
    files = { cert: at(o.cert), key: at(o.key), bundle: at(o.bundle) };
  } else {
    return 'no caller SVID: give --cert svid.pem --key key.pem --bundle bundle.pem, or --lab DIR --as NAME';
  }
  let pems: SvidPems;
  try {
    const read = (p: string): string => readFileSync(p, 'utf8');
    pems = { certPem: read(files.cert), keyPem: read(files.key), bundlePem: read(files.bundle) };
  } catch (e) {
    return `cannot read the SVID files: ${errorMessage(e)}`;
  }
  const pin = pinnedGatewayId(o.gatewayId || env['VERIGATE_GATEWAY_ID'] || lab?.gatewayId, pems.certPem);
  return 'error' in pin ? pin.error : { server, pems, gatewayId: pin.id };
}

/**
 * The gateway ID to pin, or a usage error. No default: guessing (e.g. `spiffe://<your domain>/verigate`)
 * would silently pin the wrong ID on a deployment that registered another one, and accepting any member of
 * the trust domain is exactly what pinning prevents. A lab records the ID in lab.json.
 */
function pinnedGatewayId(given: string | undefined, certPem: string): { id: string } | { error: string } {
  if (!given) {
    return {
      error:
        'no gateway SPIFFE ID to pin: give --gateway-id spiffe://TRUST_DOMAIN/PATH (the ID the gateway runs as, ' +
        'e.g. spiffe://plant.example/verigate) or set VERIGATE_GATEWAY_ID; with --lab DIR it is read from lab.json',
    };
  }
  let id;
  let td: string;
  try {
    id = parseSpiffeId(given);
  } catch (e) {
    return { error: `--gateway-id: ${errorMessage(e)}` };
  }
  try {
    td = trustDomainOf(certPem);
  } catch (e) {
    return { error: `your SVID carries no valid SPIFFE ID: ${errorMessage(e)}` };
  }
  if (id.trustDomain.name !== td)
    return {
      error: `--gateway-id ${id.toString()} is not in your trust domain ${td} (the gateway is verified with your trust bundle)`,
    };
  return { id: id.toString() };
}

/** The caller's own trust domain, from the URI SAN of its leaf certificate. */
export function trustDomainOf(certPem: string): string {
  return svidIdOf(new X509Certificate(certPem).raw).trustDomain.name;
}

/**
 * mTLS channel credentials that accept only a server SVID of the caller's trust domain (no hostname check)
 * whose ID `authorize` accepts (default: any member of the trust domain — the CLI passes authorizeId).
 */
export function spiffeChannelCredentials(
  pems: SvidPems,
  authorize?: Authorizer,
): { credentials: grpc.ChannelCredentials; options: grpc.ChannelOptions } {
  const td = trustDomainOf(pems.certPem);
  const bundles = BundleSet.of([X509Bundle.fromPem(td, pems.bundlePem)]);
  const authorizeId = authorize ?? authorizeMemberOf(td);
  const credentials = grpc.credentials.createSsl(
    Buffer.from(pems.bundlePem),
    Buffer.from(pems.keyPem),
    Buffer.from(pems.certPem),
    {
      checkServerIdentity: (_host, cert) => {
        const r = verifyPeerChain(chainFromPeerCertificate(cert), bundles, new Date());
        if (!r.ok) return new Error(`gateway SVID refused (${r.reason}): ${r.detail}`);
        const a = authorizeId(r.peer.id);
        return a.ok ? undefined : new Error(`gateway SVID refused: ${a.reason}`);
      },
    },
  );
  // SNI carries the trust domain: an IP address is not a valid TLS server name (RFC 6066 §3).
  return { credentials, options: { 'grpc.ssl_target_name_override': td } };
}

export type CallOutcome<T> =
  | { ok: true; value: T }
  | { ok: false; code: grpc.status; codeName: string; details: string; metadata: Record<string, string> };

type UnaryMethod = (
  req: object,
  meta: grpc.Metadata,
  opts: grpc.CallOptions,
  cb: (e: grpc.ServiceError | null, v?: unknown) => void,
) => void;

export type VerigateService = 'Admin' | 'Modbus' | 'Profinet';

/** A promise-returning wrapper over one verigate.v1 service client. */
export class VerigateClient {
  readonly raw: grpc.Client;

  constructor(
    service: VerigateService,
    server: string,
    pems: SvidPems,
    opts: { readonly authorize?: Authorizer } = {},
  ) {
    const ctor = loadVerigateServices()[service];
    const { credentials, options } = spiffeChannelCredentials(pems, opts.authorize);
    this.raw = new ctor(server, credentials, options);
  }

  call<T>(method: string, req: object, timeoutMs = 10_000): Promise<CallOutcome<T>> {
    const fn = (this.raw as unknown as Record<string, UnaryMethod | undefined>)[method];
    if (typeof fn !== 'function') throw new TypeError(`no RPC ${method}`);
    return new Promise((done) => {
      fn.call(this.raw, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (e, v) => {
        if (!e) return done({ ok: true, value: v as T });
        const metadata: Record<string, string> = {};
        for (const [k, val] of Object.entries(e.metadata?.getMap() ?? {})) metadata[k] = String(val);
        done({
          ok: false,
          code: e.code,
          codeName: grpc.status[e.code] ?? String(e.code),
          details: e.details,
          metadata,
        });
      });
    });
  }

  close(): void {
    this.raw.close();
  }
}
