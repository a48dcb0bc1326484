/** One line per command: lazy imports keep start-up fast. */
import { registerCommand } from '../cli.ts';

registerCommand('kernels', async () => (await import('./kernels.ts')).default);
registerCommand('build', async () => (await import('./build.ts')).default);
registerCommand('matrix', async () => (await import('./matrix.ts')).default);
registerCommand('cleanup', async () => (await import('./cleanup.ts')).default);
registerCommand('prepare-host', async () => (await import('./prepare-host.ts')).default);
registerCommand('map', async () => (await import('./map.ts')).default);
registerCommand('unmap', async () => (await import('./unmap.ts')).default);
registerCommand('export', async () => (await import('./export.ts')).default);
registerCommand('compose', async () => (await import('./compose.ts')).default);
registerCommand('decompose', async () => (await import('./decompose.ts')).default);
