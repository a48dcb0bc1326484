/**
 * What the debian12 pipeline tests set up alike: a store of their own in `storeDir` (the download
 * cache is shared with the main job: sources fetched once serve every run), the real engine, the
 * family, the nbd module spec and the archive's catalog.
 */
import { connectEngine } from '../../src/docker/engine.ts';
import { dockerContainers } from '../../src/docker/containers.ts';
import { getFamily } from '../../src/families/index.ts';
import { resolvePaths } from '../../src/paths.ts';
import { loadModuleSpec } from '../../src/module-spec/module-spec.ts';
import { DirStore } from '../../src/artifacts/dir-store.ts';

export async function debian12Setup(storeDir: string) {
  const paths = resolvePaths(process.env, { store: storeDir });
  const docker = await connectEngine(process.env);
  const family = getFamily('debian12', process.env);
  const ctx = { containers: dockerContainers(docker), paths };
  const store = new DirStore(storeDir);
  const nbd = await loadModuleSpec('nbd');
  const { kernels } = await family.catalog(ctx);
  return { paths, docker, family, ctx, store, nbd, kernels };
}
