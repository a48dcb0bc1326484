/**
 * A YAML writer for plain data (maps, lists, strings, numbers, booleans): enough for a Kubernetes
 * resource. Strings that could read as anything but a string are written JSON-quoted, which YAML
 * reads as the same string, so `${KERNEL_FULL_VERSION}` or "6.1.0-56-amd64" survive as written.
 * JSON leaves DEL, C1, LS/PS raw, which YAML parsers refuse or read as line breaks: those are
 * written as `\uXXXX` escapes (the CLI refuses them before, this keeps the writer sound alone).
 */
import { visible } from '../../util/control-chars.ts';

type Value = string | number | boolean | null | Value[] | { [k: string]: Value };

const PLAIN = /^[A-Za-z_/][A-Za-z0-9_./-]*$/;
const RESERVED = /^(true|false|yes|no|on|off|null|y|n|~)$/i;

function scalar(v: string | number | boolean | null): string {
  if (v === null) return 'null';
  if (typeof v !== 'string') return String(v);
  return PLAIN.test(v) && !RESERVED.test(v) ? v : visible(v);
}

const key = (k: string) => (PLAIN.test(k) && !RESERVED.test(k) ? k : visible(k));
const isEmpty = (v: Value) => (Array.isArray(v) ? v.length === 0 : v !== null && typeof v === 'object' && Object.keys(v).length === 0);

function lines(v: Value, indent: string): string[] {
  if (Array.isArray(v)) {
    return v.flatMap((item) => {
      if (item !== null && typeof item === 'object' && !isEmpty(item)) {
        const [first, ...rest] = lines(item, `${indent}  `);
        return [`${indent}- ${first.trimStart()}`, ...rest];
      }
      return [`${indent}- ${isEmpty(item) ? (Array.isArray(item) ? '[]' : '{}') : scalar(item as string)}`];
    });
  }
  if (v !== null && typeof v === 'object') {
    return Object.entries(v).flatMap(([k, val]) => {
      if (val !== null && typeof val === 'object' && !isEmpty(val)) return [`${indent}${key(k)}:`, ...lines(val, Array.isArray(val) ? indent : `${indent}  `)];
      const s = isEmpty(val) ? (Array.isArray(val) ? '[]' : '{}') : scalar(val as string);
      return [`${indent}${key(k)}: ${s}`];
    });
  }
  return [`${indent}${scalar(v)}`];
}

export function toYaml(v: Value): string {
  return lines(v, '').join('\n') + '\n';
}
export type { Value as YamlValue };
