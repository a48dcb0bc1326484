import http from 'node:http';
import { imageTagWith, type BuiltImage, type ImageSpec } from './image.ts';

/**
 * The engine's image inspection without dockerode: one GET per image over the engine's Unix socket.
 * A build or matrix whose artifacts are stored needs only the builder image's id (it is part of the
 * build key); dockerode with ssh2 and protobufjs takes a few hundred ms to load, more than the whole
 * cached run. Only for a local socket (DOCKER_HOST unset or unix://); anything else, any error or
 * any surprise answer returns undefined and the caller takes the full door (engine.ts), which says
 * what is wrong in its own words.
 */
const MAX_BODY = 4 << 20;
const TIMEOUT_MS = 10_000;
const IMAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,255}$/;

function socketOf(env: NodeJS.ProcessEnv): string | undefined {
  const host = env.DOCKER_HOST;
  if (!host) return '/var/run/docker.sock';
  return host.startsWith('unix://') && host.length > 7 ? host.slice(7) : undefined;
}

/** An image's id, undefined when the engine says it has no such image; throws on anything else. */
function inspectId(socketPath: string, name: string): Promise<string | undefined> {
  if (!IMAGE_NAME.test(name)) return Promise.reject(new Error(`not an image name: ${name}`));
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath, path: `/images/${name}/json`, timeout: TIMEOUT_MS, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY) req.destroy(new Error('engine answer too large'));
        else chunks.push(c);
      });
      res.on('end', () => {
        if (res.statusCode === 404) return resolve(undefined);
        if (res.statusCode !== 200) return reject(new Error(`engine answered ${res.statusCode}`));
        try {
          const id = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { Id?: unknown }).Id;
          if (typeof id === 'string' && /^sha256:[0-9a-f]{64}$/.test(id)) resolve(id);
          else reject(new Error('engine answer without an image id'));
        } catch (err) {
          reject(err as Error);
        }
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('engine did not answer')));
    req.on('error', reject);
  });
}

/** The builder image when it already exists under its content tag (as ensureImage would find it), else undefined. */
export async function existingImage(env: NodeJS.ProcessEnv, spec: ImageSpec): Promise<BuiltImage | undefined> {
  const socketPath = socketOf(env);
  if (!socketPath) return undefined;
  try {
    const ask = (name: string) => inspectId(socketPath, name);
    const tag = await imageTagWith(ask, spec);
    const id = await ask(tag);
    return id ? { tag, id, built: false } : undefined;
  } catch {
    return undefined;
  }
}
