/**
 * The set-up the vm map tests share: a share directory of their own, the real nbd.ko built for the
 * newest test kernel, a guest with the map modules and tools, made side by side with whatever the
 * test prepares on the share (images); then the test's sh files copied in from test/vm/map/.
 */
import { fs, path, os } from 'zx';
import { prepareGuest, testReleases, type Guest } from '../../../scripts/vm/harness.ts';
import { MAP_MODULES, MAP_TOOLS } from '../../../scripts/vm/make-map-images.ts';
import { emitInto, artifactFor, ROOT } from '../helpers.ts';

export interface MapShare<T> {
  newest: string;
  share: string;
  guest: Guest;
  /** What `alongside` made. */
  made: T;
  /** `nbdforge ARGS... --emit-script SHARE/FILE`, which must succeed. */
  emit: (file: string, ...args: string[]) => Promise<void>;
}

export async function mapShare<T = undefined>(o: {
  /** Names the share directory (nbdforge-vm-TAG-...). */
  tag: string;
  /** Guest tools beyond MAP_TOOLS. */
  tools?: string[];
  /** Files of test/vm/map/ copied onto the share. */
  scripts?: string[];
  /** Made while the module is built and the guest prepared. */
  alongside?: (share: string, newest: string) => Promise<T>;
}): Promise<MapShare<T>> {
  const { newest } = await testReleases();
  const share = await fs.mkdtemp(path.join(os.tmpdir(), `nbdforge-vm-${o.tag}-`));
  const [ko, guest, made] = await Promise.all([
    artifactFor(newest).then((a) => a.bytes),
    prepareGuest({ release: newest, modules: MAP_MODULES, tools: [...MAP_TOOLS, ...(o.tools ?? [])] }),
    o.alongside ? o.alongside(share, newest) : (undefined as T),
  ]);
  await fs.writeFile(path.join(share, 'nbd.ko'), ko);
  for (const f of o.scripts ?? []) await fs.copy(path.join(ROOT, 'test/vm/map', f), path.join(share, f));
  return { newest, share, guest, made, emit: (file, ...args) => emitInto(share, file, ...args) };
}

/** The after-hook: the share is removed unless NBDFORGE_KEEP_VM_SHARE asks to keep it for a look. */
export async function dropShare(share: string): Promise<void> {
  if (share && !process.env.NBDFORGE_KEEP_VM_SHARE) await fs.remove(share);
}
