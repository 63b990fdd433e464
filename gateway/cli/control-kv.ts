/**
 * Reading a site bucket's JSON entries (locks, grants, the policy envelope) as `verigate control` lists
 * them. A value that does not parse is reported by key, never thrown: the bucket is shared state and one bad
 * entry must not hide the others.
 */
import type { KV } from '@nats-io/kv';
import { errorMessage } from '../errors.js';

export interface GoodEntry<T> {
  readonly key: string;
  readonly revision: number;
  readonly value: T;
}
export interface BadEntry {
  readonly key: string;
  readonly bad: string;
}
export type JsonEntry<T> = GoodEntry<T> | BadEntry;

/** The live (not deleted) value under `key`, parsed; null when absent or deleted. */
export async function getJson<T>(kv: KV, key: string): Promise<JsonEntry<T> | null> {
  const e = await kv.get(key);
  if (e === null || e.operation !== 'PUT') return null;
  return parse<T>(key, e.revision, e.string());
}

/** Every live entry whose key starts with `prefix` (e.g. `locks.`). */
export async function listJson<T>(kv: KV, prefix: string): Promise<JsonEntry<T>[]> {
  const keys: string[] = [];
  for await (const k of await kv.keys(`${prefix}>`)) keys.push(k);
  const out: JsonEntry<T>[] = [];
  for (const k of keys.sort()) {
    const e = await getJson<T>(kv, k);
    if (e !== null) out.push(e);
  }
  return out;
}

function parse<T>(key: string, revision: number, text: string): JsonEntry<T> {
  try {
    return { key, revision, value: JSON.parse(text) as T };
  } catch (err) {
    return { key, bad: `not JSON (${errorMessage(err)})` };
  }
}

export const isGood = <T>(e: JsonEntry<T>): e is GoodEntry<T> => 'value' in e;
