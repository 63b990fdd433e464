/** Public surface of the upstream side (gateway → PLC). */
export { DevicePool } from './device-pool.js';
export { defaultDialer } from './default-dialer.js';
export { ProfinetClient } from './profinet-client.js';
export type { Timers } from '../timers.js';
export type {
  IdentityResult,
  ProfinetClientStats,
  ProfinetDeviceOptions,
  ProfinetResult,
  ProfinetTimers,
  ReadRecordRequest,
  WriteRecordRequest,
} from './profinet-types.js';
export type {
  BackoffOptions,
  DevicePoolOptions,
  DevicePoolStats,
  PlcDialer,
  UpstreamRequest,
  UpstreamResult,
} from './types.js';
