/** dpkg's version ordering (epoch:upstream-revision, with '~' sorting before everything). */
export function compareDebVersions(a: string, b: string): number {
  const split = (v: string) => {
    const colon = v.indexOf(':');
    const epoch = colon >= 0 ? Number(v.slice(0, colon)) : 0;
    const rest = colon >= 0 ? v.slice(colon + 1) : v;
    const dash = rest.lastIndexOf('-');
    return { epoch, upstream: dash >= 0 ? rest.slice(0, dash) : rest, revision: dash >= 0 ? rest.slice(dash + 1) : '0' };
  };
  const x = split(a);
  const y = split(b);
  return x.epoch - y.epoch || comparePart(x.upstream, y.upstream) || comparePart(x.revision, y.revision);
}

function order(c: string): number {
  if (c === '~') return -1;
  if (/[A-Za-z]/.test(c)) return c.charCodeAt(0);
  return c.charCodeAt(0) + 256;
}

function comparePart(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    // Non-digit prefix, compared character by character with dpkg's ordering ('' sorts as 0).
    while ((i < a.length && !/\d/.test(a[i])) || (j < b.length && !/\d/.test(b[j]))) {
      const ca = i < a.length && !/\d/.test(a[i]) ? order(a[i]) : 0;
      const cb = j < b.length && !/\d/.test(b[j]) ? order(b[j]) : 0;
      if (ca !== cb) return ca - cb;
      if (i < a.length && !/\d/.test(a[i])) i++;
      if (j < b.length && !/\d/.test(b[j])) j++;
    }
    let na = '';
    let nb = '';
    while (i < a.length && /\d/.test(a[i])) na += a[i++];
    while (j < b.length && /\d/.test(b[j])) nb += b[j++];
    const d = Number(na || '0') - Number(nb || '0');
    if (d !== 0) return d;
  }
  return 0;
}
