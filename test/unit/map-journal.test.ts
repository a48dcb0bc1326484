/** The map journal as Node reads it, on journals captured from a real map in the VM test guest. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseJournal, mapState, renderMounts, describeUndo, JournalError } from '../../src/host/journal.ts';

// `nbdforge map /share/clone.qcow2` (a byte-identical copy of an image already mapped on nbd0),
// as the guest wrote it (6.1.0-56-amd64, qemu-nbd 7.2, lvm 2.03.16)
const CLONE = `{"seq":1,"ev":"info","kind":"map","id":"clone-mwq0pkeva95bf9","image":"/share/clone.qcow2","mode":"ro","via":"nbd","format":"","offset":"","root":"/mnt/nbdforge/clone","started":"2026-11-21T06:19:34Z"}
{"seq":2,"ev":"info","kind":"format","format":"qcow2"}
{"seq":3,"ev":"begin","kind":"connect","dev":"/dev/nbd2","image":"/share/clone.qcow2","format":"qcow2","mode":"ro"}
{"seq":4,"ev":"done","of":3}
{"seq":5,"ev":"info","kind":"blk","dev":"/dev/nbd2p1","type":"ext4","label":"dos-p1","uuid":"c6399a25-067f-426b-b289-6da1f4c6736a"}
{"seq":6,"ev":"info","kind":"blk","dev":"/dev/nbd2p2","type":"LVM2_member","label":"","uuid":"sts1TY-C2uq-3vys-6gkj-2tyH-t3km-6bVPsh"}
{"seq":7,"ev":"begin","kind":"importclone","dev":"/dev/nbd2","from":"vg0","to":"vg0_nbd2","vguuid":"kQmUVQ-MKlT-BL8R-cTB6-odTv-bd94-nsDATQ","persist":"0"}
{"seq":8,"ev":"done","of":7}
{"seq":9,"ev":"begin","kind":"activate","dev":"/dev/nbd2","vg":"vg0_nbd2","vguuid":"kwO1NQ-Hi4I-7NIh-OuEy-QuGJ-xVVv-FtR6At","orig":"vg0"}
{"seq":10,"ev":"done","of":9}
{"seq":11,"ev":"info","kind":"blk","dev":"/dev/mapper/vg0_nbd2-root","type":"ext4","label":"dos-lv","uuid":"12fe4771-552e-4d0f-a4b4-8bc0447dbb98"}
{"seq":12,"ev":"begin","kind":"mkdir","dir":"/mnt/nbdforge/clone"}
{"seq":13,"ev":"done","of":12}
{"seq":14,"ev":"begin","kind":"mkdir","dir":"/mnt/nbdforge/clone/p1"}
{"seq":15,"ev":"done","of":14}
{"seq":16,"ev":"begin","kind":"mount","src":"/dev/nbd2p1","dir":"/mnt/nbdforge/clone/p1","type":"ext4","opts":"ro,noload"}
{"seq":17,"ev":"done","of":16}
{"seq":18,"ev":"info","kind":"fs","dev":"/dev/nbd2p1","type":"ext4","name":"p1","dir":"/mnt/nbdforge/clone/p1","opts":"ro,noload","why":""}
{"seq":19,"ev":"info","kind":"fs","dev":"/dev/nbd2p2","type":"LVM2_member","name":"p2","dir":"","opts":"","why":"LVM physical volume"}
{"seq":20,"ev":"begin","kind":"mkdir","dir":"/mnt/nbdforge/clone/vg0-root"}
{"seq":21,"ev":"done","of":20}
{"seq":22,"ev":"begin","kind":"mount","src":"/dev/mapper/vg0_nbd2-root","dir":"/mnt/nbdforge/clone/vg0-root","type":"ext4","opts":"ro,noload"}
{"seq":23,"ev":"done","of":22}
{"seq":24,"ev":"info","kind":"fs","dev":"/dev/mapper/vg0_nbd2-root","type":"ext4","name":"vg0-root","dir":"/mnt/nbdforge/clone/vg0-root","opts":"ro,noload","why":""}
{"seq":25,"ev":"info","kind":"mapped","dev":"/dev/nbd2","root":"/mnt/nbdforge/clone"}
`;

test('a complete map: device, format, filesystems with labels, the clone import, pending undos newest first', () => {
  const s = mapState(parseJournal(CLONE));
  assert.is(s.kind, 'map');
  assert.is(s.image, '/share/clone.qcow2');
  assert.is(s.format, 'qcow2');
  assert.is(s.device, '/dev/nbd2');
  assert.is(s.mode, 'ro');
  assert.ok(s.complete);
  assert.equal(
    s.filesystems.map((f) => [f.dev, f.type, f.label, f.dir ?? f.why, f.opts]),
    [
      ['/dev/nbd2p1', 'ext4', 'dos-p1', '/mnt/nbdforge/clone/p1', 'ro,noload'],
      ['/dev/nbd2p2', 'LVM2_member', '', 'LVM physical volume', undefined],
      ['/dev/mapper/vg0_nbd2-root', 'ext4', 'dos-lv', '/mnt/nbdforge/clone/vg0-root', 'ro,noload'],
    ],
  );
  assert.equal(s.renamed, [{ from: 'vg0', to: 'vg0_nbd2', persist: false, clone: true }]);
  assert.equal(
    s.pending.map((a) => `${a.kind} ${describeUndo(a)}`),
    [
      'mount umount /mnt/nbdforge/clone/vg0-root',
      'mkdir rmdir /mnt/nbdforge/clone/vg0-root',
      'mount umount /mnt/nbdforge/clone/p1',
      'mkdir rmdir /mnt/nbdforge/clone/p1',
      'mkdir rmdir /mnt/nbdforge/clone',
      'activate vgchange -an vg0_nbd2',
      'importclone nothing (new UUIDs for vg0_nbd2 live on the snapshot overlay only)',
      'connect qemu-nbd --disconnect /dev/nbd2',
    ],
  );
  const table = renderMounts(s);
  assert.match(table, /VG vg0 is active as vg0_nbd2 \(clone/);
  assert.match(table, /\/dev\/mapper\/vg0_nbd2-root\s+ext4\s+dos-lv\s+\/mnt\/nbdforge\/clone\/vg0-root\s+ro,noload/);
});

test('killed midway: a begin without done is still pending, an undone action is not; a torn last line is ignored', () => {
  const cut = CLONE.split('\n').slice(0, 9).join('\n'); // killed while vgchange -ay ran
  const undone = `${cut}\n{"seq":10,"ev":"undone","of":3}\n{"seq":11,"ev":"begi`;
  const s = mapState(parseJournal(undone));
  assert.not.ok(s.complete);
  const activate = s.actions.find((a) => a.kind === 'activate')!;
  assert.is(activate.state, 'unfinished');
  assert.equal(s.pending.map((a) => a.kind), ['activate', 'importclone']);
  assert.ok(s.actions.find((a) => a.kind === 'connect')!.undone);
});

test('a --rw rename is persistent and described as renamed back', () => {
  const j = [
    '{"seq":1,"ev":"info","kind":"map","id":"rw-1","image":"/share/rw.qcow2","mode":"rw","via":"nbd","format":"","offset":"","root":"/mnt/nbdforge/rw","started":"2026-11-21T06:19:34Z"}',
    '{"seq":2,"ev":"begin","kind":"connect","dev":"/dev/nbd1","image":"/share/rw.qcow2","format":"qcow2","mode":"rw"}',
    '{"seq":3,"ev":"done","of":2}',
    '{"seq":4,"ev":"begin","kind":"rename","dev":"/dev/nbd1","image":"/share/rw.qcow2","vguuid":"x","from":"vg0","to":"vg0_nbd1","persist":"1"}',
  ].join('\n');
  const s = mapState(parseJournal(j));
  assert.equal(s.renamed, [{ from: 'vg0', to: 'vg0_nbd1', persist: true, clone: false }]);
  assert.is(describeUndo(s.pending[0]), "vgrename vg0_nbd1 vg0 (back to the image's own name)");
});

test('damage in the middle of a journal and a journal without header are errors', () => {
  assert.throws(() => parseJournal('{"seq":1,"ev":"info"}\nnot json\n{"seq":3,"ev":"info"}'), (e: unknown) => e instanceof JournalError);
  assert.throws(() => mapState(parseJournal('{"seq":1,"ev":"begin","kind":"mount"}')), /no map\/export header/);
});

test.run();
