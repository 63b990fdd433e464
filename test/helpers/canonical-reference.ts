/**
 * Canonical JSON the plain way, the reference the audit renderers are checked against: JSON with object keys
 * sorted in UTF-16 code unit order (Array.prototype.sort's default), no whitespace, undefined members dropped
 * (undefined array entries as null), everything else as JSON.stringify writes it.
 */
export function reference(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return '[' + value.map((v) => (v === undefined ? 'null' : reference(v))).join(',') + ']';
  const o = value as Record<string, unknown>;
  const keys = Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort();
  return '{' + keys.map((k) => JSON.stringify(k) + ':' + reference(o[k])).join(',') + '}';
}
