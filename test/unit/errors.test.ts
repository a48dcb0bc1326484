/**
 * Issue 21: every error nbdforge throws on purpose is an NbdforgeError carrying its exit code, and
 * src/cli.ts turns an error into an exit code in one place. The walk imports every module of src
 * and finds every exported Error class: one missing from the table below (a new class, or one not
 * extending NbdforgeError) fails, so each class says which part of the contract it is.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { NbdforgeError, UsageError } from '../../src/errors.ts';
import { main } from '../../src/cli.ts';
import { commands } from '../../src/commands/index.ts';
import { ContainerError } from '../../src/docker/errors.ts';
import { ComposeRequestError } from '../../src/compose/request.ts';
import { StoreCorruptError } from '../../src/artifacts/store-layout.ts';

/** The contract (README "Exit codes and bad input"): 1 failed work, 2 bad usage, 3 refused with nothing touched. */
const EXIT: Record<string, 1 | 2 | 3> = {
  NbdforgeError: 1,
  // 2: the user's input, decided before any work
  UsageError: 2, OptionsError: 2, TargetSpecError: 2, KmmValueError: 2, ReferenceSyntaxError: 2, WorkflowValueError: 2,
  MapRequestError: 2, TimeoutValueError: 2, SignerError: 2, CertificateError: 2, GpgKeyError: 2, ComposeRequestError: 2,
  PartTypeError: 2, GuidError: 2, LayoutError: 2, CatalogMissingError: 2, UnknownKernelError: 2, UnknownFamilyError: 2,
  // 3: refused with nothing touched
  ImageRefusedError: 3, TargetRefusedError: 3, PublishRefusedError: 3, ProofError: 3, SourceError: 3, StoreCorruptError: 3,
  ArtifactRefusedError: 3,
  // 1: failed work (both SignatureErrors: rpm-repo's gpgv check and verify's module signature)
  NotRegularFileError: 1, LockTimeoutError: 1, ToolError: 1, ToolExitError: 1, OutsideCacheError: 1, RegistryError: 1, DirIndexError: 1,
  EngineUnreachableError: 1, ContainerError: 1, FetchError: 1, ChecksumError: 1, UnreachableError: 1, TransferEndedError: 1,
  VerificationError: 1, ImageRefused: 1, JournalError: 1, RepomdError: 1, SignatureError: 1, PrimaryError: 1, ArtifactError: 1,
  FollowConfigError: 1, HostCommandError: 1, PayloadError: 1, FactsError: 1, SymversError: 1, DerError: 1, ElfError: 1, SignatureFormatError: 1,
  ManifestError: 1, StoreError: 1, EmptyCatalogError: 1, SourceChecksumError: 1, AptFetchError: 1, NoBootKernelError: 1,
  ElSyncError: 1, VaultUnreachableError: 1,
};

/** Constructor arguments for the classes that take more than a message. */
const ARGS: Record<string, unknown[]> = {
  ToolError: [['tool'], 'x'],
  ToolExitError: [['tool'], 2, ''],
  HostCommandError: [['false'], 2, '', 'this host'],
  ContainerError: ['x', 2, ''],
  ElSyncError: [[]],
  ArtifactError: ['NoArtifactError', 'x'],
  TransferEndedError: ['x', 'http://127.0.0.1/', 'deadline', 0, 0],
  VerificationError: ['x', []],
  SourceChecksumError: ['x', []],
};

type ErrorClass = new (...args: unknown[]) => Error;

async function exportedErrorClasses(): Promise<Map<ErrorClass, string>> {
  const root = path.resolve('src');
  const files = fs.readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts')).sort();
  const found = new Map<ErrorClass, string>();
  for (const f of files) {
    const mod = (await import(pathToFileURL(path.join(root, f)).href)) as Record<string, unknown>;
    for (const v of Object.values(mod)) if (typeof v === 'function' && v.prototype instanceof Error && !found.has(v as ErrorClass)) found.set(v as ErrorClass, f);
  }
  return found;
}

test('every exported error class in src is an NbdforgeError with the exit code of the table', async () => {
  const found = await exportedErrorClasses();
  assert.ok(found.size >= Object.keys(EXIT).length, `${found.size} classes found`);
  const seen = new Set<string>();
  for (const [cls, file] of found) {
    const want = EXIT[cls.name];
    assert.ok(want, `${file}: ${cls.name} is not in the exit-code table of test/unit/errors.test.ts: give it a code (extend NbdforgeError)`);
    const e = new cls(...(ARGS[cls.name] ?? ['x']));
    assert.instance(e, NbdforgeError, `${file}: ${cls.name} does not extend NbdforgeError`);
    assert.is((e as NbdforgeError).exitCode, want, `${file}: ${cls.name}`);
    seen.add(cls.name);
  }
  assert.equal(Object.keys(EXIT).filter((n) => !seen.has(n)), [], 'table entries no module exports');
});

test('the codes are the ones README documents, and none is success', () => {
  const line = /Every command: ([^\n]+\n[^\n]+)/.exec(fs.readFileSync('README.md', 'utf8'))?.[1] ?? '';
  assert.match(line, /0 success, 1 failed work .*, 2 bad usage, 3 refused with\s+nothing touched/);
  for (const code of new Set(Object.values(EXIT))) assert.ok([1, 2, 3].includes(code));
});

/** main() with a command that throws `err`: the exit code and stderr of the one place that reads it. */
async function exitFor(err: unknown, env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const sink = { write: (s: string) => ((stderr += s), true) } as unknown as NodeJS.WriteStream;
  commands['errors-test'] = { group: 'build', summary: 'throws', load: async () => ({ summary: 'throws', usage: '', run: async () => Promise.reject(err) }) };
  try {
    return { code: await main(['errors-test'], { env, stdout: sink, stderr: sink }), stderr };
  } finally {
    delete commands['errors-test'];
  }
}

test('cli.ts: an NbdforgeError exits with its own code; anything else is unexpected (1)', async () => {
  const usage = await exitFor(new UsageError('give one NAME\nUsage: nbdforge x NAME\n  more'));
  assert.equal(usage, { code: 2, stderr: 'nbdforge errors-test: give one NAME (nbdforge errors-test --help shows the usage)\n' });
  const input = await exitFor(new ComposeRequestError('--name is reserved'));
  assert.equal(input, { code: 2, stderr: 'nbdforge errors-test: --name is reserved\n' });
  const refused = await exitFor(new StoreCorruptError('index.json: not JSON', { cause: new Error('Unexpected end') }));
  assert.equal(refused, { code: 3, stderr: 'nbdforge errors-test: index.json: not JSON\n  caused by: Unexpected end\n' });
  // a tool's own exit status is not the CLI's: a make that exits 2 is failed work, not bad usage
  assert.is((await exitFor(new ContainerError('container build.sh exited with 2', 2, ''))).code, 1);
  // nor is an exitCode on an error nbdforge did not make (zx's ProcessOutput carries one)
  assert.is((await exitFor(Object.assign(new Error('gpg failed'), { exitCode: 2 }))).code, 1);
  const bug = await exitFor(new TypeError("Cannot read properties of undefined (reading 'x')"));
  assert.is(bug.code, 1);
  assert.match(bug.stderr, /^nbdforge errors-test: internal error \(a bug: please report it with NBDFORGE_DEBUG=1 output\): TypeError: Cannot read/);
  const debug = await exitFor(new ComposeRequestError('bad name'), { NBDFORGE_DEBUG: '1' });
  assert.match(debug.stderr, /bad name\nComposeRequestError: bad name\n\s+at /);
});

test('through the real commands: a domain error of the user input exits 2, a refusal 3', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nbdforge-errors-'));
  try {
    let stderr = '';
    const sink = { write: (s: string) => ((stderr += s), true) } as unknown as NodeJS.WriteStream;
    const env = { NBDFORGE_HOME: tmp };
    assert.is(await main(['decompose', 'bad name'], { env, stdout: sink, stderr: sink }), 2);
    assert.match(stderr, /^nbdforge decompose: --name must be 1-100 characters .*"bad name"\n$/);
    // the path check of unmap ran outside the command's old conversion list (exit 1): now 2, like map's
    stderr = '';
    assert.is(await main(['unmap', '/dev/a"b', '--emit-script', path.join(tmp, 'u.sh')], { env, stdout: sink, stderr: sink }), 2);
    assert.match(stderr, /^nbdforge unmap: device must not contain quotes, backslashes or control characters: "\/dev\/a\\"b"\n$/);
    const store = path.join(tmp, 'store');
    fs.mkdirSync(store);
    fs.writeFileSync(path.join(store, 'index.json'), '{"schema": 1, "artif');
    stderr = '';
    const out = path.join(tmp, 'prep.sh');
    assert.is(await main(['prepare-host', '--from', store, '--kernel', '6.1.0-56-amd64', '--emit-script', out], { env, stdout: sink, stderr: sink }), 3, stderr);
    assert.match(stderr, /index\.json/);
    assert.not.ok(fs.existsSync(out));
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test.run();
