/** The host's apt sources, read from its own configuration so no mirror host is ever hard-coded. */
export interface AptSource {
  types: string[];
  uris: string[];
  suites: string[];
  components: string[];
  options: Record<string, string>;
}

/** Parse deb822 `.sources` text (stanzas separated by blank lines; `#` comments; folded lines). */
export function parseDeb822Sources(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields: Record<string, string> = {};
    let last: string | undefined;
    for (const raw of stanza.split('\n')) {
      if (/^\s*#/.test(raw) || raw.trim() === '') continue;
      if (/^\s/.test(raw) && last) {
        fields[last] += '\n' + raw.trim();
        continue;
      }
      const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(raw);
      if (!m) continue;
      last = m[1].toLowerCase();
      fields[last] = m[2].trim();
    }
    if (!fields.uris || !fields.suites) continue;
    if (fields.enabled && fields.enabled.toLowerCase() === 'no') continue;
    const words = (s?: string) => (s ?? '').split(/\s+/).filter(Boolean);
    const { types, uris, suites, components, ...options } = fields;
    out.push({ types: words(types || 'deb'), uris: words(uris), suites: words(suites), components: words(components), options });
  }
  return out;
}

/** Parse one-line `sources.list` entries: `deb [opts] uri suite comp...`. */
export function parseOneLineSources(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    const m = /^(deb|deb-src)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$/.exec(line);
    if (!m) continue;
    const options: Record<string, string> = {};
    for (const kv of (m[2] ?? '').split(/\s+/).filter(Boolean)) {
      const [k, v] = kv.split('=');
      options[k.toLowerCase()] = v ?? '';
    }
    out.push({ types: [m[1]], uris: [m[3]], suites: [m[4]], components: m[5].split(/\s+/).filter(Boolean), options });
  }
  return out;
}

/** Binary sources for one Debian release (the release suite and its -updates / -security suites). */
export function debianSourcesFor(sources: AptSource[], codename: string): AptSource[] {
  return sources
    .filter((s) => s.types.includes('deb'))
    .map((s) => ({ ...s, types: ['deb'], suites: s.suites.filter((x) => x === codename || x.startsWith(`${codename}-`) || x.startsWith(`${codename}/`)) }))
    .filter((s) => s.suites.length > 0 && s.components.includes('main'));
}

/** The mirror debootstrap should use: the URI that serves the bare release suite with main. */
export function releaseMirror(sources: AptSource[], codename: string): string {
  const hit = debianSourcesFor(sources, codename).find((s) => s.suites.includes(codename));
  if (!hit) throw new Error(`no apt source on this host serves "${codename} main"; add one to /etc/apt/sources.list.d/ first`);
  return hit.uris[0];
}

/** Render sources as deb822 text, for writing into an image's /etc/apt/sources.list.d/. */
export function renderDeb822(sources: AptSource[]): string {
  return sources
    .map((s) =>
      [
        `Types: ${s.types.join(' ')}`,
        `URIs: ${s.uris.join(' ')}`,
        `Suites: ${s.suites.join(' ')}`,
        `Components: ${s.components.join(' ')}`,
        ...Object.entries(s.options)
          .filter(([k]) => k !== 'enabled')
          .map(([k, v]) => `${k.replace(/(^|-)([a-z])/g, (_m, a: string, b: string) => a + b.toUpperCase())}: ${v}`),
      ].join('\n'),
    )
    .join('\n\n') + '\n';
}
