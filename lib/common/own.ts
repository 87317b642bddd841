/**
 * `obj[key] = value`, except that a key `__proto__` becomes a plain own property (as JSON.parse or a
 * spread makes it) instead of replacing the object's prototype. For objects built from keys an app
 * or a peer chose: an attribute, a header or a signal named `__proto__` stays data.
 */
export function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__')
    Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}
