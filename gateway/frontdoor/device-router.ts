/**
 * Routes a request to a named device [DESIGN step 5]: by the MBAP unit id, or everything to the one device
 * a listener is bound to. Unknown unit → no route → exception 0x0A [MB-APP 7].
 */
import type { DeviceConfig } from '../config/gateway-config.js';

export interface RoutedDevice<P> {
  readonly config: DeviceConfig;
  readonly pool: P;
}

export class DeviceRouter<P> {
  private readonly byUnit = new Map<number, RoutedDevice<P>>();
  private readonly byName = new Map<string, RoutedDevice<P>>();

  constructor(devices: readonly RoutedDevice<P>[], private readonly boundDevice: string | null = null) {
    for (const d of devices) {
      this.byUnit.set(d.config.unitId, d);
      this.byName.set(d.config.name, d);
    }
  }

  byUnitId(unitId: number): RoutedDevice<P> | undefined {
    if (this.boundDevice !== null) return this.byName.get(this.boundDevice);
    return this.byUnit.get(unitId);
  }

  named(name: string): RoutedDevice<P> | undefined {
    return this.byName.get(name);
  }

  all(): RoutedDevice<P>[] {
    return [...this.byName.values()];
  }
}
