/**
 * SPIFFE Workload API client over gRPC (grpc-js), modelled on go-spiffe workloadapi/client.go.
 * Every call carries the security header `workload.spiffe.io: "true"` [SPIFFE_Workload_Endpoint 4].
 * Watches deliver full snapshots, drop identical repeats and retry transient errors with linear backoff
 * (see workload-watch.ts). One-shot calls reject with GW_ERR_WORKLOAD_API carrying the gRPC error as cause.
 */
import * as grpc from '@grpc/grpc-js';
import { errorMessage, GatewayError } from '../errors.js';
import { LinearBackoff, WATCH_BACKOFF, type Backoff, type BackoffOptions } from '../backoff.js';
import { systemTimers, type Timers } from '../timers.js';
import type { BundleSet } from './bundle-set.js';
import { parseEndpointAddress, type EndpointAddress } from './endpoint-address.js';
import { nullLogger, type Logger } from '../logger.js';
import { parseJwtSvidInsecure, type Jwks, type JwtSvid } from './jwt-svid.js';
import { fromStruct } from './protobuf-struct.js';
import { securityMetadata, workloadApi, type WorkloadApiStub } from './workload-api-proto.js';
import { startWatch, type Watcher } from './workload-watch.js';
import {
  bundlesSnapshotKey,
  parseX509BundlesResponse,
  parseX509SvidResponse,
  x509SnapshotKey,
  type X509Context,
} from './x509-context.js';

export type { X509Context } from './x509-context.js';
export type { Watcher } from './workload-watch.js';

export interface WorkloadApiClientOptions {
  /** `unix:///abs/path` or `tcp://IP:PORT`; default SPIFFE_ENDPOINT_SOCKET. */
  address?: string;
  logger?: Logger;
  /** Watch retry backoff; default 1 s steps capped at 30 s (go-spiffe). */
  backoff?: BackoffOptions;
  /** Each watch's retry strategy; default a LinearBackoff over `backoff` (tests count retries through it). */
  newBackoff?: () => Backoff;
  /** Retry timers (gateway/timers.ts); default systemTimers. */
  timers?: Timers;
}

export class WorkloadApiClient {
  readonly address: EndpointAddress;
  private readonly stub: WorkloadApiStub;
  private readonly logger: Logger;
  private readonly backoff: BackoffOptions;
  private readonly newBackoff: () => Backoff;
  private readonly timers: Timers;
  private readonly stops = new Set<() => void>();
  private closed = false;

  private constructor(address: EndpointAddress, opts: WorkloadApiClientOptions) {
    this.address = address;
    this.logger = opts.logger ?? nullLogger;
    this.backoff = opts.backoff ?? WATCH_BACKOFF;
    this.newBackoff = opts.newBackoff ?? (() => new LinearBackoff(this.backoff));
    this.timers = opts.timers ?? systemTimers;
    const { Client } = workloadApi();
    // The channel's own reconnect backoff (grpc-js default up to 120 s) must not outlast ours, or a
    // restarted agent would be noticed minutes late.
    this.stub = new Client(address.target, grpc.credentials.createInsecure(), {
      'grpc.initial_reconnect_backoff_ms': this.backoff.initialMs,
      'grpc.max_reconnect_backoff_ms': this.backoff.maxMs,
    });
  }

  /** Validates the address (throws GW_ERR_ENDPOINT_ADDRESS); connects lazily. */
  static create(opts: WorkloadApiClientOptions = {}): WorkloadApiClient {
    return new WorkloadApiClient(parseEndpointAddress(opts.address), opts);
  }

  /** The address as given, for messages. */
  describe(): string {
    return this.address.kind === 'unix'
      ? `unix://${this.address.path}`
      : `tcp://${this.address.host}:${this.address.port}`;
  }

  /** Streams X.509 contexts (FetchX509SVID); returns a stop function. */
  watchX509Context(w: Watcher<X509Context>): () => void {
    return this.track(
      startWatch(
        {
          method: 'FetchX509SVID',
          address: this.describe(),
          open: () => this.stub.FetchX509SVID({}, securityMetadata()),
          parse: parseX509SvidResponse,
          key: x509SnapshotKey,
          backoff: this.newBackoff(),
          timers: this.timers,
          logger: this.logger,
        },
        w,
      ),
    );
  }

  /** Streams the trust bundles (FetchX509Bundles); returns a stop function. */
  watchX509Bundles(w: Watcher<BundleSet>): () => void {
    return this.track(
      startWatch(
        {
          method: 'FetchX509Bundles',
          address: this.describe(),
          open: () => this.stub.FetchX509Bundles({}, securityMetadata()),
          parse: parseX509BundlesResponse,
          key: bundlesSnapshotKey,
          backoff: this.newBackoff(),
          timers: this.timers,
          logger: this.logger,
        },
        w,
      ),
    );
  }

  /** The first snapshot of FetchX509SVID (may block until the agent has minted an SVID). */
  fetchX509Context(): Promise<X509Context> {
    return this.firstOf('FetchX509SVID', () => this.stub.FetchX509SVID({}, securityMetadata())).then((r) =>
      parseX509SvidResponse(r),
    );
  }

  /** JWKS per trust-domain ID (`spiffe://td`), from the first FetchJWTBundles message. */
  async fetchJwtBundles(): Promise<Map<string, Jwks>> {
    const resp = await this.firstOf('FetchJWTBundles', () => this.stub.FetchJWTBundles({}, securityMetadata()));
    const out = new Map<string, Jwks>();
    for (const [td, raw] of Object.entries(resp.bundles)) {
      try {
        out.set(td, JSON.parse(raw.toString('utf8')) as Jwks);
      } catch (err) {
        throw new GatewayError('GW_ERR_IDENTITY_INVALID', `identity: JWT bundle for ${td} is not JSON`, { cause: err });
      }
    }
    return out;
  }

  /** FetchJWTSVID: one JWT-SVID per identity (or only `spiffeId`'s), parsed without verification. */
  fetchJwtSvid(opts: { audience: string[]; spiffeId?: string }): Promise<JwtSvid[]> {
    return new Promise((resolve, reject) => {
      const req = { audience: opts.audience, spiffe_id: opts.spiffeId ?? '' };
      this.stub.FetchJWTSVID(req, securityMetadata(), (err, res) => {
        if (err || !res) return reject(this.callError('FetchJWTSVID', err));
        try {
          resolve(res.svids.map((s) => parseJwtSvidInsecure(s.svid, s.hint)));
        } catch (e) {
          reject(e instanceof Error ? e : new Error(errorMessage(e)));
        }
      });
    });
  }

  /** ValidateJWTSVID: the agent checks signature, expiry and audience. */
  validateJwtSvid(opts: {
    audience: string;
    token: string;
  }): Promise<{ spiffeId: string; claims: Record<string, unknown> }> {
    return new Promise((resolve, reject) => {
      this.stub.ValidateJWTSVID({ audience: opts.audience, svid: opts.token }, securityMetadata(), (err, res) => {
        if (err || !res) return reject(this.callError('ValidateJWTSVID', err));
        resolve({ spiffeId: res.spiffe_id, claims: fromStruct(res.claims) });
      });
    });
  }

  /** Stops every watch and closes the channel. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const stop of [...this.stops]) stop();
    this.stops.clear();
    this.stub.close();
  }

  private track(stop: () => void): () => void {
    if (this.closed) {
      stop();
      throw new GatewayError('GW_ERR_INTERNAL', 'identity: WorkloadApiClient used after close()');
    }
    const wrapped = (): void => {
      this.stops.delete(wrapped);
      stop();
    };
    this.stops.add(wrapped);
    return wrapped;
  }

  private firstOf<R>(method: string, open: () => grpc.ClientReadableStream<R>): Promise<R> {
    return new Promise((resolve, reject) => {
      const call = open();
      let settled = false;
      call.on('data', (msg: R) => {
        if (settled) return;
        settled = true;
        call.cancel();
        resolve(msg);
      });
      call.on('error', (err: grpc.ServiceError) => {
        if (settled) return;
        settled = true;
        reject(this.callError(method, err));
      });
      call.on('status', (s: grpc.StatusObject) => {
        if (settled || s.code !== grpc.status.OK) return;
        settled = true;
        reject(this.callError(method, null));
      });
    });
  }

  private callError(method: string, err: grpc.ServiceError | null | undefined): GatewayError {
    const why = err ? `${grpc.status[err.code] ?? err.code}: ${err.details}` : 'no response';
    return new GatewayError('GW_ERR_WORKLOAD_API', `identity: ${method} on ${this.describe()} failed with ${why}`, {
      cause: err ?? undefined,
    });
  }
}
