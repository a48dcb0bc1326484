/**
 * Preloaded by scripts/test.ts (node --import): uvu swallows an error thrown by a before or after hook
 * (its runner returns from a finally block), so a file whose set-up failed shows only "(0 / N)". Its
 * hooks are wrapped here to print that error on stderr, then throw it as before.
 */
import { test } from 'uvu';

type Hook = (state: unknown) => unknown;
type Register = ((fn: Hook) => void) & { each?: (fn: Hook) => void };

function wrap(register: (fn: Hook) => void, what: string): (fn: Hook) => void {
  return (fn) =>
    register(async (state) => {
      try {
        return await fn(state);
      } catch (err) {
        process.stderr.write(`[uvu hook] ${what} failed: ${(err as Error)?.stack ?? String(err)}\n`);
        throw err;
      }
    });
}

const t = test as unknown as { before: Register; after: Register };
for (const name of ['before', 'after'] as const) {
  const register = t[name];
  const each = register.each;
  t[name] = Object.assign(wrap(register, name), each ? { each: wrap(each, `${name}.each`) } : {});
}
