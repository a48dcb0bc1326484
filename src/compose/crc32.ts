/**
 * CRC-32 as GPT uses it (UEFI spec 2.10, 5.3.2: the IEEE 802.3 polynomial, reflected 0xEDB88320,
 * initial value and final xor 0xFFFFFFFF). Computed here so that a table is written without zlib
 * and the same code can check a table read back.
 */
const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(data: Uint8Array, start = 0, end = data.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
