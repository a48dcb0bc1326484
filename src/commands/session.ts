import { setMaxListeners } from 'node:events';
import { closeEngine, connectEngine, type Engine } from '../docker/engine.ts';
import { dockerContainers, onceImages } from '../docker/containers.ts';
import type { FamilyContext } from '../families/family.ts';
import type { Paths } from '../paths.ts';
import { netOptionsFrom } from './net-options.ts';

/**
 * A command's run: the engine connection and an abort signal tied to Ctrl-C / SIGTERM. The first
 * signal aborts (containers are killed and removed by their owners); a second one exits at once.
 */
export async function openSession(
  paths: Paths,
  env: NodeJS.ProcessEnv,
  log?: (l: string) => void,
  /** --timeout and --json of the command (NBDFORGE_TIMEOUT otherwise); waiting lines go to stderr. */
  net: { timeout?: string; json?: boolean } = {},
): Promise<FamilyContext & { docker: Engine; close(): void }> {
  const netOptions = netOptionsFrom(net, { env, stderr: process.stderr }, { progress: false });
  const docker = await connectEngine(env);
  const ac = new AbortController();
  // Every request of a sync or a matrix listens on this one signal.
  setMaxListeners(256, ac.signal);
  let hits = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    hits++;
    if (hits > 1) process.exit(130);
    process.stderr.write(`\n${sig}: stopping, removing containers (again to force)\n`);
    ac.abort(new Error(`interrupted by ${sig}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    docker,
    // one command's run: each builder image is ensured once (see onceImages)
    containers: onceImages(dockerContainers(docker)),
    paths,
    signal: ac.signal,
    log,
    net: netOptions,
    close() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      closeEngine(docker);
    },
  };
}
