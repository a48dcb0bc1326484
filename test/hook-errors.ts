/**
 * uvu swallows an error thrown by a before or after hook (its runner returns from a finally block), so
 * a file whose set-up failed shows only "(0 / N)". reportHookErrors wraps a suite's hooks to print that
 * error on stderr, then throw it as before. scripts/test.ts preloads this file (node --import), which
 * applies it to uvu's default `test`; a file that makes its own suite() wraps it:
 *   const test = reportHookErrors(suite('name'));
 */
import { test } from 'uvu';

type Hook = (state: never) => unknown;
type Register = ((fn: Hook) => void) & { each?: (fn: Hook) => void };
interface Hooks {
  before: Register;
  after: Register;
}

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

export function reportHookErrors<T>(s: T): T {
  const h = s as unknown as Hooks;
  for (const name of ['before', 'after'] as const) {
    const register = h[name];
    const each = register.each;
    h[name] = Object.assign(wrap(register, name), each ? { each: wrap(each, `${name}.each`) } : {});
  }
  return s;
}

reportHookErrors(test);
