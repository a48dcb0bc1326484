import fs from 'node:fs/promises';
import path from 'node:path';
import type { Family, FamilyContext, KernelEntry } from '../families/family.ts';
import type { ModuleSpec } from '../module-spec/module-spec.ts';
import { containersOf } from '../docker/containers.ts';
import { buildKey } from './key.ts';
import { loadPatchRules, patchRuleHashes, parseApplied, type PatchRule } from '../module-spec/patches.ts';
import { resolveBuild } from './resolve.ts';
import { readReferences, verifyAgainst } from './verify-module.ts';
import { DirStore, type IndexEntry } from '../artifacts/dir-store.ts';
import type { Check, Manifest } from '../artifacts/manifest.ts';
import { sha256, sha256File } from '../util/hash.ts';
import { makeScratch } from './scratch.ts';
import type { BuilderUse, Builders } from './kept-builders.ts';
import type { Signer } from './signer.ts';
import { signHashFromConfig } from './signer.ts';
import { signInContainer } from './sign-step.ts';
import { checkSignature, verifyModuleSignature } from '../verify/signature.ts';
import { NbdforgeError } from '../errors.ts';

/** `container`: creating and starting the build's container, until its first stage line; `collect`: from the
 * script's last line to its results copied out and the container removed. */
export type Stage = 'resolve' | 'image' | 'fetch' | 'container' | 'unpack-headers' | 'extract-source' | 'compile' | 'oracle' | 'collect' | 'verify' | 'sign' | 'store';

export interface BuildRequest {
  family: Family;
  kernelRelease: string;
  module: ModuleSpec;
  store: DirStore;
  force?: boolean;
  oracle?: boolean;
  toolVersion: string;
  /** The family's catalog when the caller already read it (a matrix reads it once, not per kernel). */
  catalog?: KernelEntry[];
  /** Size of the container's scratch tmpfs (kbuild tree + objects need about 100 MB). */
  scratchSize?: string;
  /** Sign the verified module with this key (its certificate's fingerprint joins the build key). */
  signer?: Signer;
  /** The module's patch rules when the caller already loaded them (a matrix loads them once). */
  patchRules?: PatchRule[];
  /** A matrix worker's kept builder or the builders kept between processes: a reentrant recipe runs in them instead of a container of its own. */
  builders?: Builders;
  onStage?: (stage: Stage) => void;
}

export interface BuildOutcome {
  kernelRelease: string;
  status: 'built' | 'cached';
  key: string;
  artifact: IndexEntry;
  manifest: Manifest;
  durationMs: number;
  /** Set when a stored artifact with this key was damaged or missing and this build replaced it. */
  repaired?: string;
  /** The shared builder the build ran in (see shared-builders.ts). */
  builder?: BuilderUse;
}

export class VerificationError extends NbdforgeError {
  override name = 'VerificationError';
  constructor(
    message: string,
    readonly checks: Check[],
  ) {
    super(message);
  }
}

/**
 * Resolve, then act: kernel -> recipe -> key; a stored artifact with that key ends the work.
 * Otherwise fetch sources, build in one container, verify, and store. Nothing is stored unless every
 * check passed; the scratch directory and the container are gone whatever happens.
 */
export { resolveKernel } from './resolve.ts';

export async function buildOne(ctx: FamilyContext, req: BuildRequest): Promise<BuildOutcome> {
  const t0 = Date.now();
  const stage = (s: Stage) => req.onStage?.(s);
  const oracle = req.oracle ?? true;
  stage('resolve');
  const plan = resolveBuild(req.family, ctx, req.catalog ?? (await req.family.catalog(ctx)).kernels, {
    kernelRelease: req.kernelRelease,
    module: req.module,
    oracle,
    patchRules: req.patchRules ?? loadPatchRules(req.module),
    signer: req.signer,
  });
  const { kernel, recipe, patchRules } = plan;
  const containers = containersOf(ctx);
  stage('image');
  const image = await containers.ensureImage(recipe.image, ctx.log);
  const key = buildKey({ kernel, module: req.module, patches: patchRuleHashes(patchRules), builderImageId: image.id, env: recipe.env, oracle: recipe.oracle, signer: req.signer?.cert.fingerprint });
  const hit = req.force ? undefined : await storedHit(req.store, key);
  if (hit && 'artifact' in hit) return { kernelRelease: kernel.kernelRelease, status: 'cached', key, ...hit, durationMs: Date.now() - t0 };
  const repaired = hit?.repaired;

  stage('fetch');
  await req.family.ensureSources(ctx, kernel, req.module);
  for (const b of recipe.binds) await fs.mkdir(b.split(':')[0], { recursive: true });

  const scratch = await makeScratch(kernel.kernelRelease);
  try {
    stage('container');
    const builder = (await runRecipe(ctx, containers, req, plan, image, scratch, stage)) ?? undefined;
    stage('verify');
    const verified = await verifyOutputs(req, plan, scratch);
    // Signing comes after every check passed, in a container of its own (see sign-step.ts).
    let signed: Signed = { file: path.join(scratch, verified.mod), signature: undefined };
    if (req.signer) {
      stage('sign');
      signed = await signVerified(ctx, containers, req.signer, plan, image, scratch, verified);
    }
    stage('store');
    const manifest = await manifestOf(req, plan, key, image, scratch, verified, signed, t0);
    const artifact = await req.store.put(manifest, { module: signed.file, debug: path.join(scratch, `${req.module.name}.debug.ko`) });
    return { kernelRelease: kernel.kernelRelease, status: 'built', key, artifact, manifest, durationMs: Date.now() - t0, ...(repaired ? { repaired } : {}), ...(builder ? { builder } : {}) };
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
}

type Plan = ReturnType<typeof resolveBuild>;
type Containers = ReturnType<typeof containersOf>;
type Image = Awaited<ReturnType<Containers['ensureImage']>>;
interface Verified {
  mod: string;
  ko: Buffer;
  checks: Check[];
  vermagic: string;
  config: Awaited<ReturnType<typeof readReferences>>['config'];
}
interface Signed {
  file: string;
  signature: Manifest['signature'];
}

/** A stored artifact with this key, re-hashed against its manifest (~100 KB): a damaged or missing one is rebuilt, never reported healthy. */
async function storedHit(store: DirStore, key: string): Promise<{ artifact: IndexEntry; manifest: Manifest } | { repaired: string } | undefined> {
  const hit = await store.findByKey(key);
  if (!hit) return undefined;
  const health = await store.verify(hit);
  if (health.ok) return { artifact: hit, manifest: health.manifest };
  return { repaired: `the stored artifact ${hit.dir} was damaged (${health.why}); rebuilt and replaced it` };
}

/** The recipe in a kept builder (a matrix worker's) or a container of its own; its results land in `scratch`. */
async function runRecipe(ctx: FamilyContext, containers: Containers, req: BuildRequest, { kernel, recipe }: Plan, image: Image, scratch: string, stage: (s: Stage) => void): Promise<BuilderUse | void> {
  const labels = { 'nbdforge.role': 'build', 'nbdforge.kernel': kernel.kernelRelease, 'nbdforge.module': req.module.name };
  const tmpfs = { '/work': `rw,exec,size=${req.scratchSize ?? '2g'}` };
  const onLine = (l: string) => {
    const m = /^@@stage (\S+)/.exec(l);
    if (m) stage(m[1] === 'done' ? 'collect' : (m[1] as Stage));
  };
  if (recipe.reentrant && req.builders?.available) {
    return req.builders.run({ image: image.tag, imageId: image.id, cmd: recipe.cmd, env: recipe.env, binds: recipe.binds, tmpfs, labels: { 'nbdforge.role': 'build', 'nbdforge.module': req.module.name }, onLine }, scratch);
  } else {
    // a reentrant recipe needs no network (its sources are fetched and bound): none saves the bridge's set-up
    await containers.run({ image: image.tag, cmd: recipe.cmd, env: recipe.env, binds: recipe.binds, tmpfs, labels, collect: { from: '/out', to: scratch }, signal: ctx.signal, onLine, ...(recipe.reentrant ? { network: 'none' as const } : {}) });
  }
}

/** Every output is there and the module passes every check against its kernel's references. */
async function verifyOutputs(req: BuildRequest, plan: Plan, scratch: string): Promise<Verified> {
  const { kernel, recipe } = plan;
  const out = (f: string) => path.join(scratch, f);
  const missing = [];
  for (const f of plan.outputs) if (!(await fs.stat(out(f)).catch(() => undefined))) missing.push(f);
  if (missing.length) throw new VerificationError(`the ${kernel.family} build of ${kernel.kernelRelease} left no ${missing.join(', ')} in /out; nothing stored`, []);
  const mod = `${req.module.name}.ko`;
  const ko = await fs.readFile(out(mod));
  const refs = await readReferences(scratch, recipe.oracle);
  const { checks, vermagic } = verifyAgainst(ko, kernel.kernelRelease, refs);
  const failed = checks.filter((c) => !c.ok);
  if (failed.length) {
    throw new VerificationError(
      `${req.module.name}.ko for ${kernel.kernelRelease} failed verification; nothing stored:\n` + failed.map((c) => `  ${c.name}: ${c.detail}`).join('\n'),
      checks,
    );
  }
  return { mod, ko, checks, vermagic, config: refs.config };
}

/** The verified module signed and its signature checked (the check joins `v.checks`). */
async function signVerified(ctx: FamilyContext, containers: Containers, signer: Signer, { kernel, recipe }: Plan, image: Image, scratch: string, v: Verified): Promise<Signed> {
  const hash = signHashFromConfig(v.config);
  const file = await signInContainer({ containers, imageTag: image.tag, recipe, signer, hash, module: path.join(scratch, v.mod), scratch, kernelRelease: kernel.kernelRelease, signal: ctx.signal });
  const signed = await fs.readFile(file);
  const check = checkSignature(signed, v.ko, signer.cert);
  v.checks.push(check);
  if (!check.ok) throw new VerificationError(`${v.mod} for ${kernel.kernelRelease}: the signed module fails verification; nothing stored:\n  signature: ${check.detail}`, v.checks);
  const info = verifyModuleSignature(signed, signer.cert);
  const cert = signer.cert;
  return { file, signature: { format: info.format, hash: info.hash, keyAlgorithm: info.keyAlgorithm, signer: { subject: cert.subject, fingerprint: cert.fingerprint }, certificate: cert.der.toString('base64'), unsignedSha256: sha256(v.ko) } };
}

/** The manifest of a verified (and maybe signed) module: every input by its hash, the applied patch rules among them. */
async function manifestOf(req: BuildRequest, { kernel, recipe, patchRules }: Plan, key: string, image: Image, scratch: string, v: Verified, signed: Signed, t0: number): Promise<Manifest> {
  const out = (f: string) => path.join(scratch, f);
  const { file, signature } = signed;
  const inputs: Record<string, string> = Object.fromEntries(kernel.files.map((f) => [f.filename, f.sha256]));
  for (const s of req.module.sources) inputs[s] = await sha256File(out(path.posix.basename(s)));
  inputs['recipe-env'] = sha256(JSON.stringify(recipe.env));
  // A family that applies patch rules reports the ids it applied; each is recorded by its file's hash.
  const applied = await fs.readFile(out('patches.txt'), 'utf8').then((t) => parseApplied(t, patchRules), () => []);
  for (const r of applied) inputs[`patch:${r.id}`] = r.sha256;
  return {
    schema: 1,
    key,
    family: kernel.family,
    kernelRelease: kernel.kernelRelease,
    module: req.module.name,
    file: v.mod,
    debugFile: `${v.mod}.debug`,
    sha256: await sha256File(file),
    size: (await fs.stat(file)).size,
    debugSha256: await sha256File(out(`${req.module.name}.debug.ko`)),
    vermagic: v.vermagic.trim(),
    checks: v.checks,
    inputs,
    builderImage: image.id,
    compiler: (await fs.readFile(out('compiler.txt'), 'utf8')).trim(),
    durationMs: Date.now() - t0,
    tool: { name: 'nbdforge', version: req.toolVersion },
    createdAt: new Date().toISOString(),
    ...(signature ? { signature } : {}),
  };
}
