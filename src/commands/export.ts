import { type Command, parse, UsageError } from './context.ts';
import { resolveExport } from '../map/plan-export.ts';
import { runExport, runUnmap, exportLines } from '../map/run.ts';
import { seenHere } from '../map/image-refs.ts';
import { targetOptions, targetFrom, targetPath, finish, TARGET_USAGE, generatorOf } from './host-cli.ts';

const usage = `Usage: nbdforge export IMAGE [--socket PATH [--socket-group G] | --bind ADDR [--port N]] [--rw]
                      [--persistent] [--shared N] [--format F] [--allow-external PATH]... [--shared-ro] [--json]
       nbdforge export --stop IMAGE | --stop --all

Serves the image with qemu-nbd (in the background, journaled like a map) and prints the URL and the
qemu -drive line that use it. NBD has no authentication, so by default only root can connect: a
Unix socket in its own 0700 directory under /run/nbdforge, read-only. Image locks are honoured (an
image a running VM holds is refused), and so are nbdforge's own maps: one writer per image. The
image's format and references are checked as map checks them. --stop (or nbdforge unmap IMAGE)
stops the server cleanly; it removes the socket, never a file that is not one.

Options:
  --socket PATH     the Unix socket (refused if anything exists at PATH); made 0600
  --socket-group G  members of group G may connect too (socket 0660, its directory 0750)
  --bind ADDR       serve TCP on ADDR (a name is resolved on the host first): every local user can
                    connect, and anyone who reaches ADDR when it is not loopback (warned)
  --port N          TCP port (default 10809; alone, it means --bind 127.0.0.1)
  --rw              accept writes (refused while the image is mapped or exported elsewhere, or a
                    block device the host has mounted, holds or has open)
  --read-only       the default (kept for scripts)
  --persistent      keep serving after the first client disconnects
  --shared N        clients at once (default 1, 0 = unlimited)
  --format F        as for map (from the name, checked against the header; never probed)
  --allow-external PATH  a file outside the image's directory one of its layers may reference
  --shared-ro       share the image with other read-only maps/exports
  --stop            stop the server(s) for IMAGE, or all with --all
${TARGET_USAGE}

Examples:
  nbdforge export vm.qcow2
  nbdforge export vm.qcow2 --stop
  nbdforge export --stop --all

Exit status: 0 serving (or stopped), 1 failed (what was done is undone), 2 usage, 3 refused (nothing done).`;

/** Ports and counts: decimal digits only (Number() would take 0x50, 1e3, ' 80' and ''). */
function decimal(flag: string, text: string): number {
  if (!/^[0-9]{1,9}$/.test(text)) throw new UsageError(`${flag} must be a decimal number, got ${JSON.stringify(text)}`);
  return Number(text);
}

const exportCommand: Command = {
  summary: 'Serve a disk image over NBD with qemu-nbd (loopback by default); --stop ends it',
  usage,
  async run(argv, ctx) {
    const { values, positionals } = parse(
      argv,
      {
        ...targetOptions,
        bind: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '10809' },
        socket: { type: 'string' },
        persistent: { type: 'boolean', default: false },
        shared: { type: 'string', default: '1' },
        'read-only': { type: 'boolean', default: false },
        rw: { type: 'boolean', default: false },
        'socket-group': { type: 'string' },
        'allow-external': { type: 'string', multiple: true },
        'shared-ro': { type: 'boolean', default: false },
        format: { type: 'string' },
        stop: { type: 'boolean', default: false },
        all: { type: 'boolean', default: false },
      },
      true,
    );
    const t = targetFrom(values, ctx, 'export');
    if (values.stop) {
      if (values.all ? positionals.length !== 0 : positionals.length !== 1) throw new UsageError('--stop takes one IMAGE, or --all');
      const out = await runUnmap(t.runner, t.stateDir, values.all ? { all: true } : { image: targetPath(positionals[0], t, 'IMAGE') }, t.mode, generatorOf(ctx.version, 'export', argv));
      return finish(ctx, t, out, values.json!, () => `${(out.summary ?? ['stopped']).join('\n')}\n`, () => ({ summary: out.summary }));
    }
    if (positionals.length !== 1) throw new UsageError('give exactly one IMAGE');
    const given = (o: string) => argv.some((a) => a === o || a.startsWith(`${o}=`));
    const tcp = given('--port') || given('--bind');
    if (values.socket !== undefined && tcp) throw new UsageError('--socket and --bind/--port exclude each other');
    if (values.rw && values['read-only']) throw new UsageError('--rw and --read-only exclude each other');
    if (values.rw && values['shared-ro']) throw new UsageError('--shared-ro goes with read-only exports, not --rw');
    const e = resolveExport({
      image: targetPath(positionals[0], t, 'IMAGE'),
      format: values.format,
      bind: values.bind!,
      port: decimal('--port', values.port!),
      socket: values.socket,
      persistent: values.persistent!,
      shared: decimal('--shared', values.shared!),
      readOnly: !values.rw,
      stateDir: t.stateDir,
      tcp,
      socketGroup: values['socket-group'],
      allowExternal: (values['allow-external'] ?? []).map((a) => (/^[^/]*:/.test(a) ? a : targetPath(a, t, '--allow-external'))),
      sharedRo: values['shared-ro'],
      seen: t.remote || values['dry-run'] ? undefined : await seenHere(targetPath(positionals[0], t, 'IMAGE'), values.format, values['allow-external']),
    });
    if (e.exposed)
      ctx.stderr.write(
        `nbdforge export: WARNING: --bind ${e.bind}${/^[0-9.:a-fA-F]+$/.test(e.bind) ? '' : ' (a name: resolved on the host, and served there even when it is not loopback)'} exposes ${e.image} ${e.readOnly ? 'read-only' : 'READ-WRITE'} on port ${e.port} to every host that can reach this address, ` +
          `without authentication (NBD has none); bind 127.0.0.1 and tunnel (ssh -L) unless that is what you want\n`,
      );
    const out = await runExport(t.runner, e, t.mode, generatorOf(ctx.version, 'export', argv));
    return finish(ctx, t, out, values.json!, () => `${exportLines(e).join('\n')}\n`, () => ({ url: e.url, drive: e.drive, exposed: e.exposed, export: out.state }));
  },
};
export default exportCommand;
