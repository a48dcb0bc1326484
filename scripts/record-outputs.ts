#!/usr/bin/env tsx
/**
 * Record what the CLI says for a fixed set of inputs, to compare two versions of the code (issue 21:
 * "--json output and emitted scripts are identical for the same inputs"):
 *   npx tsx scripts/record-outputs.ts OUT_DIR        (then: diff -r OUT_BEFORE OUT_AFTER)
 * Every case runs the real CLI (bin/nbdforge.js) in one fixed sandbox (/tmp/nbdforge-record, made anew
 * each run, so paths are the same in both recordings) with a store holding fixture modules. Each case
 * writes OUT_DIR/<case>.txt: the argv, the exit code, stdout and stderr; files a case writes (emitted
 * scripts, a published site's index and install.sh) are appended. Timestamps, random GUIDs and
 * signatures' dates are the only things normalised (named in NORMALISE). No Docker, no network.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { putModule } from '../test/unit/publish-fixtures.ts';

const out = process.argv[2];
if (!out) {
  console.error('usage: scripts/record-outputs.ts OUT_DIR');
  process.exit(2);
}
const ROOT = '/tmp/nbdforge-record';
fs.rmSync(ROOT, { recursive: true, force: true });
fs.mkdirSync(path.join(ROOT, 'vm'), { recursive: true });
fs.mkdirSync(out, { recursive: true });
const K = '6.1.0-56-amd64';
const K2 = '6.1.0-57-amd64';
await putModule(path.join(ROOT, 'home', 'store'), K);
await putModule(path.join(ROOT, 'home', 'store'), K2, { salt: 'b' });
fs.writeFileSync(path.join(ROOT, 'disk.img'), Buffer.alloc(1 << 20));
fs.writeFileSync(path.join(ROOT, 'volume.raw'), Buffer.alloc(4 << 20));
fs.writeFileSync(path.join(ROOT, 'outside.raw'), Buffer.alloc(1 << 20));
spawnSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', path.join(ROOT, 'outside.raw'), '-F', 'raw', path.join(ROOT, 'vm', 'child.qcow2')]);

/** What varies between two runs of the same code: dates, random GUIDs/ids, durations. */
const NORMALISE: Array<[RegExp, string]> = [
  [/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '<ISO-DATE>'],
  [/[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}/gi, '<GUID>'],
  [/\b0x[0-9a-f]{8}\b/g, '<DISK-ID>'],
  [/\b\d+(\.\d+)? ?(ms|s)\b/g, '<DURATION>'],
  [/"(durationMs|ms|elapsedMs)": ?\d+/g, '"$1": <N>'],
  // a map/export/compose id: the name, then 8 base-36 characters of time and 6 hex of chance
  [/-[0-9a-z]{8}[0-9a-f]{6}\b/g, '-<ID>'],
  // a dir index's serial and expiry are the clock's, and an unsigned index's sha256 follows from them
  [/("serial":|serial )\d+/g, '$1<SERIAL>'],
  [/"expires":\d+/g, '"expires":<T>'],
  [/(--index-sha256 |its sha256, )[0-9a-f]{64}/g, '$1<INDEX-SHA256>'],
];
const norm = (s: string): string => NORMALISE.reduce((a, [re, to]) => a.replace(re, to), s);

const HELP = ['kernels', 'build', 'matrix', 'prove', 'store', 'ci', 'cache', 'cleanup', 'compat', 'publish', 'pull', 'kmm-module', 'prepare-host', 'map', 'unmap', 'export', 'compose', 'decompose'];
const F = (name: string) => path.join(ROOT, name);
/** [case name, argv, files the case writes (read back after it)] */
const CASES: Array<[string, string[], string[]?]> = [
  ['help', ['--help']],
  ['no-args', []],
  ...HELP.map((c): [string, string[]] => [`help-${c}`, ['help', c]]),
  // mistakes: exit code and message
  ['unknown-command', ['biuld']],
  ['unknown-option', ['build', '--kernal', K]],
  ['build-no-kernel', ['build']],
  ['matrix-bad-jobs', ['matrix', '--jobs', '0']],
  ['prove-bad-jobs', ['prove', '--jobs', 'x']],
  ['publish-no-target', ['publish']],
  ['publish-bad-target', ['publish', '--to', 'ftp://x', '--unsigned']],
  ['map-no-image', ['map']],
  ['map-missing-image', ['map', F('nope.img'), '--dry-run']],
  ['compose-no-name', ['compose', F('volume.raw')]],
  ['kmm-no-image', ['kmm-module']],
  ['ci-bad-shards', ['ci', 'github', '--shards', '0']],
  ['prepare-host-bad-options', ['prepare-host', '--dry-run', '--kernel', K, '--options', 'nbds_max=$(reboot)']],
  // reports and emitted files
  ['kernels-json', ['kernels', '--json']],
  ['matrix-list-json', ['matrix', '--list', '--json', '--latest', '3']],
  ['cache-du-json', ['cache', 'du', '--json']],
  ['prepare-host-dry-json', ['prepare-host', '--dry-run', '--kernel', K, '--json']],
  ['prepare-host-dry', ['prepare-host', '--dry-run', '--kernel', K]],
  ['prepare-host-emit', ['prepare-host', '--kernel', K, '--emit-script', F('prepare.sh')], [F('prepare.sh')]],
  ['prepare-host-emit-proof', ['prepare-host', '--kernel', K2, '--require-proof', '--emit-script', F('prepare-proof.sh')], [F('prepare-proof.sh')]],
  ['map-dry-json', ['map', F('disk.img'), '--format', 'raw', '--dry-run', '--json']],
  ['map-dry-external', ['map', F('vm/child.qcow2'), '--dry-run']],
  ['map-emit', ['map', F('disk.img'), '--format', 'raw', '--emit-script', F('map.sh')], [F('map.sh')]],
  ['map-loop-emit', ['map', F('disk.img'), '--loop', '--offset', '1M', '--no-mount', '--emit-script', F('map-loop.sh')], [F('map-loop.sh')]],
  ['unmap-dry-json', ['unmap', F('disk.img'), '--dry-run', '--json']],
  ['export-dry-json', ['export', F('disk.img'), '--format', 'raw', '--dry-run', '--json']],
  ['export-emit', ['export', F('disk.img'), '--format', 'raw', '--socket', F('nbd.sock'), '--emit-script', F('export.sh')], [F('export.sh')]],
  ['compose-dry-json', ['compose', F('volume.raw'), '--name', 'rec-disk', '--dry-run', '--json', '--disk-guid', '11111111-2222-3333-4444-555555555555', '--part-guid', '66666666-7777-8888-9999-000000000000']],
  ['compose-emit', ['compose', '/dev/vg0/data', '--name', 'rec-disk', '--size', '10737418240', '--table', 'mbr', '--disk-id', '0x12345678', '--emit-script', F('compose.sh')], [F('compose.sh')]],
  ['compose-to-file', ['compose', F('volume.raw'), '--to-file', F('composed.img'), '--disk-guid', '11111111-2222-3333-4444-555555555555', '--part-guid', '66666666-7777-8888-9999-000000000000', '--json']],
  ['decompose-dry-json', ['decompose', 'rec-disk', '--dry-run', '--json']],
  ['ci-github', ['ci', 'github', '--latest', '3', '--shards', '2']],
  ['ci-github-el7', ['ci', 'github', '--family', 'el7', '--publish', 'yum:repo']],
  ['kmm-module', ['kmm-module', '--image', '127.0.0.1:5000/nbd', '--kernels', `${K},${K2}`]],
  ['kmm-module-json', ['kmm-module', '--image', '127.0.0.1:5000/nbd', '--kernels', K, '--json']],
  ['publish-dir', ['publish', '--to', `dir:${F('site')}`, '--unsigned', '--json'], [F('site/index.json'), F('site/install.sh')]],
  ['store-merge-bad', ['store', 'merge', F('nope')]],
];

const env: NodeJS.ProcessEnv = { ...process.env, NBDFORGE_HOME: path.join(ROOT, 'home'), NBDFORGE_STATE_DIR: path.join(ROOT, 'state'), NO_COLOR: '1', NBDFORGE_FROM_SOURCE: '1' };
delete env.NBDFORGE_STORE;
delete env.NBDFORGE_CACHE;
const cli = path.resolve('bin/nbdforge.js');
for (const [name, argv, files] of CASES) {
  const r = spawnSync(process.execPath, [cli, ...argv], { encoding: 'utf8', env, cwd: ROOT, timeout: 60_000 });
  let text = `argv: ${JSON.stringify(argv)}\nexit: ${r.status}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}\n`;
  for (const f of files ?? []) text += `--- file ${f}\n${fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '(absent)'}\n`;
  fs.writeFileSync(path.join(out, `${name}.txt`), norm(text));
}
console.error(`recorded ${CASES.length} cases in ${out}`);
