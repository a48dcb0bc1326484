/**
 * Characters that make emitted text (YAML, shell, a terminal line) read differently from what it
 * looks like: C0 and DEL, C1 (U+0080-U+009F, NEL among them), the Unicode line and paragraph
 * separators, and the invisible bidi and byte-order marks a reviewer cannot see (Trojan Source).
 * YAML parsers refuse DEL and C1 inside a document; LS/PS/NEL are line breaks to YAML 1.1 readers.
 * U+FFFD too: it is what bytes that were not UTF-8 (a raw 0x85 in argv) were decoded to.
 */
const UNSEEN = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff\ufffd]/u;
const UNSEEN_ALL = new RegExp(UNSEEN.source, 'gu');

const NAMES: Record<number, string> = {
  0x00: 'NUL', 0x09: 'TAB', 0x0a: 'LF', 0x0d: 'CR', 0x1b: 'ESC', 0x7f: 'DEL', 0x85: 'NEL', 0x2028: 'LINE SEPARATOR',
  0x2029: 'PARAGRAPH SEPARATOR', 0xfeff: 'BYTE ORDER MARK', 0xfffd: 'a byte that is not UTF-8',
};

const hex = (c: number) => `U+${c.toString(16).toUpperCase().padStart(4, '0')}`;

/** `U+007F (DEL)`, `U+0085 (NEL)`, `U+202E (bidi control)`: how a message names the character. */
export function nameChar(c: number): string {
  const what = NAMES[c] ?? (c < 0x20 ? 'C0 control' : c < 0xa0 ? 'C1 control' : 'bidi control');
  return `${hex(c)} (${what})`;
}

/** The first unseen character of `s` and where it is, or undefined when there is none. */
export function findUnseen(s: string): { index: number; char: string } | undefined {
  const m = UNSEEN.exec(s);
  return m ? { index: m.index, char: nameChar(m[0].codePointAt(0)!) } : undefined;
}

/** `s` for a message: double-quoted, every unseen character spelled `\uXXXX`, so the terminal shows what is there. */
export function visible(s: string): string {
  return JSON.stringify(s).replace(UNSEEN_ALL, (ch) => `\\u${ch.codePointAt(0)!.toString(16).padStart(4, '0')}`);
}

/** One line saying what is wrong with a value, or undefined when it has no unseen characters. */
export function unseenProblem(what: string, s: string): string | undefined {
  const u = findUnseen(s);
  return u && `${what} ${visible(s)} contains ${u.char} at offset ${u.index}: control, line-separator and bidi characters are refused in every value`;
}
