import path from 'node:path';
import { setMaxListeners } from 'node:events';
import { closeEngine, connectEngine, type Engine } from '../docker/engine.ts';
import { dockerContainers, onceImages, type Containers } from '../docker/containers.ts';
import { recordedImages } from '../docker/image-record.ts';
import { existingImage } from '../docker/light.ts';
import type { FamilyContext } from '../families/family.ts';
import type { Paths } from '../paths.ts';
import { netOptionsFrom } from './net-options.ts';

/** Where the builder image ids of earlier runs are recorded (see docker/image-record.ts). */
export const imageRecordFile = (paths: Paths) => path.join(paths.cache, 'builder-images.json');

/**
 * A command's run: the engine connection and an abort signal tied to Ctrl-C / SIGTERM. The first
 * signal aborts (containers are killed and removed by their owners); a second one exits at once.
 * The engine is connected on the first container or image asked for, so a run answered from caches
 * (a fresh catalog, a stored build) needs none.
 */
export async function openSession(
  paths: Paths,
  env: NodeJS.ProcessEnv,
  log?: (l: string) => void,
  /** --timeout and --json of the command (NBDFORGE_TIMEOUT otherwise); waiting lines go to stderr. */
  net: { timeout?: string; json?: boolean } = {},
): Promise<FamilyContext & { close(): void }> {
  const netOptions = netOptionsFrom(net, { env, stderr: process.stderr }, { progress: false });
  let engine: Promise<Engine> | undefined;
  let connected: Engine | undefined;
  const connect = () =>
    (engine ??= connectEngine(env).then(
      (e) => (connected = e),
      (err) => {
        engine = undefined;
        throw err;
      },
    ));
  const lazy: Containers = {
    // an image that exists is found without loading dockerode (docker/light.ts): a stored build's whole need
    ensureImage: async (spec, onLog) => (await existingImage(env, spec)) ?? dockerContainers(await connect()).ensureImage(spec, onLog),
    run: async (spec) => dockerContainers(await connect()).run(spec),
    keep: async (spec) => dockerContainers(await connect()).keep!(spec),
    shared: async (spec) => dockerContainers(await connect()).shared!(spec),
  };
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
    // one command's run: each builder image is ensured once (see onceImages)
    containers: onceImages(recordedImages(lazy, imageRecordFile(paths), log)),
    paths,
    signal: ac.signal,
    log,
    net: netOptions,
    close() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      if (connected) closeEngine(connected);
    },
  };
}
