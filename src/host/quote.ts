/**
 * POSIX shell quoting. Every argv element becomes exactly one word for any POSIX sh (dash, bash,
 * busybox ash): plain words stay bare, everything else goes in single quotes with `'` spelled `'\''`.
 */
const BARE = /^[A-Za-z0-9_@%+=:,./-]+$/;

export function shQuote(word: string): string {
  if (word.includes('\0')) throw new Error(`a shell word cannot contain a NUL byte: ${JSON.stringify(word)}`);
  if (word !== '' && BARE.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** One command line from an argv array. A first word containing `=` is quoted so it is never an assignment. */
export function shJoin(argv: readonly string[]): string {
  if (argv.length === 0) throw new Error('empty command');
  return argv.map((w, i) => (i === 0 && w.includes('=') ? `'${w}'` : shQuote(w))).join(' ');
}
