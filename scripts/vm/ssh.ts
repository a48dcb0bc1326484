/**
 * ssh into a test guest, for tests that drive a guest the way an operator drives a host
 * (`nbdforge prepare-host --ssh`). The guest runs dropbear (small, one binary) on a loopback-only
 * forward; the host's OpenSSH client logs in with a throwaway key.
 */
import { $, fs, path } from 'zx';

export const DROPBEAR = '/usr/sbin/dropbear';

/**
 * The guest's server (dropbear-bin) and the host's client and key tool (openssh-client), installed
 * here when missing: prerequisites of this one test, beyond what `setup-host --with vm` installs.
 */
export async function ensureDropbear(): Promise<string> {
  const missing = [];
  if (!(await fs.pathExists(DROPBEAR))) missing.push('dropbear-bin');
  if ((await $({ nothrow: true, quiet: true })`command -v ssh-keygen ssh`).stdout.trim().split('\n').length < 2) missing.push('openssh-client');
  if (missing.length) {
    await $({ quiet: true, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })`apt-get install -y -q --no-install-recommends ${missing}`;
  }
  return DROPBEAR;
}

export { freePort } from '../free-port.ts';

/** A key pair in DIR (id, id.pub) for root and any other guest user. */
export async function makeKey(dir: string): Promise<{ key: string; pub: string }> {
  const key = path.join(dir, 'id');
  await $({ quiet: true })`ssh-keygen -q -t ed25519 -N ${''} -C nbdforge-test -f ${key}`;
  return { key, pub: `${key}.pub` };
}

/** ssh -o options for a guest: its host key is new every boot, so it is neither checked nor kept. */
export function sshOptions(key: string, port: number): string[] {
  return [`Port=${port}`, `IdentityFile=${key}`, 'IdentitiesOnly=yes', 'StrictHostKeyChecking=no', 'UserKnownHostsFile=/dev/null', 'LogLevel=ERROR', 'ConnectTimeout=20'];
}

/**
 * Guest-side sh: bring up eth0 (QEMU user network), authorise the key for root and for an
 * unprivileged user "tester" (uid 1000), start dropbear, print the ready marker.
 */
export function guestSshSetup(pubInShare: string): string {
  return `
ip link set lo up; ip link set eth0 up; ip addr add 10.0.2.15/24 dev eth0; ip route add default via 10.0.2.2
echo 'tester:x:1000:1000:tester:/home/tester:/bin/sh' >> /etc/passwd; echo 'tester:x:1000:' >> /etc/group
printf '/bin/sh\\n' > /etc/shells
for h in /root /home/tester; do mkdir -p $h/.ssh; cp "/share/${pubInShare}" $h/.ssh/authorized_keys; chmod 700 $h/.ssh; chmod 600 $h/.ssh/authorized_keys; done
chown -R 1000:1000 /home/tester; chmod 755 /home /home/tester
mkdir -p /etc/dropbear /dev/pts; mount -t devpts devpts /dev/pts 2>/dev/null
${DROPBEAR} -R -s -p 22 -P /run/dropbear.pid || echo "dropbear failed to start"
echo NBDFORGE-SSH-READY
`;
}
