/**
 * JSON Schema for policy.yaml (the TypeScript shape of a schema-valid document is policy-source.ts, kept in step
 * with it). The schema checks shape only; meaning (ranges in order, known roles, valid time zones, tests passing) is checked by the compiler,
 * which reports with file:line through the loader's `positionOf`.
 */

const intOrRange = { type: ['integer', 'string'] } as const;
/** `0-99`, `100`, or a list of those. */
const rangeList = { anyOf: [intOrRange, { type: 'array', minItems: 1, items: intOrRange }] } as const;
/** `0..3600`, `7`, or a list of those (values use `..` so negative bounds stay readable). */
const valueList = rangeList;
const duration = { type: 'string', pattern: '^[0-9]+(ms|s|m|h|d)$' } as const;
const idPatterns = { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } } as const;
const table = { enum: ['holding', 'input', 'coils', 'discrete'] } as const;

const registerEntry = {
  type: 'object',
  additionalProperties: false,
  required: ['access', 'addresses'],
  properties: {
    access: { enum: ['read', 'write', 'read-write'] },
    table,
    tables: { type: 'array', minItems: 1, items: table },
    addresses: rangeList,
    values: valueList,
  },
} as const;

/** PROFINET slot/subslot/index: a number, `"0x8000-0x8002"`, `"1-3"`, `"*"` (not for indices), or a list. */
const recordRangeList = rangeList;
const typedValue = {
  type: 'object',
  additionalProperties: false,
  required: ['offset', 'type'],
  properties: {
    offset: { type: 'integer', minimum: 0, maximum: 65534 },
    type: { enum: ['u8', 'i8', 'u16be', 'i16be', 'u32be', 'i32be'] },
    range: { type: 'string', minLength: 1 },
    values: { type: 'array', minItems: 1, items: { type: 'integer' } },
  },
} as const;

const recordEntry = {
  type: 'object',
  additionalProperties: false,
  required: ['access', 'slots', 'subslots', 'indices'],
  properties: {
    access: { enum: ['read', 'write'] },
    api: { type: 'integer', minimum: 0, maximum: 4294967295 },
    slots: recordRangeList,
    subslots: recordRangeList,
    indices: recordRangeList,
    length: { type: 'integer', minimum: 1, maximum: 65535 },
    values: { type: 'array', minItems: 1, items: typedValue },
    bytes: { type: 'string' },
  },
} as const;

const functionEntry = {
  anyOf: [
    { type: 'integer', minimum: 1, maximum: 127 },
    {
      type: 'object',
      additionalProperties: false,
      required: ['fc'],
      properties: {
        fc: { type: 'integer', minimum: 1, maximum: 127 },
        // FC8 sub-function codes or FC43 MEI types
        sub: { type: 'array', minItems: 1, items: { type: 'integer', minimum: 0, maximum: 65535 } },
      },
    },
  ],
} as const;

const rule = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'principals', 'devices'],
  properties: {
    id: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]*$' },
    description: { type: 'string' },
    principals: idPatterns,
    devices: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
    units: rangeList,
    effect: { enum: ['allow', 'deny'] },
    mode: { enum: ['enforce', 'shadow'] },
    allow: { type: 'array', minItems: 1, items: registerEntry },
    deny: { type: 'array', minItems: 1, items: registerEntry },
    functions: { type: 'array', minItems: 1, items: functionEntry },
    profinet: { type: 'array', minItems: 1, items: recordEntry },
    schedule: {
      type: 'object',
      additionalProperties: false,
      properties: {
        days: { anyOf: [{ type: 'string' }, { type: 'array', minItems: 1, items: { type: 'string' } }] },
        hours: { anyOf: [{ type: 'string' }, { type: 'array', minItems: 1, items: { type: 'string' } }] },
        tz: { type: 'string', minLength: 1 },
      },
    },
    rate: { type: 'string', pattern: '^[0-9]+(\\.[0-9]+)?/(s|m|h)$' },
    essential: { type: 'boolean' },
    // fleet members only (docs/fleet.md): past maxStaleness a strict rule's writes are refused, reads served
    lockMode: { enum: ['strict', 'best_effort'] },
    maxStaleness: duration,
    jit: {
      type: 'object',
      additionalProperties: false,
      required: ['approvers', 'maxDuration'],
      properties: {
        approvers: idPatterns,
        maxDuration: duration,
        threshold: { type: 'integer', minimum: 1 },
        siteLocalApprovers: idPatterns,
      },
    },
  },
} as const;

const policyTest = {
  type: 'object',
  additionalProperties: false,
  // `fc` (Modbus) or `profinet` (a record request): the compiler checks that exactly one is given.
  required: ['id', 'device', 'expect'],
  properties: {
    name: { type: 'string' },
    profinet: {
      type: 'object',
      additionalProperties: false,
      required: ['access', 'slot', 'subslot', 'index'],
      properties: {
        access: { enum: ['read', 'write'] },
        api: { type: 'integer', minimum: 0, maximum: 4294967295 },
        slot: { type: 'integer', minimum: 0, maximum: 65535 },
        subslot: { type: 'integer', minimum: 0, maximum: 65535 },
        index: { type: 'integer', minimum: 0, maximum: 65535 },
        length: { type: 'integer', minimum: 1, maximum: 65535 },
        data: { type: 'string' },
      },
    },
    id: { type: 'string', minLength: 1 },
    role: { type: 'string', minLength: 1 },
    device: { type: 'string', minLength: 1 },
    fc: { type: 'integer', minimum: 1, maximum: 127 },
    address: { type: 'integer', minimum: 0, maximum: 65535 },
    count: { type: 'integer', minimum: 1, maximum: 2000 },
    value: { type: 'integer', minimum: 0, maximum: 65535 },
    values: { type: 'array', minItems: 1, items: { type: 'integer', minimum: 0, maximum: 65535 } },
    readAddress: { type: 'integer', minimum: 0, maximum: 65535 },
    readCount: { type: 'integer', minimum: 1, maximum: 125 },
    subFunction: { type: 'integer', minimum: 0, maximum: 65535 },
    unit: { type: 'integer', minimum: 0, maximum: 255 },
    at: { type: 'string', minLength: 1 },
    expect: { enum: ['allow', 'deny'] },
    rule: { type: ['string', 'null'] },
    reason: { type: 'string' },
    essential: { type: 'boolean' },
  },
} as const;

export const policySchema = {
  $id: 'verigate/policy.yaml',
  type: 'object',
  additionalProperties: false,
  required: ['version', 'trustDomain', 'rules'],
  properties: {
    version: { const: 1 },
    trustDomain: { type: 'string', pattern: '^[a-z0-9._-]+$' },
    description: { type: 'string' },
    mode: { enum: ['enforce', 'shadow'] },
    roles: { type: 'object', additionalProperties: idPatterns },
    admins: {
      anyOf: [
        idPatterns,
        {
          type: 'object',
          additionalProperties: false,
          properties: {
            sessions: idPatterns,
            locks: idPatterns,
            reload: idPatterns,
            grants: idPatterns,
            audit: idPatterns,
          },
        },
      ],
    },
    rules: { type: 'array', items: rule },
    trust: {
      type: 'object',
      additionalProperties: false,
      required: ['threshold'],
      properties: {
        threshold: { type: 'number', minimum: 0, maximum: 1 },
        onBreach: { enum: ['read-only', 'terminate'] },
        weights: { type: 'object', additionalProperties: { type: 'number', minimum: 0 } },
      },
    },
    session: {
      type: 'object',
      additionalProperties: false,
      properties: {
        maxPerIdentity: { type: 'integer', minimum: 1 },
        idleTimeout: duration,
        revalidate: duration,
      },
    },
    tests: { type: 'array', items: policyTest },
  },
} as const;
