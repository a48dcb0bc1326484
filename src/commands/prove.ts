import os from 'node:os';
import { type Command, parse, pathsFrom, UsageError } from './context.ts';
import { familyOf } from './family-arg.ts';
import { DEFAULT_FAMILY, getFamily, familyNames } from '../families/index.ts';
import { openSession } from './session.ts';
import { DirStore } from '../artifacts/dir-store.ts';
import { isSafeName } from '../artifacts/store-layout.ts';
import { readStoredProof } from '../artifacts/proof-record.ts';
import { proveEntries, proofsJson, reportProofs } from './run-proofs.ts';
import { positiveInt, proveOptions, proveUsage, proofsOptionsFrom } from './prove-options.ts';

const usage = `Usage: nbdforge prove [--family F] [--kernels a,b | --all | --missing] [--jobs N] [--force] [--accel auto|kvm|tcg] [--timeout S] [--json]

Proves stored modules in their own kernels. For each artifact, the family supplies the kernel it was
built for (debian12: the linux-image package its catalog pins by sha256; el7: the kernel RPM its
catalog pins by the signed repodata's sha256, RPM signature checked like kernel-devel's; vmlinuz and
the package's own module tree without its nbd), a QEMU guest boots it with an initramfs made from
the host's busybox-static, dash, kmod and qemu-nbd, and there:
  boot, insmod of the store's exact bytes (signature and taint recorded), write a 16 MiB
  pseudo-random pattern through /dev/nbd0 (qemu-nbd serving an image in the guest), drop caches,
  read it back with O_DIRECT and compare, disconnect (the served image must hold the pattern),
  partition scan of a small GPT disk (nbd0p1 appears with its size), rmmod, and a kernel log with
  no oops, WARNING, BUG or version mismatch and no taint beyond an unsigned out-of-tree module's.
A proven artifact gets proof.json beside it (its sha256 in the manifest). Proofs are cached by
module sha256 + kernel package sha256 + proof version: asking again costs no boot. A failed proof
names the check and is never stored. A kernel its family cannot supply (el7: a catalog synced
before it recorded kernel RPMs; run kernels sync again) leaves the artifact unproven and says so.

Options:
  --family F        ${familyNames().join(' | ')} (default ${DEFAULT_FAMILY})
  --kernels a,b     these kernel releases (each must have an artifact in the store)
  --all             every artifact of the family in the store (the default)
  --missing         only artifacts without a valid proof in the store
  --module M        the module's artifacts (default nbd)
${proveUsage}
  --json            machine-readable result on stdout

Host needs: qemu-system-x86_64, qemu-nbd, busybox (busybox-static), dash, kmod, cpio, dpkg-deb;
el7 also rpm2cpio and rpmkeys (the rpm package).
KVM is used when a trial guest runs under it (remembered per host kernel and QEMU version), TCG
otherwise; the proof records which. nbdforge matrix --prove builds and proves in one run.

Examples:
  nbdforge prove --kernels 6.1.0-57-amd64
  nbdforge prove --missing --jobs 2
  nbdforge prove --family el7 --kernels 3.10.0-1160.119.1.el7.x86_64
  nbdforge prove --json | jq '.kernels[] | {kernelRelease, status}'

Exit status: 0 every selected artifact proven (or its proof cached), 1 a proof failed or could not
be made (the check or the reason is named), 2 usage.`;

const prove: Command = {
  summary: 'Prove stored modules in their own kernels (QEMU guest: insmod, real I/O through /dev/nbd0, rmmod)',
  usage,
  async run(argv, ctx) {
    const family = getFamily(familyOf(argv), ctx.env);
    const { values } = parse(argv, {
      family: { type: 'string', default: DEFAULT_FAMILY },
      kernels: { type: 'string' },
      all: { type: 'boolean', default: false },
      missing: { type: 'boolean', default: false },
      module: { type: 'string', default: 'nbd' },
      ...proveOptions,
    });
    if ([values.kernels !== undefined, values.all, values.missing].filter(Boolean).length > 1) throw new UsageError('use one of --kernels, --all, --missing');
    if (!isSafeName(values.module)) throw new UsageError(`--module ${JSON.stringify(values.module)} is not a module name`);
    const wanted = values.kernels?.split(',').map((s) => s.trim()).filter(Boolean);
    for (const k of wanted ?? []) if (!isSafeName(k)) throw new UsageError(`--kernels: ${JSON.stringify(k)} is not a kernel release`);
    const o = proofsOptionsFrom(values, positiveInt('jobs', values.jobs) ?? os.availableParallelism());
    const paths = pathsFrom(values, ctx.env, { write: ['cache', 'store'] });
    const store = new DirStore(paths.store);
    let entries = await store.list({ family: family.name, module: values.module });
    if (wanted) {
      const missing = wanted.filter((k) => !entries.some((e) => e.kernelRelease === k));
      if (missing.length) throw new UsageError(`no ${family.name} ${values.module} artifact for ${missing.join(', ')} in ${paths.store} (build it first: nbdforge build --family ${family.name} --kernel ${missing[0]})`);
      entries = wanted.map((k) => entries.find((e) => e.kernelRelease === k)!);
    }
    if (values.missing) {
      const without = [];
      for (const e of entries) if (!(await readStoredProof(paths.store, e).catch(() => undefined))) without.push(e);
      entries = without;
    }
    if (entries.length === 0) {
      ctx.stderr.write(values.missing ? `nothing to prove: every ${family.name} artifact in ${paths.store} has its proof\n` : `no ${family.name} ${values.module} artifact in ${paths.store} (nbdforge build or matrix first)\n`);
      if (values.json) ctx.stdout.write(JSON.stringify(proofsJson({ results: [], wallMs: 0, ok: true }, paths.store), null, 2) + '\n');
      return values.missing ? 0 : 1;
    }
    const session = await openSession(paths, ctx.env, (l) => ctx.stderr.write(`  ${l.trimEnd()}\n`), { json: values.json });
    try {
      // a kernel's package comes from the catalog (the cached one while fresh: no engine needed);
      // a family that cannot boot its kernels needs none (every artifact ends unproven)
      const catalog = family.bootKernel ? (await family.catalog(session)).kernels : [];
      const run = await proveEntries(o, entries, { family, session, store, catalog, cacheRoot: paths.cache, toolVersion: ctx.version }, ctx);
      if (values.json) ctx.stdout.write(JSON.stringify(proofsJson(run, paths.store), null, 2) + '\n');
      else reportProofs(run, paths.store, ctx);
      return run.ok ? 0 : 1;
    } finally {
      session.close();
    }
  },
};
export default prove;
