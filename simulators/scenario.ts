/**
 * Scenario: what one simulated PLC (one TCP address, one or more unit ids) holds and how it behaves.
 * The shape is a JSON Schema (validated with ajv by scenario-yaml.ts, errors as file:line:col);
 * semantic checks (addresses inside tables, unique unit ids) are in load-scenario.ts.
 */
import type { Table } from '../protocols/modbus/types.js';

/** Initial values: address → value, or address → consecutive values starting there. */
export type InitMap = Readonly<Record<string, number | readonly number[]>>;

export interface TurbineParams {
  readonly maxRpm?: number;
  /** First-order lag time constant of the rotor speed (s). */
  readonly tauS?: number;
  /** Ramp-rate limit of the speed (rpm/s). */
  readonly maxRampRpmPerS?: number;
  readonly ambientC?: number;
  /** Steady-state temperature rise at maxRpm above ambient (°C). */
  readonly bearingRiseC?: number;
  readonly exhaustRiseC?: number;
  /** Thermal time constant (s). */
  readonly thermalTauS?: number;
}

export interface TankParams {
  readonly heightMm?: number;
  /** Level rise (mm/s) with the inlet valve at 100 % and the outlet closed. */
  readonly inletMmPerS?: number;
  /** Level fall (mm/s) with the outlet valve at 100 % and a full tank (Torricelli: scales with sqrt(level)). */
  readonly outletMmPerS?: number;
}

export type ProcessSpec =
  | { readonly model: 'turbine'; readonly params?: TurbineParams }
  | { readonly model: 'tank'; readonly params?: TankParams };

export interface UnitSpec {
  /** Unit identifier [MB-TCP 4.4.1.3]: 0xFF (255) for a device reached directly over TCP, 1–247 behind a gateway. */
  readonly id: number;
  /** Other unit ids answered by the same memory (many TCP devices ignore the unit id). */
  readonly aliases?: readonly number[];
  /** Table sizes; addresses are 0..size-1 on the wire. */
  readonly tables: Readonly<Record<Table, number>>;
  readonly init?: Readonly<Partial<Record<Table, InitMap>>>;
  /** FIFO queues for FC24: pointer address → values (≤ 31). */
  readonly fifos?: Readonly<Record<string, readonly number[]>>;
  readonly process?: ProcessSpec;
}

export interface DeviceIdentification {
  readonly vendorName: string;
  readonly productCode: string;
  readonly revision: string;
}

export interface Scenario {
  readonly name: string;
  readonly description?: string;
  /** FC43/14 basic objects [MB-APP 6.21]. */
  readonly device?: DeviceIdentification;
  /**
   * A request for a unit id this address does not serve: `exception` answers 0x0B (gateway target failed to
   * respond, as a Modbus gateway does); `ignore` sends nothing (as a bare device on a serial bus would).
   */
  readonly unknownUnit?: 'exception' | 'ignore';
  readonly units: readonly UnitSpec[];
}

const TABLES: readonly Table[] = ['coils', 'discrete', 'holding', 'input'];
const word = { type: 'integer', minimum: 0, maximum: 65535 } as const;
const initMap = {
  type: 'object',
  propertyNames: { type: 'string', pattern: '^[0-9]+$' },
  additionalProperties: { anyOf: [word, { type: 'array', items: word, minItems: 1 }] },
} as const;
const num = (min: number, max: number) => ({ type: 'number', minimum: min, maximum: max }) as const;

const turbineParams = {
  type: 'object',
  additionalProperties: false,
  properties: {
    maxRpm: num(1, 65535),
    tauS: num(0.01, 3600),
    maxRampRpmPerS: num(1, 100000),
    ambientC: num(-50, 200),
    bearingRiseC: num(0, 1000),
    exhaustRiseC: num(0, 2000),
    thermalTauS: num(0.01, 36000),
  },
} as const;
const tankParams = {
  type: 'object',
  additionalProperties: false,
  properties: { heightMm: num(1, 65535), inletMmPerS: num(0, 10000), outletMmPerS: num(0, 10000) },
} as const;

export const scenarioSchema = {
  $id: 'verigate:simulator-scenario',
  type: 'object',
  additionalProperties: false,
  required: ['name', 'units'],
  properties: {
    name: { type: 'string', minLength: 1 },
    description: { type: 'string' },
    device: {
      type: 'object',
      additionalProperties: false,
      required: ['vendorName', 'productCode', 'revision'],
      properties: {
        vendorName: { type: 'string', minLength: 1, maxLength: 64 },
        productCode: { type: 'string', minLength: 1, maxLength: 64 },
        revision: { type: 'string', minLength: 1, maxLength: 64 },
      },
    },
    unknownUnit: { type: 'string', enum: ['exception', 'ignore'] },
    units: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'tables'],
        properties: {
          id: { type: 'integer', minimum: 0, maximum: 255 },
          aliases: { type: 'array', items: { type: 'integer', minimum: 0, maximum: 255 } },
          tables: {
            type: 'object',
            additionalProperties: false,
            required: [...TABLES],
            properties: Object.fromEntries(TABLES.map((t) => [t, { type: 'integer', minimum: 0, maximum: 65536 }])),
          },
          init: {
            type: 'object',
            additionalProperties: false,
            properties: Object.fromEntries(TABLES.map((t) => [t, initMap])),
          },
          fifos: {
            type: 'object',
            propertyNames: { type: 'string', pattern: '^[0-9]+$' },
            additionalProperties: { type: 'array', items: word, maxItems: 31 },
          },
          process: {
            type: 'object',
            additionalProperties: false,
            required: ['model'],
            properties: {
              model: { type: 'string', enum: ['turbine', 'tank'] },
              params: { type: 'object' },
            },
            allOf: [
              {
                if: { type: 'object', properties: { model: { const: 'turbine' } } },
                then: { type: 'object', properties: { params: turbineParams } },
              },
              {
                if: { type: 'object', properties: { model: { const: 'tank' } } },
                then: { type: 'object', properties: { params: tankParams } },
              },
            ],
          },
        },
      },
    },
  },
} as const;
