/**
 * One DevicePool per Modbus TCP device, and one per RTU line shared by every device on it (config/device-link.ts):
 * the line's single slot and fair queue are then one, whichever device name a request was routed by.
 * The RTU transports (and the serialport package with its native binding) are loaded only when a device sits on
 * an RTU line: a Modbus TCP-only gateway never maps them (bench row 7).
 */
import type { DeviceConfig } from '../config/gateway-config.js';
import { lineKey } from '../config/device-link.js';
import type { Logger } from '../logger.js';
import type { Timers } from '../timers.js';
import { DevicePool } from '../upstream/device-pool.js';
import type { RtuTransport } from '../upstream/rtu-transports.js';

type RtuModule = typeof import('../upstream/rtu-transports.js');

export interface ModbusPool {
  readonly config: DeviceConfig;
  readonly pool: DevicePool;
}

export interface RtuLineEntry {
  /** `serial:/dev/ttyUSB0` or `rtu:host:port`. */
  readonly key: string;
  readonly devices: readonly string[];
  readonly transport: RtuTransport;
  readonly pool: DevicePool;
}

export async function buildModbusPools(
  devices: readonly DeviceConfig[],
  logger: Logger,
  timers: Timers,
): Promise<{ pools: ModbusPool[]; lines: RtuLineEntry[] }> {
  const rtu = devices.some((d) => lineKey(d.link) !== null) ? await import('../upstream/rtu-transports.js') : null;
  const lines = new Map<string, { devices: string[]; transport: RtuTransport; pool: DevicePool }>();
  const pools = devices.map((d): ModbusPool => {
    const key = lineKey(d.link);
    if (key === null) {
      const pool = new DevicePool({
        name: d.name,
        host: d.host,
        port: d.port,
        maxConnections: d.maxConnections,
        maxInFlight: d.maxInFlight,
        timeoutMs: d.timeoutMs,
        queueLimit: d.queueLimit,
        logger,
        timers,
      });
      return { config: d, pool };
    }
    let line = lines.get(key);
    if (line === undefined) {
      const lineModule = loaded(rtu, d);
      const transport = rtuTransportOf(lineModule, d);
      const pool = new DevicePool({
        name: key,
        transport,
        maxConnections: 1,
        maxInFlight: 1,
        timeoutMs: d.timeoutMs,
        queueLimit: d.queueLimit,
        // A silent unit costs one timeout plus a short grace, not two timeouts (rtu-transports.ts).
        lateReplyGraceMs: lineModule.rtuLateGraceMs(transport.timing),
        logger,
        timers,
      });
      line = { devices: [], transport, pool };
      lines.set(key, line);
    }
    line.devices.push(d.name);
    return { config: d, pool: line.pool };
  });
  return { pools, lines: [...lines].map(([key, l]) => ({ key, ...l })) };
}

/** The transports module, loaded above whenever a device is on a line. */
function loaded(rtu: RtuModule | null, d: DeviceConfig): RtuModule {
  if (rtu === null) throw new Error(`modbus-pools: device ${d.name} is on an RTU line, transports not loaded (bug)`);
  return rtu;
}

function rtuTransportOf(rtu: RtuModule, d: DeviceConfig): RtuTransport {
  const link = d.link;
  const interFrame = link?.kind !== 'tcp' && link?.interFrameMs != null ? { interFrameMs: link.interFrameMs } : {};
  if (link?.kind === 'serial')
    return rtu.serialTransport({
      path: link.path,
      format: link.format,
      turnaroundMs: link.turnaroundMs,
      ...interFrame,
    });
  if (link?.kind === 'rtu-over-tcp')
    return rtu.rtuOverTcpTransport({
      host: link.host,
      port: link.port,
      turnaroundMs: link.turnaroundMs,
      ...interFrame,
    });
  throw new Error(`modbus-pools: device ${d.name} is not on an RTU line (bug)`);
}
