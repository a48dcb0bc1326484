/** The command table: a thin edge over the library in src/. */
import { createRequire } from 'node:module';
import { type CommandContext, UsageError } from './commands/context.ts';
import { redact } from './util/redact.ts';
import { commands } from './commands/index.ts';

const version: string = createRequire(import.meta.url)('../package.json').version;


async function help(): Promise<string> {
  const names = Object.keys(commands).sort();
  const width = Math.max(...names.map((n) => n.length));
  const rows = await Promise.all(names.map(async (n) => `  ${n.padEnd(width)}  ${(await commands[n]()).summary}`));
  return [
    `nbdforge ${version}: build, verify, publish and install nbd.ko; map and export disk images`,
    '',
    'Usage: nbdforge <command> [options]   (nbdforge <command> --help for details)',
    '',
    'Commands:',
    ...rows,
    '',
    'Global options: --home DIR (state root, env NBDFORGE_HOME), --store DIR, --cache DIR, --json',
  ].join('\n');
}

export async function main(argv: string[], ctx: Partial<CommandContext> = {}): Promise<number> {
  const full: CommandContext = { env: process.env, stdout: process.stdout, stderr: process.stderr, version, ...ctx };
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    full.stdout.write((await help()) + '\n');
    return name ? 0 : 2;
  }
  if (name === '--version') {
    full.stdout.write(version + '\n');
    return 0;
  }
  const load = commands[name];
  if (!load) {
    full.stderr.write(`nbdforge: unknown command "${name}"\n\n${await help()}\n`);
    return 2;
  }
  const cmd = await load();
  if (rest.includes('--help') || rest.includes('-h')) {
    full.stdout.write(`${cmd.summary}\n\n${cmd.usage}\n`);
    return 0;
  }
  try {
    return await cmd.run(rest, full);
  } catch (err) {
    const e = err as Error;
    if (e instanceof UsageError) {
      full.stderr.write(redact(`nbdforge ${name}: ${e.message}\n`));
      return 2;
    }
    // The message is written for a person (what, where, what to try); class names stay out of it.
    full.stderr.write(redact(`nbdforge ${name}: ${e.message}\n`));
    if (e.cause instanceof Error && !e.message.includes(e.cause.message)) full.stderr.write(redact(`  caused by: ${e.cause.message}\n`));
    if (full.env.NBDFORGE_DEBUG) full.stderr.write(redact(`${e.stack}\n`));
    // An error may say which part of the contract it is: 2 the user's input, 3 refused with nothing touched.
    const code = (e as { exitCode?: unknown }).exitCode;
    return code === 2 || code === 3 ? code : 1;
  }
}
