/**
 * What a proof's guest finds in /share: the module's exact bytes, the data to write, a small GPT
 * disk, the script and its parameters. They travel as a second cpio archive appended to the kernel's
 * cached initramfs (the kernel unpacks both), so no 9p is needed: Debian's cloud kernels have none.
 * The host keeps the expected values; the guest only reports, on its console.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { shell } from '../doors/exec.ts';
import { randomBytes, randomUUID } from 'node:crypto';
import { computeLayout, SECTOR } from '../compose/layout.ts';
import { writeGpt } from '../compose/gpt.ts';
import { sha256 } from '../util/hash.ts';
import { PATTERN_MIB } from './verdict.ts';

const SCRIPT = new URL('./guest/prove.sh', import.meta.url);
const LINUX_FS = '0fc63daf-8483-4772-8e79-3d69d8477de4';

export interface Share {
  /** The initramfs to boot: the kernel's own with /share appended. */
  initrd: string;
  script: string;
  patternSha256: string;
  partSectors: number;
}

/** A GPT disk of one partition of `bytes` (1 MiB aligned), as bytes; and the partition's size in sectors. */
export function gptImage(bytes = 2 << 20): { image: Buffer; partSectors: number } {
  const l = computeLayout('gpt', bytes);
  const t = writeGpt(l, { diskGuid: randomUUID(), partGuid: randomUUID(), typeGuid: LINUX_FS, name: 'nbdforge-prove' });
  const image = Buffer.alloc(l.totalSectors * SECTOR);
  t.head.copy(image, 0);
  t.tail.copy(image, (l.totalSectors - l.tailSectors) * SECTOR);
  return { image, partSectors: l.partLast - l.partFirst + 1 };
}

/** Module names go into a shell file: only what modinfo's depends= may hold. */
const MODULE_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** Write the share into `work` (a fresh directory the caller removes) and the initrd to boot. */
export async function writeShare(work: string, baseInitramfs: string, module: Buffer, deps: string[]): Promise<Share> {
  for (const d of deps) if (!MODULE_NAME.test(d)) throw new Error(`the module names a dependency that is not a module name: ${JSON.stringify(d.slice(0, 64))}`);
  const dir = path.join(work, 'share');
  await fs.mkdir(dir);
  const pattern = randomBytes(PATTERN_MIB << 20);
  const gpt = gptImage();
  await fs.writeFile(path.join(dir, 'nbd.ko'), module);
  await fs.writeFile(path.join(dir, 'pattern.bin'), pattern);
  await fs.writeFile(path.join(dir, 'gpt.img'), gpt.image);
  await fs.copyFile(SCRIPT, path.join(dir, 'prove.sh'));
  const env = { MODULE_SHA: sha256(module), PATTERN_SHA: sha256(pattern), PATTERN_MIB: String(PATTERN_MIB), PART_SECTORS: String(gpt.partSectors), DEPS: deps.join(' ') };
  await fs.writeFile(path.join(dir, 'prove.env'), Object.entries(env).map(([k, v]) => `${k}='${v}'\n`).join(''));
  return { initrd: await initrdWithShare(work, baseInitramfs), script: 'prove.sh', patternSha256: env.PATTERN_SHA, partSectors: gpt.partSectors };
}

/** `<work>/initrd.cpio`: the cached initramfs with `<work>/share` appended as a second archive (newc archives concatenate). */
export async function initrdWithShare(work: string, baseInitramfs: string): Promise<string> {
  const initrd = path.join(work, 'initrd.cpio');
  await fs.copyFile(baseInitramfs, initrd);
  await shell({ cwd: work })`find share -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet >> ${initrd}`;
  return initrd;
}
