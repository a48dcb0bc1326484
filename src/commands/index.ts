/** The command table: one line per command; lazy imports keep start-up fast. */
import type { Command } from './context.ts';

export const commands: Record<string, () => Promise<Command>> = {
  kernels: async () => (await import('./kernels.ts')).default,
  build: async () => (await import('./build.ts')).default,
  matrix: async () => (await import('./matrix.ts')).default,
  cleanup: async () => (await import('./cleanup.ts')).default,
  'prepare-host': async () => (await import('./prepare-host.ts')).default,
  map: async () => (await import('./map.ts')).default,
  unmap: async () => (await import('./unmap.ts')).default,
  export: async () => (await import('./export.ts')).default,
  publish: async () => (await import('./publish.ts')).default,
  store: async () => (await import('./store.ts')).default,
  ci: async () => (await import('./ci.ts')).default,
  pull: async () => (await import('./pull.ts')).default,
  'kmm-module': async () => (await import('./kmm-module.ts')).default,
  compose: async () => (await import('./compose.ts')).default,
  decompose: async () => (await import('./decompose.ts')).default,
};
