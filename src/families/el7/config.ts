/**
 * The el7 family's settings, read once from the environment at the edge (the family factory):
 *   NBDFORGE_EL7_DATA     a folder shaped like kernels/el7 (releases.json + key file): a site's own
 *                         re-signed mirror, or the tests' key. Default: the shipped kernels/el7.
 *   NBDFORGE_EL7_VAULT    vault base for `kernels sync` without --vault and for the builder's yum
 *                         (default: releases.json's defaultVault, https://vault.centos.org).
 *   NBDFORGE_EL7_BASE     builder base image; `{release}` is replaced by the point release
 *                         (default centos:{release}). An air-gapped site names its `docker import`ed root here.
 *   NBDFORGE_EL7_BUILDER  `standin` selects containers/el7-standin (Debian 12, tests only).
 *   NBDFORGE_DEBIAN_BASE  base of the stand-in (default debian:bookworm).
 */
export interface El7FamilyConfig {
  dataDir?: string;
  vault?: string;
  baseImage: string;
  builder: 'centos' | 'standin';
  standinBase: string;
}

export function el7ConfigFromEnv(env: NodeJS.ProcessEnv): El7FamilyConfig {
  const builder = env.NBDFORGE_EL7_BUILDER ?? 'centos';
  if (builder !== 'centos' && builder !== 'standin') throw new Error(`NBDFORGE_EL7_BUILDER must be "centos" or "standin", got "${builder}"`);
  return {
    dataDir: env.NBDFORGE_EL7_DATA || undefined,
    vault: env.NBDFORGE_EL7_VAULT || undefined,
    baseImage: env.NBDFORGE_EL7_BASE || 'centos:{release}',
    builder,
    standinBase: env.NBDFORGE_DEBIAN_BASE ?? 'debian:bookworm',
  };
}
