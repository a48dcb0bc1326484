import { fs } from 'zx';

/**
 * Put a benchmark's section (between its `<!-- bench:NAME -->` markers) into docs/BENCHMARKS.md:
 * in place of the old one, or before the section `before` names, or at the end.
 */
export async function writeBenchSection(name: string, section: string, before?: string): Promise<void> {
  const doc = 'docs/BENCHMARKS.md';
  let text = await fs.readFile(doc, 'utf8');
  const re = new RegExp(`<!-- bench:${name} -->[\\s\\S]*<!-- /bench:${name} -->`);
  const anchor = before ? `<!-- bench:${before} -->` : undefined;
  if (re.test(text)) text = text.replace(re, () => section);
  else if (anchor && text.includes(anchor)) text = text.replace(anchor, () => `${section}\n\n${anchor}`);
  else text = `${text.trimEnd()}\n\n${section}\n`;
  await fs.writeFile(doc, text);
  console.error(`[bench] wrote ${doc}`);
}
