import path from 'node:path';
import { checkJournalPath } from '../host/path-check.ts';
import type { TableKind } from './layout.ts';
import { NbdforgeError } from '../errors.ts';

export interface ComposeRequest {
  volume: string;
  name: string;
  table: TableKind;
  type?: string;
  partName?: string;
  alignBytes?: number;
  diskGuid?: string;
  partGuid?: string;
  diskId?: number;
  readOnly: boolean;
  /** Compose in front of a volume that already has a partition table. */
  force: boolean;
  stateDir: string;
}

export class ComposeRequestError extends NbdforgeError {
  override name = 'ComposeRequestError';
  override readonly exitCode = 2;
}

/** device-mapper names: kept to a safe set; NAMEp1 (the partition) must fit dm's 127 characters too. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$/;

/** Names device-mapper keeps for itself: /dev/mapper/control is its control node (a rollback that removed it would cut every dm user). */
const RESERVED = new Set(['control']);

export function checkName(name: string): string {
  if (!NAME.test(name)) throw new ComposeRequestError(`--name must be 1-100 characters of A-Z a-z 0-9 . _ + - (starting with a letter or digit): ${JSON.stringify(name)}`);
  if (RESERVED.has(name)) throw new ComposeRequestError(`--name ${name} is reserved by device-mapper (/dev/mapper/${name}): pick another name`);
  return name;
}

export interface Names {
  dev: string;
  partName: string;
  partDev: string;
  uuid: string;
  partUuid: string;
  journal: string;
}

/** The composite is /dev/mapper/NAME, its partition /dev/mapper/NAMEp1 (kpartx's style for names ending in a digit). */
export function composeNames(stateDir: string, name: string): Names {
  return {
    dev: `/dev/mapper/${name}`,
    partName: `${name}p1`,
    partDev: `/dev/mapper/${name}p1`,
    uuid: `nbdforge-compose-${name}`,
    partUuid: `part1-nbdforge-compose-${name}`,
    journal: path.join(stateDir, 'composes', `${name}.jsonl`),
  };
}

export function checkRequest(req: ComposeRequest): ComposeRequest {
  checkName(req.name);
  const checkPath = (what: string, p: string) => checkJournalPath(what, p, (message) => new ComposeRequestError(message));
  checkPath('volume path', req.volume);
  const stateDir = checkPath('state dir', req.stateDir);
  if (!path.isAbsolute(stateDir)) throw new ComposeRequestError(`state dir must be absolute: ${stateDir}`);
  if (!path.isAbsolute(req.volume)) throw new ComposeRequestError(`VOLUME must be an absolute path: ${req.volume}`);
  return req;
}
