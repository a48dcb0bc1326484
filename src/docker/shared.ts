import os from 'node:os';
import { type ContainerInfo, type Engine, LABEL } from './engine.ts';
import { execIn, type ExecSpec } from './kept.ts';
import { canonicalJson, sha256 } from '../util/hash.ts';

/**
 * A builder container kept between nbdforge processes (issue 20 item 2): one per builder image id,
 * binds and tmpfs, found by a name made of their hash, checked by inspect before each reuse, and ending
 * itself once no build ran in it for `idleSeconds` (AutoRemove). A later `build --force` within that
 * window pays one exec instead of create + start + remove (`npm run bench -- container`).
 */
export interface SharedSpec {
  /** The image's tag (what the container is created from) and its id (what the key and the check use). */
  image: string;
  imageId: string;
  /** host path -> container path[:ro]; the results directory's bind among them */
  binds: string[];
  tmpfs: Record<string, string>;
  labels?: Record<string, string>;
  idleSeconds: number;
  /** A glob (inside the container) of the results directories its builds leave: removed when it ends. */
  resultsGlob: string;
}

export interface SharedContainer {
  readonly id: string;
  /** Found running (true) or created by this call (false). */
  readonly reused: boolean;
  exec(spec: ExecSpec, signal?: AbortSignal): Promise<{ output: string }>;
  /** Still running? (false when it ended or is gone: an exec that failed then raced its end) */
  running(): Promise<boolean>;
  /** Remove it now (an abort: the exec dies with it; a build of another process using it starts again elsewhere). */
  kill(): Promise<void>;
}

/** The label every shared builder carries: the hash its name is made of; the reaper judges these by state, not by pid. */
export const SHARED_LABEL = `${LABEL}.shared`;

/**
 * The container's first process: idle until no build ran for $1 seconds (a build marks itself in
 * /run/nbdforge/active/<its shell's pid>, a mark whose process is gone does not count, and pokes at its
 * end), then remove its builds' results directories ($2, a glob) and end; on docker stop, the same.
 */
const IDLE = `idle=$1; glob=$2; d=/run/nbdforge; mkdir -p $d/active
bye() { rm -rf $glob; exit 0; }
trap bye TERM INT
n=0
while [ "$n" -lt "$idle" ]; do
  sleep 1 & wait $!
  busy=
  for f in $d/active/*; do
    [ -e "$f" ] || continue
    if [ -d "/proc/\${f##*/}" ]; then busy=1; else rm -f "$f"; fi
  done
  if [ -n "$busy" ] || [ -e $d/poke ]; then rm -f $d/poke; n=0; else n=$((n + 1)); fi
done
bye`;

/**
 * Where a build's WORK is (/work/<id>) shows in the module's debug info and so in its build id: mapped
 * back to /work, the module is byte-identical to one built in a container of its own (WORK=/work).
 */
export const SAME_BYTES = 'export KCFLAGS="${KCFLAGS:+$KCFLAGS }-fdebug-prefix-map=$WORK=/work"';

/** What each build runs in a shared builder: marked busy, a WORK of its own, removed afterwards whatever happened. */
export const SHARED_WRAP = `d=/run/nbdforge; mkdir -p $d/active; : > "$d/active/$$"; ${SAME_BYTES}; rm -rf "$WORK"; mkdir -p "$WORK" "$OUT"; "$@"; rc=$?; rm -rf "$WORK"; : > $d/poke; rm -f "$d/active/$$"; exit $rc`;

/** The hash a shared builder is known by: what it was made from, and the scripts it runs (the results glob follows from the binds). */
export function sharedKey(spec: Omit<SharedSpec, 'resultsGlob'>): string {
  return sha256(canonicalJson({ image: spec.imageId, binds: spec.binds, tmpfs: spec.tmpfs, idle: spec.idleSeconds, scripts: [IDLE, SHARED_WRAP] }));
}

const sameList = (a: string[] | null | undefined, b: string[]) => canonicalJson([...(a ?? [])].sort()) === canonicalJson([...b].sort());

/** Is this container the builder the spec asks for (its key label, image id, binds, tmpfs, no network)? */
export function matchesSpec(info: ContainerInfo, spec: SharedSpec, key: string): boolean {
  return (
    info.Config.Labels?.[SHARED_LABEL] === key &&
    info.Image === spec.imageId &&
    info.HostConfig.NetworkMode === 'none' &&
    sameList(info.HostConfig.Binds, spec.binds) &&
    canonicalJson(info.HostConfig.Tmpfs ?? {}) === canonicalJson(spec.tmpfs)
  );
}

const statusOf = (err: unknown) => (err as { statusCode?: number }).statusCode;
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function inspectOrNone(docker: Engine, name: string): Promise<ContainerInfo | undefined> {
  try {
    return await docker.getContainer(name).inspect();
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    throw err;
  }
}

/**
 * The running shared builder for `spec`, or a new one. Its name is fixed by the key, so two processes
 * asking at once make one (the second create fails with 409 and finds the first's). A container under
 * that name that does not match the spec is never used; one that ended is removed first.
 */
export async function sharedContainer(docker: Engine, spec: SharedSpec, waits = { createdMs: 10_000, totalMs: 60_000 }): Promise<SharedContainer> {
  const key = sharedKey(spec);
  const name = `${LABEL}-builder-${key.slice(0, 16)}`;
  const t0 = Date.now();
  let createdSince: number | undefined;
  while (Date.now() - t0 < waits.totalMs) {
    const info = await inspectOrNone(docker, name);
    if (info?.State.Running) {
      if (!matchesSpec(info, spec, key)) throw new Error(`the container ${name} is not the builder its name says (image, binds, tmpfs or network differ): remove it (docker rm -f ${name}) or build with NBDFORGE_BUILDER_IDLE=0`);
      return handle(docker, info.Id, true);
    }
    if (info?.State.Status === 'created') {
      // another process created it and is starting it; one left 'created' that long was abandoned (its
      // creator killed between create and start: AutoRemove never applies to a container never started)
      createdSince ??= Date.now();
      if (Date.now() - createdSince < waits.createdMs) {
        await pause(100);
        continue;
      }
    }
    createdSince = undefined;
    if (info) await docker.getContainer(info.Id).remove({ force: true }).catch(() => undefined);
    let c;
    try {
      c = await docker.createContainer({
        name,
        Image: spec.image,
        Cmd: ['sh', '-c', IDLE, 'nbdforge-builder', String(spec.idleSeconds), spec.resultsGlob],
        // its own role and key whatever the build's labels say: no owner pid, the reaper judges it by state
        Labels: { ...spec.labels, [LABEL]: '1', [`${LABEL}.host`]: os.hostname(), [`${LABEL}.role`]: 'builder', [SHARED_LABEL]: key },
        HostConfig: { Binds: spec.binds, Tmpfs: spec.tmpfs, NetworkMode: 'none', AutoRemove: true },
      });
    } catch (err) {
      if (statusOf(err) === 409) continue; // made by another process meanwhile (or still being removed)
      throw err;
    }
    try {
      await c.start();
    } catch (err) {
      if (statusOf(err) === 404) continue; // removed under us (taken for abandoned by another process): ask again
      await c.remove({ force: true }).catch(() => undefined); // never leave a container that was not started
      throw err;
    }
    return handle(docker, c.id, false);
  }
  throw new Error(`no shared builder ${name}: it kept changing while asked for (${Math.round(waits.totalMs / 1000)} s)`);
}

function handle(docker: Engine, id: string, reused: boolean): SharedContainer {
  const c = docker.getContainer(id);
  return {
    id,
    reused,
    exec: (e, signal) => execIn(c, e, signal),
    running: () => c.inspect().then((i) => i.State.Running, () => false),
    kill: () => c.remove({ force: true }).then(() => undefined, () => undefined),
  };
}
