/**
 * PROFINET scenario: what one simulated IO device (one UDP address) is — identity, I&M, the DAP in slot 0
 * with its interface and port submodules, the modules plugged in slots with their parameter records, the
 * initial diagnosis, and the device-access AR limits. A file says `protocol: profinet` at the top, which is
 * how the sim CLI tells it from a Modbus scenario. Shape checked by the JSON Schema below (ajv, errors at
 * file:line:col); cross-field checks in load-pn-scenario.ts. Numbers follow IEC 61158-6-10 field sizes.
 */

export type RecordAccess = 'read-write' | 'read-only';

export interface ParameterRecordSpec {
  /** User index 0x0000–0x7FFF (vendor-specific parameter record). */
  readonly index: number;
  readonly name?: string;
  /** Fixed record length in bytes; a write of any other length answers DF 80 B1 00. */
  readonly length: number;
  /** Initial bytes as hex (exactly `length` bytes); zeros when absent. */
  readonly value?: string;
  readonly access?: RecordAccess;
}

export interface SubmoduleSpec {
  readonly subslot: number;
  readonly submoduleIdent: number;
  readonly name?: string;
  readonly records?: readonly ParameterRecordSpec[];
}

export interface ModuleSpec {
  readonly slot: number;
  readonly api?: number;
  readonly moduleIdent: number;
  readonly name?: string;
  readonly subslots: readonly SubmoduleSpec[];
}

export interface DapSpec {
  readonly moduleIdent: number;
  /** Submodule in subslot 1 (the device itself; I&M records live here). */
  readonly submoduleIdent: number;
  /** Interface submodule, subslot 0x8000 by convention (0x8000–0x8FFF). */
  readonly interface: { readonly subslot: number; readonly submoduleIdent: number };
  /** Port submodules, 0x8001, 0x8002, … */
  readonly ports: readonly { readonly subslot: number; readonly submoduleIdent: number }[];
}

export interface DeviceSpec {
  readonly stationName: string;
  readonly vendorId: number;
  readonly deviceId: number;
  readonly instance?: number;
  /** `aa:bb:cc:dd:ee:ff`, answered in ARBlockRes. */
  readonly mac: string;
  readonly orderId: string;
  readonly serialNumber: string;
  readonly hardwareRevision: number;
  /** `V2.4.1` ('V' released, 'R', 'P', 'U', 'T'). */
  readonly softwareRevision: string;
  readonly revisionCounter?: number;
  readonly profileId?: number;
  readonly profileSpecificType?: number;
  readonly im1?: { readonly tagFunction: string; readonly tagLocation: string };
  readonly im2?: { readonly date: string };
  readonly im3?: { readonly descriptor: string };
}

/** One diagnosis entry (channel diagnosis, extended when extErrorType is given). */
export interface DiagnosisSpec {
  readonly api?: number;
  readonly slot: number;
  readonly subslot: number;
  /** 0x8000 = the whole submodule. */
  readonly channel?: number;
  readonly errorType: number;
  readonly extErrorType?: number;
  readonly addValue?: number;
  readonly severity?: 'fault' | 'maintenance-required' | 'maintenance-demanded';
  readonly direction?: 'manufacturer' | 'input' | 'output' | 'input-output';
}

export interface ArLimitsSpec {
  /** Device-access ARs open at once; one more answers DB 81 40 04. Default 1. */
  readonly max?: number;
  /** Overrides the initiator's CMInitiatorActivityTimeoutFactor × 100 ms. */
  readonly activityTimeoutMs?: number;
  /** Refuse device-access ARs altogether (DB 81 01 04), as many small stacks do. Default true. */
  readonly deviceAccess?: boolean;
}

export interface PnScenario {
  readonly protocol: 'profinet';
  readonly name: string;
  readonly description?: string;
  readonly device: DeviceSpec;
  readonly dap: DapSpec;
  readonly modules: readonly ModuleSpec[];
  readonly diagnosis?: readonly DiagnosisSpec[];
  readonly ars?: ArLimitsSpec;
  /** Logbook ring size (entries kept). Default 32. */
  readonly logbookSize?: number;
}

const u16 = { type: 'integer', minimum: 0, maximum: 0xffff } as const;
const u32 = { type: 'integer', minimum: 0, maximum: 0xffffffff } as const;
const str = (max: number) => ({ type: 'string', maxLength: max }) as const;
const subId = (min: number, max: number) =>
  ({
    type: 'object',
    additionalProperties: false,
    required: ['subslot', 'submoduleIdent'],
    properties: { subslot: { type: 'integer', minimum: min, maximum: max }, submoduleIdent: u32 },
  }) as const;

export const diagnosisSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['slot', 'subslot', 'errorType'],
  properties: {
    api: u32,
    slot: u16,
    subslot: u16,
    channel: u16,
    errorType: u16,
    extErrorType: u16,
    addValue: u32,
    severity: { type: 'string', enum: ['fault', 'maintenance-required', 'maintenance-demanded'] },
    direction: { type: 'string', enum: ['manufacturer', 'input', 'output', 'input-output'] },
  },
} as const;

const recordSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['index', 'length'],
  properties: {
    index: { type: 'integer', minimum: 0, maximum: 0x7fff },
    name: str(64),
    length: { type: 'integer', minimum: 1, maximum: 4096 },
    value: { type: 'string', pattern: '^([0-9a-fA-F]{2})*$' },
    access: { type: 'string', enum: ['read-write', 'read-only'] },
  },
} as const;

export const pnScenarioSchema = {
  $id: 'verigate:simulator-profinet-scenario',
  type: 'object',
  additionalProperties: false,
  required: ['protocol', 'name', 'device', 'dap', 'modules'],
  properties: {
    protocol: { const: 'profinet' },
    name: { type: 'string', minLength: 1 },
    description: { type: 'string' },
    device: {
      type: 'object',
      additionalProperties: false,
      required: [
        'stationName',
        'vendorId',
        'deviceId',
        'mac',
        'orderId',
        'serialNumber',
        'hardwareRevision',
        'softwareRevision',
      ],
      properties: {
        // DCP NameOfStation: lowercase labels of letters, digits and '-' [IEC 61158-6-10 NameOfStation].
        stationName: {
          type: 'string',
          minLength: 1,
          maxLength: 240,
          pattern: '^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$',
        },
        vendorId: u16,
        deviceId: u16,
        instance: u16,
        mac: { type: 'string', pattern: '^([0-9a-f]{2}:){5}[0-9a-f]{2}$' },
        orderId: str(20),
        serialNumber: str(16),
        hardwareRevision: u16,
        softwareRevision: { type: 'string', pattern: '^[VRPUT][0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}$' },
        revisionCounter: u16,
        profileId: u16,
        profileSpecificType: u16,
        im1: {
          type: 'object',
          additionalProperties: false,
          required: ['tagFunction', 'tagLocation'],
          properties: { tagFunction: str(32), tagLocation: str(22) },
        },
        im2: {
          type: 'object',
          additionalProperties: false,
          required: ['date'],
          properties: { date: { type: 'string', pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}$' } },
        },
        im3: {
          type: 'object',
          additionalProperties: false,
          required: ['descriptor'],
          properties: { descriptor: str(54) },
        },
      },
    },
    dap: {
      type: 'object',
      additionalProperties: false,
      required: ['moduleIdent', 'submoduleIdent', 'interface', 'ports'],
      properties: {
        moduleIdent: u32,
        submoduleIdent: u32,
        interface: subId(0x8000, 0x8fff),
        ports: { type: 'array', minItems: 1, maxItems: 16, items: subId(0x8001, 0x8fff) },
      },
    },
    modules: {
      type: 'array',
      maxItems: 64,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['slot', 'moduleIdent', 'subslots'],
        properties: {
          slot: { type: 'integer', minimum: 1, maximum: 0x7fff },
          api: u32,
          moduleIdent: u32,
          name: str(64),
          subslots: {
            type: 'array',
            minItems: 1,
            maxItems: 32,
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['subslot', 'submoduleIdent'],
              properties: {
                subslot: { type: 'integer', minimum: 1, maximum: 0x7fff },
                submoduleIdent: u32,
                name: str(64),
                records: { type: 'array', maxItems: 64, items: recordSchema },
              },
            },
          },
        },
      },
    },
    diagnosis: { type: 'array', maxItems: 256, items: diagnosisSchema },
    ars: {
      type: 'object',
      additionalProperties: false,
      properties: {
        max: { type: 'integer', minimum: 0, maximum: 64 },
        activityTimeoutMs: { type: 'integer', minimum: 1, maximum: 600_000 },
        deviceAccess: { type: 'boolean' },
      },
    },
    logbookSize: { type: 'integer', minimum: 1, maximum: 1024 },
  },
} as const;
