/**
 * Loads the SPIFFE Workload API proto (shared by the client and the dev issuer) and declares the decoded
 * message shapes. The proto has no package, so the service sits at the top level of the package
 * definition and the wire paths are `/SpiffeWorkloadAPI/<Method>` [SPIFFE_Workload_API 6].
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** Metadata key every Workload API call must carry with the string value "true" [SPIFFE_Workload_Endpoint 4]. */
export const SECURITY_HEADER = 'workload.spiffe.io';

/** Resolved next to this module so it works from source (tsx) and from dist/ (copied by copy-assets). */
const PROTO_DIR = fileURLToPath(new URL('./proto/', import.meta.url));

/** The options the brief fixes; `oneofs` is needed to tell which google.protobuf.Value kind is set. */
const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  defaults: true,
  longs: String,
  enums: String,
  bytes: Buffer,
  oneofs: true,
  // struct.proto is served from protobufjs' bundled well-known types before any include path is tried.
  includeDirs: [PROTO_DIR],
};

export interface X509SvidMessage {
  spiffe_id: string;
  x509_svid: Buffer;
  x509_svid_key: Buffer;
  bundle: Buffer;
  hint: string;
}
export interface X509SvidResponse {
  svids: X509SvidMessage[];
  crl: Buffer[];
  federated_bundles: Record<string, Buffer>;
}
export interface X509BundlesResponse {
  crl: Buffer[];
  bundles: Record<string, Buffer>;
}
export interface JwtSvidMessage {
  spiffe_id: string;
  svid: string;
  hint: string;
}
export interface JwtSvidRequest {
  audience: string[];
  spiffe_id: string;
}
export interface JwtSvidResponse {
  svids: JwtSvidMessage[];
}
export interface JwtBundlesResponse {
  bundles: Record<string, Buffer>;
}
export interface ValidateJwtSvidRequest {
  audience: string;
  svid: string;
}
/** `claims` is a google.protobuf.Struct in object form; see protobuf-struct.ts. */
export interface ValidateJwtSvidResponse {
  spiffe_id: string;
  claims: unknown;
}

/** The client methods grpc-js generates for the service (only the shapes we call). */
export interface WorkloadApiStub extends grpc.Client {
  FetchX509SVID(req: object, md: grpc.Metadata): grpc.ClientReadableStream<X509SvidResponse>;
  FetchX509Bundles(req: object, md: grpc.Metadata): grpc.ClientReadableStream<X509BundlesResponse>;
  FetchJWTBundles(req: object, md: grpc.Metadata): grpc.ClientReadableStream<JwtBundlesResponse>;
  FetchJWTSVID(
    req: JwtSvidRequest,
    md: grpc.Metadata,
    cb: (err: grpc.ServiceError | null, res?: JwtSvidResponse) => void,
  ): grpc.ClientUnaryCall;
  ValidateJWTSVID(
    req: ValidateJwtSvidRequest,
    md: grpc.Metadata,
    cb: (err: grpc.ServiceError | null, res?: ValidateJwtSvidResponse) => void,
  ): grpc.ClientUnaryCall;
}

export interface WorkloadApiDefinition {
  service: grpc.ServiceDefinition;
  Client: new (target: string, creds: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => WorkloadApiStub;
}

let cached: WorkloadApiDefinition | undefined;

/** Loads (once) and returns the service definition and the generated client constructor. */
export function workloadApi(): WorkloadApiDefinition {
  if (cached) return cached;
  const pkgDef = protoLoader.loadSync('workload.proto', LOADER_OPTIONS);
  const loaded = grpc.loadPackageDefinition(pkgDef) as unknown as Record<string, grpc.ServiceClientConstructor>;
  const ctor = loaded['SpiffeWorkloadAPI'];
  if (!ctor) throw new Error('identity: workload.proto has no top-level SpiffeWorkloadAPI service');
  cached = { service: ctor.service, Client: ctor as unknown as WorkloadApiDefinition['Client'] };
  return cached;
}

/** Metadata carrying the security header; a fresh object per call (grpc-js may mutate it). */
export function securityMetadata(): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set(SECURITY_HEADER, 'true');
  return md;
}

/** True when the incoming call carries `workload.spiffe.io: "true"` exactly once. */
export function hasSecurityHeader(md: grpc.Metadata): boolean {
  const values = md.get(SECURITY_HEADER);
  return values.length === 1 && values[0] === 'true';
}
