/**
 * Keccak-256 (the pre-standard SHA-3 Ethereum uses), tuned for the signing hot path: the
 * permutation keeps the 25 lanes in local variables (as 32-bit halves) instead of an array,
 * which V8 runs several times faster than a loop over the state. Pure JS, so browsers get it
 * too. Checked against viem's `keccak256` by property tests.
 * @internal
 */

const RATE = 136; // bytes absorbed per permutation (1088 bits)

// Round constants, high and low 32-bit halves.
const RC_HI = new Int32Array([
  0x00000000, 0x00000000, 0x80000000, 0x80000000, 0x00000000, 0x00000000, 0x80000000, 0x80000000, 0x00000000,
  0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
  0x00000000, 0x80000000, 0x80000000, 0x80000000, 0x00000000, 0x80000000,
]);
const RC_LO = new Int32Array([
  0x00000001, 0x00008082, 0x0000808a, 0x80008000, 0x0000808b, 0x80000001, 0x80008081, 0x00008009, 0x0000008a,
  0x00000088, 0x80008009, 0x8000000a, 0x8000808b, 0x0000008b, 0x00008089, 0x00008003, 0x00008002, 0x00000080,
  0x0000800a, 0x8000000a, 0x80008081, 0x00008080, 0x80000001, 0x80008008,
]);

/** Keccak-f[1600] on `s`: 25 lanes as (low, high) 32-bit pairs, lane (x, y) at 2 * (x + 5y). */
function permute(s: Int32Array): void {
  let a00l = s[0] as number;
  let a00h = s[1] as number;
  let a10l = s[2] as number;
  let a10h = s[3] as number;
  let a20l = s[4] as number;
  let a20h = s[5] as number;
  let a30l = s[6] as number;
  let a30h = s[7] as number;
  let a40l = s[8] as number;
  let a40h = s[9] as number;
  let a01l = s[10] as number;
  let a01h = s[11] as number;
  let a11l = s[12] as number;
  let a11h = s[13] as number;
  let a21l = s[14] as number;
  let a21h = s[15] as number;
  let a31l = s[16] as number;
  let a31h = s[17] as number;
  let a41l = s[18] as number;
  let a41h = s[19] as number;
  let a02l = s[20] as number;
  let a02h = s[21] as number;
  let a12l = s[22] as number;
  let a12h = s[23] as number;
  let a22l = s[24] as number;
  let a22h = s[25] as number;
  let a32l = s[26] as number;
  let a32h = s[27] as number;
  let a42l = s[28] as number;
  let a42h = s[29] as number;
  let a03l = s[30] as number;
  let a03h = s[31] as number;
  let a13l = s[32] as number;
  let a13h = s[33] as number;
  let a23l = s[34] as number;
  let a23h = s[35] as number;
  let a33l = s[36] as number;
  let a33h = s[37] as number;
  let a43l = s[38] as number;
  let a43h = s[39] as number;
  let a04l = s[40] as number;
  let a04h = s[41] as number;
  let a14l = s[42] as number;
  let a14h = s[43] as number;
  let a24l = s[44] as number;
  let a24h = s[45] as number;
  let a34l = s[46] as number;
  let a34h = s[47] as number;
  let a44l = s[48] as number;
  let a44h = s[49] as number;
  let b00h: number,
    b00l: number,
    b10h: number,
    b10l: number,
    b20h: number,
    b20l: number,
    b30h: number,
    b30l: number,
    b40h: number,
    b40l: number,
    b01h: number,
    b01l: number,
    b11h: number,
    b11l: number,
    b21h: number,
    b21l: number,
    b31h: number,
    b31l: number,
    b41h: number,
    b41l: number,
    b02h: number,
    b02l: number,
    b12h: number,
    b12l: number,
    b22h: number,
    b22l: number,
    b32h: number,
    b32l: number,
    b42h: number,
    b42l: number,
    b03h: number,
    b03l: number,
    b13h: number,
    b13l: number,
    b23h: number,
    b23l: number,
    b33h: number,
    b33l: number,
    b43h: number,
    b43l: number,
    b04h: number,
    b04l: number,
    b14h: number,
    b14l: number,
    b24h: number,
    b24l: number,
    b34h: number,
    b34l: number,
    b44h: number,
    b44l: number;
  for (let round = 0; round < 24; round++) {
    // θ: column parities, then each lane ^= C[x-1] ^ rot(C[x+1], 1)
    const c0h = a00h ^ a01h ^ a02h ^ a03h ^ a04h;
    const c0l = a00l ^ a01l ^ a02l ^ a03l ^ a04l;
    const c1h = a10h ^ a11h ^ a12h ^ a13h ^ a14h;
    const c1l = a10l ^ a11l ^ a12l ^ a13l ^ a14l;
    const c2h = a20h ^ a21h ^ a22h ^ a23h ^ a24h;
    const c2l = a20l ^ a21l ^ a22l ^ a23l ^ a24l;
    const c3h = a30h ^ a31h ^ a32h ^ a33h ^ a34h;
    const c3l = a30l ^ a31l ^ a32l ^ a33l ^ a34l;
    const c4h = a40h ^ a41h ^ a42h ^ a43h ^ a44h;
    const c4l = a40l ^ a41l ^ a42l ^ a43l ^ a44l;
    const d0h = c4h ^ ((c1h << 1) | (c1l >>> 31));
    const d0l = c4l ^ ((c1l << 1) | (c1h >>> 31));
    const d1h = c0h ^ ((c2h << 1) | (c2l >>> 31));
    const d1l = c0l ^ ((c2l << 1) | (c2h >>> 31));
    const d2h = c1h ^ ((c3h << 1) | (c3l >>> 31));
    const d2l = c1l ^ ((c3l << 1) | (c3h >>> 31));
    const d3h = c2h ^ ((c4h << 1) | (c4l >>> 31));
    const d3l = c2l ^ ((c4l << 1) | (c4h >>> 31));
    const d4h = c3h ^ ((c0h << 1) | (c0l >>> 31));
    const d4l = c3l ^ ((c0l << 1) | (c0h >>> 31));
    a00h ^= d0h;
    a00l ^= d0l;
    a01h ^= d0h;
    a01l ^= d0l;
    a02h ^= d0h;
    a02l ^= d0l;
    a03h ^= d0h;
    a03l ^= d0l;
    a04h ^= d0h;
    a04l ^= d0l;
    a10h ^= d1h;
    a10l ^= d1l;
    a11h ^= d1h;
    a11l ^= d1l;
    a12h ^= d1h;
    a12l ^= d1l;
    a13h ^= d1h;
    a13l ^= d1l;
    a14h ^= d1h;
    a14l ^= d1l;
    a20h ^= d2h;
    a20l ^= d2l;
    a21h ^= d2h;
    a21l ^= d2l;
    a22h ^= d2h;
    a22l ^= d2l;
    a23h ^= d2h;
    a23l ^= d2l;
    a24h ^= d2h;
    a24l ^= d2l;
    a30h ^= d3h;
    a30l ^= d3l;
    a31h ^= d3h;
    a31l ^= d3l;
    a32h ^= d3h;
    a32l ^= d3l;
    a33h ^= d3h;
    a33l ^= d3l;
    a34h ^= d3h;
    a34l ^= d3l;
    a40h ^= d4h;
    a40l ^= d4l;
    a41h ^= d4h;
    a41l ^= d4l;
    a42h ^= d4h;
    a42l ^= d4l;
    a43h ^= d4h;
    a43l ^= d4l;
    a44h ^= d4h;
    a44l ^= d4l;
    // ρ and π: B[y, 2x + 3y] = rot(A[x, y], r[x][y])
    b00h = a00h;
    b00l = a00l;
    b13h = (a01l << 4) | (a01h >>> 28);
    b13l = (a01h << 4) | (a01l >>> 28);
    b21h = (a02h << 3) | (a02l >>> 29);
    b21l = (a02l << 3) | (a02h >>> 29);
    b34h = (a03l << 9) | (a03h >>> 23);
    b34l = (a03h << 9) | (a03l >>> 23);
    b42h = (a04h << 18) | (a04l >>> 14);
    b42l = (a04l << 18) | (a04h >>> 14);
    b02h = (a10h << 1) | (a10l >>> 31);
    b02l = (a10l << 1) | (a10h >>> 31);
    b10h = (a11l << 12) | (a11h >>> 20);
    b10l = (a11h << 12) | (a11l >>> 20);
    b23h = (a12h << 10) | (a12l >>> 22);
    b23l = (a12l << 10) | (a12h >>> 22);
    b31h = (a13l << 13) | (a13h >>> 19);
    b31l = (a13h << 13) | (a13l >>> 19);
    b44h = (a14h << 2) | (a14l >>> 30);
    b44l = (a14l << 2) | (a14h >>> 30);
    b04h = (a20l << 30) | (a20h >>> 2);
    b04l = (a20h << 30) | (a20l >>> 2);
    b12h = (a21h << 6) | (a21l >>> 26);
    b12l = (a21l << 6) | (a21h >>> 26);
    b20h = (a22l << 11) | (a22h >>> 21);
    b20l = (a22h << 11) | (a22l >>> 21);
    b33h = (a23h << 15) | (a23l >>> 17);
    b33l = (a23l << 15) | (a23h >>> 17);
    b41h = (a24l << 29) | (a24h >>> 3);
    b41l = (a24h << 29) | (a24l >>> 3);
    b01h = (a30h << 28) | (a30l >>> 4);
    b01l = (a30l << 28) | (a30h >>> 4);
    b14h = (a31l << 23) | (a31h >>> 9);
    b14l = (a31h << 23) | (a31l >>> 9);
    b22h = (a32h << 25) | (a32l >>> 7);
    b22l = (a32l << 25) | (a32h >>> 7);
    b30h = (a33h << 21) | (a33l >>> 11);
    b30l = (a33l << 21) | (a33h >>> 11);
    b43h = (a34l << 24) | (a34h >>> 8);
    b43l = (a34h << 24) | (a34l >>> 8);
    b03h = (a40h << 27) | (a40l >>> 5);
    b03l = (a40l << 27) | (a40h >>> 5);
    b11h = (a41h << 20) | (a41l >>> 12);
    b11l = (a41l << 20) | (a41h >>> 12);
    b24h = (a42l << 7) | (a42h >>> 25);
    b24l = (a42h << 7) | (a42l >>> 25);
    b32h = (a43h << 8) | (a43l >>> 24);
    b32l = (a43l << 8) | (a43h >>> 24);
    b40h = (a44h << 14) | (a44l >>> 18);
    b40l = (a44l << 14) | (a44h >>> 18);
    // χ: A[x, y] = B[x, y] ^ (~B[x+1, y] & B[x+2, y])
    a00h = b00h ^ (~b10h & b20h);
    a00l = b00l ^ (~b10l & b20l);
    a01h = b01h ^ (~b11h & b21h);
    a01l = b01l ^ (~b11l & b21l);
    a02h = b02h ^ (~b12h & b22h);
    a02l = b02l ^ (~b12l & b22l);
    a03h = b03h ^ (~b13h & b23h);
    a03l = b03l ^ (~b13l & b23l);
    a04h = b04h ^ (~b14h & b24h);
    a04l = b04l ^ (~b14l & b24l);
    a10h = b10h ^ (~b20h & b30h);
    a10l = b10l ^ (~b20l & b30l);
    a11h = b11h ^ (~b21h & b31h);
    a11l = b11l ^ (~b21l & b31l);
    a12h = b12h ^ (~b22h & b32h);
    a12l = b12l ^ (~b22l & b32l);
    a13h = b13h ^ (~b23h & b33h);
    a13l = b13l ^ (~b23l & b33l);
    a14h = b14h ^ (~b24h & b34h);
    a14l = b14l ^ (~b24l & b34l);
    a20h = b20h ^ (~b30h & b40h);
    a20l = b20l ^ (~b30l & b40l);
    a21h = b21h ^ (~b31h & b41h);
    a21l = b21l ^ (~b31l & b41l);
    a22h = b22h ^ (~b32h & b42h);
    a22l = b22l ^ (~b32l & b42l);
    a23h = b23h ^ (~b33h & b43h);
    a23l = b23l ^ (~b33l & b43l);
    a24h = b24h ^ (~b34h & b44h);
    a24l = b24l ^ (~b34l & b44l);
    a30h = b30h ^ (~b40h & b00h);
    a30l = b30l ^ (~b40l & b00l);
    a31h = b31h ^ (~b41h & b01h);
    a31l = b31l ^ (~b41l & b01l);
    a32h = b32h ^ (~b42h & b02h);
    a32l = b32l ^ (~b42l & b02l);
    a33h = b33h ^ (~b43h & b03h);
    a33l = b33l ^ (~b43l & b03l);
    a34h = b34h ^ (~b44h & b04h);
    a34l = b34l ^ (~b44l & b04l);
    a40h = b40h ^ (~b00h & b10h);
    a40l = b40l ^ (~b00l & b10l);
    a41h = b41h ^ (~b01h & b11h);
    a41l = b41l ^ (~b01l & b11l);
    a42h = b42h ^ (~b02h & b12h);
    a42l = b42l ^ (~b02l & b12l);
    a43h = b43h ^ (~b03h & b13h);
    a43l = b43l ^ (~b03l & b13l);
    a44h = b44h ^ (~b04h & b14h);
    a44l = b44l ^ (~b04l & b14l);
    // ι
    a00h ^= RC_HI[round] as number;
    a00l ^= RC_LO[round] as number;
  }
  s[0] = a00l;
  s[1] = a00h;
  s[2] = a10l;
  s[3] = a10h;
  s[4] = a20l;
  s[5] = a20h;
  s[6] = a30l;
  s[7] = a30h;
  s[8] = a40l;
  s[9] = a40h;
  s[10] = a01l;
  s[11] = a01h;
  s[12] = a11l;
  s[13] = a11h;
  s[14] = a21l;
  s[15] = a21h;
  s[16] = a31l;
  s[17] = a31h;
  s[18] = a41l;
  s[19] = a41h;
  s[20] = a02l;
  s[21] = a02h;
  s[22] = a12l;
  s[23] = a12h;
  s[24] = a22l;
  s[25] = a22h;
  s[26] = a32l;
  s[27] = a32h;
  s[28] = a42l;
  s[29] = a42h;
  s[30] = a03l;
  s[31] = a03h;
  s[32] = a13l;
  s[33] = a13h;
  s[34] = a23l;
  s[35] = a23h;
  s[36] = a33l;
  s[37] = a33h;
  s[38] = a43l;
  s[39] = a43h;
  s[40] = a04l;
  s[41] = a04h;
  s[42] = a14l;
  s[43] = a14h;
  s[44] = a24l;
  s[45] = a24h;
  s[46] = a34l;
  s[47] = a34h;
  s[48] = a44l;
  s[49] = a44h;
}

const state = new Int32Array(50);

/** XORs `length` ≤ 136 bytes of `data` from `offset` into the state, little-endian per 32-bit word. */
function absorb(data: Uint8Array, offset: number, length: number): void {
  const words = length >>> 2;
  for (let w = 0; w < words; w++) {
    const i = offset + 4 * w;
    state[w] =
      (state[w] as number) ^
      ((data[i] as number) |
        ((data[i + 1] as number) << 8) |
        ((data[i + 2] as number) << 16) |
        ((data[i + 3] as number) << 24));
  }
  for (let i = words * 4; i < length; i++) {
    const w = i >>> 2;
    state[w] = (state[w] as number) ^ ((data[offset + i] as number) << (8 * (i & 3)));
  }
}

function xorByte(index: number, value: number): void {
  const w = index >>> 2;
  state[w] = (state[w] as number) ^ (value << (8 * (index & 3)));
}

/** @internal keccak256(data) as 32 bytes. */
export function keccak256Bytes(data: Uint8Array): Uint8Array {
  state.fill(0);
  let offset = 0;
  while (data.length - offset >= RATE) {
    absorb(data, offset, RATE);
    permute(state);
    offset += RATE;
  }
  const rest = data.length - offset;
  absorb(data, offset, rest);
  xorByte(rest, 0x01);
  xorByte(RATE - 1, 0x80);
  permute(state);
  const out = new Uint8Array(32);
  for (let w = 0; w < 8; w++) {
    const v = state[w] as number;
    out[4 * w] = v & 0xff;
    out[4 * w + 1] = (v >>> 8) & 0xff;
    out[4 * w + 2] = (v >>> 16) & 0xff;
    out[4 * w + 3] = v >>> 24;
  }
  return out;
}
