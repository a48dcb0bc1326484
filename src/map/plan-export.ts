import path from 'node:path';
import { type Plan, validatePlan } from '../host/plan.ts';
import { shc } from '../host/step.ts';
import { shellStep } from './steps.ts';
import { checkPath, newMapId, MapRequestError } from './request.ts';
import { unmapCommand, imageChecks } from './plan-map.ts';

export interface ExportRequest {
  image: string;
  format?: string;
  bind: string;
  port: number;
  socket?: string;
  persistent: boolean;
  shared: number;
  readOnly: boolean;
  stateDir: string;
  id?: string;
  /** Serve TCP (--bind/--port given); otherwise a Unix socket (--socket, or one in a root-only directory). */
  tcp?: boolean;
  /** The group whose members may connect to the socket (0660, its directory 0750). */
  socketGroup?: string;
  allowExternal?: string[];
  sharedRo?: boolean;
  /** What checkImage found where the plan was made (shown in the plan). */
  seen?: string;
}

/** Default sockets live in <dir>/<id>/nbd.sock: the base 0711 root, each export's directory 0700 (0750 with --socket-group). */
export const SOCKET_BASE = '/run/nbdforge';

export interface ResolvedExport extends ExportRequest {
  id: string;
  url: string;
  /** What to give qemu (-drive ...) to use the export as a disk. */
  drive: string;
  /** Bound beyond the loopback interface (or to a name resolved on the target): anyone who reaches the port can read (and write) the disk. */
  exposed: boolean;
  /** The socket is ours, in its own root-only directory (removed at stop). */
  autoSocket: boolean;
}

/** Loopback as an address literal: 127.0.0.0/8 or ::1. A name (localhost, 127.0.0.1.example.com) is resolved on the target. */
export function loopbackLiteral(bind: string): boolean {
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(bind);
  if (m) return m.slice(1).every((o) => Number(o) <= 255);
  return bind === '::1' || bind === '0:0:0:0:0:0:0:1';
}

const qemuValue = (s: string) => s.replace(/,/g, ',,');

export function resolveExport(req: ExportRequest): ResolvedExport {
  const image = path.resolve(checkPath('image path', req.image));
  if (req.socket !== undefined && !path.isAbsolute(checkPath('socket path', req.socket))) throw new MapRequestError(`--socket must be an absolute path: ${req.socket}`);
  if (!Number.isInteger(req.port) || req.port < 1 || req.port > 65535) throw new MapRequestError(`--port must be 1-65535: ${req.port}`);
  if (!Number.isInteger(req.shared) || req.shared < 0) throw new MapRequestError(`--shared must be a whole number (0 = unlimited): ${req.shared}`);
  if (!/^[A-Za-z0-9.:_-]+$/.test(req.bind)) throw new MapRequestError(`--bind: not an address: ${req.bind}`);
  if (req.socket !== undefined && req.tcp) throw new MapRequestError('--socket and --bind/--port exclude each other');
  if (req.socketGroup !== undefined && (req.tcp || !/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(req.socketGroup))) throw new MapRequestError(`--socket-group: a group name, with a Unix socket (not --bind/--port): ${req.socketGroup}`);
  const id = req.id ?? `export-${newMapId(image)}`;
  const tcp = req.tcp ?? false;
  const autoSocket = !tcp && req.socket === undefined;
  const socket = tcp ? undefined : req.socket ?? `${SOCKET_BASE}/${id}/nbd.sock`;
  const host = req.bind.includes(':') ? `[${req.bind}]` : req.bind;
  const url = socket ? `nbd+unix:///?socket=${socket}` : `nbd://${host}:${req.port}`;
  const drive = `-drive file=${qemuValue(url)},format=raw,if=virtio${req.readOnly ? ',readonly=on' : ''}`;
  const exposed = tcp && !loopbackLiteral(req.bind);
  return { ...req, image, id, socket, tcp, url, drive, exposed, autoSocket, allowExternal: req.allowExternal ?? [], sharedRo: req.sharedRo ?? false };
}

/** qemu-nbd as a server (--fork, pid file), journaled so that unmap / export --stop stops it. */
export function planExport(e: ResolvedExport): Plan {
  return validatePlan({
    id: 'export',
    title: `serve ${e.image} at ${e.url}${e.readOnly ? ' (read-only)' : ''}`,
    preconditions: [
      { id: 'image-exists', describe: `${e.image} exists`, check: shc('[ -e "$1" ]', e.image), otherwise: 'refuse', message: `no such image: ${e.image}` },
      ...imageChecks(e.stateDir, e.image, e.format, e.readOnly ? 'ro' : 'rw', e.allowExternal ?? [], e.sharedRo ?? false, e.seen),
      { id: 'tools', describe: 'qemu-nbd is installed', check: shc('command -v qemu-nbd'), otherwise: 'refuse', message: 'qemu-nbd missing (install qemu-utils)' },
      ...(e.socket
        ? [{ id: 'socket-free', describe: `nothing exists at ${e.socket}`, check: shc('[ ! -e "$1" ] && [ ! -L "$1" ]', e.socket), otherwise: 'refuse' as const, message: `${e.socket} exists: export makes its own socket and never replaces a file (remove it, or give another --socket)` }]
        : []),
    ],
    steps: [
      {
        id: 'serve',
        describe: `start qemu-nbd serving ${e.url}`,
        command: shellStep('export', e.stateDir, e.id, e.image, e.format ?? '', e.bind, String(e.port), e.socket ?? '', e.persistent ? '1' : '0', String(e.shared), e.readOnly ? '1' : '0', e.url, e.socketGroup ?? '', e.autoSocket ? '1' : '0', e.sharedRo ? '1' : '0', ...(e.allowExternal ?? [])),
        undo: unmapCommand(e.stateDir, `id:${e.id}`, false),
      },
    ],
  });
}
