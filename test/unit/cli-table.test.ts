/** The command table carries each command's summary so --help loads no command code: they must agree. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { commands } from '../../src/commands/index.ts';

test('every summary in the table is the one its command module says', async () => {
  for (const [name, e] of Object.entries(commands)) assert.is(e.summary, (await e.load()).summary, name);
});

test.run();
