/**
 * A small terminal model for tests: what a terminal shows after a stream of text with the cursor
 * moves the live views use (ESC[nA up, ESC[2K clear line, ESC[J clear to the end, \r, \n).
 */
export function screen(text: string): string[] {
  const lines: string[] = [''];
  let row = 0;
  let col = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\x1b' && text[i + 1] === '[') {
      const m = /^\x1b\[(\d*)([A-Za-z])/.exec(text.slice(i));
      if (!m) throw new Error(`unknown escape at ${i}: ${JSON.stringify(text.slice(i, i + 8))}`);
      const n = m[1] === '' ? 1 : Number(m[1]);
      if (m[2] === 'A') row = Math.max(0, row - n);
      else if (m[2] === 'K' && n === 2) lines[row] = '';
      else if (m[2] === 'J') {
        lines[row] = lines[row].slice(0, col);
        lines.length = row + 1;
      } else throw new Error(`escape ESC[${m[1]}${m[2]} not modelled`);
      i += m[0].length - 1;
      continue;
    }
    if (c === '\r') col = 0;
    else if (c === '\n') {
      row++;
      col = 0;
      if (lines.length <= row) lines.push('');
    } else {
      const l = lines[row].padEnd(col);
      lines[row] = l.slice(0, col) + c + l.slice(col + 1);
      col++;
    }
  }
  while (lines.length && lines.at(-1) === '') lines.pop();
  return lines;
}
