import Docker from 'dockerode';
import { EngineUnreachableError } from './errors.ts';

/** The narrow slice of dockerode the rest of nbdforge uses; tests and callers depend on this. */
export type Engine = Docker;

export const LABEL = 'nbdforge';

/** Connect and ping, so an engine that is not running is reported once, with what to do. */
export async function connectEngine(env: NodeJS.ProcessEnv): Promise<Engine> {
  const docker = new Docker(env.DOCKER_HOST ? undefined : { socketPath: '/var/run/docker.sock' });
  try {
    await docker.ping();
  } catch (err) {
    const where = env.DOCKER_HOST ?? '/var/run/docker.sock';
    throw new EngineUnreachableError(
      `Docker engine unreachable at ${where} (${(err as Error).message}). ` +
        'Start it with `npm run setup` (installs docker.io and starts dockerd when needed) or `sudo dockerd &`.',
      { cause: err },
    );
  }
  return docker;
}

/** Remove containers nbdforge created that are still around (after a crash or a kill -9). */
export async function removeLeftoverContainers(docker: Engine): Promise<string[]> {
  const list = await docker.listContainers({ all: true, filters: { label: [LABEL] } });
  await Promise.all(list.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
  return list.map((c) => c.Id);
}
