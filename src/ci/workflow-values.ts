/**
 * What a value must look like to go into the GitHub workflow as written. A workflow is read three
 * times: by a YAML parser (where `*x` is an alias, `!!binary` a tag, `{a:b}` a map), by Actions
 * (which expands `${{ ... }}` inside `run:` and `path:` before any shell sees it, so
 * `dir:${{ github.token }}` hands the token to the step) and by the shell. Rather than quote for
 * all three, only plain values are accepted: each check returns the value the workflow will carry.
 */
import { kindOf, knownForms } from '../publish/targets.ts';
import { parseReference, formatReference } from '../publish/oci/reference.ts';
import { unseenProblem, visible } from '../util/control-chars.ts';
import { NbdforgeError } from '../errors.ts';

/** A value the workflow cannot carry as written: the CLI's exit 2. */
export class WorkflowValueError extends NbdforgeError {
  override name = 'WorkflowValueError';
  override readonly exitCode = 2;
}

const fail = (why: string): never => {
  throw new WorkflowValueError(why);
};

function common(flag: string, v: string): void {
  const problem = unseenProblem(flag, v);
  if (problem) fail(problem);
  if (v.includes('${{')) fail(`${flag} ${visible(v)}: GitHub Actions would expand the \${{ ... }} expression in it before the shell runs`);
}

/** Path segments of letters, digits, `.`, `_`, `-`, `+`; none starting with `-` or `+`. */
const PLAIN_PATH = /^\/?[A-Za-z0-9._][A-Za-z0-9._+-]*(?:\/[A-Za-z0-9._][A-Za-z0-9._+-]*)*\/?$/;

/** A `nbdforge publish --to` value whose path part is a plain path (or an oci:// reference). */
export function checkPublish(to: string): string {
  common('--publish', to);
  let kind: ReturnType<typeof kindOf>;
  try {
    kind = kindOf(to);
  } catch (err) {
    return fail(`--publish: ${(err as Error).message.replace(/--to takes/, 'takes')}`);
  }
  if (to.startsWith('oci://')) {
    try {
      return formatReference(parseReference(to, { allowTag: false }));
    } catch (err) {
      return fail(`--publish: ${(err as Error).message}`);
    }
  }
  const p = kind.spec(to);
  if (p.length > 1024 || !PLAIN_PATH.test(p)) {
    const bad = [...p].find((ch) => !/[A-Za-z0-9._+/-]/.test(ch));
    const why =
      bad !== undefined ? `${visible(bad)} would be read by YAML, Actions or the shell as something else`
      : p.length > 1024 ? 'longer than 1024 characters'
      : /(^|\/)[-+]/.test(p) ? 'a path segment may not start with - or +'
      : p === '' ? 'an empty path' : 'an empty path segment';
    fail(`--publish ${visible(to)}: ${kind.form} takes a plain path (letters, digits, . _ - + and /): ${why} (${knownForms().join(' | ')})`);
  }
  return to;
}

/** A family name as the workflow writes it into job names and cache keys. */
export function checkFamily(family: string): string {
  if (!/^[a-z0-9][a-z0-9-]{0,30}$/.test(family)) fail(`--family ${visible(family)} is not a family name`);
  return family;
}

/** The field ranges and the named values GitHub's workflow schema accepts. */
const FIELDS = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'] },
  { name: 'day of week', min: 0, max: 6, names: ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] },
] as const;

/**
 * Five fields, each one of the forms the workflow schema (and so action-validator) accepts:
 * `*`, `N`, `N-M`, `*` or `N` or `N-M` followed by `/STEP`, a list `N,N,...`, and in the month and
 * day-of-week fields a name or a range of names (JAN-MAR, MON-FRI). Returns the expression with
 * single spaces and upper-case names.
 */
export function checkCron(expr: string): string {
  common('--cron', expr);
  const fields = expr.trim() === '' ? [] : expr.trim().split(/ +/);
  const say = (why: string): never => fail(`--cron ${visible(expr)}: ${why} (five fields: minute hour day-of-month month day-of-week, e.g. '17 5 * * *' or '0 3 * * MON-FRI')`);
  if (fields.length !== 5 || fields.some((f) => f === '')) say(`${fields.length} field${fields.length === 1 ? '' : 's'}, not five`);
  return fields
    .map((raw, i) => {
      const f = FIELDS[i];
      const field = raw.toUpperCase();
      const num = (s: string) => {
        if (!/^\d{1,2}$/.test(s)) say(`${f.name} ${visible(raw)}: "${s}" is not a number`);
        const n = Number(s);
        if (n < f.min || n > f.max) say(`${f.name} ${n} is out of range ${f.min}-${f.max}`);
        return n;
      };
      const range = (a: string, b: string) => {
        if (num(a) > num(b)) say(`${f.name} range ${a}-${b} runs backwards`);
      };
      const names: readonly string[] = 'names' in f ? f.names : [];
      let m: RegExpExecArray | null;
      if ((m = /^([A-Z]{3})(?:-([A-Z]{3}))?$/.exec(field)) && names.length) {
        const [a, b] = [m[1], m[2] ?? m[1]].map((n) => names.indexOf(n));
        if (a < 0 || b < 0) say(`${f.name} ${visible(raw)}: names are ${names.join(' ')}`);
        if (a > b) say(`${f.name} range ${raw} runs backwards`);
      } else if ((m = /^(\*|\d+|\d+-\d+)\/(\d+)$/.exec(field))) {
        if (m[1].includes('-')) range(...(m[1].split('-') as [string, string]));
        else if (m[1] !== '*') num(m[1]);
        const step = Number(m[2]);
        if (!/^\d{1,2}$/.test(m[2]) || step < 1 || step > f.max) say(`${f.name} step /${m[2]} must be 1-${f.max}`);
      } else if ((m = /^(\d+)-(\d+)$/.exec(field))) range(m[1], m[2]);
      else if (/^\d+(?:,\d+)*$/.test(field)) field.split(',').forEach(num);
      else if (field !== '*') say(`${f.name} ${visible(raw)} is not *, N, N-M, a step (*/N, N-M/N) or a list N,N${names.length ? `, nor a name (${names[0]}, ${names[0]}-${names[2]})` : ''}`);
      return field;
    })
    .join(' ');
}
