/** The command table: a thin edge over the library in src/. */
import { createRequire } from 'node:module';
import type { CommandContext } from './commands/context.ts';
import { NbdforgeError, UsageError } from './errors.ts';
import { redact } from './util/redact.ts';
import { commands, GROUPS, type Group } from './commands/index.ts';
import { didYouMean } from './util/suggest.ts';

const version: string = createRequire(import.meta.url)('../package.json').version;


/** The global help, grouped by job, ending with the CentOS 7 recipe. Loads no command's code. */
function help(): string {
  const names = Object.keys(commands);
  const width = Math.max(...names.map((n) => n.length));
  const groups = (Object.keys(GROUPS) as Group[]).flatMap((g) => [
    `${GROUPS[g]}:`,
    ...names.filter((n) => commands[n].group === g).map((n) => `  ${n.padEnd(width)}  ${commands[n].summary}`),
    '',
  ]);
  return [
    `nbdforge ${version}: build, verify, publish and install nbd.ko; map and export disk images`,
    '',
    'Usage: nbdforge <command> [options]   (nbdforge help <command> for its options and examples)',
    '',
    ...groups,
    'Global options: --home DIR (state root, env NBDFORGE_HOME), --store DIR, --cache DIR, --json',
    '',
    'Stock CentOS 7 (CONFIG_BLK_DEV_NBD unset), from a machine with Docker to the host:',
    '  nbdforge kernels sync --family el7 --vault URL|DIR',
    '  nbdforge build --family el7 --kernel 3.10.0-1160.119.1.el7.x86_64',
    '  nbdforge publish --to dir:/srv/nbd --gpg-key KEY          (or yum:DIR for a repository)',
    '  nbdforge prepare-host --from http://SERVER/nbd --fingerprint FPR --kernel 3.10.0-1160.119.1.el7.x86_64 --emit-script prepare.sh',
    '  ssh root@centos7-host sh < prepare.sh                     (no Node, no compiler on the host)',
  ].join('\n');
}

export async function main(argv: string[], ctx: Partial<CommandContext> = {}): Promise<number> {
  const full: CommandContext = { env: process.env, stdout: process.stdout, stderr: process.stderr, version, ...ctx };
  const [first, ...after] = argv;
  if (first === '--version' || first === '-V' || first === '-v' || first === 'version') {
    full.stdout.write(version + '\n');
    return 0;
  }
  // `nbdforge help CMD` is `nbdforge CMD --help`
  const [name, ...rest] = first === 'help' && after[0] && !after[0].startsWith('-') ? [after[0], '--help'] : argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    full.stdout.write(help() + '\n');
    return name ? 0 : 2;
  }
  const entry = commands[name];
  if (!entry) {
    const hint = didYouMean(name, Object.keys(commands));
    full.stderr.write(`nbdforge: unknown command "${name}"${hint}; nbdforge --help lists them\n`);
    return 2;
  }
  const cmd = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    full.stdout.write(`${cmd.summary}\n\n${cmd.usage}\n`);
    return 0;
  }
  try {
    return await cmd.run(rest, full);
  } catch (err) {
    say(name, err as Error, full);
    // The one place an error becomes an exit code: nbdforge's own carry theirs (2 the user's input,
    // 3 refused with nothing touched, 1 failed work); anything else is unexpected: 1.
    return err instanceof NbdforgeError ? err.exitCode : 1;
  }
}

/** An error on stderr: a usage error as one line; others with their cause, and a JavaScript error as the bug it is. */
function say(name: string, e: Error, ctx: CommandContext): void {
  if (e instanceof UsageError) {
    // one line and where the usage is, not the whole usage text
    const at = e.message.indexOf('\nUsage:');
    const msg = at < 0 ? e.message : `${e.message.slice(0, at).trimEnd()} (nbdforge ${name} --help shows the usage)`;
    ctx.stderr.write(redact(`nbdforge ${name}: ${msg}\n`));
    return;
  }
  // nbdforge's own errors speak for themselves; a JavaScript error is a bug, and says so
  const internal = e instanceof TypeError || e instanceof RangeError || e instanceof ReferenceError || e instanceof SyntaxError;
  ctx.stderr.write(redact(`nbdforge ${name}: ${internal ? `internal error (a bug: please report it with NBDFORGE_DEBUG=1 output): ${e.name}: ` : ''}${e.message}\n`));
  if (e.cause instanceof Error && !e.message.includes(e.cause.message)) ctx.stderr.write(redact(`  caused by: ${e.cause.message}\n`));
  if (ctx.env.NBDFORGE_DEBUG) ctx.stderr.write(redact(`${e.stack}\n`));
}
