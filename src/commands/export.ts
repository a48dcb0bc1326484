import { type Command, parse, UsageError } from './context.ts';
import { resolveExport } from '../map/plan-export.ts';
import { runExport, runUnmap, exportLines } from '../map/run.ts';
import { MapRequestError } from '../map/request.ts';
import { targetOptions, targetFrom, targetPath, finish, TARGET_USAGE } from '../map/cli-common.ts';

const usage = `Usage: nbdforge export IMAGE [--bind 127.0.0.1] [--port 10809 | --socket PATH] [--persistent]
                      [--shared N] [--read-only] [--format F] [--json]
       nbdforge export --stop IMAGE | --stop --all

Serves the image with qemu-nbd (in the background, journaled like a map) and prints the nbd:// URL
and the qemu -drive line that use it. Bound to the loopback interface unless --bind says otherwise
(NBD has no authentication: binding elsewhere prints a warning). Image locks are honoured: an image
a running VM holds is refused. --stop (or nbdforge unmap IMAGE) stops the server cleanly.

Options:
  --bind ADDR       listen address (default 127.0.0.1)
  --port N          TCP port (default 10809)
  --socket PATH     a Unix socket instead of TCP
  --persistent      keep serving after the first client disconnects
  --shared N        clients at once (default 1, 0 = unlimited)
  --read-only       refuse writes
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
        format: { type: 'string' },
        stop: { type: 'boolean', default: false },
        all: { type: 'boolean', default: false },
      },
      true,
    );
    const t = targetFrom(values, ctx, 'export');
    try {
      if (values.stop) {
        if (values.all ? positionals.length !== 0 : positionals.length !== 1) throw new UsageError('--stop takes one IMAGE, or --all');
        const out = await runUnmap(t.runner, t.stateDir, values.all ? { all: true } : { image: targetPath(positionals[0], t, 'IMAGE') }, t.mode, `nbdforge ${ctx.version} export --stop`);
        return finish(ctx, t, out, values.json!, () => `${(out.summary ?? ['stopped']).join('\n')}\n`, () => ({ summary: out.summary }));
      }
      if (positionals.length !== 1) throw new UsageError('give exactly one IMAGE');
      if (values.socket !== undefined && argv.some((a) => a === '--port' || a.startsWith('--port='))) throw new UsageError('--port and --socket exclude each other');
      const e = resolveExport({
        image: targetPath(positionals[0], t, 'IMAGE'),
        format: values.format,
        bind: values.bind!,
        port: decimal('--port', values.port!),
        socket: values.socket,
        persistent: values.persistent!,
        shared: decimal('--shared', values.shared!),
        readOnly: values['read-only']!,
        stateDir: t.stateDir,
      });
      if (e.exposed)
        ctx.stderr.write(
          `nbdforge export: WARNING: --bind ${e.bind} exposes ${e.image} ${e.readOnly ? 'read-only' : 'READ-WRITE'} on port ${e.port} to every host that can reach this address, ` +
            `without authentication (NBD has none); bind 127.0.0.1 and tunnel (ssh -L) unless that is what you want\n`,
        );
      const out = await runExport(t.runner, e, t.mode, `nbdforge ${ctx.version} export`);
      return finish(ctx, t, out, values.json!, () => `${exportLines(e).join('\n')}\n`, () => ({ url: e.url, drive: e.drive, exposed: e.exposed, export: out.state }));
    } catch (err) {
      if (err instanceof MapRequestError) throw new UsageError((err as Error).message);
      throw err;
    }
  },
};
export default exportCommand;
