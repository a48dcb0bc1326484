#!/usr/bin/env tsx
/**
 * Boot one test guest by hand: tsx scripts/vm/boot.ts --kernel 6.1.0-56-amd64 --share DIR --script x.sh
 * [--modules dm-mod,ext4] [--tools /usr/sbin/lvm,...]. Prints the console; exits with the script's status.
 */
import { parseArgs } from 'node:util';
import { prepareGuest, testReleases } from './harness.ts';

const { values } = parseArgs({
  options: { kernel: { type: 'string' }, share: { type: 'string' }, script: { type: 'string' }, modules: { type: 'string' }, tools: { type: 'string' } },
});
if (!values.share || !values.script) {
  console.error('usage: scripts/vm/boot.ts [--kernel RELEASE] --share DIR --script FILE [--modules a,b] [--tools /path/a,/path/b]');
  process.exit(2);
}
const release = values.kernel ?? (await testReleases()).newest;
const split = (s?: string) => (s ? s.split(',').filter(Boolean) : []);
const guest = await prepareGuest({ release, modules: split(values.modules), tools: split(values.tools) });
const r = await guest.boot({ share: values.share, script: values.script, modules: split(values.modules) });
process.stdout.write(r.console);
console.error(`[vm] ${release}: exit ${r.exitCode ?? 'none'}${r.timedOut ? ' (timed out)' : ''} in ${(r.wallMs / 1000).toFixed(1)} s`);
process.exit(r.exitCode ?? 124);
