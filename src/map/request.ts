import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { checkJournalPath } from '../host/path-check.ts';
import { NbdforgeError } from '../errors.ts';

/** ro: qemu-nbd --snapshot + read-only mounts; snapshot: writable, changes thrown away; rw: writes reach the image. */
export type MapMode = 'ro' | 'snapshot' | 'rw';

export interface MapRequest {
  image: string;
  mode: MapMode;
  /** nbd (qemu-nbd, every format) or loop (losetup --partscan, raw images and block devices). */
  via: 'nbd' | 'loop';
  /** Byte offset for loop devices (a partition's start). */
  offset?: number;
  /** Skip detection (qemu-img info) when the caller knows the format. */
  format?: string;
  /** Where the filesystems are mounted; default /mnt/nbdforge/<image name> (suffixed while in use). */
  mountRoot?: string;
  stateDir: string;
  /** Journal name; default <image name>-<time><random>. */
  id?: string;
  /** Files, devices or protocol names outside the image's directory that its layers may reference. */
  allowExternal?: string[];
  /** Let read-only maps and exports of one image coexist. */
  sharedRo?: boolean;
  /** Mount without noexec (every mount is nosuid,nodev; noexec too unless this is set). */
  exec?: boolean;
  /** Attach, partitions and LVM only: mount nothing (the host kernel parses no filesystem of the image). */
  noMount?: boolean;
}

export interface ResolvedMap extends Required<Omit<MapRequest, 'offset' | 'format' | 'mountRoot' | 'allowExternal' | 'sharedRo'>> {
  offset?: number;
  format?: string;
  mountRoot: string;
  autoRoot: boolean;
  allowExternal: string[];
  sharedRo: boolean;
  journal: string;
}

export class MapRequestError extends NbdforgeError {
  override name = 'MapRequestError';
  override readonly exitCode = 2;
}

export const DEFAULT_STATE_DIR = '/var/lib/nbdforge';
export const DEFAULT_MOUNT_BASE = '/mnt/nbdforge';
const FORMATS = /^[a-z0-9]+$/;

/** A path a map's journal records (host/path-check.ts); a bad one is a MapRequestError. */
export function checkPath(what: string, p: string): string {
  return checkJournalPath(what, p, (message) => new MapRequestError(message));
}

/** The image's file name without its extension, reduced to [A-Za-z0-9._-]. */
export function imageName(image: string): string {
  const base = path.basename(image).replace(/\.(qcow2|raw|img|vmdk|vdi|vhdx?|qed)$/i, '');
  return base.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._-]+/, '').slice(0, 48) || 'image';
}

export function newMapId(image: string, now = Date.now()): string {
  return `${imageName(image)}-${now.toString(36)}${randomBytes(3).toString('hex')}`;
}

export function resolveMap(req: MapRequest): ResolvedMap {
  const image = checkPath('image path', req.image);
  const stateDir = checkPath('state dir', req.stateDir);
  if (!path.isAbsolute(stateDir)) throw new MapRequestError(`state dir must be absolute: ${stateDir}`);
  if (req.via === 'loop' && req.mode === 'snapshot') throw new MapRequestError('--snapshot needs qemu-nbd: drop --loop (loop devices have no throw-away overlay)');
  if (req.offset !== undefined && req.via !== 'loop') throw new MapRequestError('--offset goes with --loop');
  if (req.offset !== undefined && (!Number.isSafeInteger(req.offset) || req.offset < 0 || req.offset % 512 !== 0))
    throw new MapRequestError(`--offset must be a non-negative multiple of 512 bytes: ${req.offset}`);
  if (req.format !== undefined && !FORMATS.test(req.format)) throw new MapRequestError(`unknown format name: ${req.format}`);
  const id = req.id ?? newMapId(image);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(id)) throw new MapRequestError(`bad map id: ${id}`);
  const autoRoot = req.mountRoot === undefined;
  const mountRoot = path.resolve(checkPath('mount root', req.mountRoot ?? path.join(DEFAULT_MOUNT_BASE, imageName(image))));
  if (mountRoot === '/') throw new MapRequestError('mount root cannot be /');
  return {
    image: path.resolve(image),
    mode: req.mode,
    via: req.via,
    offset: req.offset,
    format: req.format,
    mountRoot,
    autoRoot,
    stateDir: path.resolve(stateDir),
    id,
    exec: req.exec ?? false,
    noMount: req.noMount ?? false,
    journal: path.join(path.resolve(stateDir), 'maps', `${id}.jsonl`),
    allowExternal: (req.allowExternal ?? []).map((a) => checkPath('--allow-external', a)),
    sharedRo: req.sharedRo ?? false,
  };
}

/** `--offset 1048576`, `--offset 2048s` (sectors of 512 bytes), `--offset 1M`. */
export function parseOffset(text: string): number {
  const m = /^(\d+)(s|k|K|M|G)?$/.exec(text.trim());
  if (!m) throw new MapRequestError(`--offset: expected bytes, <n>s (512-byte sectors), <n>K, <n>M or <n>G: ${text}`);
  const unit = { s: 512, k: 1024, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2] as 's'] ?? 1;
  return Number(m[1]) * unit;
}
