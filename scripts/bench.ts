#!/usr/bin/env tsx
/**
 * Every benchmark, one after the other (they share the machine, so never at once). Each writes its
 * own section of docs/BENCHMARKS.md with the command that reproduces it.
 *   npm run bench                 build, prepare-host, map, map-el7, publish, publish-oci, compose, debian12-matrix, prove, floor, container, cold, cold-stages, startup
 *   npm run bench -- build        one of them; arguments after the name go to that script
 */
import { $ } from 'zx';

const benches: Record<string, string> = {
  build: 'scripts/bench-build.ts',
  'prepare-host': 'scripts/bench-prepare-host.ts',
  map: 'scripts/bench-map.ts',
  'map-el7': 'scripts/bench-map.ts --el7',
  publish: 'scripts/bench-publish.ts',
  'publish-oci': 'scripts/bench-publish-oci.ts',
  compose: 'scripts/bench-compose.ts',
  'debian12-matrix': 'scripts/bench-debian12-matrix.ts',
  prove: 'scripts/bench-prove.ts',
  floor: 'scripts/bench-floor.ts',
  container: 'scripts/bench-container.ts',
  cold: 'scripts/bench-cold.ts',
  'cold-stages': 'scripts/bench-cold-stages.ts',
  startup: 'scripts/bench-startup.ts',
};
const [first, ...rest] = process.argv.slice(2);
if (first && !benches[first]) {
  console.error(`usage: npm run bench [-- ${Object.keys(benches).join('|')} [args...]]`);
  process.exit(2);
}
const chosen = first ? [[first, rest] as const] : Object.keys(benches).map((b) => [b, [] as string[]] as const);
await $({ stdio: 'inherit' })`tsx scripts/setup-host.ts --with vm,publish,oci,el7`;
let failed = 0;
for (const [name, args] of chosen) {
  console.error(`[bench] ${name}`);
  const r = await $({ stdio: 'inherit' })`tsx ${benches[name].split(' ')} ${args}`.nothrow();
  if (r.exitCode !== 0) {
    console.error(`[bench] ${name} failed (exit ${r.exitCode})`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
