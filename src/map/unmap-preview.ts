import type { Runner } from '../host/runner.ts';
import type { PlanResult } from '../host/plan.ts';
import { type UnmapTarget, selectorOf } from './plan-unmap.ts';
import { parseJournal, mapState, describeUndo, JournalError } from '../host/journal.ts';

/** A journal read for a preview is cut here: a real one is a few KB. */
const JOURNAL_CAP = 1 << 20;
const MARK = '@@nbdforge-journal ';

/**
 * What unmap would undo, read-only: the target's journals, selected as unmap.sh selects them (the
 * image's path with links resolved on the target, a device named in the journal, an id, or all),
 * each with its pending undos in words, newest first. An IMAGE or DEVICE that nothing matches is
 * what the real run fails with (exit 1).
 */
export async function previewUnmap(runner: Runner, stateDir: string, target: UnmapTarget): Promise<{ lines: string[]; failure?: string }> {
  const sel = selectorOf(target);
  const kind = sel.replace(/:.*$/s, '');
  const script =
    'case $2 in image:*|dev:*) w=${2#*:}; readlink -f -- "$w" || printf "%s\\n" "$w" ;; *) printf "%s\\n" "${2#*:}" ;; esac; ' +
    `for j in "$1"/maps/*.jsonl; do [ -f "$j" ] || continue; printf '${MARK}%s\\n' "$j"; head -c ${JOURNAL_CAP} "$j"; echo; done`;
  const r = await runner.exec(['sh', '-c', script, 'sh', stateDir, sel], { nothrow: true });
  const [wantLine, ...rest] = r.stdout.split(`\n${MARK}`);
  const want = wantLine.split('\n')[0];
  const lines: string[] = [];
  for (const chunk of rest) {
    const nl = chunk.indexOf('\n');
    const file = chunk.slice(0, nl);
    const text = chunk.slice(nl + 1);
    const base = file.replace(/^.*\//, '');
    let state;
    try {
      state = mapState(parseJournal(text));
    } catch (err) {
      if (!(err instanceof JournalError)) throw err;
      if (kind === 'all') lines.push(`would look at ${file}: unreadable journal (${err.message})`);
      continue;
    }
    const match = kind === 'all' || (kind === 'id' && base === `${want}.jsonl`) || (kind === 'image' && state.image === want) || (kind === 'dev' && text.includes(`"dev":"${want}"`));
    if (!match) continue;
    const undo = state.pending.map(describeUndo);
    lines.push(`would undo ${state.kind} ${state.id} of ${state.image} (${state.mode}${state.device ? `, ${state.device}` : ''}): ${undo.length ? undo.join('; ') : 'nothing left but the journal'}`);
  }
  if (lines.length === 0) {
    if (kind !== 'all') return { lines, failure: `nothing mapped or exported matches ${sel.replace(/^[a-z]+:/, '')} (journals in ${stateDir}/maps)` };
    lines.push('nothing to unmap');
  }
  return { lines };
}

/** A dry run's result with what the preview found: a real unmap of nothing fails (exit 1). */
export function withPreview(result: PlanResult, failure: string | undefined): PlanResult {
  return failure && result.outcome === 'dry-run' ? { ...result, outcome: 'failed', message: failure } : result;
}
