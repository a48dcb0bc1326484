/**
 * An el family's bootable kernel for `nbdforge prove`: the binary kernel RPM the catalog pins by
 * the signed repodata's sha256 (kernel-<v>.x86_64.rpm), fetched and checked exactly as kernel-devel
 * is (sha256 and size, then its RPM signature by the family's key), then unpacked once on the host
 * into derived/boot-<sha256>: only boot/vmlinuz-<release> and lib/modules/<release>/, through the
 * checked cpio reader (cpio-extract.ts), its own nbd (if any) removed and depmod run.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { BootKernel, FamilyContext } from '../family.ts';
import { NoBootKernelError } from '../family.ts';
import type { GuestKernel } from '../../guest/kernel.ts';
import { withFileLock } from '../../util/file-lock.ts';
import { fetchElFile, type ElData, type ElKernelEntry } from './catalog/index.ts';
import { extractCpio, PayloadError } from './cpio-extract.ts';
import { runTool, SLOW_TOOL_MS } from '../../doors/exec.ts';

/** The derived directory a kernel RPM is unpacked into (cache du names it). */
export const elBootKernelDir = (derived: string, rpmSha256: string) => path.join(derived, `boot-${rpmSha256}`);

export interface ElBootKernelOptions {
  cacheDir: string;
  derived: string;
  data: () => Promise<ElData>;
}

/** What the catalog file says about the kernel RPM, checked (the file is read from disk: untrusted). */
function pinned(kernel: ElKernelEntry): NonNullable<ElKernelEntry['kernelRpm']> {
  const f = kernel.kernelRpm;
  const sync = `run: nbdforge kernels sync --family ${kernel.family}`;
  if (!f) throw new NoBootKernelError(`unproven: no bootable kernel in the ${kernel.family} catalog for ${kernel.kernelRelease} (no kernel RPM recorded; ${sync})`);
  const ok =
    /^[0-9a-f]{64}$/.test(f.sha256) &&
    Number.isSafeInteger(f.size) && f.size > 0 &&
    typeof f.path === 'string' && !f.path.startsWith('/') && !f.path.split('/').includes('..') &&
    /^[\w.+-]{1,255}\.rpm$/.test(f.filename) && typeof f.url === 'string' && typeof f.version === 'string';
  if (!ok) throw new NoBootKernelError(`unproven: the ${kernel.family} catalog's kernel RPM entry for ${kernel.kernelRelease} is malformed (${sync})`);
  return f;
}

export function supplyElBootKernel(ctx: FamilyContext, kernel: ElKernelEntry, o: ElBootKernelOptions): BootKernel {
  const f = pinned(kernel);
  return { package: { name: f.name, version: f.version, sha256: f.sha256 }, unpack: () => unpack(ctx, kernel, f, o) };
}

async function unpack(ctx: FamilyContext, kernel: ElKernelEntry, f: NonNullable<ElKernelEntry['kernelRpm']>, o: ElBootKernelOptions): Promise<GuestKernel> {
  const { guestKernelAt, unpackKernelWith } = await import('../../guest/kernel.ts');
  const release = kernel.kernelRelease;
  const dest = elBootKernelDir(o.derived, f.sha256);
  if (await fs.access(path.join(dest, '.complete')).then(() => true, () => false)) return guestKernelAt(dest, release);
  const data = await o.data();
  ctx.log?.(`kernel: ${f.filename} (sha256 from signed repodata, RPM signature)`);
  const rpm = await fetchElFile(f, { cacheDir: o.cacheDir, keyFile: data.keyFile, fingerprint: data.fingerprint, signal: ctx.signal, net: ctx.net });
  await fs.mkdir(o.derived, { recursive: true });
  // Two proofs of one kernel (prove --jobs) share one unpack.
  return withFileLock(`${dest}.lock`, () =>
    unpackKernelWith(dest, release, f.filename, async (tmp) => {
      const cpio = `${tmp}.cpio`;
      try {
        await rpm2cpio(rpm, cpio, f.filename);
        const modules = `lib/modules/${release}/`;
        await extractCpio(cpio, tmp, { what: f.filename, want: (n) => n === `boot/vmlinuz-${release}` || n.startsWith(modules) });
      } finally {
        await fs.rm(cpio, { force: true });
      }
    }),
  );
}

/** The RPM's payload, decompressed by rpm2cpio (from the rpm package the el families need for rpmkeys), into a file (made here, 0600, exclusively). */
async function rpm2cpio(rpm: string, out: string, what: string): Promise<void> {
  await (await fs.open(out, 'wx', 0o600)).close();
  const r = await runTool('sh', ['-c', 'command -v rpm2cpio >/dev/null || exit 127; exec rpm2cpio "$1" > "$2"', 'sh', rpm, out], { timeoutMs: SLOW_TOOL_MS }).catch((e: Error) => {
    throw new PayloadError(`cannot unpack ${what}: rpm2cpio could not run (${e.message})`, { cause: e });
  });
  if (r.code === 127) throw new PayloadError(`cannot unpack ${what}: rpm2cpio could not run (not found); install the rpm package`);
  if (r.code !== 0) throw new PayloadError(`cannot unpack ${what}: rpm2cpio exit ${r.code}: ${r.stderr.trim().split('\n').pop() ?? ''}`);
}
