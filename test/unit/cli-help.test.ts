/**
 * Issue 19 item 2: every command's help has its usage, options, two or three real examples (each an
 * nbdforge command line that parses) and its exit statuses.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { commands } from '../../src/commands/index.ts';

for (const [name, entry] of Object.entries(commands)) {
  test(`${name} --help: usage, options, examples, exit statuses`, async () => {
    const cmd = await entry.load();
    const help = cmd.usage;
    assert.match(help, new RegExp(`^Usage: nbdforge ${name}`), name);
    assert.match(help, /\n(Options|[A-Z][a-z]+ options):?\n|\n {2}--[a-z]/, `${name}: options`);
    const ex = /\nExamples:\n((?: {2}.*\n?)+)/.exec(help);
    assert.ok(ex, `${name}: no Examples section`);
    const lines = ex![1].split('\n').filter((l) => /^ {2}nbdforge /.test(l));
    assert.ok(lines.length >= 2 && lines.length <= 4, `${name}: ${lines.length} examples`);
    for (const l of lines) assert.match(l, new RegExp(`^ {2}nbdforge ${name}\\b`), `${name}: an example of another command: ${l}`);
    assert.match(help, /\nExit (status|codes)/, `${name}: no exit statuses`);
  });
}

test.run();
