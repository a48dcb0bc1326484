import { readFileSync } from 'node:fs';
import { shc } from '../host/step.ts';
import { libFor, compact } from '../host/sh-library.ts';

/**
 * The shell programs of compose and decompose (src/compose/sh/), run where the devices are (a host
 * without Node, a test guest, or locally). Each carries the compose library and the map library
 * functions it uses (journal records, locks), so a composite's journal is written and undone the
 * same way as a map's.
 */
const read = (name: string) => readFileSync(new URL(`./sh/${name}.sh`, import.meta.url), 'utf8');
const LIB = read('lib');
const BODIES = { open: read('open'), file: read('file'), attach: read('attach'), dm: read('dm'), decompose: read('decompose') };
export type ComposeStep = keyof typeof BODIES;
const PROGRAMS = Object.fromEntries(Object.entries(BODIES).map(([k, body]) => [k, `${libFor(`${LIB}\n${body}`)}\n${compact(LIB)}\n${compact(body)}`])) as Record<ComposeStep, string>;

export function composeStep(body: ComposeStep, ...args: string[]): string[] {
  return shc(PROGRAMS[body], ...args);
}

export function composeProgram(body: ComposeStep): string {
  return PROGRAMS[body];
}
