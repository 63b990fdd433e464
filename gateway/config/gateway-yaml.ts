/**
 * gateway.yaml as written, after the JSON Schema (gateway-config-schema.ts) has validated it and before
 * defaults are applied: every knob the schema makes optional is optional here (the unions repeat GatewayConfig's:
 * importing them would make a type cycle). gateway-config.ts turns it
 * into the frozen GatewayConfig; docs/gateway-yaml.md documents each field.
 */
import type { Parity } from '../../protocols/modbus/rtu-timing.js';
import type { Table } from '../../protocols/modbus/types.js';

interface ListenerYaml {
  readonly host?: string;
  readonly port?: number;
}

export interface SerialYaml {
  readonly path: string;
  readonly baudRate?: number;
  readonly dataBits?: 7 | 8;
  readonly parity?: Parity;
  readonly stopBits?: 1 | 2;
}

export interface DeviceYaml {
  readonly name: string;
  readonly address?: string;
  readonly serial?: SerialYaml;
  readonly rtuOverTcp?: string;
  readonly turnaround?: string;
  readonly interFrameDelay?: string;
  readonly unitId: number;
  readonly targetUnitId?: number;
  readonly maxConnections?: number;
  readonly maxInFlight?: number;
  readonly timeout?: string;
  readonly queueLimit?: number;
  readonly tags?: Readonly<
    Record<string, { readonly table: Table; readonly address: number; readonly count?: number }>
  >;
  readonly learn?: { readonly until: string; readonly principals: readonly string[] };
}

interface ProfinetDeviceYaml {
  readonly name: string;
  readonly host: string;
  readonly port?: number;
  readonly timeout?: string;
  readonly queueLimit?: number;
  readonly arIdleTimeout?: string;
}

export interface GatewayYaml {
  readonly identity?: {
    readonly source?: 'workload-api' | 'dev';
    readonly socket?: string;
    readonly startupTimeout?: string;
    readonly dev?: {
      readonly trustDomain: string;
      readonly caDir: string;
      readonly spiffeId?: string;
      readonly svidTtl?: string;
      readonly dnsNames?: readonly string[];
    };
  };
  readonly listeners?: {
    readonly mbaps?: ListenerYaml & {
      readonly device?: string;
      readonly handshakeTimeout?: string;
      readonly sessionResumption?: boolean;
      readonly maxInFlightPerSession?: number;
    };
    readonly grpc?: ListenerYaml & {
      readonly handshakeTimeout?: string;
      readonly sessionResumption?: boolean;
      readonly keepalive?: { readonly time?: string; readonly timeout?: string };
    };
    readonly metrics?: ListenerYaml;
    readonly maxPendingHandshakes?: number;
    readonly maxPendingHandshakesPerSource?: number;
  };
  readonly devices: readonly DeviceYaml[];
  readonly profinetDevices?: readonly ProfinetDeviceYaml[];
  readonly policy: { readonly file: string; readonly watch?: boolean; readonly shadowFile?: string };
  readonly state?: { readonly dir?: string; readonly lockStoreFailure?: 'fail-closed' | 'best-effort' };
  readonly audit?: {
    readonly dir?: string;
    readonly fsync?: 'always' | 'interval' | 'never';
    readonly segmentBytes?: number;
    readonly values?: 'include' | 'hash';
    readonly failurePolicy?: 'fail-closed' | 'continue';
    readonly minFreeBytes?: number;
    readonly capacityBytes?: number;
    readonly capacityWarnPercent?: number;
    readonly reserveBytes?: number;
    readonly throttle?: {
      readonly interval?: string;
      readonly perKey?: number;
      readonly perClass?: number;
      readonly maxEventBytes?: number;
      readonly maxKeys?: number;
      readonly summaryEntries?: number;
    };
    readonly denialFlood?: {
      readonly denials?: number;
      readonly within?: string;
      readonly holdOff?: string;
      readonly maxHoldOff?: string;
    };
    readonly checkpoint?: { readonly everyEvents?: number; readonly every?: string };
    readonly syslog?: {
      readonly address: string;
      readonly format?: 'rfc5424' | 'cef';
      readonly caFile?: string;
      readonly spoolDir?: string;
      readonly spoolMaxBytes?: number;
    };
  };
  readonly logging?: { readonly level?: string };
  readonly fleet?: {
    readonly site: string;
    readonly name: string;
    readonly leaf?: { readonly url?: string; readonly caFile?: string };
    readonly policySigners?: readonly string[];
    readonly maxStaleness?: string;
    readonly statusEvery?: string;
    readonly policyMaxAge?: string;
    readonly audit?: {
      readonly maxBlockEvents?: number;
      readonly maxBlockDelay?: string;
      readonly streamMaxBytes?: number;
    };
  };
}
