/**
 * The command table: one line per command. Summaries and groups live here so `nbdforge --help`
 * loads no command's code; each command's own module is imported only when it runs (lazy imports
 * keep start-up fast). test/unit/cli-table.test.ts checks each summary against its module's.
 */
import type { Command } from './context.ts';

export type Group = 'build' | 'publish' | 'hosts' | 'images';

export interface Entry {
  group: Group;
  summary: string;
  load: () => Promise<Command>;
}

export const commands: Record<string, Entry> = {
  kernels: { group: 'build', summary: 'List (or sync) the kernels a family can build for', load: async () => (await import('./kernels.ts')).default },
  build: { group: 'build', summary: 'Build, verify and store a module for one kernel', load: async () => (await import('./build.ts')).default },
  matrix: { group: 'build', summary: 'Build, verify and store a module for many kernels', load: async () => (await import('./matrix.ts')).default },
  prove: { group: 'build', summary: 'Prove stored modules in their own kernels (QEMU guest: insmod, real I/O through /dev/nbd0, rmmod)', load: async () => (await import('./prove.ts')).default },
  store: { group: 'build', summary: 'Work on artifact stores: merge stores built apart into one', load: async () => (await import('./store.ts')).default },
  ci: { group: 'build', summary: 'Write a CI workflow (GitHub Actions) that builds missing kernels in shards, merges and publishes', load: async () => (await import('./ci.ts')).default },
  cache: { group: 'build', summary: 'Show what the download cache holds per kernel (du), remove what no stored artifact needs (prune)', load: async () => (await import('./cache.ts')).default },
  cleanup: { group: 'build', summary: 'Remove containers and build scratch left behind by killed or crashed runs', load: async () => (await import('./cleanup.ts')).default },
  publish: { group: 'publish', summary: 'Publish stored modules to a directory (and install.sh), repositories or registries', load: async () => (await import('./publish.ts')).default },
  pull: { group: 'publish', summary: 'Fetch a published module image, verify it and store the artifact', load: async () => (await import('./pull.ts')).default },
  'kmm-module': { group: 'publish', summary: 'Write the KMM Module resource for a published image repository', load: async () => (await import('./kmm-module.ts')).default },
  compat: { group: 'build', summary: 'Which other kernels of an el family could load each stored module (import CRCs vs Module.symvers)', load: async () => (await import('./compat.ts')).default },
  'prepare-host': { group: 'hosts', summary: 'Install and load the stored nbd.ko on this host (or over ssh, or as a script)', load: async () => (await import('./prepare-host.ts')).default },
  map: { group: 'images', summary: 'Map a disk image: nbd or loop device, partitions, LVM, mounts (journaled)', load: async () => (await import('./map.ts')).default },
  unmap: { group: 'images', summary: 'Undo a map or export exactly, from its journal (also after kill -9 or a reboot)', load: async () => (await import('./unmap.ts')).default },
  export: { group: 'images', summary: 'Serve a disk image over NBD with qemu-nbd (loopback by default); --stop ends it', load: async () => (await import('./export.ts')).default },
  compose: { group: 'images', summary: 'Present an unpartitioned volume as a partitioned disk (device-mapper, journaled) or as a sparse file', load: async () => (await import('./compose.ts')).default },
  decompose: { group: 'images', summary: 'Take a composite apart exactly, from its journal (also after kill -9 or a reboot)', load: async () => (await import('./decompose.ts')).default },
};

export const GROUPS: Record<Group, string> = {
  build: 'Build modules',
  publish: 'Publish them',
  hosts: 'Install them on hosts',
  images: 'Use them: disk images',
};
