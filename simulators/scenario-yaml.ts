/**
 * The simulators' own YAML + JSON Schema loader for scenario files. The simulators stand in for PLCs and
 * devices and never import gateway code (docs/architecture.md, "What may import what"), so they keep this small
 * loader instead of the gateway's config loader. Like it, it reports every problem at once as
 * `file:line:col: message` (schema errors and the semantic errors a scenario check finds later), and returns
 * deep-frozen values: a scenario is data.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { isAlias, isMap, isNode, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';

/** Stable codes of scenario errors (the sim CLI exits 2 on either). */
export type ScenarioErrorCode = 'SIM_ERR_SCENARIO_INVALID' | 'SIM_ERR_SCENARIO_UNREADABLE';

/** One located problem in a scenario. `line`/`col` are 1-based; 0 when the scenario was built in code. */
export interface ScenarioProblemDetail {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly message: string;
}

export type YamlPath = readonly (string | number)[];

/** A problem found by a semantic check, located by its path in the scenario. */
export interface PathProblem {
  readonly path: YamlPath;
  readonly message: string;
}

/** Thrown at start-up for a bad scenario: a header line, then every problem on its own line. */
export class ScenarioError extends Error {
  readonly code: ScenarioErrorCode;
  readonly details: readonly ScenarioProblemDetail[];
  constructor(
    code: ScenarioErrorCode,
    summary: string,
    details: readonly ScenarioProblemDetail[],
    options?: { cause?: unknown },
  ) {
    super([`simulator: ${summary}`, ...details.map(formatProblem)].join('\n'), options);
    this.name = 'ScenarioError';
    this.code = code;
    this.details = Object.freeze([...details]);
  }
}

/** The located problems of a ScenarioError ([] for any other error). */
export function scenarioErrorDetails(err: unknown): readonly ScenarioProblemDetail[] {
  return err instanceof ScenarioError ? err.details : [];
}

export function formatProblem(d: ScenarioProblemDetail): string {
  return `${d.file}:${d.line}:${d.col}: ${d.message}`;
}

/**
 * Read, parse and schema-check a scenario file, then run `check` on the value; throws one ScenarioError with
 * every problem of whichever stage failed first.
 */
export function loadScenarioYaml<T>(path: string, schema: object, check: (value: T) => readonly PathProblem[]): T {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    const reason = (cause as NodeJS.ErrnoException).code ?? String(cause);
    const detail = { file: path, line: 0, col: 0, message: `cannot read file (${reason})` };
    throw new ScenarioError('SIM_ERR_SCENARIO_UNREADABLE', `cannot read ${path}`, [detail], { cause });
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number): ScenarioProblemDetail => ({ file: path, ...lineCounter.linePos(offset), message: '' });
  if (doc.errors.length > 0) {
    const details = doc.errors.map((e) => ({
      ...at(e.pos[0]),
      message: `YAML syntax: ${e.message.split('\n')[0] ?? ''}`,
    }));
    throw new ScenarioError('SIM_ERR_SCENARIO_UNREADABLE', `${path} is not valid YAML`, details);
  }
  const located = (p: PathProblem, atKey = false): ScenarioProblemDetail => ({
    ...at(offsetOf(doc, p.path, atKey)),
    message: p.message,
  });
  const raw: unknown = doc.toJS({ maxAliasCount: 100 });
  const validate = validatorFor(schema);
  if (!validate(raw)) {
    const details = unique((validate.errors ?? []).map((e) => describeAjvError(e, located)));
    throw new ScenarioError('SIM_ERR_SCENARIO_INVALID', `${path}: ${details.length} error(s)`, details);
  }
  const value = deepFreeze(raw) as T;
  const problems = check(value).map((p) => located(p));
  if (problems.length > 0)
    throw new ScenarioError('SIM_ERR_SCENARIO_INVALID', `${path}: ${problems.length} error(s)`, problems);
  return value;
}

/** For scenarios built in code: the same semantic checks, located by path instead of line. */
export function checkScenarioObject<T>(value: T, sourceName: string, check: (value: T) => readonly PathProblem[]): T {
  const problems = check(value).map((p) => ({
    file: sourceName,
    line: 0,
    col: 0,
    message: `${p.path.join('.')}: ${p.message}`,
  }));
  if (problems.length > 0)
    throw new ScenarioError('SIM_ERR_SCENARIO_INVALID', `${sourceName}: ${problems.length} error(s)`, problems);
  return value;
}

const validators = new WeakMap<object, ValidateFunction>();

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
  located: (p: PathProblem, atKey?: boolean) => ScenarioProblemDetail,
): ScenarioProblemDetail {
  const path =
    e.instancePath === ''
      ? []
      : e.instancePath
          .slice(1)
          .split('/')
          .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  const where = e.instancePath === '' ? '(root)' : e.instancePath;
  const params = e.params as Record<string, unknown>;
  if (e.keyword === 'additionalProperties') {
    const key = String(params['additionalProperty']);
    return located({ path: [...path, key], message: `${where}: unknown property '${key}'` }, true);
  }
  const allowed =
    e.keyword === 'enum' ? `: ${(params['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}` : '';
  return located({ path, message: `${where} ${e.message ?? 'is invalid'}${allowed}` });
}

/** Offset of the node at `path` (of its key when `atKey`); a missing path falls back to its deepest ancestor. */
function offsetOf(doc: Document, path: YamlPath, atKey: boolean): number {
  let node: unknown = doc.contents;
  let offset = rangeStart(node) ?? 0;
  for (const [i, seg] of path.entries()) {
    const next = childOf(doc, node, seg);
    if (next === undefined) break;
    node = next.value;
    const keyFirst = atKey && i === path.length - 1;
    offset = (keyFirst ? next.keyOffset : undefined) ?? rangeStart(next.value) ?? next.keyOffset ?? offset;
  }
  return offset;
}

function childOf(
  doc: Document,
  node: unknown,
  seg: string | number,
): { value: unknown; keyOffset?: number | undefined } | undefined {
  const resolved = isAlias(node) ? node.resolve(doc) : node;
  if (isMap(resolved)) {
    const pair = resolved.items.find((p) => String(isScalar(p.key) ? p.key.value : p.key) === String(seg));
    if (pair === undefined) return undefined;
    const keyOffset = rangeStart(pair.key);
    // A key with no value (`foo:`) has no value node: point at the key.
    return { value: rangeStart(pair.value) === undefined ? pair.key : pair.value, keyOffset };
  }
  if (isSeq(resolved)) {
    const item = resolved.items[typeof seg === 'number' ? seg : Number.parseInt(seg, 10)];
    return item === undefined ? undefined : { value: item };
  }
  return undefined;
}

function rangeStart(node: unknown): number | undefined {
  return isNode(node) ? node.range?.[0] : undefined;
}

function unique(details: ScenarioProblemDetail[]): ScenarioProblemDetail[] {
  const seen = new Set<string>();
  return details.filter((d) => {
    const key = formatProblem(d);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Recursively freeze plain objects and arrays (scenario values only). */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as object)) deepFreeze(v);
  }
  return value;
}
