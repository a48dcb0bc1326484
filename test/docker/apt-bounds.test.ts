/**
 * Issue 25, item 5, with the real builder image and real apt: catalog.sh's `apt-get update` against
 * the real archive completes under its bounds; then every apt request goes through a proxy on
 * 127.0.0.1 that drips one byte a second (test/unit/drip-server.ts), and fetch.sh ends at its
 * deadline naming the package and the mirror, as catalog.sh does for an update from a dripping mirror.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { $ } from 'zx';
import { connectEngine } from '../../src/docker/engine.ts';
import { ensureImage } from '../../src/docker/image.ts';
import { debian12Image } from '../../src/families/debian12/index.ts';
import { aptBoundsEnv } from '../../src/families/debian12/apt-bounds.ts';
import { netLimits } from '../../src/fetch/index.ts';
import { startDripServer, type DripServer } from '../unit/drip-server.ts';

const q = $({ quiet: true, nothrow: true });
const docker = await connectEngine(process.env);
let tag = '';
let drip: DripServer;

test.before(async () => {
  tag = (await ensureImage(docker, debian12Image(process.env))).tag;
  // No Content-Length: apt would refuse a size that differs from its lists' at once.
  drip = await startDripServer({ mode: 'drip', dripMs: 1000, length: null });
});
test.after(() => drip.close());

const envArgs = (env: Record<string, string>) => Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]);

test('real apt: update within bounds, then a fetch through a dripping proxy ends at its deadline with the package and mirror', async () => {
  const bounds = aptBoundsEnv(netLimits(6));
  const proxy = `Acquire::http::Proxy "http://127.0.0.1:${drip.port}/";`;
  const script = [
    'set -u',
    // the host's archive, with the default bounds: this must complete
    'CATALOG_PREFIXES=linux-kbuild- CATALOG_PATTERNS=linux-kbuild-6.1 APT_DEADLINE=600 /usr/local/lib/nbdforge/catalog.sh > /tmp/records; echo "catalog=$?"',
    `echo '${proxy}' > /etc/apt/apt.conf.d/99drip`,
    'mkdir -p /debs',
    'v=$(awk "/^Package: linux-kbuild-6.1$/{p=1} p&&/^Version:/{print \\$2; exit}" /tmp/records)',
    't0=$(date +%s); /usr/local/lib/nbdforge/fetch.sh "linux-kbuild-6.1=$v"; echo "fetch=$? after $(( $(date +%s) - t0 )) s"',
    't0=$(date +%s); CATALOG_PREFIXES=x CATALOG_PATTERNS=x /usr/local/lib/nbdforge/catalog.sh; echo "update=$? after $(( $(date +%s) - t0 )) s"',
  ].join('\n');
  const r = await q`docker run --rm --network host ${envArgs(bounds)} ${tag} sh -c ${script}`;
  const out = r.stdout + r.stderr;
  assert.match(out, /catalog=0/, out);
  const fetch = /fetch=(\d+) after (\d+) s/.exec(out);
  assert.ok(fetch, out);
  assert.is(fetch![1], '124', out);
  assert.ok(Number(fetch![2]) <= 6 + 6, `fetch took ${fetch![2]} s with a 6 s deadline`);
  assert.match(out, /nbdforge: apt-get download of linux-kbuild-6\.1=\S+ from https?:\/\/\S+.* did not finish within its deadline of 6 s/);
  const update = /update=(\d+) after (\d+) s/.exec(out);
  assert.is(update?.[1], '124', out);
  assert.ok(Number(update![2]) <= 6 + 6, `update took ${update![2]} s`);
  assert.match(out, /nbdforge: apt-get update from https?:\/\/\S+.* did not finish within its deadline of 6 s/);
  assert.ok(drip.seen.length > 0, 'apt went through the dripping proxy');
});

test.run();
