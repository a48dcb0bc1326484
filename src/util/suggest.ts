/** "Did you mean": the closest few of the known names to what was typed. */

/** Edit distance (insert, delete, substitute, and swap of two neighbours: `biuld` is one from `build`). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/**
 * The known names closest to `typed`, best first, at most `max`: within a third of the name's
 * length in edits (at least 2), or a name that starts with what was typed.
 */
export function closest(typed: string, known: readonly string[], max = 3): string[] {
  const t = typed.toLowerCase();
  const scored = known
    .map((k) => ({ k, d: editDistance(t, k.toLowerCase()) }))
    .filter(({ k, d }) => d <= Math.max(2, Math.floor(k.length / 3)) || (t.length >= 3 && k.toLowerCase().startsWith(t)))
    .sort((x, y) => x.d - y.d || numberGap(t, x.k) - numberGap(t, y.k) || x.k.localeCompare(y.k));
  return scored.slice(0, max).map(({ k }) => k);
}

/**
 * Among names as far apart as each other, the one whose first differing number is nearest: for
 * 6.1.0-99-amd64, 6.1.0-57-amd64 before 6.1.0-47-amd64 (Infinity where the numbers do not line up).
 */
function numberGap(a: string, b: string): number {
  const na = a.match(/\d+/g) ?? [];
  const nb = b.match(/\d+/g) ?? [];
  for (let i = 0; i < Math.min(na.length, nb.length); i++) if (na[i] !== nb[i]) return Math.abs(Number(na[i]) - Number(nb[i]));
  return na.length === nb.length ? 0 : Infinity;
}

/** ` (did you mean X?)` / ` (did you mean X or Y?)`, or '' when nothing is close. */
export function didYouMean(typed: string, known: readonly string[], max = 3): string {
  const c = closest(typed, known, max);
  if (c.length === 0) return '';
  return ` (did you mean ${c.length === 1 ? c[0] : `${c.slice(0, -1).join(', ')} or ${c.at(-1)}`}?)`;
}
