import type { PlanResult, StepResult } from './plan.ts';

/** The end report of a plan run as a fixed-width table; the same PlanResult goes out as --json. */
export function renderTable(result: PlanResult, header: string[] = []): string {
  const rows: string[][] = [['STEP', 'STATUS', 'TIME', 'WHAT'], ...result.steps.map(row)];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const lines = [...header, ...rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]))).join('  ').trimEnd())];
  lines.push(`result: ${result.outcome}${summary(result) ? ` (${summary(result)})` : ''}`);
  return lines.join('\n') + '\n';
}

function row(s: StepResult): string[] {
  const what = s.detail ? `${s.describe}: ${s.detail.split('\n').join(' / ')}` : s.describe;
  return [s.id, s.status, s.ms === undefined ? '' : `${s.ms}ms`, what];
}

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
