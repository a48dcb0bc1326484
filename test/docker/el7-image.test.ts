/**
 * containers/el7/Dockerfile as the el7 family builds it: base image named from the point release,
 * yum pointed at the vault for that release (os + updates, signature checks on), the image's own
 * repo files gone, the release's toolchain asked for.
 *
 * centos:7 images cannot be pulled here, so the base is a STAND-IN made from the local Debian image
 * with a `yum` that only records its arguments and a CentOS-Base.repo pointing at a dead mirror.
 * This proves the Dockerfile's wiring (build args, repo rewrite, what is installed); it does not
 * prove that yum resolves those packages from the real vault (see docs/el7.md).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { $ } from 'zx';
import { connectEngine } from '../../src/docker/engine.ts';
import { ensureImage } from '../../src/docker/image.ts';
import { runContainer } from '../../src/docker/run.ts';
import { el7Image } from '../../src/families/el7/index.ts';
import { el7ConfigFromEnv } from '../../src/families/el7/config.ts';

const q = $({ quiet: true });
const docker = await connectEngine(process.env);
const REL = '7.3.1611';
const fakeBase = `nbdforge-test/fake-centos7:${REL}`;
const cfg = el7ConfigFromEnv({ NBDFORGE_EL7_BASE: 'nbdforge-test/fake-centos7:{release}', NBDFORGE_EL7_VAULT: 'https://mirror.example.invalid/centos-vault/' });
const spec = el7Image(cfg, REL, 'https://vault.centos.org');
let builtTag = '';

test.before(async () => {
  const dockerfile = [
    `FROM ${process.env.NBDFORGE_DEBIAN_BASE ?? 'debian:bookworm'}`,
    `RUN mkdir -p /etc/yum.repos.d /etc/pki/rpm-gpg \\`,
    ` && printf '[base]\\nmirrorlist=http://mirrorlist.centos.org/?release=7\\n' > /etc/yum.repos.d/CentOS-Base.repo \\`,
    ` && printf '#!/bin/sh\\necho "$*" >> /yum.args\\n' > /usr/bin/yum && chmod 755 /usr/bin/yum`,
  ].join('\n');
  await q({ input: dockerfile })`docker build -q -t ${fakeBase} -`;
});

test.after(async () => {
  if (builtTag) await q`docker rmi ${builtTag}`.nothrow();
  await q`docker rmi ${fakeBase}`.nothrow();
});

test('the family names the base from the release and passes RELEASE and VAULT', () => {
  assert.is(spec.baseImage, fakeBase);
  assert.equal(spec.buildArgs, { RELEASE: REL, VAULT: 'https://mirror.example.invalid/centos-vault' });
  assert.ok(spec.contextDir.endsWith('containers/el7'));
  const def = el7Image(el7ConfigFromEnv({}), '7.9.2009', 'https://vault.centos.org');
  assert.is(def.baseImage, 'centos:7.9.2009');
  assert.equal(def.buildArgs, { RELEASE: '7.9.2009', VAULT: 'https://vault.centos.org' });
});

test('the image: yum reads only the vault for that release (os + updates, gpgcheck), the toolchain is asked for', async () => {
  const img = await ensureImage(docker, spec);
  builtTag = img.tag;
  const { output } = await runContainer(docker, {
    image: img.tag,
    cmd: ['sh', '-c', 'ls /etc/yum.repos.d; echo ---; cat /etc/yum.repos.d/*.repo; echo ---; cat /yum.args; echo ---; ls -l /usr/local/lib/nbdforge'],
  });
  const [files, repo, yum, lib] = output.split('---\n');
  assert.is(files.trim(), 'nbdforge-vault.repo');
  assert.match(repo, `baseurl=https://mirror.example.invalid/centos-vault/${REL}/os/x86_64/`);
  assert.match(repo, `baseurl=https://mirror.example.invalid/centos-vault/${REL}/updates/x86_64/`);
  assert.is(repo.match(/^gpgcheck=1$/gm)?.length, 2);
  assert.not.match(repo, /mirrorlist|@VAULT@|@RELEASE@/);
  const install = yum.split('\n').find((l) => l.includes('install'))!;
  for (const p of ['gcc', 'make', 'elfutils-libelf-devel', 'rpm', 'cpio', 'xz', 'perl', 'binutils', 'tar', 'gawk']) {
    assert.ok(install.split(' ').includes(p), `yum install lacks ${p}: ${install}`);
  }
  for (const f of ['build.sh', 'apply-patches.sh', 'archive-check.sh']) assert.match(lib, new RegExp(`-rwxr-xr-x .* ${f.replace('.', '\\.')}`));
});

test.run();
