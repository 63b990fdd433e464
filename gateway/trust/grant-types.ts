/**
 * The shape of just-in-time access (grant-service.ts): what a requester asks for, the stored grant and its
 * lifecycle, and the answer of each operation. Grants are stored as this JSON (durable-json.ts) and shared
 * with the fleet hub (gateway/fleet/fleet-grants.ts), so a field added here is a stored-format change.
 */
import type { Table } from '../../protocols/modbus/types.js';

/** An undecided request lapses after this long. */
export const PENDING_TTL_MS = 60 * 60_000;

export type GrantStatus = 'pending' | 'active' | 'denied' | 'revoked' | 'expired';
export type GrantAccess = 'read' | 'write' | 'read-write';
/** A Modbus table, or `records`: PROFINET record indices. */
export type GrantTable = Table | 'records';

export interface GrantRequest {
  readonly requester: string;
  readonly device: string;
  readonly table: GrantTable;
  readonly start: number;
  /** Inclusive. */
  readonly end: number;
  readonly access: GrantAccess;
  readonly durationMs: number;
  readonly reason: string;
  readonly ruleId?: string;
}

/** A stored grant: the request as asked, the JIT rule it falls under, and its lifecycle. */
export interface Grant extends Omit<GrantRequest, 'ruleId'> {
  readonly id: string;
  readonly ruleId: string;
  status: GrantStatus;
  approvals: string[];
  readonly requestedAt: string;
  expiresAt?: string;
  closedBy?: string;
  closedReason?: string;
  /** `fleet`: issued at the fleet hub and imported from the site bucket (gateway/fleet/fleet-grants.ts). */
  source?: 'fleet';
}

export type GrantResult =
  { ok: true; grant: Grant } | { ok: false; code: 'invalid' | 'not-found' | 'forbidden' | 'conflict'; message: string };
