import { type Family, UnknownFamilyError } from './family.ts';
import { createDebian12 } from './debian12/index.ts';
import { createEl7 } from './el7/index.ts';

const families: Record<string, (env: NodeJS.ProcessEnv) => Family> = {
  debian12: createDebian12,
  el7: createEl7,
};

/** The family commands use when --family is not given (the one the quickstart builds). */
export const DEFAULT_FAMILY = 'debian12';

export function familyNames(): string[] {
  return Object.keys(families);
}

export function getFamily(name: string, env: NodeJS.ProcessEnv): Family {
  const make = families[name];
  if (!make) throw new UnknownFamilyError(`unknown family "${name}" (known: ${familyNames().join(', ')})`);
  return make(env);
}

export function registerFamily(name: string, make: (env: NodeJS.ProcessEnv) => Family): void {
  families[name] = make;
}
