/**
 * Registry credentials and the two challenge schemes of the distribution API. Credentials come from
 * NBDFORGE_REGISTRY_USERNAME/PASSWORD or from a docker config's `auths` entry for the registry
 * (the file `docker login` writes); credential helpers are not run. Read once, at the edge.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RegistryError } from './errors.ts';

export interface Credentials {
  username: string;
  password: string;
  /** Where they came from, for error messages (never the secret itself). */
  source: string;
}

const MAX_CONFIG = 1 << 20;

export function credentialsFor(registry: string, env: NodeJS.ProcessEnv): Credentials | undefined {
  if (env.NBDFORGE_REGISTRY_USERNAME && env.NBDFORGE_REGISTRY_PASSWORD !== undefined) {
    return { username: env.NBDFORGE_REGISTRY_USERNAME, password: env.NBDFORGE_REGISTRY_PASSWORD, source: 'NBDFORGE_REGISTRY_USERNAME/PASSWORD' };
  }
  const file = path.join(env.DOCKER_CONFIG ?? path.join(env.HOME ?? os.homedir(), '.docker'), 'config.json');
  let text: string;
  try {
    if (fs.statSync(file).size > MAX_CONFIG) return undefined;
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  let auths: Record<string, { auth?: unknown }>;
  try {
    auths = (JSON.parse(text) as { auths?: Record<string, { auth?: unknown }> }).auths ?? {};
  } catch {
    throw new RegistryError(`${file}: not valid JSON; fix or remove it (it is read for ${registry} credentials)`);
  }
  for (const key of [registry, `http://${registry}`, `https://${registry}`]) {
    const auth = auths[key]?.auth;
    if (typeof auth !== 'string') continue;
    const plain = Buffer.from(auth, 'base64').toString('utf8');
    const colon = plain.indexOf(':');
    if (colon > 0) return { username: plain.slice(0, colon), password: plain.slice(colon + 1), source: file };
  }
  return undefined;
}

export interface Challenge {
  scheme: 'basic' | 'bearer';
  params: Record<string, string>;
}

/** Parse `WWW-Authenticate: Bearer realm="...",service="...",scope="..."` (or Basic). */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*(basic|bearer)\b(.*)$/i.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  for (const p of m[2].matchAll(/([a-zA-Z_]+)="([^"]*)"/g)) params[p[1].toLowerCase()] = p[2];
  return { scheme: m[1].toLowerCase() as Challenge['scheme'], params };
}

export function basicHeader(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}
