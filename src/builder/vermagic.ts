/**
 * The vermagic string a kernel expects of its modules, computed the way include/linux/vermagic.h
 * does from the release and the kernel's .config (x86_64: no arch suffix). Kernels 3.10 and 6.1
 * use the same shape: "<release> SMP [preempt ]mod_unload modversions ".
 */
export function expectedVermagic(release: string, config: string): string {
  const on = (sym: string) => new RegExp(`^${sym}=y$`, 'm').test(config);
  let s = `${release} `;
  if (on('CONFIG_SMP')) s += 'SMP ';
  // vermagic.h tests PREEMPT_BUILD before PREEMPT_RT: 6.12's in-tree RT selects PREEMPT_BUILD and says
  // "preempt" (its release, -rt-amd64, tells it apart); 6.1's RT patch set does not and says "preempt_rt".
  if (on('CONFIG_PREEMPT_BUILD')) s += 'preempt ';
  else if (on('CONFIG_PREEMPT_RT')) s += 'preempt_rt ';
  else if (on('CONFIG_PREEMPT')) s += 'preempt ';
  if (on('CONFIG_MODULE_UNLOAD')) s += 'mod_unload ';
  if (on('CONFIG_MODVERSIONS')) s += 'modversions ';
  // RANDSTRUCT kernels append a hash of a seed that is not in .config: refuse to guess.
  if (on('CONFIG_RANDSTRUCT') || on('CONFIG_GCC_PLUGIN_RANDSTRUCT')) throw new Error(`${release}: RANDSTRUCT kernels are not supported`);
  return s;
}
