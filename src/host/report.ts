import type { PlanResult, StepResult, CheckResult } from './plan.ts';

/**
 * The end report of a plan run as a fixed-width table; the same PlanResult goes out as --json. A dry
 * run's evaluated preconditions come first (status passed / refused / not-checked), then its steps.
 */
export function renderTable(result: PlanResult, header: string[] = []): string {
  const rows: string[][] = [['STEP', 'STATUS', 'TIME', 'WHAT'], ...(result.checks ?? []).map(checkRow), ...result.steps.map(row)];
  // refused before there was a plan (compose: no volume size): no table, the result line says why
  if (rows.length === 1) return [...header, resultLine(result)].join('\n') + '\n';
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const lines = [...header, ...rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]))).join('  ').trimEnd())];
  lines.push(resultLine(result));
  return lines.join('\n') + '\n';
}

function row(s: StepResult): string[] {
  const what = s.detail ? `${s.describe}: ${s.detail.split('\n').join(' / ')}` : s.describe;
  return [s.id, s.status, s.ms === undefined ? '' : `${s.ms}ms`, what];
}

function checkRow(c: CheckResult): string[] {
  return [c.id, c.status, '', c.detail ? `${c.describe}: ${c.detail.split('\n').join(' / ')}` : c.describe];
}

/** The last line: what happened, or for a dry run what would happen ("dry run: nothing changed; ..."). */
export function resultLine(r: PlanResult): string {
  if (r.runner === 'dry-run') {
    const passed = (r.checks ?? []).filter((c) => c.status === 'passed').length;
    switch (r.outcome) {
      case 'refused':
        return `dry run: nothing changed; would refuse: ${r.message ?? ''}`;
      case 'nothing-to-do':
        return `dry run: nothing changed; nothing to do: ${r.message ?? ''}`;
      case 'failed':
        return `dry run: nothing changed; would fail: ${r.message ?? ''}`;
      default:
        return `dry run: nothing changed (${r.checks?.length ? `${count(passed, 'check')} passed here; ` : ''}${count(r.steps.length, 'step')} would run)`;
    }
  }
  if (r.runner === 'emit-script' && r.outcome === 'dry-run') return `script: nothing changed here; the script runs these ${r.steps.length} steps on the target`;
  return `result: ${r.outcome}${summary(r) ? ` (${summary(r)})` : ''}`;
}

const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

function summary(r: PlanResult): string {
  const count = (st: string) => r.steps.filter((s) => s.status === st).length;
  switch (r.outcome) {
    case 'unchanged':
      return `nothing changed: ${count('already')} steps already done, ${count('checked')} checks passed`;
    case 'changed':
      return `${count('done')} steps changed the host, ${count('already')} already done, ${count('checked')} checks passed`;
    default:
      return r.message ?? '';
  }
}
