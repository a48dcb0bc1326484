/**
 * The lvm step's decisions (keep, rename, vgimportclone) from a real `lvm pvs` scan captured in the
 * VM guest (lvm 2.03.16) with three images mapped: dos on nbd0, a byte-identical clone of it on
 * nbd1 (LVM hides it as a duplicate PV), gpt on nbd2 (another VG also named vg0). The step runs in
 * dash (or $NBDFORGE_TEST_SH) with lvm and blkid replaced by stubs that print the captured output and log their arguments.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stepProgram } from '../../src/map/steps.ts';
import { testShell } from './test-shell.ts';

const SCAN = `  WARNING: VG name vg0 is used by VGs Pd8wlO-nRb8-nA08-V2L3-6q6P-xrte-06Edzc and kQmUVQ-MKlT-BL8R-cTB6-odTv-bd94-nsDATQ.
  Fix duplicate VG names with vgrename uuid, a device filter, or system IDs.
  WARNING: Not using device /dev/nbd1p2 for PV sts1TY-C2uq-3vys-6gkj-2tyH-t3km-6bVPsh.
  WARNING: PV sts1TY-C2uq-3vys-6gkj-2tyH-t3km-6bVPsh prefers device /dev/nbd0p2 because device was seen first.
  /dev/nbd0p2:sts1TY-C2uq-3vys-6gkj-2tyH-t3km-6bVPsh:vg0:kQmUVQ-MKlT-BL8R-cTB6-odTv-bd94-nsDATQ
  /dev/nbd2p2:FkzqBD-kGlb-RUZu-0Ax6-76hN-pWy3-58pZXs:vg0:Pd8wlO-nRb8-nA08-V2L3-6q6P-xrte-06Edzc
`;
const PV = { nbd0: 'sts1TY-C2uq-3vys-6gkj-2tyH-t3km-6bVPsh', nbd1: 'sts1TY-C2uq-3vys-6gkj-2tyH-t3km-6bVPsh', nbd2: 'FkzqBD-kGlb-RUZu-0Ax6-76hN-pWy3-58pZXs' };

/**
 * The lvm stub runs a session like lvm does (`lvm FILE`: one command per line after a "#!" line, each
 * logged as "lvm LINE", the marker line answered as `lvm config` does); scriptMode false makes it a
 * stub that knows no scripts, so the step falls back to one process per command.
 */
function runLvmStep(dev: 'nbd0' | 'nbd1' | 'nbd2', mode: 'ro' | 'rw', scan = SCAN, scriptMode = true) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nbdforge-map-lvm-'));
  try {
    const bin = path.join(dir, 'bin');
    fs.mkdirSync(bin);
    fs.mkdirSync(path.join(dir, 'maps'));
    fs.writeFileSync(path.join(dir, 'scan.txt'), scan);
    fs.writeFileSync(path.join(dir, 'blkid.txt'), `DEVNAME=/dev/${dev}p1\nLABEL=p1\nTYPE=ext4\n\nDEVNAME=/dev/${dev}p2\nUUID=${PV[dev]}\nTYPE=LVM2_member\n`);
    const stub = (name: string, body: string) => fs.writeFileSync(path.join(bin, name), `#!/bin/sh\nprintf '%s\\n' "${name} $*" >> ${dir}/calls.txt\n${body}\n`, { mode: 0o755 });
    const answer = `case "$*" in pvs*) cat ${dir}/scan.txt ;; vgs*) echo "  NEWVGU-UUID" ;; config*--type*) printf '%s\\n' devices { use_devicesfile=0 } global { event_activation=1 } ;; config*) echo 'dir="/nbdforge.end"' ;; esac`;
    const session = `if [ -p "$1" ]; then while IFS= read -r l; do case $l in '#!'*) continue ;; esac; printf 'ses %s\\n' "$l" >> ${dir}/calls.txt; set -- $l; ${answer}; done < "$1"; exit 0; fi`;
    stub('lvm', `${scriptMode ? session : ''}\n${answer}; exit 0`);
    stub('blkid', `cat ${dir}/blkid.txt`);
    stub('sync', 'exit 0');
    const journal = [
      `{"seq":1,"ev":"info","kind":"map","id":"m","image":"/img/${dev}.qcow2","mode":"${mode}","via":"nbd","format":"qcow2","offset":"","root":"/mnt/x"}`,
      `{"seq":2,"ev":"begin","kind":"connect","dev":"/dev/${dev}","image":"/img/${dev}.qcow2","format":"qcow2","mode":"${mode}"}`,
      '{"seq":3,"ev":"done","of":2}',
    ];
    fs.writeFileSync(path.join(dir, 'maps', 'm.jsonl'), journal.join('\n') + '\n');
    const prog = stepProgram('lvm');
    const r = spawnSync(testShell('dash'), ['-c', prog, 'sh', dir, 'm'], { encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
    const records = fs.readFileSync(path.join(dir, 'maps', 'm.jsonl'), 'utf8').trim().split('\n').slice(3).map((l) => JSON.parse(l));
    // "lvm ARGS": an lvm process; "ses LINE": a command in a session (logged as "lvm LINE" below)
    const logged = fs.existsSync(path.join(dir, 'calls.txt')) ? fs.readFileSync(path.join(dir, 'calls.txt'), 'utf8').trim().split('\n') : [];
    const processes = logged.filter((c) => c.startsWith('lvm ')).length;
    const calls = logged.map((c) => c.replace(/^ses /, 'lvm '));
    return { status: r.status, out: r.stdout + r.stderr, records, processes, calls: calls.filter((c) => c.startsWith('lvm ') && !/^lvm (pvs|config|\/)/.test(c)).map((c) => c.replace(/--config .*?(?= [a-z0-9/]+ |\s\/dev| [A-Za-z0-9]{6}-)/, '--config CFG')) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const begins = (recs: Array<Record<string, string | number>>) => recs.filter((r) => r.ev === 'begin').map((r) => `${r.kind} ${r.from ?? r.vg}${r.to ? `->${r.to}` : ''}${r.persist !== undefined ? ` persist=${r.persist}` : ''}`);

test('a clone LVM hides (its PV UUID shown on another device): vgimportclone to vg0_nbd1, activated read-only', () => {
  const r = runLvmStep('nbd1', 'ro');
  assert.is(r.status, 0, r.out);
  assert.equal(begins(r.records), ['importclone vg0->vg0_nbd1 persist=0', 'activate vg0_nbd1']);
  assert.is(r.calls.length, 3, r.calls.join('\n'));
  assert.match(r.calls[0], /^lvm vgimportclone .*--basevgname vg0_nbd1 \/dev\/nbd1p2$/);
  assert.match(r.calls[2], /^lvm vgchange -ay .*read_only_volume_list=\[ "vg0_nbd1" \].* vg0_nbd1$/);
  const blk = r.records.filter((x) => x.kind === 'blk').map((x) => `${x.dev} ${x.type}`);
  assert.equal(blk, ['/dev/nbd1p1 ext4', '/dev/nbd1p2 LVM2_member']);
});

test('the preferred copy of a duplicate PV is a clone too (the warning names its PV UUID)', () => {
  const r = runLvmStep('nbd0', 'ro');
  assert.equal(begins(r.records), ['importclone vg0->vg0_nbd0 persist=0', 'activate vg0_nbd0']);
});

test('another VG with the same name: renamed on the overlay (ro), renamed in the image and durable first (--rw)', () => {
  const ro = runLvmStep('nbd2', 'ro');
  assert.equal(begins(ro.records), ['rename vg0->vg0_nbd2 persist=0', 'activate vg0_nbd2']);
  assert.match(ro.calls[0], /^lvm vgrename .*Pd8wlO-nRb8-nA08-V2L3-6q6P-xrte-06Edzc vg0_nbd2$/);
  const rw = runLvmStep('nbd2', 'rw');
  assert.equal(begins(rw.records), ['rename vg0->vg0_nbd2 persist=1', 'activate vg0_nbd2']);
  assert.not.match(rw.calls.join('\n'), /read_only_volume_list/);
});

test('--rw refuses a clone before changing anything; a VG nobody else has keeps its name', () => {
  const r = runLvmStep('nbd1', 'rw');
  assert.is(r.status, 1);
  assert.match(r.out, /byte-identical clone .* map it read-only or with --snapshot/);
  assert.equal(begins(r.records), []);
  const alone = `  /dev/nbd2p2:${PV.nbd2}:vg0:Pd8wlO-nRb8-nA08-V2L3-6q6P-xrte-06Edzc\n`;
  const a = runLvmStep('nbd2', 'ro', alone);
  assert.equal(begins(a.records), ['activate vg0']);
  assert.is(a.calls.length, 1);
});

test('no clash: the scan and the activation run in one lvm process (a session); without script support, one process each', () => {
  const alone = `  /dev/nbd2p2:${PV.nbd2}:vg0:Pd8wlO-nRb8-nA08-V2L3-6q6P-xrte-06Edzc\n`;
  const a = runLvmStep('nbd2', 'ro', alone);
  assert.is(a.status, 0, a.out);
  assert.is(a.processes, 1, a.calls.join('\n'));
  assert.match(a.calls[0], /^lvm vgchange -ay --poll n --config 'devices\{filter=\["a\|\^\/dev\/nbd2\(p\|\$\)\|","r\|\.\*\|"\] global_filter=.* read_only_volume_list=\[ "vg0" \]\}' vg0$/);
  const b = runLvmStep('nbd2', 'ro', alone, false);
  assert.is(b.status, 0, b.out);
  assert.equal(begins(b.records), ['activate vg0']);
  assert.is(b.processes, 4, 'the session attempt, the config keys lvm knows, pvs, vgchange');
  assert.match(b.calls[b.calls.length - 1], /^lvm vgchange -ay --poll n --config .*read_only_volume_list=\[ "vg0" \].* vg0$/);
});

test.run();
