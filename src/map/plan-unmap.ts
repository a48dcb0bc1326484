import { type Plan, validatePlan } from '../host/plan.ts';
import { checkPath } from './request.ts';
import { unmapCommand } from './plan-map.ts';

export type UnmapTarget = { all: true } | { image: string } | { device: string } | { id: string };

export function selectorOf(t: UnmapTarget): string {
  if ('all' in t) return 'all';
  if ('device' in t) return `dev:${checkPath('device', t.device)}`;
  if ('id' in t) return `id:${t.id}`;
  return `image:${checkPath('image path', t.image)}`;
}

/** Undo what the journals say, newest action first; strict: an IMAGE or DEVICE nothing maps is an error. */
export function planUnmap(stateDir: string, target: UnmapTarget): Plan {
  const sel = selectorOf(target);
  return validatePlan({
    id: 'unmap',
    title: `unmap ${sel === 'all' ? 'everything mapped or exported' : sel.replace(/^[a-z]+:/, '')} (journals in ${stateDir}/maps)`,
    preconditions: [],
    steps: [
      {
        id: 'unmap',
        describe: 'unmount, deactivate, rename VGs back, disconnect, stop servers: newest first, from the journals',
        command: unmapCommand(stateDir, sel, !('all' in target)),
      },
    ],
  });
}
