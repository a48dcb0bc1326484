/**
 * Real ELF fixtures for the verify tests, compiled at test time with the host's gcc from small
 * C sources shaped like a kernel module (.modinfo, __versions, .text, .rodata, .init/.exit).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const DEBIAN_VERMAGIC = '6.1.0-56-amd64 SMP preempt mod_unload modversions ';

export interface FakeModule {
  vermagic?: string;
  /** Omit for a module built without modversions (no __versions section). */
  versions?: Array<{ name: string; crc: number }>;
  /** A string constant placed in .rodata.str1.1. */
  greeting?: string;
  /** Add an .exit.text function (to make a section present in only one file). */
  withExit?: boolean;
  extraModinfo?: string[];
}

let dir: string | undefined;
function workDir(): string {
  if (!dir) {
    dir = mkdtempSync(join(tmpdir(), 'nbdforge-verify-'));
    const d = dir;
    process.on('exit', () => rmSync(d, { recursive: true, force: true }));
  }
  return dir;
}

const cString = (s: string) => JSON.stringify(s); // ASCII test strings: JSON escapes are valid C

export function moduleSource(m: FakeModule): string {
  const modinfo = [...(m.vermagic === undefined ? [] : [`vermagic=${m.vermagic}`]), 'license=GPL', 'depends=', 'alias=block-major-43-*', 'alias=devname:nbd-control', 'parm=nbds_max:number of network block devices to initialize (default: 16) (int)', ...(m.extraModinfo ?? [])];
  const lines = [
    ...modinfo.map((s, i) => `static const char __mod_${i}[] __attribute__((section(".modinfo"), used, aligned(1))) = ${cString(s)};`),
    'struct modversion_info { unsigned long crc; char name[64 - sizeof(unsigned long)]; };',
  ];
  if (m.versions)
    lines.push(
      'static const struct modversion_info ____versions[] __attribute__((section("__versions"), used, aligned(8))) = {',
      ...m.versions.map((v) => `  { 0x${v.crc.toString(16)}UL, ${cString(v.name)} },`),
      '};',
    );
  lines.push(
    'int nbds_max = 16;',
    'const int nbd_table[8] = { 1, 2, 3, 5, 8, 13, 21, 34 };',
    'extern int printk(const char *, ...);',
    `const char *nbd_greeting(int i) { return i ? ${cString(m.greeting ?? 'hello nbd')} : "bye"; }`,
    'int nbd_sum(int n) { int s = 0; for (int i = 0; i < n && i < 8; i++) s += nbd_table[i]; return s + nbds_max; }',
    '__attribute__((section(".init.text"))) int nbd_init(void) { return printk("nbd: init %d\\n", nbds_max); }',
  );
  if (m.withExit) lines.push('__attribute__((section(".exit.text"))) void nbd_cleanup(void) { printk("nbd: bye\\n"); }');
  return lines.join('\n') + '\n';
}

let counter = 0;
/** Compile C source with `gcc -c -O2`; returns the object's path and bytes. */
export function compileC(source: string, name = 'mod'): { path: string; bytes: Uint8Array } {
  const base = join(workDir(), `${name}-${++counter}`);
  writeFileSync(`${base}.c`, source);
  execFileSync('gcc', ['-c', '-O2', '-fno-asynchronous-unwind-tables', '-o', `${base}.o`, `${base}.c`], { stdio: ['ignore', 'ignore', 'inherit'] });
  return { path: `${base}.o`, bytes: new Uint8Array(readFileSync(`${base}.o`)) };
}

export function buildModule(m: FakeModule, name = 'mod') {
  return compileC(moduleSource(m), name);
}

export function writeTemp(name: string, content: string | Uint8Array): string {
  const p = join(workDir(), name);
  writeFileSync(p, content);
  return p;
}
