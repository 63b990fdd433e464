/**
 * Loads the verigate gRPC API (proto/verigate/v1/gateway.proto) for the server and the admin CLI, and
 * declares the decoded message shapes. Loader options, fixed for both sides: camelCase field names
 * (`keepCase: false`), 64-bit integers as JS numbers, enums as their names, defaults filled in.
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { Table } from '../../protocols/modbus/types.js';

/** Resolved next to this module so it works from source (tsx) and from dist/ (copy-assets copies .proto). */
const PROTO_DIR = fileURLToPath(new URL('./proto/', import.meta.url));
const PROTO_FILE = 'verigate/v1/gateway.proto';

const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  includeDirs: [PROTO_DIR],
};

export type ProtoTable =
  'TABLE_UNSPECIFIED' | 'COILS' | 'DISCRETE_INPUTS' | 'HOLDING_REGISTERS' | 'INPUT_REGISTERS' | 'RECORDS';

const TO_PROTO: Record<Table, ProtoTable> = {
  coils: 'COILS',
  discrete: 'DISCRETE_INPUTS',
  holding: 'HOLDING_REGISTERS',
  input: 'INPUT_REGISTERS',
};

export function tableToProto(t: Table): ProtoTable {
  return TO_PROTO[t];
}

/** The codec's table for a proto enum name, or null for TABLE_UNSPECIFIED and anything unknown. */
export function tableFromProto(t: string): Table | null {
  for (const [k, v] of Object.entries(TO_PROTO)) if (v === t) return k as Table;
  return null;
}

/** JIT grants also name PROFINET record indices (`records`); the data plane never takes RECORDS. */
export function grantTableToProto(t: Table | 'records'): ProtoTable {
  return t === 'records' ? 'RECORDS' : TO_PROTO[t];
}

export function grantTableFromProto(t: string): Table | 'records' | null {
  return t === 'RECORDS' ? 'records' : tableFromProto(t);
}

// ---- data plane ----
export interface ReadRequest {
  device: string;
  address: number;
  count: number;
}
export interface BitsResponse {
  values: boolean[];
}
export interface RegistersResponse {
  values: number[];
}
export interface WriteCoilsRequest {
  device: string;
  address: number;
  values: boolean[];
}
export interface WriteRegistersRequest {
  device: string;
  address: number;
  values: number[];
}
export interface WriteResponse {
  address: number;
  count: number;
}
export interface WatchRequest {
  device: string;
  table: ProtoTable;
  address: number;
  count: number;
  intervalMs: number;
}
export interface WatchUpdate {
  values: number[];
  timeUnixMs: number;
}

// ---- data plane: PROFINET IO records (bytes fields decode to Buffer) ----
export interface RecordAddress {
  device: string;
  api: number;
  slot: number;
  subslot: number;
  index: number;
}
export interface ReadRecordRequest extends RecordAddress {
  maxLength: number;
}
export interface ReadRecordResponse {
  data: Buffer;
}
export interface WriteRecordRequest extends RecordAddress {
  data: Buffer;
}
export interface WriteRecordResponse {
  length: number;
}
export interface ReadIdentityRequest {
  device: string;
}
export interface Im0Message {
  vendorId: number;
  orderId: string;
  serialNumber: string;
  hardwareRevision: number;
  softwareRevision: string;
  revisionCounter: number;
  profileId: number;
  profileSpecificType: number;
  imVersion: string;
  imSupported: number;
}
export interface IdentModuleMessage {
  api: number;
  slot: number;
  moduleIdentNumber: number;
  submodules: { subslot: number; submoduleIdentNumber: number }[];
}
export interface DeviceIdentityMessage {
  im0: Im0Message;
  modules: IdentModuleMessage[];
}

// ---- admin plane ----
export interface SessionMessage {
  id: string;
  transport: string;
  spiffeId: string;
  role: string;
  remote: string;
  openedAt: string;
  lastActivityAt: string;
  requests: number;
  denied: number;
  writes: number;
  readOnly: boolean;
  devices: Record<string, number>;
  trustScore: number;
  trustState: string;
  svidNotAfter: string;
}
export interface ListSessionsResponse {
  sessions: SessionMessage[];
}
export interface KillSessionRequest {
  sessionId: string;
  spiffeId: string;
  reason: string;
}
export interface KillSessionResponse {
  ended: number;
}
export interface GrantRequestMessage {
  device: string;
  table: ProtoTable;
  start: number;
  end: number;
  access: string;
  durationS: number;
  reason: string;
  ruleId: string;
}
export interface GrantDecision {
  grantId: string;
  reason: string;
}
export interface GrantMessage {
  id: string;
  requester: string;
  ruleId: string;
  device: string;
  table: ProtoTable;
  start: number;
  end: number;
  access: string;
  durationS: number;
  reason: string;
  status: string;
  approvals: string[];
  requestedAt: string;
  expiresAt: string;
}
export interface ListGrantsResponse {
  grants: GrantMessage[];
}
export interface CreateLockRequest {
  kind: string;
  value: string;
  reason: string;
  ttlS: number;
}
export interface LockMessage {
  id: string;
  kind: string;
  value: string;
  by: string;
  reason: string;
  createdAt: string;
  expiresAt: string;
  sessionsEnded: number;
}
export interface RemoveLockRequest {
  lockId: string;
}
export interface RemoveLockResponse {
  removed: boolean;
}
export interface ListLocksResponse {
  locks: LockMessage[];
}
export interface ReloadPolicyResponse {
  ok: boolean;
  version: string;
  changed: boolean;
  error: string;
}
export type Empty = Record<string, never>;

export interface VerigateServices {
  readonly Modbus: grpc.ServiceClientConstructor;
  readonly Admin: grpc.ServiceClientConstructor;
  readonly Profinet: grpc.ServiceClientConstructor;
}

let cached: VerigateServices | null = null;

/** Parses the proto once per process (synchronously: startup and CLI paths only). */
export function loadVerigateServices(): VerigateServices {
  if (cached) return cached;
  const def = protoLoader.loadSync(PROTO_FILE, LOADER_OPTIONS);
  const pkg = grpc.loadPackageDefinition(def) as unknown as { verigate: { v1: VerigateServices } };
  cached = { Modbus: pkg.verigate.v1.Modbus, Admin: pkg.verigate.v1.Admin, Profinet: pkg.verigate.v1.Profinet };
  return cached;
}
