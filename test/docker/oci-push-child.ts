/**
 * Runs one oci publish in its own process, as `nbdforge publish` would, so a test can kill it with
 * SIGKILL midway. argv: STORE_DIR SPEC KERNEL[,KERNEL...]. Prints the outcomes as JSON.
 */
import { createTarget } from '../../src/publish/oci/index.ts';
import { resolvePaths } from '../../src/paths.ts';
import { itemsFrom } from './oci-registry.ts';

const [storeDir, spec, kernels] = process.argv.slice(2);
const items = await itemsFrom(storeDir, kernels.split(','));
const target = createTarget(spec, { family: 'debian12', env: process.env, paths: resolvePaths(process.env, { store: storeDir }) });
await target.check(items);
const out = await target.publish(items, () => {});
process.stdout.write(JSON.stringify(out) + '\n');
