/**
 * A small durable JSON document (grants, locks): written to a temp file, fsynced, renamed over the old one,
 * and the directory fsynced, so a crash leaves either the old or the new state, never a torn file.
 * Reads distinguish "absent" (a fresh gateway) from "unreadable" (corrupt or no permission), because the
 * caller fails closed on the second.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeFileAtomically } from '../atomic-file.js';
import { GatewayError, errorMessage } from '../errors.js';

export type ReadResult<T> = { kind: 'absent' } | { kind: 'ok'; value: T } | { kind: 'unreadable'; error: string };

export function readDurableJson<T>(path: string): ReadResult<T> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'absent' };
    return { kind: 'unreadable', error: errorMessage(err) };
  }
  try {
    return { kind: 'ok', value: JSON.parse(text) as T };
  } catch (err) {
    return { kind: 'unreadable', error: `${path}: ${errorMessage(err)}` };
  }
}

/** Throws GatewayError GW_ERR_STORE, so the admin call that changed a grant or lock fails loudly. */
export function writeDurableJson(path: string, value: unknown): void {
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileAtomically(path, JSON.stringify(value, null, 2) + '\n', { mode: 0o600 });
  } catch (err) {
    throw new GatewayError('GW_ERR_STORE', `trust: cannot write ${path}: ${errorMessage(err)}`, { cause: err });
  }
}
