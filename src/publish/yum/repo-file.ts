/**
 * nbdforge.repo, written beside repodata/: what an admin drops into /etc/yum.repos.d/. The
 * URLs point at the directory itself (file://); served over HTTP, both are replaced by its URL.
 * With a key, both yum checks are on: gpgcheck (each RPM's header signature) and repo_gpgcheck
 * (repomd.xml.asc over repomd.xml, which pins every package's sha256): the same chain nbdforge
 * verifies when it reads the CentOS vault.
 */
import { pathToFileURL } from 'node:url';

export const KEY_FILE = 'RPM-GPG-KEY-nbdforge';
export const REPO_FILE = 'nbdforge.repo';

export function repoFile(dir: string, module: string, signedBy?: { fingerprint: string; uid: string }): string {
  const base = pathToFileURL(dir).href.replace(/\/?$/, '/');
  const head = [
    `# nbdforge: one kmod-${module} package per kernel; on a host: yum install kmod-${module}-$(uname -r)`,
    '# Serving this directory over HTTP(S)? Replace the file:// URLs below with its URL.',
  ];
  const checks = signedBy
    ? [`# Signed by ${signedBy.uid} (${signedBy.fingerprint})`, 'gpgcheck=1', 'repo_gpgcheck=1', `gpgkey=${base}${KEY_FILE}`]
    : ['# UNSIGNED (published without --gpg-key): whoever can change this directory runs code as root on its hosts.', 'gpgcheck=0', 'repo_gpgcheck=0'];
  return [...head, '[nbdforge]', 'name=nbdforge kernel modules', `baseurl=${base}`, 'enabled=1', ...checks, ''].join('\n');
}
