import { shQuote } from '../src/host/quote.ts';

/**
 * What the quickstart tells a newcomer to run next. `nbdforge` is not on PATH after `npm ci`, so
 * the lines use `npx nbdforge` (this checkout's own bin), runnable as printed from this folder.
 */
export function nextSteps(store: string, kernelRelease = '<release>'): string[] {
  const from = shQuote(store);
  return [
    '',
    `Next (from this folder; or \`npm install -g .\` once and drop the npx):`,
    `  on a host running one of these kernels, as root: npx nbdforge prepare-host --from ${from}`,
    `  or carry it there without Node:                  npx nbdforge prepare-host --from ${from} --kernel ${kernelRelease} --emit-script prepare.sh`,
  ];
}
