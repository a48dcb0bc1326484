/**
 * Issue 12.5: the generated GitHub workflow validates against the workflow schema
 * (@action-validator/cli 0.6.0, a real validator: a broken copy is refused), and its run steps are
 * exactly the commands ciCommands gives (the docker tier runs that sequence for real).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { githubWorkflow, ciCommands } from '../../src/ci/github-workflow.ts';

const validator = path.resolve('node_modules/.bin/action-validator');
const cli = path.resolve('bin/nbdforge.js');
let tmp = '';
test.before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-ci-'));
});
test.after(() => fs.rm(tmp, { recursive: true, force: true }));

const validate = (file: string) => spawnSync(validator, [file], { encoding: 'utf8' });

test('the workflow for each family validates; a copy without runs-on does not', async () => {
  for (const [family, latest] of [['debian12', undefined], ['el7', 3]] as const) {
    const file = path.join(tmp, `.github-${family}.yml`);
    const r = spawnSync(cli, ['ci', 'github', '--family', family, '--shards', '3', ...(latest ? ['--latest', String(latest)] : []), '--output', file], { encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stderr, `wrote ${file}`);
    const v = validate(file);
    assert.is(v.status, 0, v.stdout + v.stderr);
    const text = await fs.readFile(file, 'utf8');
    assert.match(text, /schedule:\n    - cron: '17 5 \* \* \*'\n  workflow_dispatch: \{\}/);
    const broken = path.join(tmp, 'broken.yml');
    await fs.writeFile(broken, text.replace(/\n    runs-on: ubuntu-latest\n    strategy:/, '\n    strategy:'));
    const bad = validate(broken);
    assert.is(bad.status, 1, 'the validator refuses a job without runs-on');
    assert.match(bad.stdout + bad.stderr, '/jobs/build/runs-on');
  }
});

test('the run steps are the commands of ciCommands: list, shard, merge, publish', () => {
  const o = { family: 'debian12', shards: 2, latest: 2, publish: 'dir:site' };
  const yaml = githubWorkflow({ ...o, cron: '0 3 * * 1', generator: 'test' });
  const c = ciCommands(o);
  assert.ok(yaml.includes(`out=$(npx ${c.list('.nbdforge/store').join(' ')})`));
  // The matrix value reaches the shell through env:, never expanded into the script by Actions.
  assert.ok(yaml.includes(`      - env:\n          KERNELS: \${{ matrix.kernels }}\n        run: npx ${c.shard('"$KERNELS"', 'shard-store').join(' ')}`));
  assert.ok(yaml.includes(`run: npx ${c.merge(['shards/*'], '.nbdforge/store').join(' ')}`));
  assert.ok(yaml.includes(`run: npx ${c.publish('.nbdforge/store').join(' ')}`));
  assert.match(yaml, /kernels: \$\{\{ fromJSON\(needs\.missing\.outputs\.shards\) \}\}/);
  assert.match(yaml, /path: \.nbdforge\/cache\n {10}key: nbdforge-cache-debian12-/);
});

test('bad options are usage errors', () => {
  for (const args of [['ci', 'gitlab'], ['ci', 'github', '--shards', '0'], ['ci', 'github', '--family', 'nosuch'], ['ci', 'github', '--cron', 'daily'], ['ci', 'github', '--publish', "dir:x'; rm -rf /"]]) {
    const r = spawnSync(cli, args, { encoding: 'utf8' });
    assert.is(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
  }
});

test.run();
