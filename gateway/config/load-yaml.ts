/**
 * The generic YAML + JSON Schema loader every config file goes through (gateway.yaml, policy.yaml, simulator
 * scenarios). It keeps source positions so that every schema error — and every semantic error a compiler finds
 * later — is reported as `file:line:col: message`, all at once, never just the first one.
 * Result values are deep-frozen: config is data, nobody mutates it after load.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import {
  LineCounter,
  parseDocument,
  isMap,
  isSeq,
  isAlias,
  isNode,
  isScalar,
  visit,
  type Document,
  type Node,
} from 'yaml';
import { GatewayError, errorMessage, type ErrorCode } from '../errors.js';

/** One located problem in a config file. `line`/`col` are 1-based. */
export interface ConfigErrorDetail {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly message: string;
}

/** Where a node of the document sits. */
export interface SourcePosition {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

export type YamlPath = readonly (string | number)[];

export interface LoadYamlOptions {
  /** Code for schema (and caller's semantic) errors. Default GW_ERR_CONFIG_INVALID. */
  readonly code?: ErrorCode;
  /** Code for unreadable files and YAML syntax errors. Default GW_ERR_CONFIG_UNREADABLE. */
  readonly unreadableCode?: ErrorCode;
  /** Module prefix of the message (`config: …`, `policy: …`). Default `config`. */
  readonly module?: string;
}

/** A loaded document: the validated, frozen value plus a way back from a path to its file position. */
export interface YamlDocument<T> {
  readonly value: T;
  readonly source: string;
  readonly sourceName: string;
  /** Position of the node at `path` (deepest existing ancestor if the path does not exist). */
  readonly positionOf: (path: YamlPath) => SourcePosition;
  /** Convenience: a located detail for a semantic error found after schema validation. */
  readonly problemAt: (path: YamlPath, message: string) => ConfigErrorDetail;
}

/** A GatewayError that also carries its located problems as data. */
export class ConfigError extends GatewayError {
  readonly details: readonly ConfigErrorDetail[];
  constructor(code: ErrorCode, message: string, details: readonly ConfigErrorDetail[], options?: { cause?: unknown }) {
    super(code, message, options);
    this.details = Object.freeze([...details]);
  }
}

/** The located problems of an error thrown by this module (or [] for any other error). */
export function configErrorDetails(err: unknown): readonly ConfigErrorDetail[] {
  return err instanceof ConfigError ? err.details : [];
}

export function formatDetail(d: ConfigErrorDetail): string {
  return `${d.file}:${d.line}:${d.col}: ${d.message}`;
}

/** Build the error: a header line, then every problem on its own line as `file:line:col: message`. */
export function configError(
  code: ErrorCode,
  module: string,
  summary: string,
  details: readonly ConfigErrorDetail[],
  options?: { cause?: unknown },
): ConfigError {
  const lines = details.map(formatDetail);
  const message = [`${module}: ${summary}`, ...lines].join('\n');
  return new ConfigError(code, message, details, options);
}

export function loadYamlFile<T>(path: string, schema: object, opts: LoadYamlOptions = {}): T {
  return loadYamlDocument<T>(path, schema, opts).value;
}

export function parseYamlText<T>(text: string, sourceName: string, schema: object, opts: LoadYamlOptions = {}): T {
  return parseYamlDocument<T>(text, sourceName, schema, opts).value;
}

export function loadYamlDocument<T>(path: string, schema: object, opts: LoadYamlOptions = {}): YamlDocument<T> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    const module = opts.module ?? 'config';
    const reason = (cause as NodeJS.ErrnoException).code ?? String(cause);
    const detail = { file: path, line: 0, col: 0, message: `cannot read file (${reason})` };
    throw configError(opts.unreadableCode ?? 'GW_ERR_CONFIG_UNREADABLE', module, `cannot read ${path}`, [detail], {
      cause,
    });
  }
  return parseYamlDocument<T>(text, path, schema, opts);
}

export function parseYamlDocument<T>(
  text: string,
  sourceName: string,
  schema: object,
  opts: LoadYamlOptions = {},
): YamlDocument<T> {
  const module = opts.module ?? 'config';
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number): SourcePosition => {
    const { line, col } = lineCounter.linePos(offset);
    return { file: sourceName, line, col };
  };
  if (doc.errors.length > 0) {
    const details = doc.errors.map((e) => ({ ...at(e.pos[0]), message: `YAML syntax: ${firstLine(e.message)}` }));
    throw configError(
      opts.unreadableCode ?? 'GW_ERR_CONFIG_UNREADABLE',
      module,
      `${sourceName} is not valid YAML`,
      details,
    );
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (cause) {
    // An alias without its anchor (a typo, or used before it) or an alias bomb: yaml throws at toJS, unlocated.
    const detail = { ...at(aliasOffset(doc)), message: `YAML: ${firstLine(errorMessage(cause))}` };
    throw configError(
      opts.unreadableCode ?? 'GW_ERR_CONFIG_UNREADABLE',
      module,
      `${sourceName} is not valid YAML`,
      [detail],
      { cause },
    );
  }
  const positionOf = (path: YamlPath): SourcePosition => at(offsetOf(doc, path));
  const problemAt = (path: YamlPath, message: string): ConfigErrorDetail => ({ ...positionOf(path), message });
  const keyPositionOf = (path: YamlPath): SourcePosition => at(offsetOf(doc, path, true));
  const validate = validatorFor(schema);
  if (!validate(raw)) {
    const details = dedupe((validate.errors ?? []).map((e) => describeAjvError(e, problemAt, keyPositionOf)));
    throw configError(
      opts.code ?? 'GW_ERR_CONFIG_INVALID',
      module,
      `${sourceName}: ${details.length} error(s)`,
      details,
    );
  }
  return Object.freeze({ value: deepFreeze(raw) as T, source: text, sourceName, positionOf, problemAt });
}

const validators = new WeakMap<object, ValidateFunction>();

/**
 * Compiled once per schema object (ajv compile is slow relative to validation), each in its own Ajv instance
 * so that two schemas — or two versions of one in tests — never clash on `$id`.
 */
function validatorFor(schema: object): ValidateFunction {
  let v = validators.get(schema);
  if (!v) {
    v = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }).compile(schema);
    validators.set(schema, v);
  }
  return v;
}

function describeAjvError(
  e: ErrorObject,
  problemAt: YamlDocument<unknown>['problemAt'],
  keyPositionOf: (path: YamlPath) => SourcePosition,
): ConfigErrorDetail {
  const path = pointerToPath(e.instancePath);
  const where = e.instancePath === '' ? '(root)' : e.instancePath;
  const params = e.params as Record<string, unknown>;
  if (e.keyword === 'additionalProperties') {
    const key = String(params['additionalProperty']);
    return { ...keyPositionOf([...path, key]), message: `${where}: unknown property '${key}'` };
  }
  if (e.keyword === 'enum') {
    const allowed = (params['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ');
    return problemAt(path, `${where} ${e.message ?? 'is invalid'}: ${allowed}`);
  }
  return problemAt(path, `${where} ${e.message ?? 'is invalid'}`);
}

/** JSON Pointer [RFC 6901] → path segments. */
export function pointerToPath(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/**
 * Offset of the node at `path` (its value; its key when `atKey` and the last segment is a map key, or when
 * the value is empty). Missing paths fall back to the deepest existing ancestor.
 */
function offsetOf(doc: Document, path: YamlPath, atKey = false): number {
  let node: unknown = doc.contents;
  let offset = rangeStart(node) ?? 0;
  path.forEach((seg, i) => {
    const next = node === undefined ? undefined : child(doc, node, seg);
    if (next === undefined) {
      node = undefined;
      return;
    }
    node = next.value;
    const last = i === path.length - 1;
    offset = (last && atKey ? next.keyOffset : undefined) ?? rangeStart(next.value) ?? next.keyOffset ?? offset;
  });
  return offset;
}

function child(doc: Document, node: unknown, seg: string | number): { value: unknown; keyOffset?: number } | undefined {
  const resolved = isAlias(node) ? node.resolve(doc) : node;
  if (isMap(resolved)) {
    for (const pair of resolved.items) {
      const key = isScalar(pair.key) ? pair.key.value : pair.key;
      if (String(key) === String(seg)) {
        const keyOffset = rangeStart(pair.key);
        // A key with no value (e.g. `foo:`) has a null value node; point at the key.
        return pair.value === null || rangeStart(pair.value) === undefined
          ? { value: pair.key, ...(keyOffset === undefined ? {} : { keyOffset }) }
          : { value: pair.value, ...(keyOffset === undefined ? {} : { keyOffset }) };
      }
    }
    return undefined;
  }
  if (isSeq(resolved)) {
    const i = typeof seg === 'number' ? seg : Number.parseInt(seg, 10);
    const item = Number.isInteger(i) ? resolved.items[i] : undefined;
    return item === undefined ? undefined : { value: item };
  }
  return undefined;
}

/** Offset of the first alias that resolves to nothing, else of the first alias (the bomb's), else 0. */
function aliasOffset(doc: Document): number {
  let first: number | undefined;
  let unresolved: number | undefined;
  visit(doc, {
    Alias(_key, node) {
      first ??= rangeStart(node);
      if (node.resolve(doc) === undefined) {
        unresolved = rangeStart(node);
        return visit.BREAK;
      }
      return undefined;
    },
  });
  return unresolved ?? first ?? 0;
}

function rangeStart(node: unknown): number | undefined {
  return isNode(node) ? (node as Node).range?.[0] : undefined;
}

function dedupe(details: ConfigErrorDetail[]): ConfigErrorDetail[] {
  const seen = new Set<string>();
  return details.filter((d) => {
    const k = formatDetail(d);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function firstLine(s: string): string {
  return s.split('\n')[0] ?? s;
}

/** Recursively freeze plain objects and arrays (config values only: no class instances). */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as object)) deepFreeze(v);
  }
  return value;
}
