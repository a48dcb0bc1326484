import path from 'node:path';
import { type Plan, validatePlan } from '../host/plan.ts';
import { shc } from '../host/step.ts';
import { shellStep } from './steps.ts';
import { checkPath, newMapId, MapRequestError } from './request.ts';
import { unmapCommand } from './plan-map.ts';

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
}

export interface ResolvedExport extends ExportRequest {
  id: string;
  url: string;
  /** What to give qemu (-drive ...) to use the export as a disk. */
  drive: string;
  /** Bound beyond the loopback interface: anyone who reaches the port can read (and write) the disk. */
  exposed: boolean;
}

const qemuValue = (s: string) => s.replace(/,/g, ',,');

export function resolveExport(req: ExportRequest): ResolvedExport {
  const image = path.resolve(checkPath('image path', req.image));
  if (req.socket !== undefined && !path.isAbsolute(checkPath('socket path', req.socket))) throw new MapRequestError(`--socket must be an absolute path: ${req.socket}`);
  if (!Number.isInteger(req.port) || req.port < 1 || req.port > 65535) throw new MapRequestError(`--port must be 1-65535: ${req.port}`);
  if (!Number.isInteger(req.shared) || req.shared < 0) throw new MapRequestError(`--shared must be a whole number (0 = unlimited): ${req.shared}`);
  if (!/^[A-Za-z0-9.:_-]+$/.test(req.bind)) throw new MapRequestError(`--bind: not an address: ${req.bind}`);
  const host = req.bind.includes(':') ? `[${req.bind}]` : req.bind;
  const url = req.socket ? `nbd+unix:///?socket=${req.socket}` : `nbd://${host}:${req.port}`;
  const drive = `-drive file=${qemuValue(url)},format=raw,if=virtio${req.readOnly ? ',readonly=on' : ''}`;
  const loopback = req.socket !== undefined || /^(127\.|::1$|localhost$)/.test(req.bind);
  return { ...req, image, id: req.id ?? `export-${newMapId(image)}`, url, drive, exposed: !loopback };
}

/** qemu-nbd as a server (--fork, pid file), journaled so that unmap / export --stop stops it. */
export function planExport(e: ResolvedExport): Plan {
  return validatePlan({
    id: 'export',
    title: `serve ${e.image} at ${e.url}${e.readOnly ? ' (read-only)' : ''}`,
    preconditions: [
      { id: 'image-exists', describe: `${e.image} exists`, check: shc('[ -e "$1" ]', e.image), otherwise: 'refuse', message: `no such image: ${e.image}` },
      { id: 'tools', describe: 'qemu-nbd and qemu-img are installed', check: shc('command -v qemu-nbd && command -v qemu-img'), otherwise: 'refuse', message: 'qemu-nbd / qemu-img missing (install qemu-utils)' },
    ],
    steps: [
      {
        id: 'serve',
        describe: `start qemu-nbd serving ${e.url}`,
        command: shellStep('export', e.stateDir, e.id, e.image, e.format ?? '', e.bind, String(e.port), e.socket ?? '', e.persistent ? '1' : '0', String(e.shared), e.readOnly ? '1' : '0', e.url),
        undo: unmapCommand(e.stateDir, `id:${e.id}`, false),
      },
    ],
  });
}
