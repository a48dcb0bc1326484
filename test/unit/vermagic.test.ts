import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { expectedVermagic } from '../../src/builder/vermagic.ts';

// Excerpts of /boot/config-6.1.0-56-amd64 (Debian 12): voluntary preemption built with PREEMPT_DYNAMIC.
const debian61 = `#
# Automatically generated file; DO NOT EDIT.
# Linux/x86 6.1.0 Kernel Configuration
#
CONFIG_CC_VERSION_TEXT="gcc-12 (Debian 12.2.0-14) 12.2.0"
CONFIG_SMP=y
CONFIG_PREEMPT_BUILD=y
# CONFIG_PREEMPT_NONE is not set
CONFIG_PREEMPT_VOLUNTARY=y
# CONFIG_PREEMPT is not set
CONFIG_PREEMPT_COUNT=y
CONFIG_PREEMPTION=y
CONFIG_PREEMPT_DYNAMIC=y
CONFIG_MODULES=y
CONFIG_MODULE_FORCE_LOAD=y
CONFIG_MODULE_UNLOAD=y
# CONFIG_MODULE_FORCE_UNLOAD is not set
CONFIG_MODVERSIONS=y
CONFIG_ASM_MODVERSIONS=y
CONFIG_MODULE_SIG=y
CONFIG_RANDSTRUCT_NONE=y
# CONFIG_BLK_DEV_NBD is not set
`;

// Excerpts of /boot/config-3.10.0-1160.el7.x86_64 (CentOS 7).
const centos7 = `#
# Automatically generated file; DO NOT EDIT.
# Linux/x86_64 3.10.0-1160.el7.x86_64 Kernel Configuration
#
CONFIG_64BIT=y
CONFIG_SMP=y
CONFIG_PREEMPT_NONE=y
# CONFIG_PREEMPT_VOLUNTARY is not set
# CONFIG_PREEMPT is not set
CONFIG_MODULES=y
CONFIG_MODULE_FORCE_LOAD=y
CONFIG_MODULE_UNLOAD=y
# CONFIG_MODULE_FORCE_UNLOAD is not set
CONFIG_MODVERSIONS=y
CONFIG_MODULE_SRCVERSION_ALL=y
CONFIG_MODULE_SIG=y
# CONFIG_BLK_DEV_NBD is not set
`;

test('Debian 6.1: SMP preempt mod_unload modversions', () => {
  assert.is(expectedVermagic('6.1.0-56-amd64', debian61), '6.1.0-56-amd64 SMP preempt mod_unload modversions ');
});

test('CentOS 7: SMP mod_unload modversions (no preempt)', () => {
  assert.is(expectedVermagic('3.10.0-1160.el7.x86_64', centos7), '3.10.0-1160.el7.x86_64 SMP mod_unload modversions ');
});

test('CONFIG_PREEMPT=y (3.10-style full preemption) gives preempt', () => {
  const cfg = centos7.replace('CONFIG_PREEMPT_NONE=y', '# CONFIG_PREEMPT_NONE is not set').replace('# CONFIG_PREEMPT is not set', 'CONFIG_PREEMPT=y');
  assert.is(expectedVermagic('3.10.0-rt', cfg), '3.10.0-rt SMP preempt mod_unload modversions ');
});

test('"# CONFIG_SMP is not set" gives no SMP', () => {
  const cfg = debian61.replace('CONFIG_SMP=y', '# CONFIG_SMP is not set');
  assert.is(expectedVermagic('6.1.0-56-amd64', cfg), '6.1.0-56-amd64 preempt mod_unload modversions ');
  assert.is(expectedVermagic('6.1.0-56-amd64', debian61.replace('CONFIG_SMP=y\n', '')), '6.1.0-56-amd64 preempt mod_unload modversions ');
});

test('module options that are not set are left out', () => {
  const cfg = centos7.replace('CONFIG_MODULE_UNLOAD=y', '# CONFIG_MODULE_UNLOAD is not set').replace('CONFIG_MODVERSIONS=y', '# CONFIG_MODVERSIONS is not set');
  assert.is(expectedVermagic('3.10.0-1160.el7.x86_64', cfg), '3.10.0-1160.el7.x86_64 SMP ');
  // =m or other values are not "on"; nor a symbol that only starts with the name
  assert.is(expectedVermagic('r', 'CONFIG_SMP=n\nCONFIG_MODVERSIONS_X=y\nCONFIG_MODULE_UNLOAD=m\n'), 'r ');
});

test('PREEMPT_RT gives preempt_rt', () => {
  const cfg = debian61
    .replace('CONFIG_PREEMPT_BUILD=y', '# CONFIG_PREEMPT_BUILD is not set')
    .replace('CONFIG_PREEMPT_VOLUNTARY=y', '# CONFIG_PREEMPT_VOLUNTARY is not set\nCONFIG_PREEMPT_RT=y')
    .replace('CONFIG_PREEMPT_DYNAMIC=y', '# CONFIG_PREEMPT_DYNAMIC is not set');
  assert.is(expectedVermagic('6.1.0-56-rt-amd64', cfg), '6.1.0-56-rt-amd64 SMP preempt_rt mod_unload modversions ');
});

test('6.12 RT (in-tree PREEMPT_RT selects PREEMPT_BUILD) gives preempt, as vermagic.h checks PREEMPT_BUILD first', () => {
  // Excerpt of linux-headers-6.12.117+deb12-rt-amd64's .config: CONFIG_PREEMPT_BUILD=y and CONFIG_PREEMPT_RT=y.
  const cfg = debian61.replace('CONFIG_PREEMPT_VOLUNTARY=y', '# CONFIG_PREEMPT_VOLUNTARY is not set\nCONFIG_PREEMPT_RT=y').replace('CONFIG_PREEMPT_DYNAMIC=y', '# CONFIG_PREEMPT_DYNAMIC is not set');
  assert.match(cfg, /^CONFIG_PREEMPT_BUILD=y$/m);
  assert.is(expectedVermagic('6.12.117+deb12-rt-amd64', cfg), '6.12.117+deb12-rt-amd64 SMP preempt mod_unload modversions ');
});

test('RANDSTRUCT throws (the seed hash is not in .config)', () => {
  assert.throws(() => expectedVermagic('6.1.0-56-amd64', debian61.replace('CONFIG_RANDSTRUCT_NONE=y', 'CONFIG_RANDSTRUCT=y\nCONFIG_RANDSTRUCT_FULL=y')), /6\.1\.0-56-amd64: RANDSTRUCT/);
  assert.throws(() => expectedVermagic('4.19.0-x', centos7 + 'CONFIG_GCC_PLUGIN_RANDSTRUCT=y\n'), /RANDSTRUCT kernels are not supported/);
  // RANDSTRUCT_NONE (Debian) is not randstruct
  assert.not.throws(() => expectedVermagic('6.1.0-56-amd64', debian61));
});

test.run();
