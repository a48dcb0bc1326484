/** What every bench script (`npm run bench -- NAME [--runs N] ...`) reads from its command line, read one way. */

/** The value after `--NAME` in `args` (the script's own arguments), or undefined when not given. */
export function opt(name: string, args = process.argv.slice(2)): string | undefined {
  return args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : undefined;
}

/** The middle value (the upper of the two middle ones for an even count). */
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
