import { readFileSync } from 'node:fs';
import { shc } from '../host/step.ts';
import { compact, libFor } from '../host/sh-library.ts';

/**
 * The step programs of map, unmap and export (src/map/sh/): each is its body after the library
 * functions it calls (src/host/sh-library.ts), run as `sh -c PROGRAM sh ARGS...`.
 */
const read = (name: string) => readFileSync(new URL(`./sh/${name}.sh`, import.meta.url), 'utf8');

const BODIES = { open: read('open'), connect: read('connect'), lvm: read('lvm'), mount: read('mount'), unmap: read('unmap'), export: read('export'), inspect: read('inspect'), guard: read('guard') };
export type StepBody = keyof typeof BODIES;
const PROGRAMS = Object.fromEntries(Object.entries(BODIES).map(([k, body]) => [k, `${libFor(body)}\n${compact(body)}`])) as Record<StepBody, string>;

export function shellStep(body: StepBody, ...args: string[]): string[] {
  return shc(PROGRAMS[body], ...args);
}

export function stepProgram(body: StepBody): string {
  return PROGRAMS[body];
}
