/**
 * A minimal DER reader: enough of ASN.1 to walk a PKCS#7 SignedData and an X.509 certificate.
 * Only definite lengths (DER); every length is checked against its parent so hostile input cannot
 * make a read leave the buffer.
 */
import { NbdforgeError } from '../errors.ts';

export class DerError extends NbdforgeError {
  override name = 'DerError';
}

export interface Tlv {
  /** The identifier octet as written (class, constructed bit, tag number < 31). */
  tag: number;
  /** Offset of the identifier octet, of the contents, and one past the end. */
  start: number;
  body: number;
  end: number;
  buf: Uint8Array;
}

export const TAG = { INTEGER: 0x02, OCTET_STRING: 0x04, NULL: 0x05, OID: 0x06, SEQUENCE: 0x30, SET: 0x31 } as const;
export const ctx = (n: number, constructed = true) => 0x80 | (constructed ? 0x20 : 0) | n;

export function readTlv(buf: Uint8Array, at: number, limit = buf.length): Tlv {
  if (at + 2 > limit) throw new DerError(`truncated element at offset ${at}`);
  const tag = buf[at];
  if ((tag & 0x1f) === 0x1f) throw new DerError(`multi-byte tag at offset ${at} is not supported`);
  let len = buf[at + 1];
  let body = at + 2;
  if (len === 0x80) throw new DerError(`indefinite length at offset ${at} (BER, not DER)`);
  if (len > 0x80) {
    const n = len & 0x7f;
    if (n > 4 || body + n > limit) throw new DerError(`bad length of length at offset ${at}`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[body + i];
    body += n;
  }
  const end = body + len;
  if (end > limit) throw new DerError(`element at offset ${at} runs past its parent (${end} > ${limit})`);
  return { tag, start: at, body, end, buf };
}

/** The children of a constructed element, in order. */
export function children(t: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = t.body; at < t.end; ) {
    const c = readTlv(t.buf, at, t.end);
    out.push(c);
    at = c.end;
  }
  return out;
}

export function expect(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (!t) throw new DerError(`${what} is missing`);
  if (t.tag !== tag) throw new DerError(`${what}: expected tag 0x${tag.toString(16)}, found 0x${t.tag.toString(16)} at offset ${t.start}`);
  return t;
}

export const contents = (t: Tlv) => t.buf.subarray(t.body, t.end);
export const whole = (t: Tlv) => t.buf.subarray(t.start, t.end);

/** Dotted form of an OBJECT IDENTIFIER. */
export function oid(t: Tlv): string {
  const b = contents(expect(t, TAG.OID, 'object identifier'));
  if (b.length === 0) throw new DerError('empty object identifier');
  const parts: number[] = [];
  let v = 0;
  for (const byte of b) {
    v = v * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      parts.push(v);
      v = 0;
    }
  }
  const first = parts.shift()!;
  return [first < 80 ? Math.floor(first / 40) : 2, first < 80 ? first % 40 : first - 80, ...parts].join('.');
}

export const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
