/**
 * Routes a request to a named device [docs/architecture.md "Request path" 5]: by the MBAP unit id, or everything to
 * the one device a listener is bound to. Unknown unit → no route → exception 0x0A [MB-APP 7]. PROFINET IO devices are
 * reached by name only (`profinet(name)`); they have no unit id.
 */
import type { DeviceConfig, ProfinetDeviceConfig } from '../config/gateway-config.js';
import type { ProfinetClient } from '../upstream/profinet-client.js';

/** A PROFINET IO device and its upstream client (one per device, built in main.ts). */
export interface ProfinetTarget {
  readonly config: ProfinetDeviceConfig;
  readonly client: ProfinetClient;
}

export interface RoutedDevice<P> {
  readonly config: DeviceConfig;
  readonly pool: P;
}

export class DeviceRouter<P> {
  private readonly byUnit = new Map<number, RoutedDevice<P>>();
  private readonly byName = new Map<string, RoutedDevice<P>>();
  private readonly profinetByName = new Map<string, ProfinetTarget>();
  /** Routes are looked up per request: each answer built once (by client unit) and shared; callers only read it. */
  private readonly routes = new Map<number, { readonly device: RoutedDevice<P>; readonly unit: number }>();

  constructor(
    devices: readonly RoutedDevice<P>[],
    private readonly boundDevice: string | null = null,
    profinet: readonly ProfinetTarget[] = [],
  ) {
    for (const d of devices) {
      this.byUnit.set(d.config.unitId, d);
      this.byName.set(d.config.name, d);
    }
    for (const t of profinet) this.profinetByName.set(t.config.name, t);
  }

  byUnitId(unitId: number): RoutedDevice<P> | undefined {
    if (this.boundDevice !== null) return this.byName.get(this.boundDevice);
    return this.byUnit.get(unitId);
  }

  /**
   * The device and the unit id that will reach the PLC. Policy is judged on that forwarded unit, never on a
   * number the client picked and the PLC never sees. Routed by unit: the device's `targetUnitId`. Listener
   * bound to one device (a gateway to several slaves behind one address): the client's unit id, unchanged.
   */
  route(clientUnit: number): { readonly device: RoutedDevice<P>; readonly unit: number } | undefined {
    const known = this.routes.get(clientUnit);
    if (known !== undefined) return known;
    const device = this.byUnitId(clientUnit);
    if (!device) return undefined;
    const r = { device, unit: this.boundDevice !== null ? clientUnit : device.config.targetUnitId };
    // kept for the unit ids a frame can carry (one byte): a bounded cache whatever a caller passes
    if (Number.isInteger(clientUnit) && clientUnit >= 0 && clientUnit <= 255) this.routes.set(clientUnit, r);
    return r;
  }

  named(name: string): RoutedDevice<P> | undefined {
    return this.byName.get(name);
  }

  /** The PROFINET IO device of that name, or undefined (a Modbus device name is not a PROFINET one). */
  profinet(name: string): ProfinetTarget | undefined {
    return this.profinetByName.get(name);
  }

  allProfinet(): ProfinetTarget[] {
    return [...this.profinetByName.values()];
  }

  all(): RoutedDevice<P>[] {
    return [...this.byName.values()];
  }
}
