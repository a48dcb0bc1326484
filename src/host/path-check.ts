/**
 * Paths end up inside journal records that the target's sh reads without a JSON parser, so they may
 * not hold quotes, backslashes or control characters. (Spaces are fine.) FAIL makes the caller's
 * own error (map's, compose's), so each command reports a bad path the way it reports its requests.
 */
export function checkJournalPath(what: string, p: string, fail: (message: string) => Error): string {
  if (!p) throw fail(`${what} is empty`);
  if (/["\\\x00-\x1f\x7f]/.test(p)) throw fail(`${what} must not contain quotes, backslashes or control characters: ${JSON.stringify(p)}`);
  return p;
}
