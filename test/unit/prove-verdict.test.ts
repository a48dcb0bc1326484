/** The guest's verdict file read into checks, the host's judgement of dmesg and taint, and the check list completed. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CHECKS, completeChecks, judgeKernelLog, parseGuestReport, taintText } from '../../src/prove/verdict.ts';
import { parseQemuVersion } from '../../src/prove/accel.ts';
import { gptImage } from '../../src/prove/share.ts';

const ALL_OK = [
  'start boot', 'check boot ok 20 kernel 6.1.0-57-amd64 reached /init\'s script at 8340 ms of uptime',
  'start insmod', 'signer ', 'modtaint OE', 'check insmod ok 380 loaded abc',
  'start write-16MiB', 'check write-16MiB ok 4130 16 MiB written',
  'start drop-caches-read-compare', 'check drop-caches-read-compare ok 4700 read back',
  'start disconnect', 'check disconnect ok 5810 disconnected',
  'start gpt-partition-scan', 'check gpt-partition-scan ok 1080 nbd0p1 appeared',
  'start rmmod', 'check rmmod ok 630 unloaded',
  'dmesg [    8.47] nbd: loading out-of-tree module taints kernel.',
  'dmesg [    8.48] nbd: module verification failed: signature and/or required key missing - tainting kernel',
  'dmesg [   24.33]  nbd0: p1',
  'taint 0 12288',
].join('\n');

test('a clean run: every check ok, in order, the unsigned out-of-tree taint (OE) recorded and accepted', () => {
  const r = parseGuestReport(ALL_OK);
  assert.is(r.signer, undefined);
  assert.is(r.modTaint, 'OE');
  assert.equal(r.taint, { before: 0, after: 12288 });
  const checks = completeChecks(r);
  assert.equal(checks.map((c) => [c.name, c.ok]), CHECKS.map((n) => [n, true]));
  assert.is(checks[1].ms, 380);
  assert.match(checks[7].detail, /3 kernel log lines after insmod.*taint 12288 \(OE\)/);
});

test('insmod fails: that check names the kernel\'s words, the later ones say they did not run, dmesg-clean judges the log', () => {
  const text = [
    'start boot', 'check boot ok 10 up',
    'start insmod', 'check insmod fail 200 insmod: ERROR: could not insert module /share/nbd.ko: Invalid parameters; kernel: nbd: disagrees about version of symbol module_layout',
    'dmesg [ 8.4] nbd: disagrees about version of symbol module_layout',
    'taint 0 0',
  ].join('\n');
  const checks = completeChecks(parseGuestReport(text));
  assert.equal(checks.map((c) => c.ok), [true, false, false, false, false, false, false, false]);
  assert.match(checks[1].detail, /disagrees about version/);
  assert.is(checks[2].detail, 'not run: insmod failed');
  assert.match(checks[7].detail, /1 bad kernel log line, first: .*disagrees about version/);
});

test('a guest that hangs inside a check, or never boots: named, never taken for a pass', () => {
  const hung = completeChecks(parseGuestReport('start boot\ncheck boot ok 5 up\nstart insmod\ncheck insmod ok 9 loaded\nstart write-16MiB\n'), 'no verdict within 300 s');
  assert.equal(hung.map((c) => c.ok), [true, true, false, false, false, false, false, false]);
  assert.is(hung[2].detail, 'began and never ended: no verdict within 300 s');
  assert.is(hung[3].detail, 'not run: write-16MiB never ended');
  assert.match(hung[7].detail, /never reported its taint/);
  const none = completeChecks(parseGuestReport(''), 'the guest ended without a verdict; console: Kernel panic');
  assert.ok(none.every((c) => !c.ok));
  assert.match(none[0].detail, /Kernel panic/);
});

test('dmesg-clean: oops, WARNING, BUG lines and new taints other than O/E fail it', () => {
  for (const line of ['WARNING: CPU: 0 PID: 98 at drivers/block/nbd.c:1234 nbd_xxx', 'BUG: kernel NULL pointer dereference, address: 0000000000000008', 'Oops: 0000 [#1] PREEMPT SMP NOPTI', 'general protection fault, probably for non-canonical address'])
    assert.not.ok(judgeKernelLog({ dmesg: ['[1.0] nbd0: p1', `[2.0] ${line}`], taint: { before: 0, after: 12288 } }).ok, line);
  const warned = judgeKernelLog({ dmesg: [], taint: { before: 0, after: 12288 | 512 } });
  assert.not.ok(warned.ok);
  assert.match(warned.detail, /tainted W \(kernel warning\)/);
  // a taint the kernel had before insmod is not the module's
  assert.ok(judgeKernelLog({ dmesg: [], taint: { before: 512, after: 512 | 4096 } }).ok);
  assert.is(taintText(0), '0 (none)');
  assert.is(taintText(12288 | 1), '12289 (POE)');
});

test('the verdict file is untrusted: unknown checks ignored, a check counted once, lines bounded and cleaned, dmesg capped', () => {
  const text = [
    'check made-up ok 1 x',
    'check boot ok 1 first',
    'check boot fail 1 second',
    `check insmod ok 5 ${'a'.repeat(5000)}`,
    'signer Evil\u001b[2J\u202eCorp',
    ...Array.from({ length: 300 }, (_, i) => `dmesg line ${i}`),
    'taint 1e3 5',
  ].join('\n');
  const r = parseGuestReport(text);
  assert.equal(r.checks.map((c) => [c.name, c.detail.slice(0, 5)]), [['boot', 'first'], ['insmod', 'aaaaa']]);
  assert.ok(r.checks[1].detail.length < 512);
  assert.is(r.signer, 'Evil [2J Corp');
  assert.is(r.dmesg.length, 200);
  assert.is(r.taint, undefined);
});

test('helpers: QEMU version from --version; the GPT disk has one partition of the sectors the guest must see', () => {
  assert.is(parseQemuVersion('QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright'), '7.2.22');
  assert.is(parseQemuVersion('something else'), undefined);
  const g = gptImage(2 << 20);
  assert.is(g.partSectors, 4096);
  assert.is(g.image.subarray(512, 520).toString('latin1'), 'EFI PART');
  assert.is(g.image.readUInt16LE(510), 0xaa55);
});

test.run();
