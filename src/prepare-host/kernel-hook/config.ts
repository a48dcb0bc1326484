import path from 'node:path';
import { readFileSync } from 'node:fs';
import type { ModuleOptions } from '../options.ts';
import { GUARD_UNIT, type HookLayout } from './layout.ts';
import { NbdforgeError } from '../../errors.ts';

/** The hook program (POSIX sh), installed as both postinst.d and postrm.d hooks. */
export const HOOK_SH = readFileSync(new URL('./hook.sh', import.meta.url), 'utf8');

/** What the hook needs to fetch and check a module on its own: what prepare-host was given. */
export interface FollowConfig {
  /** --from: an http(s) URL (published dir site or store), or a store directory (made absolute). */
  from: string;
  fingerprint?: string;
  indexSha256?: string;
  insecureNoSignature?: boolean;
  /** The family of the artifact prepare-host installed (el* turns kABI reuse on). */
  family: string;
  options: ModuleOptions;
  /** The kernel prepare-host ran for. */
  preparedFor: string;
  /** --require-proof: the hook installs only a module whose proof.json the source names and whose sha256 it checks. */
  requireProof?: boolean;
}

export class FollowConfigError extends NbdforgeError {
  override name = 'FollowConfigError';
}

/** KEY='value' lines the hook reads with sed (never sources): a value may not hold a quote or a newline. */
export function renderHookConfig(c: FollowConfig): string {
  const from = /^https?:\/\//i.test(c.from) ? c.from : path.resolve(c.from);
  const values: Array<[string, string]> = [
    ['NBDFORGE_FROM', from],
    ['NBDFORGE_FINGERPRINT', (c.fingerprint ?? '').replace(/\s+/g, '').toUpperCase()],
    ['NBDFORGE_INDEX_SHA256', (c.indexSha256 ?? '').toLowerCase()],
    ['NBDFORGE_INSECURE_NO_SIGNATURE', c.insecureNoSignature ? '1' : '0'],
    ['NBDFORGE_FAMILY', c.family],
    ['NBDFORGE_OPTIONS', c.options.map(([k, v]) => `${k}=${v}`).join(' ')],
    ['NBDFORGE_PREPARED_FOR', c.preparedFor],
    ['NBDFORGE_REQUIRE_PROOF', c.requireProof ? '1' : '0'],
  ];
  for (const [k, v] of values) if (/['\n\r\0]/.test(v)) throw new FollowConfigError(`${k} cannot be recorded for the kernel hook: ${JSON.stringify(v)} holds a quote or a newline`);
  return [
    '# nbdforge kernel hook configuration, written by nbdforge prepare-host: where new kernels get nbd.ko',
    ...values.map(([k, v]) => `${k}='${v}'`),
  ].join('\n');
}

/**
 * The boot guard: a oneshot that makes sure the running kernel has nbd (systemd 219 directives only,
 * CentOS 7's). Units that need nbd order themselves After= it; it runs after the network when the
 * source is a URL, so the hook can still fetch a module a kernel booted without.
 */
export function renderGuardUnit(l: HookLayout, c: Pick<FollowConfig, 'from'>): string {
  const url = /^https?:\/\//i.test(c.from);
  return [
    '[Unit]',
    'Description=nbdforge: nbd.ko for the running kernel (fetch it if a kernel update left it out)',
    'Documentation=man:modprobe(8)',
    ...(url ? ['Wants=network-online.target', 'After=network-online.target'] : []),
    'After=systemd-modules-load.service local-fs.target',
    // nbdforge-nbd.target (packaging/systemd) is what units using /dev/nbd* order themselves after
    'Before=remote-fs-pre.target nbdforge-nbd.target multi-user.target',
    '',
    '[Service]',
    'Type=oneshot',
    'RemainAfterExit=yes',
    `ExecStart=${l.hostPostinst} --boot`,
    // five bounded downloads of at most 120 s each, then modprobe
    'TimeoutStartSec=12min',
    'StandardError=journal+console',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
  ].join('\n');
}

export { GUARD_UNIT };
