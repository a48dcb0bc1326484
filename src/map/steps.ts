import { readFileSync } from 'node:fs';
import { shc } from '../host/step.ts';

/**
 * The shell programs that do the work on the target (src/map/sh/). They run where the devices are:
 * on a host without Node (CentOS 7), in a test guest, or locally through the LocalRunner. Each step
 * is `sh -c LIB+BODY sh ARGS...`; the emitted script turns that into a subshell, so the library
 * costs no extra process.
 */
const sh = (name: string) => readFileSync(new URL(`./sh/${name}.sh`, import.meta.url), 'utf8');
export const LIB = sh('lib');
const BODIES = { open: sh('open'), connect: sh('connect'), lvm: sh('lvm'), mount: sh('mount'), unmap: sh('unmap'), export: sh('export') };
export const TABLE = sh('table');

export type StepBody = keyof typeof BODIES;

export function shellStep(body: StepBody, ...args: string[]): string[] {
  return shc(`${LIB}\n${BODIES[body]}`, ...args);
}
