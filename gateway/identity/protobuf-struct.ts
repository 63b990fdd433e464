/**
 * JSON <-> google.protobuf.Struct in the object form @grpc/proto-loader produces with `oneofs: true`
 * (each Value names its set field in `kind`). Used for ValidateJWTSVIDResponse.claims.
 */
type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

interface ValueMsg {
  kind?: string;
  nullValue?: unknown;
  numberValue?: number;
  stringValue?: string;
  boolValue?: boolean;
  structValue?: StructMsg | null;
  listValue?: { values?: ValueMsg[] } | null;
}
interface StructMsg {
  fields?: Record<string, ValueMsg>;
}

export function toStruct(obj: Record<string, unknown>): StructMsg {
  const fields: Record<string, ValueMsg> = {};
  for (const [k, v] of Object.entries(obj)) if (v !== undefined) fields[k] = toValue(v);
  return { fields };
}

function toValue(v: unknown): ValueMsg {
  if (v === null) return { nullValue: 'NULL_VALUE' };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(toValue) } };
  if (typeof v === 'object') return { structValue: toStruct(v as Record<string, unknown>) };
  // What JSON cannot carry: a bigint or symbol as its text, undefined or a function by its type name.
  if (typeof v === 'bigint' || typeof v === 'symbol') return { stringValue: v.toString() };
  return { stringValue: typeof v };
}

export function fromStruct(msg: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const fields = (msg as StructMsg | null | undefined)?.fields ?? {};
  for (const [k, v] of Object.entries(fields)) out[k] = fromValue(v);
  return out;
}

function fromValue(v: ValueMsg): Json {
  switch (v.kind) {
    case 'numberValue':
      return v.numberValue ?? 0;
    case 'stringValue':
      return v.stringValue ?? '';
    case 'boolValue':
      return v.boolValue ?? false;
    case 'structValue':
      return fromStruct(v.structValue) as { [k: string]: Json };
    case 'listValue':
      return (v.listValue?.values ?? []).map(fromValue);
    default:
      return null;
  }
}
