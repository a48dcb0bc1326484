import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseDeb822Sources, parseOneLineSources, debianSourcesFor, releaseMirror, renderDeb822 } from '../../src/setup/apt-sources.ts';

const deb822 = `Types: deb
# a comment
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb deb-src
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main contrib

Types: deb
URIs: http://other.example/x
Suites: stable
Components: main
Enabled: no
`;

test('deb822: stanzas, comments, disabled entries', () => {
  const s = parseDeb822Sources(deb822);
  assert.is(s.length, 2);
  assert.equal(s[0].suites, ['bookworm', 'bookworm-updates']);
  assert.is(s[0].options['signed-by'], '/usr/share/keyrings/debian-archive-keyring.gpg');
  assert.equal(s[1].types, ['deb', 'deb-src']);
});

test('one-line sources with options', () => {
  const s = parseOneLineSources('deb [arch=amd64 signed-by=/k.gpg] http://m.example/debian bookworm main contrib # x\n# deb http://no bookworm main\n');
  assert.is(s.length, 1);
  assert.is(s[0].uris[0], 'http://m.example/debian');
  assert.is(s[0].options.arch, 'amd64');
  assert.equal(s[0].components, ['main', 'contrib']);
});

test('release mirror and suites for a codename', () => {
  const s = parseDeb822Sources(deb822);
  assert.is(releaseMirror(s, 'bookworm'), 'http://mirror.example/debian');
  const d = debianSourcesFor(s, 'bookworm');
  assert.equal(d.flatMap((x) => x.suites), ['bookworm', 'bookworm-updates', 'bookworm-security']);
  assert.throws(() => releaseMirror(s, 'trixie'), /trixie/);
  const round = parseDeb822Sources(renderDeb822(d));
  assert.equal(round.map((x) => x.suites), d.map((x) => x.suites));
  assert.is(round[0].options['signed-by'], '/usr/share/keyrings/debian-archive-keyring.gpg');
});

test.run();
