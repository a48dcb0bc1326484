import { shQuote } from './quote.ts';
import { TABLE, libFor, compact } from './sh-library.ts';

/**
 * An emitted plan script followed by an epilogue for people (the mount table, the server URL). The
 * plan runs in a subshell, so its records, exit status, traps and rollback are exactly the host
 * layer's (its `exit` ends the subshell); the epilogue only reads what the plan wrote. A subshell
 * rather than `sh -s` from a here-document: a second shell start costs about 30 ms under QEMU TCG.
 */
export function wrapScript(planScript: string, title: string, epilogue: string[]): string {
  return [
    '#!/bin/sh',
    `# ${title.replace(/[\r\n]+/g, ' ')}`,
    '# The plan runs first (records on stdout, progress on stderr, exit 0/1/3 as for every emitted plan);',
    '# then a summary for people on stderr.',
    '(',
    planScript.trimEnd(),
    ')',
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
  // read by the shell: no process for it
  const f = shQuote(`${stateDir}/last-unmap.txt`);
  return [`if [ -f ${f} ]; then while IFS= read -r nf_l; do printf '%s\\n' "$nf_l" >&2; done < ${f}; fi`];
}

export function exportEpilogue(lines: string[]): string[] {
  return [`if [ $nf_rc = 0 ]; then`, ...lines.map((l) => `  printf '%s\\n' ${shQuote(l)} >&2`), 'fi'];
}
