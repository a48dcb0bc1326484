import { randomBytes } from 'node:crypto';
import { NbdforgeError } from '../errors.ts';

/**
 * GUIDs as GPT stores them: the first three fields little-endian, the last two as bytes
 * (UEFI spec appendix A). Text form is the usual 8-4-4-4-12, upper case in output.
 */
const GUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class GuidError extends NbdforgeError {
  override name = 'GuidError';
  override readonly exitCode = 2;
}

export function isGuid(text: string): boolean {
  return GUID_RE.test(text);
}

export function normalizeGuid(text: string): string {
  if (!isGuid(text)) throw new GuidError(`not a GUID (expected 8-4-4-4-12 hex digits): ${JSON.stringify(text)}`);
  return text.toUpperCase();
}

export function guidToBytes(text: string): Buffer {
  const hex = normalizeGuid(text).replace(/-/g, '');
  const b = Buffer.from(hex, 'hex');
  const out = Buffer.alloc(16);
  out.writeUInt32LE(b.readUInt32BE(0), 0);
  out.writeUInt16LE(b.readUInt16BE(4), 4);
  out.writeUInt16LE(b.readUInt16BE(6), 6);
  b.copy(out, 8, 8, 16);
  return out;
}

export function guidFromBytes(b: Uint8Array, off = 0): string {
  const buf = Buffer.from(b.buffer, b.byteOffset + off, 16);
  const h = (n: number, w: number) => n.toString(16).padStart(w, '0');
  const tail = buf.subarray(8, 16).toString('hex');
  return `${h(buf.readUInt32LE(0), 8)}-${h(buf.readUInt16LE(4), 4)}-${h(buf.readUInt16LE(6), 4)}-${tail.slice(0, 4)}-${tail.slice(4)}`.toUpperCase();
}

/** A random (version 4, RFC 9562) GUID. */
export function randomGuid(rand: (n: number) => Buffer = randomBytes): string {
  const b = rand(16);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = b.toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`.toUpperCase();
}
