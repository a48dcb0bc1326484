import path from 'node:path';
import { type Command, parse, pathsFrom, locationProblem, UsageError } from './context.ts';
import { DirStore } from '../artifacts/dir-store.ts';
import { PublishRecords } from '../publish/records.ts';
import { selectItems } from '../publish/select.ts';
import { createTargetFor, knownForms, kindOf } from '../publish/targets.ts';
import { publishKeyFrom, publishKeyOptions, publishKeyUsage } from './sign-options.ts';
import { runPublish, type PublishSummary, type PublishEvent } from '../publish/publish.ts';
import { PublishRefusedError } from '../publish/errors.ts';
import type { PublishTarget } from '../publish/target.ts';
import { netOptionsFrom, timeoutHelp, timeoutOption } from './net-options.ts';

const usage = `Usage: nbdforge publish --to TARGET [--to TARGET...] [--family F] [--kernels a,b | --all]
                       (--gpg-key KEYID | --unsigned) [--valid-for DAYS] [--prune-foreign]
                       [--url URL] [--insecure] [--timeout S] [--json]

Publishes modules already in the store (it never builds) where hosts take them. Before anything is
sent, every module is re-hashed against its manifest. The store records what went where
(<store>/publish-records.json), so a re-run sends only what a target lacks.

A module proven in its own kernel (nbdforge prove; proof.json beside it, named by its manifest) goes
out with its proof to every target: dir (beside the module and named in the signed index;
install.sh checks it), oci (labels io.nbdforge.proof and proof-sha256, proof.json in the .nbdforge
companion), apt and yum (/usr/share/doc/<package>/proof.json and a line in the description). The
output says per artifact whether it went out proven ("proven in K on D key K12" or "unproven";
--json: proven, proof); one proven since it was published goes out again. A proof that does not
match its artifact refuses the publish (exit 3, nothing sent).

Targets in this build: ${knownForms().join(', ')}
  dir:PATH       a tree for any static web server: index.json (signed with --gpg-key, with a serial
                 and an expiry hosts check), the modules (copied to kernels/<release>/ too, which
                 install.sh fetches with the index in one curl run), install.sh (POSIX sh:
                 curl -fsSL URL/install.sh | sh) and SHA256SUMS (unsigned: it proves nothing
                 fetched from the same place; the signed index.json does). The index is rebuilt
                 from the store and the publish records; anything else found in PATH is refused
                 (exit 3) or, with --prune-foreign, moved into PATH/.nbdforge-foreign/. A run that
                 fails part-way (a full disk) removes what it wrote and puts back what it replaced:
                 PATH is left as the last successful run left it.

Options:
  --to T         where to publish (repeatable)
  --family F     only this family's artifacts (default: all in the store)
  --kernels a,b  only these kernel releases (refused, naming what the store has, if one is missing)
  --all          every artifact of the selection (the default)
  --module M     module spec (default nbd)
${publishKeyUsage}
  --url URL      where a dir target will be served: install.sh then needs no --from
  --insecure     allow plain http to a registry that is not on a loopback address
${timeoutHelp(17)}
  --json         summary as JSON on stdout

apt:DIR and yum:DIR are rebuilt from the store and the publish records on every run: only packages
nbdforge wrote there (re-hashed against its records) are indexed; --valid-for sets apt's Release
Valid-Until, and only --unsigned makes an apt nbdforge.sources say Trusted: yes (which turns off
apt's signature check for the repository); --prune-foreign moves their foreign files into
TARGET/.nbdforge-foreign-<time>/. A run that fails part-way (a full
disk) leaves the repository as the last successful run left it: everything is staged inside the
target and renamed into place at the end, and what was replaced is put back on failure.

Examples:
  nbdforge publish --to dir:/srv/www/nbd --gpg-key ops@example.org --url https://mirror.example.org/nbd
  nbdforge publish --to yum:/srv/repo/el7 --family el7 --gpg-key ops@example.org
  nbdforge publish --to oci://127.0.0.1:5000/nbd --unsigned --kernels 6.1.0-57-amd64

Exit status: 0 published or nothing to publish, 1 a target failed (one too slow too), 2 usage, 3 refused
(nothing sent or recorded; a registry that does not answer /v2/ within the bounds is refused).`;

const publish: Command = {
  summary: 'Publish stored modules to a directory (and install.sh), repositories or registries',
  usage,
  async run(argv, ctx) {
    const { values } = parse(argv, {
      to: { type: 'string', multiple: true },
      family: { type: 'string' },
      kernels: { type: 'string' },
      all: { type: 'boolean', default: false },
      module: { type: 'string', default: 'nbd' },
      ...publishKeyOptions,
      url: { type: 'string' },
      insecure: { type: 'boolean', default: false },
      ...timeoutOption,
    });
    const net = netOptionsFrom(values, ctx);
    const tos = values.to ?? [];
    if (tos.length === 0) throw new UsageError(`--to is required (${knownForms().join(' | ')})`);
    if (values.kernels && values.all) throw new UsageError('use --kernels or --all, not both');
    const kernels = values.kernels?.split(',').map((s) => s.trim()).filter(Boolean);
    if (values.kernels !== undefined && !kernels?.length) throw new UsageError('--kernels needs at least one kernel release');
    for (const to of tos) {
      kindOf(to);
      // a directory target that is a file, below one or unwritable: said before any work (exit 2)
      const dir = /^(?:dir|yum|apt):(.+)$/.exec(to)?.[1];
      const problem = dir && locationProblem(path.resolve(dir), true);
      if (problem) throw new UsageError(`--to ${to}: ${path.resolve(dir)} ${problem.replace('(nbdforge creates it when missing)', '(publish creates it when missing)')}`);
    }
    const key = await publishKeyFrom(values, ctx.env);
    const paths = pathsFrom(values, ctx.env);
    const say = (s: string) => {
      if (!values.json) ctx.stderr.write(`${s}\n`);
    };
    try {
      const store = new DirStore(paths.store);
      const items = await selectItems(store, { family: values.family, kernels, module: values.module });
      const families = [...new Set(items.map((i) => i.entry.family))];
      const targets: Array<{ family: string; target: PublishTarget }> = [];
      // One target per family: a family declares its own package channel (yum or apt).
      for (const to of tos)
        for (const family of families)
          targets.push({ family, target: await createTargetFor(to, { family, ...key, insecure: values.insecure, baseUrl: values.url, env: ctx.env, paths, net }) });
      let summary: PublishSummary = { ok: true, nothingToPublish: true, targets: [], bytesSent: 0, ms: 0 };
      const records = new PublishRecords(paths.store);
      const tty = ctx.stderr.isTTY && !values.json;
      for (let f = 0; f < families.length; f++) {
        const s = await runPublish({
          targets: targets.filter((t) => t.family === families[f]).map((t) => t.target),
          items: items.filter((i) => i.entry.family === families[f]),
          records,
          signer: values['gpg-key'] ?? '',
          progress: tty ? (e) => ctx.stderr.write(progressLine(e)) : undefined,
        });
        summary = merge(summary, s);
      }
      if (values.json) ctx.stdout.write(JSON.stringify({ store: paths.store, ...summary }, null, 2) + '\n');
      else report(summary, ctx.stdout);
      return summary.ok ? 0 : 1;
    } catch (err) {
      if (err instanceof PublishRefusedError) {
        if (values.json) ctx.stdout.write(JSON.stringify({ ok: false, refused: err.message }, null, 2) + '\n');
        say(`nbdforge publish: refused: ${err.message}`);
        return 3;
      }
      throw err;
    }
  },
};
export default publish;

function merge(a: PublishSummary, b: PublishSummary): PublishSummary {
  return { ok: a.ok && b.ok, nothingToPublish: a.nothingToPublish && b.nothingToPublish, targets: [...a.targets, ...b.targets], bytesSent: a.bytesSent + b.bytesSent, ms: a.ms + b.ms };
}

const size = (n: number) => (n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(1)} MiB`);

function progressLine(e: PublishEvent): string {
  return `  ${e.target}  ${e.kernelRelease}  ${e.stage}${e.bytes !== undefined ? ` (${size(e.bytes)})` : ''}\n`;
}

function report(s: PublishSummary, out: NodeJS.WritableStream): void {
  if (s.nothingToPublish) {
    const n = s.targets.reduce((k, t) => k + t.upToDate.length, 0);
    out.write(`nothing to publish: ${s.targets.map((t) => t.target).join(', ')} already ${s.targets.length === 1 ? "has" : "have"} the ${n} selected artifact${n === 1 ? '' : 's'} (${s.ms} ms)\n`);
    return;
  }
  for (const t of s.targets) {
    for (const p of t.published) out.write(`${t.target}  ${p.kernelRelease}  published  ${p.ref}  ${size(p.bytesSent)}  ${p.proof ?? 'unproven (no proof in its own kernel)'}\n`);
    if (t.upToDate.length) out.write(`${t.target}  already there: ${t.upToDate.join(', ')}\n`);
    if (t.error) out.write(`${t.target}  FAILED: ${t.error}\n`);
    for (const n of t.notes ?? []) out.write(`  ${n}\n`);
  }
  const n = s.targets.reduce((k, t) => k + t.published.length, 0);
  out.write(`published ${n} artifact${n === 1 ? '' : 's'} to ${new Set(s.targets.map((t) => t.target)).size} target(s), ${size(s.bytesSent)} sent in ${(s.ms / 1000).toFixed(2)} s\n`);
}
