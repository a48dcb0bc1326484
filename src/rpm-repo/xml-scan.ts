/**
 * Just enough XML for createrepo metadata, without a dependency: attributes, text of simple
 * elements, entities. Inputs are machine-written (createrepo_c, createrepo) and verified by hash
 * or signature before they reach this code; still, anything malformed fails loudly.
 */
const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

export function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (all, e: string) => {
    if (e[0] === '#') return String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    const v = ENTITIES[e];
    if (v === undefined) throw new Error(`unknown XML entity ${all}`);
    return v;
  });
}

/** Attributes of the first `<tag ...>` (or `<tag .../>`) in `xml`, or undefined when absent. */
export function attrsOf(xml: string, tag: string): Record<string, string> | undefined {
  const m = new RegExp(`<${tag}(\\s[^>]*?)?\\s*/?>`).exec(xml);
  if (!m) return undefined;
  const out: Record<string, string> = {};
  const re = /([A-Za-z_][\w:.-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;
  for (let a; (a = re.exec(m[1] ?? '')); ) out[a[1]] = decodeEntities(a[2] ?? a[3]);
  return out;
}

/** Text of the first `<tag ...>text</tag>` in `xml`, or undefined. */
export function textOf(xml: string, tag: string): string | undefined {
  const m = new RegExp(`<${tag}(?:\\s[^>]*)?>([^<]*)</${tag}>`).exec(xml);
  return m ? decodeEntities(m[1]) : undefined;
}

/**
 * Cut a stream of text into complete `<open ...>...</close>` blocks; the tail of each chunk is
 * kept until the block it starts is complete. `open` must include the tag's first character
 * after the name (e.g. '<package ') so '<packager>' never matches.
 */
export class BlockScanner {
  private buf = '';
  constructor(
    private readonly open: string,
    private readonly close: string,
  ) {}

  push(chunk: string): string[] {
    this.buf += chunk;
    const blocks: string[] = [];
    let pos = 0;
    for (;;) {
      const start = this.buf.indexOf(this.open, pos);
      if (start < 0) {
        // Keep a tail that could be the beginning of `open`.
        pos = Math.max(pos, this.buf.length - this.open.length + 1);
        break;
      }
      const end = this.buf.indexOf(this.close, start);
      if (end < 0) {
        pos = start;
        break;
      }
      blocks.push(this.buf.slice(start, end + this.close.length));
      pos = end + this.close.length;
    }
    this.buf = this.buf.slice(pos);
    return blocks;
  }

  /** Throws if the input ended inside a block. */
  end(): void {
    if (this.buf.includes(this.open)) throw new Error(`input ended inside a ${this.open.trim()}> block`);
  }
}
