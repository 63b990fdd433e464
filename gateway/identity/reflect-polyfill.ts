/**
 * @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata API
 * ("tsyringe requires a reflect polyfill"; @peculiar/x509 README "Reflect Polyfill Required"). The usual
 * `reflect-metadata` package is not among our dependencies, so this module installs the small subset that
 * tsyringe calls (defineMetadata / getMetadata / getOwnMetadata / hasMetadata / metadata) when it is absent.
 * Import it for its side effect BEFORE '@peculiar/x509'. Replace with `import 'reflect-metadata'` if added.
 */
type Target = object;
type MetaMap = Map<unknown, unknown>;

interface ReflectMetadataApi {
  defineMetadata(key: unknown, value: unknown, target: Target, prop?: PropertyKey): void;
  getOwnMetadata(key: unknown, target: Target, prop?: PropertyKey): unknown;
  getMetadata(key: unknown, target: Target, prop?: PropertyKey): unknown;
  hasMetadata(key: unknown, target: Target, prop?: PropertyKey): boolean;
  metadata(key: unknown, value: unknown): (target: Target, prop?: PropertyKey) => void;
}

const R = Reflect as unknown as Partial<ReflectMetadataApi>;

if (typeof R.getMetadata !== 'function') {
  const store = new WeakMap<Target, Map<PropertyKey | undefined, MetaMap>>();
  const own = (target: Target, prop: PropertyKey | undefined, create: boolean): MetaMap | undefined => {
    let byProp = store.get(target);
    if (byProp === undefined) {
      if (!create) return undefined;
      byProp = new Map();
      store.set(target, byProp);
    }
    let m = byProp.get(prop);
    if (m === undefined && create) {
      m = new Map();
      byProp.set(prop, m);
    }
    return m;
  };
  const api: ReflectMetadataApi = {
    defineMetadata(key, value, target, prop) {
      own(target, prop, true)?.set(key, value);
    },
    getOwnMetadata(key, target, prop) {
      return own(target, prop, false)?.get(key);
    },
    getMetadata(key, target, prop) {
      for (let t: Target | null = target; t !== null; t = Object.getPrototypeOf(t) as Target | null) {
        const m = own(t, prop, false);
        if (m?.has(key) === true) return m.get(key);
      }
      return undefined;
    },
    hasMetadata(key, target, prop) {
      return api.getMetadata(key, target, prop) !== undefined;
    },
    metadata(key, value) {
      return (target, prop) => api.defineMetadata(key, value, target, prop);
    },
  };
  Object.assign(Reflect, api);
}

export {};
