import { shQuote } from '../host/quote.ts';
import { TABLE, libFor, compact } from './steps.ts';

const TAG = 'NBDFORGE_PLAN_EOF';

/**
 * An emitted plan script followed by an epilogue for people (the mount table, the server URL). The
 * plan runs as `sh -s` from a here-document, so its records, exit status and rollback are exactly
 * the host layer's; the epilogue only reads what the plan wrote.
 */
export function wrapScript(planScript: string, title: string, epilogue: string[]): string {
  if (planScript.split('\n').includes(TAG)) throw new Error(`plan script contains the line ${TAG}`);
  return [
    '#!/bin/sh',
    `# ${title.replace(/[\r\n]+/g, ' ')}`,
    '# The plan runs first (records on stdout, progress on stderr, exit 0/1/3 as for every emitted plan);',
    '# then a summary for people on stderr.',
    `sh -s <<'${TAG}'`,
    planScript.trimEnd(),
    TAG,
    'nf_rc=$?',
    ...epilogue,
    'exit $nf_rc',
    '',
  ].join('\n');
}

export function mapEpilogue(journal: string): string[] {
  return [libFor(TABLE), compact(TABLE), `if [ $nf_rc = 0 ] && [ -f ${shQuote(journal)} ]; then nm_table ${shQuote(journal)} >&2; fi`];
}

export function unmapEpilogue(stateDir: string): string[] {
  return [`cat ${shQuote(`${stateDir}/last-unmap.txt`)} >&2 2>/dev/null`];
}

export function exportEpilogue(lines: string[]): string[] {
  return [`if [ $nf_rc = 0 ]; then`, ...lines.map((l) => `  printf '%s\\n' ${shQuote(l)} >&2`), 'fi'];
}
