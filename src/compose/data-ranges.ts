import { runTool } from '../doors/exec.ts';

/**
 * Where a regular file holds data, by SEEK_DATA/SEEK_HOLE, so a sparse 3 TiB volume is copied in
 * milliseconds instead of reading terabytes of holes. Node has no lseek; xfs_io (xfsprogs) asks the
 * kernel on any filesystem (`seek -a -r`: every DATA and HOLE start). Without xfs_io, or on a block
 * device, the answer is "all of it" and the copy reads everything (zero chunks still stay holes).
 */
export function dataRanges(file: string, length: number): Promise<Array<[number, number]>> {
  const all: Array<[number, number]> = [[0, length]];
  return runTool('xfs_io', ['-r', '-c', 'seek -a -r 0', file], { maxBuffer: 64 * 1024 * 1024 }).then(
    (r) => (r.code === 0 ? (parseSeek(r.stdout, length) ?? all) : all),
    () => all,
  );
}

/** `DATA 0 / HOLE 4096 / DATA 8192 ...` -> [[0,4096],[8192,...]], clipped to LENGTH; undefined if unreadable. */
export function parseSeek(text: string, length: number): Array<[number, number]> | undefined {
  const marks: Array<{ data: boolean; at: number }> = [];
  for (const line of text.split('\n')) {
    const m = /^(DATA|HOLE)\s+(\d+)\s*$/.exec(line);
    if (m) marks.push({ data: m[1] === 'DATA', at: Number(m[2]) });
    else if (line.trim() && !/^Whence\s+Result/.test(line)) return undefined;
  }
  const out: Array<[number, number]> = [];
  marks.forEach((m, i) => {
    if (!m.data) return;
    const end = Math.min(i + 1 < marks.length ? marks[i + 1].at : length, length);
    if (!Number.isSafeInteger(m.at) || m.at >= end) return;
    if (i > 0 && marks[i - 1].at > m.at) return;
    out.push([m.at, end]);
  });
  return out;
}
