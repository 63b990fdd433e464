/**
 * DevIssuer: an embedded SPIFFE Workload API server backed by a DevCa, speaking the REAL protocol over
 * gRPC on a unix socket, so the gateway's code path is the same with or without SPIRE. It mimics the SPIRE
 * agent where it matters: the security header is required (InvalidArgument) [SPIFFE_Workload_Endpoint 4],
 * every message is a full snapshot, SVIDs are re-minted and pushed at ~50% of their TTL, JWT-SVIDs are
 * ES256 tokens signed by the CA key and published as a JWKS, and an identity resolver that refuses a peer
 * yields PermissionDenied (as SPIRE does when no entry matches).
 */
import * as grpc from '@grpc/grpc-js';
import { GatewayError } from '../errors.js';
import { systemTimers, unrefTimer, type TimerHandle, type Timers } from '../timers.js';
import type { DevCa } from './dev-ca.js';
import { nullLogger, type Logger } from '../logger.js';
import { publicJwk, signJwtSvid, verifyJwtSvid, type Jwks } from './jwt-svid.js';
import { toStruct } from './protobuf-struct.js';
import { prepareSocketPath, removeSocket } from './socket-path.js';
import {
  hasSecurityHeader,
  workloadApi,
  type JwtSvidRequest,
  type ValidateJwtSvidRequest,
  type X509SvidMessage,
  type X509SvidResponse,
} from './workload-api-proto.js';

/** What the resolver learns about a caller: grpc-js peer string (unix sockets carry no credentials in Node). */
export interface DevIssuerPeer {
  address: string;
}

export interface DevIssuerOptions {
  socketPath: string;
  ca: DevCa;
  /** The identity to issue, or a resolver per caller (throw or return '' to deny: PermissionDenied). */
  spiffeId: string | ((peer: DevIssuerPeer) => string);
  /** X.509-SVID lifetime (default 86400 s); rotation at half of it. */
  ttlSeconds?: number;
  /** JWT-SVID lifetime (default min(300, ttlSeconds), SPIRE's default is 5 min). */
  jwtTtlSeconds?: number;
  /** Modbus/TCP Security role to put in issued X.509-SVIDs. */
  role?: string;
  /** DNS SANs to add beside the URI SAN (see DevCa MintOptions.dnsNames). */
  dnsNames?: readonly string[];
  /** Federated CA bundles keyed by trust-domain ID (`spiffe://other.org`), concatenated DER. */
  federatedBundles?: Record<string, Buffer>;
  logger?: Logger;
  /** Arms the rotation timers (gateway/timers.ts); default systemTimers. */
  timers?: Timers;
}

interface Issued {
  svid: X509SvidMessage;
  timer: TimerHandle;
}

type X509Stream = grpc.ServerWritableStream<object, X509SvidResponse>;
type Stream = grpc.ServerWritableStream<object, object>;

export class DevIssuer {
  readonly socketPath: string;
  private readonly server = new grpc.Server();
  private readonly issued = new Map<string, Promise<Issued>>();
  private readonly x509Streams = new Map<X509Stream, string>();
  private readonly otherStreams = new Set<Stream>();
  private readonly ttlSeconds: number;
  private readonly log: Logger;
  private readonly timers: Timers;
  private federated: Record<string, Buffer>;
  private closed = false;

  private constructor(private readonly opts: DevIssuerOptions) {
    this.socketPath = opts.socketPath;
    this.ttlSeconds = opts.ttlSeconds ?? 86_400;
    this.log = opts.logger ?? nullLogger;
    this.timers = opts.timers ?? systemTimers;
    this.federated = { ...(opts.federatedBundles ?? {}) };
    if (!(this.ttlSeconds > 0))
      throw new GatewayError('GW_ERR_INTERNAL', `identity: dev issuer TTL must be positive, got ${this.ttlSeconds}`);
  }

  static async start(opts: DevIssuerOptions): Promise<DevIssuer> {
    const issuer = new DevIssuer(opts);
    await prepareSocketPath(opts.socketPath);
    issuer.server.addService(workloadApi().service, issuer.handlers());
    await new Promise<void>((resolve, reject) => {
      issuer.server.bindAsync(`unix:${opts.socketPath}`, grpc.ServerCredentials.createInsecure(), (err) =>
        err
          ? reject(
              new GatewayError(
                'GW_ERR_LISTEN',
                `identity: dev issuer cannot listen on ${opts.socketPath}: ${err.message}`,
                { cause: err },
              ),
            )
          : resolve(),
      );
    });
    issuer.log.info(
      { socketPath: opts.socketPath, trustDomain: opts.ca.trustDomain.name },
      'identity: dev Workload API issuer listening',
    );
    return issuer;
  }

  /** `unix://` address for SPIFFE_ENDPOINT_SOCKET / clients. */
  get address(): string {
    return `unix://${this.socketPath}`;
  }

  /** Re-mints every issued identity now and pushes new snapshots to their streams. */
  async rotateNow(): Promise<void> {
    await Promise.all([...this.issued.keys()].map((id) => this.rotate(id)));
  }

  /** Pushes the current snapshot again, unchanged, as SPIRE does on unrelated cache updates. */
  async resend(): Promise<void> {
    for (const [call, id] of this.x509Streams) {
      const cur = this.issued.get(id);
      if (cur) call.write(this.snapshot((await cur).svid));
    }
  }

  /**
   * Replaces the federated bundles and pushes the new snapshot to every X.509 stream, as SPIRE does when a
   * federation relationship or a foreign bundle changes: a trust domain left out is no longer trusted.
   */
  async setFederatedBundles(bundles: Record<string, Buffer>): Promise<void> {
    this.federated = { ...bundles };
    await this.resend();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.issued.values())
      void p.then(
        (i) => this.timers.clearTimeout(i.timer),
        () => undefined,
      );
    this.issued.clear();
    this.server.forceShutdown();
    this.x509Streams.clear();
    this.otherStreams.clear();
    await removeSocket(this.socketPath);
    this.log.info({ socketPath: this.socketPath }, 'identity: dev Workload API issuer stopped');
  }

  private handlers(): grpc.UntypedServiceImplementation {
    return {
      FetchX509SVID: (call: X509Stream) => void this.fetchX509Svid(call),
      FetchX509Bundles: (call: Stream) => this.openStream(call, () => ({ crl: [], bundles: this.x509Bundles() })),
      FetchJWTBundles: (call: Stream) => this.openStream(call, () => ({ bundles: this.jwtBundles() })),
      FetchJWTSVID: (call: grpc.ServerUnaryCall<JwtSvidRequest, object>, cb: grpc.sendUnaryData<object>) =>
        cb(...this.fetchJwtSvid(call)),
      ValidateJWTSVID: (call: grpc.ServerUnaryCall<ValidateJwtSvidRequest, object>, cb: grpc.sendUnaryData<object>) =>
        cb(...this.validateJwtSvid(call.request, call.metadata)),
    };
  }

  private async fetchX509Svid(call: X509Stream): Promise<void> {
    const denied = this.check(call.metadata);
    if (denied) return void call.emit('error', denied);
    const id = this.resolve(call.getPeer());
    if (typeof id !== 'string') return void call.emit('error', id);
    try {
      const cur = await this.issue(id);
      if (call.cancelled || this.closed) return;
      this.x509Streams.set(call, id);
      call.on('cancelled', () => this.x509Streams.delete(call));
      call.write(this.snapshot(cur.svid));
    } catch (err) {
      this.log.error({ err, spiffeId: id }, 'identity: dev issuer could not mint an X.509-SVID');
      call.emit('error', status(grpc.status.INTERNAL, `cannot mint an X.509-SVID for ${id}`));
    }
  }

  private openStream(call: Stream, message: () => object): void {
    const denied = this.check(call.metadata);
    if (denied) return void call.emit('error', denied);
    this.otherStreams.add(call);
    call.on('cancelled', () => this.otherStreams.delete(call));
    call.write(message());
  }

  private fetchJwtSvid(call: grpc.ServerUnaryCall<JwtSvidRequest, object>): [grpc.ServiceError | null, object?] {
    const denied = this.check(call.metadata);
    if (denied) return [denied];
    const req = call.request;
    if (req.audience.length === 0) return [status(grpc.status.INVALID_ARGUMENT, 'audience must be specified')];
    const id = this.resolve(call.getPeer());
    if (typeof id !== 'string') return [id];
    if (req.spiffe_id !== '' && req.spiffe_id !== id) {
      return [status(grpc.status.PERMISSION_DENIED, `no identity issued for ${req.spiffe_id}`)];
    }
    const ttl = this.opts.jwtTtlSeconds ?? Math.min(300, this.ttlSeconds);
    const token = signJwtSvid({
      key: this.opts.ca.signingKey(),
      sub: id,
      audience: req.audience,
      ttlSeconds: ttl,
      nowMs: Date.now(),
    });
    return [null, { svids: [{ spiffe_id: id, svid: token, hint: '' }] }];
  }

  private validateJwtSvid(req: ValidateJwtSvidRequest, md: grpc.Metadata): [grpc.ServiceError | null, object?] {
    const denied = this.check(md);
    if (denied) return [denied];
    if (req.audience === '') return [status(grpc.status.INVALID_ARGUMENT, 'audience must be specified')];
    if (req.svid === '') return [status(grpc.status.INVALID_ARGUMENT, 'svid must be specified')];
    const r = verifyJwtSvid(req.svid, this.jwks(), req.audience, Date.now());
    if (!r.ok) return [status(grpc.status.INVALID_ARGUMENT, `unable to validate JWT-SVID: ${r.reason}`)];
    return [null, { spiffe_id: r.svid.spiffeId.toString(), claims: toStruct(r.svid.claims) }];
  }

  /** Missing/wrong security header → InvalidArgument, as the SPIRE agent answers [SPIFFE_Workload_Endpoint 4]. */
  private check(md: grpc.Metadata): grpc.ServiceError | undefined {
    if (this.closed) return status(grpc.status.UNAVAILABLE, 'dev issuer is shutting down');
    return hasSecurityHeader(md)
      ? undefined
      : status(grpc.status.INVALID_ARGUMENT, 'security header missing from request');
  }

  private resolve(peer: string): string | grpc.ServiceError {
    const spec = this.opts.spiffeId;
    try {
      const id = typeof spec === 'string' ? spec : spec({ address: peer });
      if (id !== '') return id;
    } catch (err) {
      this.log.warn({ err, peer }, 'identity: dev issuer resolver refused a caller');
    }
    return status(grpc.status.PERMISSION_DENIED, 'no identity issued');
  }

  private issue(id: string): Promise<Issued> {
    let p = this.issued.get(id);
    if (!p) {
      p = this.mint(id);
      this.issued.set(id, p);
      p.catch(() => this.issued.delete(id));
    }
    return p;
  }

  private async mint(id: string): Promise<Issued> {
    const { chainDer, keyDer } = await this.opts.ca.mintX509Svid({
      spiffeId: id,
      ttlSeconds: this.ttlSeconds,
      ...(this.opts.role !== undefined ? { role: this.opts.role } : {}),
      ...(this.opts.dnsNames ? { dnsNames: this.opts.dnsNames } : {}),
    });
    const svid: X509SvidMessage = {
      spiffe_id: id,
      x509_svid: Buffer.concat(chainDer),
      x509_svid_key: keyDer,
      bundle: this.opts.ca.bundleDer(),
      hint: '',
    };
    // SPIRE rotates at about half the lifetime [SPIRE agent rotation]; unref: never keeps a process alive.
    const timer = unrefTimer(this.timers.setTimeout(() => void this.rotate(id), (this.ttlSeconds * 1000) / 2));
    this.log.debug({ spiffeId: id, ttlSeconds: this.ttlSeconds }, 'identity: dev issuer minted an X.509-SVID');
    return { svid, timer };
  }

  private async rotate(id: string): Promise<void> {
    const old = this.issued.get(id);
    if (!old || this.closed) return;
    const next = this.mint(id);
    this.issued.set(id, next);
    try {
      const [prev, cur] = await Promise.all([old, next]);
      this.timers.clearTimeout(prev.timer);
      if (this.closed) return this.timers.clearTimeout(cur.timer);
      for (const [call, sid] of this.x509Streams) if (sid === id) call.write(this.snapshot(cur.svid));
    } catch (err) {
      this.log.error({ err, spiffeId: id }, 'identity: dev issuer could not rotate an X.509-SVID');
    }
  }

  private snapshot(svid: X509SvidMessage): X509SvidResponse {
    return { svids: [svid], crl: [], federated_bundles: { ...this.federated } };
  }

  private x509Bundles(): Record<string, Buffer> {
    return { ...this.federated, [this.opts.ca.trustDomain.idString()]: this.opts.ca.bundleDer() };
  }

  private jwks(): Jwks {
    return { keys: [publicJwk(this.opts.ca.signingKey())] };
  }

  private jwtBundles(): Record<string, Buffer> {
    return { [this.opts.ca.trustDomain.idString()]: Buffer.from(JSON.stringify(this.jwks())) };
  }
}

function status(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });
}
