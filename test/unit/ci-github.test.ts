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
import { parseDocument } from 'yaml';
import { githubWorkflow, ciCommands, WorkflowValueError } from '../../src/ci/github-workflow.ts';
import { shQuote } from '../../src/host/quote.ts';
import { main } from '../../src/cli.ts';

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

/** The CLI's own entry (what bin/nbdforge.js calls) in this process: a spawn costs seconds on a loaded machine. */
async function nbdforge(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  const out = { stdout: '', stderr: '' };
  const sink = (k: 'stdout' | 'stderr') => ({ write: (t: string) => ((out[k] += t), true) }) as unknown as NodeJS.WriteStream;
  const status = await main(args, { stdout: sink('stdout'), stderr: sink('stderr') });
  return { status, ...out };
}

test('16.6: the probe\'s shapes through the real binary: exit 2, nothing on stdout', () => {
  for (const args of [['--publish', 'dir:${{github.token}}'], ['--publish', 'dir:*x'], ['--publish', 'dir:{a:b}'], ['--cron', '99 5 * * *']]) {
    const r = spawnSync(cli, ['ci', 'github', ...args], { encoding: 'utf8' });
    assert.is(r.status, 2, `${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
    assert.is(r.stdout, '');
    assert.match(r.stderr, `nbdforge ci: ${args[0]} `);
  }
});

// Issue 16.6: the probe's shapes and the rest of YAML's indicators, Actions' expressions and shell syntax.
const BAD_PUBLISH = [
  'dir:${{github.token}}', 'dir:${{ secrets.GITHUB_TOKEN }}', 'yum:${{ github.token }}', 'oci://${{x}}/nbd',
  'dir:*x', 'dir:@x', 'dir:{a:b}', 'dir:!!binary', 'dir:&anchor', 'dir:`id`', 'dir:[x]', 'dir:a]', 'dir:|x', 'dir:>x',
  'dir:%x', 'dir:#x', 'dir:a#b', 'dir:"x"', "dir:'x'", 'dir:-x', 'dir:a/-x', 'dir:?x', 'dir::x', 'dir:a: b', 'dir:a,b',
  'dir:$HOME', 'dir:~/site', 'dir:a b', 'dir:a\nname: x', 'dir:site\u2028x', 'dir:site\u0085', 'dir:site\u007f',
  'dir:', 'dir:a//b', 'apt:*x', 'ftp:x', 'site',
];

test('16.6: --publish takes a known kind with a plain path, anything else is exit 2 before a byte is written', async () => {
  for (const p of BAD_PUBLISH) {
    const r = await nbdforge(['ci', 'github', '--publish', p]);
    assert.is(r.status, 2, `--publish ${JSON.stringify(p)}: exit ${r.status}: ${r.stderr}`);
    assert.is(r.stdout, '', `--publish ${JSON.stringify(p)} wrote a workflow`);
    assert.match(r.stderr, /^nbdforge ci: --publish/, p);
    assert.match(r.stderr, p.includes('${{') ? /would expand the \$\{\{ \.\.\. \}\} expression/ : /plain path|unknown or unavailable target kind|refused in every value|bad target/, p);
  }
});

const BAD_CRON = [
  '99 5 * * *', 'a b c d e', '0 24 * * *', '0 0 0 * *', '0 0 32 * *', '0 0 * 13 *', '0 0 * * 7', '5-1 * * * *', '*/0 * * * *',
  '*/60 * * * *', '0 0 * FEB-JAN *', '0 0 * MON *', '0 0 * * XYZ', '1-5,7 * * * *', '@daily', '', '* * * *', '* * * * * *',
  '0\t3 * * *', '0 3 * * *\u2028', "0 3 * * *'", '${{ github.token }} * * * *', '0 3 * * 1 #x',
];

test('16.6: --cron is five fields in the workflow schema\'s forms, each in range; anything else is exit 2', async () => {
  for (const c of BAD_CRON) {
    const r = await nbdforge(['ci', 'github', '--cron', c]);
    assert.is(r.status, 2, `--cron ${JSON.stringify(c)}: exit ${r.status}: ${r.stderr}`);
    assert.is(r.stdout, '');
    assert.match(r.stderr, /^nbdforge ci: --cron/, c);
  }
  assert.match((await nbdforge(['ci', 'github', '--cron', '0 24 * * *'])).stderr, 'hour 24 is out of range 0-23');
});

/** Every run: line of every job, as a YAML parser reads the workflow. */
const runs = (wf: any): string[] => Object.values(wf.jobs).flatMap((j: any) => j.steps.filter((s: any) => 'run' in s).map((s: any) => s.run as string));

test('16.6: valid --publish and --cron round-trip: YAML reads back what was asked, the validator accepts it, no ${{ in run:', async () => {
  const cases: Array<[string, string, string]> = [
    ['dir:site', '17 5 * * *', '17 5 * * *'],
    ['dir:/srv/www/nbd', '0 3 * * mon-fri', '0 3 * * MON-FRI'],
    ['dir:123', '*/15 2-4 1,15 JAN-JUN *', '*/15 2-4 1,15 JAN-JUN *'],
    ['dir:.inf/true', '10-20/5  0 * * 0', '10-20/5 0 * * 0'],
    ['dir:out/a+b_c-1.0/', '5/15 * * dec *', '5/15 * * DEC *'],
    ['yum:/srv/yum', '0 0 1 1 SUN', '0 0 1 1 SUN'],
    ['apt:repo', '59 23 31 12 6', '59 23 31 12 6'],
    ['oci://127.0.0.1:5000/nbd', '0 6 * * 1', '0 6 * * 1'],
    ['oci://[::1]:5000/team/nbd', '0 6 * * 1', '0 6 * * 1'],
  ];
  for (const [publish, cron, expectCron] of cases) {
    const file = path.join(tmp, 'round.yml');
    const r = await nbdforge(['ci', 'github', '--publish', publish, '--cron', cron, '--output', file]);
    assert.is(r.status, 0, `${publish} ${cron}: ${r.stderr}`);
    const text = await fs.readFile(file, 'utf8');
    const doc = parseDocument(text);
    assert.equal([doc.errors, doc.warnings], [[], []], publish);
    const wf = doc.toJS();
    assert.equal(wf.on.schedule, [{ cron: expectCron }], cron);
    const c = ciCommands({ family: 'debian12', shards: 4, publish });
    assert.ok(runs(wf).includes(`npx ${c.publish('.nbdforge/store').map(shQuote).join(' ')}`), publish);
    assert.ok(runs(wf).includes(`npx ${c.shard('"$KERNELS"', 'shard-store').join(' ')}`));
    assert.not.ok(runs(wf).some((x) => x.includes('${{')), 'no expression in any run:');
    const shard = wf.jobs.build.steps.find((s: any) => s.env);
    assert.equal(shard.env, { KERNELS: '${{ matrix.kernels }}' });
    const upload = wf.jobs.merge.steps.find((s: any) => s.with?.name === 'nbdforge-debian12-published');
    assert.equal(upload?.with.path, publish.startsWith('dir:') ? publish.slice(4) : undefined, `path: of ${publish} stays a string`);
    if (cron !== '17 5 * * *') assert.match(text.split('\n')[1], ` --cron '${expectCron}'`);
    const v = validate(file);
    assert.is(v.status, 0, `${publish} ${cron}: ${v.stdout}${v.stderr}`);
  }
});

test('16.6: githubWorkflow checks its options itself (library callers get WorkflowValueError, exit 2)', () => {
  const ok = { family: 'debian12', shards: 2, publish: 'dir:site', cron: '0 3 * * 1', generator: 'test' };
  assert.not.throws(() => githubWorkflow(ok));
  for (const bad of [{ family: 'x: y' }, { family: '${{ github.token }}' }, { shards: 0 }, { shards: 1.5 }, { latest: 1000 }, { publish: 'dir:*x' }, { cron: '61 * * * *' }, { generator: 'a\nname: evil' }]) {
    try {
      githubWorkflow({ ...ok, ...bad });
      assert.unreachable(JSON.stringify(bad));
    } catch (err) {
      assert.instance(err, WorkflowValueError, JSON.stringify(bad));
      assert.is((err as WorkflowValueError).exitCode, 2);
    }
  }
});

/** The example command lines of a help text, split as sh would (single quotes only, which is all they use). */
function examples(help: string): string[][] {
  const block = help.split('\nExamples:\n')[1]?.split('\n\n')[0] ?? '';
  return block
    .split('\n')
    .filter((l) => l.startsWith('  nbdforge '))
    .map((l) => [...l.trim().split(' | ')[0].matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]).slice(1));
}

test('issue 19.2: ci --help has two or three examples that run as printed, and an exit-status line', async () => {
  const help = await nbdforge(['ci', '--help']);
  assert.is(help.status, 0);
  const ex = examples(help.stdout);
  assert.ok(ex.length >= 2 && ex.length <= 3, help.stdout);
  assert.match(help.stdout, /\nExit status: 0 written, 1 .*, 2 usage/);
  for (const args of ex) {
    const out = args.indexOf('--output');
    if (out >= 0) args[out + 1] = path.join(tmp, 'example.yml');
    const r = await nbdforge(args);
    assert.is(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
    const text = out >= 0 ? await fs.readFile(args[out + 1], 'utf8') : r.stdout;
    assert.equal(parseDocument(text).errors, [], args.join(' '));
  }
});

test.run();
