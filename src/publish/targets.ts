/**
 * `--to` values to target modules. One line per kind; each module is imported only when used, so
 * a dir publish never loads the registry client and the other way round.
 */
import type { CreateTarget, PublishTarget, TargetOptions } from './target.ts';
import { TargetSpecError } from './errors.ts';

interface Kind {
  /** How the kind is written, for messages. */
  form: string;
  /** The part of the --to value handed to createTarget. */
  spec: (to: string) => string;
  load: () => Promise<{ createTarget: CreateTarget }>;
}

const after = (prefix: string) => (to: string) => to.slice(prefix.length);

const KINDS: Record<string, Kind> = {
  'dir:': { form: 'dir:PATH', spec: after('dir:'), load: () => import('./dir/index.ts') },
  'yum:': { form: 'yum:DIR', spec: after('yum:'), load: () => import('./yum/index.ts') },
  'apt:': { form: 'apt:DIR', spec: after('apt:'), load: () => import('./apt/index.ts') },
  'oci://': { form: 'oci://HOST[:PORT]/REPO', spec: (to) => to, load: () => import('./oci/index.ts') },
};

/** The target kinds this build knows, as users write them. */
export function knownForms(): string[] {
  return Object.values(KINDS).map((k) => k.form);
}

export function kindOf(to: string): Kind {
  const prefix = Object.keys(KINDS).find((p) => to.startsWith(p));
  if (!prefix) {
    const said = /^([a-z][a-z0-9+.-]*):/i.exec(to)?.[1];
    throw new TargetSpecError(
      `${said ? `unknown or unavailable target kind "${said}"` : `bad target ${JSON.stringify(to)}`}: --to takes ${knownForms().join(' | ')}`,
    );
  }
  return KINDS[prefix];
}

/** Resolve a --to value to its target (throws TargetSpecError for an unknown kind or empty spec). */
export async function createTargetFor(to: string, opts: TargetOptions): Promise<PublishTarget> {
  const kind = kindOf(to);
  const spec = kind.spec(to);
  if (!spec) throw new TargetSpecError(`--to ${to}: missing the part after the kind (${kind.form})`);
  return (await kind.load()).createTarget(spec, opts);
}
