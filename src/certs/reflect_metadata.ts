/**
 * The three `Reflect` metadata functions tsyringe (a dependency of @peculiar/x509) checks for when it is
 * loaded and calls when @peculiar/x509 registers its algorithm providers. Installed only where absent,
 * so a full polyfill (reflect-metadata, core-js) loaded elsewhere wins. Nothing here reads or writes
 * metadata of any object other than the classes tsyringe decorates.
 */

type MetadataStore = Map<string | symbol | undefined, Map<unknown, unknown>>;
type ReflectWithMetadata = typeof Reflect & {
  getMetadata?: (key: unknown, target: object, property?: string | symbol) => unknown;
  getOwnMetadata?: (key: unknown, target: object, property?: string | symbol) => unknown;
  defineMetadata?: (key: unknown, value: unknown, target: object, property?: string | symbol) => void;
};

const reflect = Reflect as ReflectWithMetadata;

if (typeof reflect.getMetadata !== 'function') {
  const stores = new WeakMap<object, MetadataStore>();
  const ownMap = (target: object, property: string | symbol | undefined, create: boolean) => {
    let store = stores.get(target);
    if (!store && create) stores.set(target, (store = new Map()));
    let map = store?.get(property);
    if (!map && create && store) store.set(property, (map = new Map()));
    return map;
  };
  reflect.defineMetadata = (key, value, target, property) => {
    ownMap(target, property, true)!.set(key, value);
  };
  reflect.getOwnMetadata = (key, target, property) => ownMap(target, property, false)?.get(key);
  reflect.getMetadata = (key, target, property) => {
    for (let current: object | null = target; current !== null; current = Object.getPrototypeOf(current)) {
      const map = ownMap(current, property, false);
      if (map?.has(key)) return map.get(key);
    }
    return undefined;
  };
}

export {};
