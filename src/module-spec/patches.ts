/**
 * Source patch rules (kernels/patches/<id>.json): an identifier-for-identifier edit of one module
 * source, applied only when the source uses the old name and the kernel tree defines the new one.
 * The host loads and checks the rules and hashes their files (they join the build key); the
 * builder container decides and applies them (containers/common/apply-patches.sh), since only it has
 * the kbuild tree, and reports which applied.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { KERNELS_DIR, type ModuleSpec } from './module-spec.ts';
import { sha256 } from '../util/hash.ts';

export interface PatchRule {
  id: string;
  description: string;
  /** Module names the rule is written for. */
  modules: string[];
  /** Path inside the kernel tree; one of the module's sources. */
  file: string;
  when: {
    /** The source uses this identifier (as a whole word). */
    sourceContains: string;
    /** The tree's include/ mentions this identifier in a header (as a whole word). */
    treeDefines: string;
  };
  edit: { replaceWord: string; with: string };
  /** sha256 of the rule file's bytes. */
  sha256: string;
}

export const PATCHES_DIR = path.join(KERNELS_DIR, 'patches');

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ID = /^[a-z0-9][a-z0-9-]*$/;

export function parsePatchRule(text: string, where: string): PatchRule {
  const bad = (why: string): never => {
    throw new Error(`${where}: ${why}`);
  };
  let r: Partial<PatchRule>;
  try {
    r = JSON.parse(text) as Partial<PatchRule>;
  } catch (err) {
    throw new Error(`${where}: not JSON`, { cause: err });
  }
  if (!r || typeof r !== 'object') bad('not an object');
  if (typeof r.id !== 'string' || !ID.test(r.id)) bad('"id" must be lower-case letters, digits and dashes');
  if (!Array.isArray(r.modules) || r.modules.length === 0 || !r.modules.every((m) => typeof m === 'string')) bad('"modules" must list module names');
  if (typeof r.file !== 'string' || r.file.startsWith('/') || r.file.split('/').includes('..')) bad('"file" must be a path inside the tree');
  for (const [k, v] of [
    ['when.sourceContains', r.when?.sourceContains],
    ['when.treeDefines', r.when?.treeDefines],
    ['edit.replaceWord', r.edit?.replaceWord],
    ['edit.with', r.edit?.with],
  ] as const) {
    if (typeof v !== 'string' || !IDENT.test(v)) bad(`"${k}" must be a C identifier`);
  }
  return {
    id: r.id!,
    description: typeof r.description === 'string' ? r.description : '',
    modules: r.modules!,
    file: r.file!,
    when: { sourceContains: r.when!.sourceContains, treeDefines: r.when!.treeDefines },
    edit: { replaceWord: r.edit!.replaceWord, with: r.edit!.with },
    sha256: sha256(text),
  };
}

/**
 * The rules a module spec names that can apply to it, read and checked. A named rule that is missing
 * or malformed is an error; one written for other modules, or for a file that is not among this
 * module's sources (a spec derived from another one), cannot apply and is left out.
 * Synchronous on purpose: a family's recipe is a pure function of its inputs and the rule files are
 * a few hundred bytes.
 */
export function loadPatchRules(module: ModuleSpec, dir = PATCHES_DIR): PatchRule[] {
  const rules = module.patchRules.map((id) => {
    if (!ID.test(id)) throw new Error(`module ${module.name}: bad patch rule id "${id}"`);
    const file = path.join(dir, `${id}.json`);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new Error(`module ${module.name}: patch rule "${id}" not found (${file})`, { cause: err });
    }
    const rule = parsePatchRule(text, file);
    if (rule.id !== id) throw new Error(`${file}: "id" is "${rule.id}", expected "${id}"`);
    return rule;
  });
  return rules.filter((r) => r.modules.includes(module.name) && module.sources.includes(r.file));
}

/** id -> sha256 of the rule file: the build key's `patches`. */
export function patchRuleHashes(rules: PatchRule[]): Record<string, string> {
  return Object.fromEntries(rules.map((r) => [r.id, r.sha256]));
}

/** The PATCH_RULES environment value apply-patches.sh reads: one rule a line, tab-separated. */
export function encodePatchRules(rules: PatchRule[]): string {
  return rules.map((r) => [r.id, r.file, r.when.sourceContains, r.when.treeDefines, r.edit.replaceWord, r.edit.with].join('\t')).join('\n');
}

/** The ids a build reported as applied (the container's patches.txt), each checked against the rules given. */
export function parseApplied(text: string, rules: PatchRule[]): PatchRule[] {
  const ids = text.split('\n').map((l) => l.trim()).filter(Boolean);
  return ids.map((id) => {
    const r = rules.find((x) => x.id === id);
    if (!r) throw new Error(`the build reported patch rule "${id}", which it was not given`);
    return r;
  });
}
