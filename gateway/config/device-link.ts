/**
 * How gateway.yaml says a Modbus device is reached, and the checks that need the whole device list: `address`
 * (Modbus TCP), `serial` (a Modbus RTU line on a local port) or `rtuOverTcp` (raw RTU frames to a serial
 * device server) [MB-SERIAL]. Devices naming the same line share it, so they must agree on everything that
 * belongs to the line.
 */
import type { LineFormat } from '../../protocols/modbus/rtu-timing.js';
import type { ConfigErrorDetail, YamlDocument } from './load-yaml.js';
import { tryParseDuration } from './duration.js';
import type { DeviceYaml, GatewayYaml } from './gateway-yaml.js';

export type DeviceLink =
  | { readonly kind: 'tcp' }
  | {
      readonly kind: 'serial';
      readonly path: string;
      readonly format: LineFormat;
      readonly turnaroundMs: number;
      readonly interFrameMs: number | null;
    }
  | {
      readonly kind: 'rtu-over-tcp';
      readonly host: string;
      readonly port: number;
      readonly turnaroundMs: number;
      readonly interFrameMs: number | null;
    };

/** The spec's default serial format: 9600 baud, 8 data bits, even parity, 1 stop bit [MB-SERIAL 2.5.1]. */
export const DEFAULT_SERIAL = { baudRate: 9600, dataBits: 8, parity: 'even', stopBits: 1 } as const;
/** After a broadcast [MB-SERIAL 2.4.1: the turnaround delay is typically 100 to 200 ms]. */
export const DEFAULT_TURNAROUND_MS = 100;
/** A server address on a line: 1..247, or 0 for broadcast [MB-SERIAL 2.2]. */
const MAX_SERIAL_ADDRESS = 247;

function ms(v: string | undefined): number | null {
  return v === undefined ? null : tryParseDuration(v);
}

/** The device's link and, for TCP devices, the address it dials (serial devices: host '' and port 0). */
export function deviceLink(
  d: DeviceYaml,
  split: (a: string) => { host: string; port: number },
): { link: DeviceLink; host: string; port: number } {
  const turnaroundMs = ms(d.turnaround) ?? DEFAULT_TURNAROUND_MS;
  const interFrameMs = ms(d.interFrameDelay);
  if (d.serial !== undefined) {
    const s = d.serial;
    const format: LineFormat = {
      baudRate: s.baudRate ?? DEFAULT_SERIAL.baudRate,
      dataBits: s.dataBits ?? DEFAULT_SERIAL.dataBits,
      parity: s.parity ?? DEFAULT_SERIAL.parity,
      stopBits: s.stopBits ?? DEFAULT_SERIAL.stopBits,
    };
    return { link: { kind: 'serial', path: s.path, format, turnaroundMs, interFrameMs }, host: '', port: 0 };
  }
  if (d.rtuOverTcp !== undefined) {
    const a = split(d.rtuOverTcp);
    return { link: { kind: 'rtu-over-tcp', ...a, turnaroundMs, interFrameMs }, ...a };
  }
  // no address at all is reported by lineProblems
  return { link: { kind: 'tcp' }, ...(typeof d.address === 'string' ? split(d.address) : { host: '', port: 0 }) };
}

/** The line a device is on (`serial:/dev/ttyUSB0`, `rtu:10.0.0.9:4001`), or null for a Modbus TCP device. */
export function lineKey(link: DeviceLink | undefined): string | null {
  if (link === undefined) return null;
  if (link.kind === 'serial') return `serial:${link.path}`;
  if (link.kind === 'rtu-over-tcp') return `rtu:${link.host}:${link.port}`;
  return null;
}

interface LineDevice {
  readonly name: string;
  readonly link?: DeviceLink;
  readonly targetUnitId: number;
  readonly maxConnections: number;
  readonly maxInFlight: number;
  readonly timeoutMs: number;
  readonly queueLimit: number;
}

/** What every device on one line must agree on (the line's queue, deadline and timing are one). */
function lineSettings(d: LineDevice): string {
  return JSON.stringify({ link: d.link, timeoutMs: d.timeoutMs, queueLimit: d.queueLimit });
}

export function lineProblems(devices: readonly LineDevice[], doc: YamlDocument<GatewayYaml>): ConfigErrorDetail[] {
  const problems: ConfigErrorDetail[] = [];
  const first = new Map<string, LineDevice>();
  const raw = doc.value.devices;
  devices.forEach((d, i) => {
    const ways = (['address', 'serial', 'rtuOverTcp'] as const).filter((k) => raw[i]?.[k] !== undefined);
    if (ways.length !== 1) {
      problems.push(
        doc.problemAt(
          ['devices', i],
          `device "${d.name}" needs exactly one of address, serial, rtuOverTcp (has ${ways.length === 0 ? 'none' : ways.join(', ')})`,
        ),
      );
    }
    const key = lineKey(d.link);
    if (key === null) return;
    if (d.targetUnitId > MAX_SERIAL_ADDRESS) {
      problems.push(
        doc.problemAt(
          ['devices', i, 'targetUnitId'],
          `a server on a serial line has address 1..247, or 0 for broadcast; got ${d.targetUnitId}`,
        ),
      );
    }
    if (d.maxConnections !== 1 || d.maxInFlight !== 1) {
      problems.push(
        doc.problemAt(
          ['devices', i, 'name'],
          `device "${d.name}" is on a serial line: one request at a time (maxConnections and maxInFlight must be 1)`,
        ),
      );
    }
    const other = first.get(key);
    if (other === undefined) first.set(key, d);
    else if (lineSettings(other) !== lineSettings(d)) {
      problems.push(
        doc.problemAt(
          ['devices', i, 'name'],
          `device "${d.name}" shares its line with "${other.name}" but not its settings (serial format, rtuOverTcp, turnaround, interFrameDelay, timeout, queueLimit must be the same)`,
        ),
      );
    }
  });
  return problems;
}
