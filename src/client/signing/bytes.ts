/**
 * Allocation-light ABI word encoding for the signing hot path. Internal to settlekit: viem's
 * generic encoders validate and convert more than a fixed struct needs, which is most of the
 * cost of hashing typed data.
 * @internal
 */
import type { Hex } from "viem";
import { SettlekitInvalidInputError } from "../errors.js";
import { keccak256Bytes } from "./keccak.js";

const NIBBLE = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) NIBBLE[48 + i] = i;
for (let i = 0; i < 6; i++) {
  NIBBLE[65 + i] = 10 + i;
  NIBBLE[97 + i] = 10 + i;
}
const HEX_BYTE: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** Encodes bytes as lower-case `0x` hex. */
export function bytesToHex(bytes: Uint8Array, start = 0, end = bytes.length): Hex {
  let out = "0x";
  for (let i = start; i < end; i++) out += HEX_BYTE[bytes[i] as number];
  return out as Hex;
}

/**
 * Decodes the hex digits of `hex` from character `from` into `out` at `offset`, `length` bytes.
 * Returns false on a non-hex digit (the caller reports which field).
 */
function decodeInto(hex: string, from: number, out: Uint8Array, offset: number, length: number): boolean {
  for (let i = 0; i < length; i++) {
    const c1 = hex.charCodeAt(from + 2 * i);
    const c2 = hex.charCodeAt(from + 2 * i + 1);
    const hi = c1 < 128 ? (NIBBLE[c1] as number) : -1;
    const lo = c2 < 128 ? (NIBBLE[c2] as number) : -1;
    if ((hi | lo) < 0) return false;
    out[offset + i] = (hi << 4) | lo;
  }
  return true;
}

function isPrefixed(value: unknown): value is string {
  return (
    typeof value === "string" && value.length >= 2 && value.charCodeAt(0) === 48 && (value.charCodeAt(1) | 32) === 120
  );
}

/** Decodes `0x`-prefixed hex of any even length (a signature, calldata). */
export function hexToBytes(hex: unknown, field: string): Uint8Array {
  if (!isPrefixed(hex) || hex.length % 2 !== 0) throw new SettlekitInvalidInputError(field, "expected 0x-prefixed hex");
  const out = new Uint8Array((hex.length - 2) / 2);
  if (!decodeInto(hex, 2, out, 0, out.length)) throw new SettlekitInvalidInputError(field, "expected 0x-prefixed hex");
  return out;
}

const MAX_CACHED_CHECKSUMS = 1024;
/** Mixed-case addresses whose EIP-55 checksum holds: payers, payees and tokens recur. */
const checksummed = new Set<string>();
const asciiLower = new Uint8Array(40);

/** Whether the EIP-55 checksum of a mixed-case 0x-prefixed address of valid hex digits holds. */
function checksumHolds(value: string): boolean {
  if (checksummed.has(value)) return true;
  for (let i = 0; i < 40; i++) asciiLower[i] = value.charCodeAt(2 + i) | 32; // digits keep their code
  const hash = keccak256Bytes(asciiLower);
  for (let i = 0; i < 40; i++) {
    const c = value.charCodeAt(2 + i);
    if (c < 65) continue; // a digit
    const upper = c < 97;
    const nibble = ((hash[i >> 1] as number) >> (i & 1 ? 0 : 4)) & 15;
    if (upper !== nibble >= 8) return false; // upper case exactly where the hash's hex digit is ≥ 8
  }
  if (checksummed.size >= MAX_CACHED_CHECKSUMS) checksummed.clear();
  checksummed.add(value);
  return true;
}

/**
 * Writes a 20-byte address as a left-padded ABI word. All-lowercase and all-uppercase hex carry
 * no checksum; mixed case carries an EIP-55 checksum, which must hold (as viem's `isAddress`
 * requires): a wrong one is likely a typo.
 */
export function writeAddress(out: Uint8Array, offset: number, value: unknown, field: string): void {
  if (!isPrefixed(value) || value.length !== 42) {
    throw new SettlekitInvalidInputError(field, "expected a 20-byte 0x-prefixed address");
  }
  out.fill(0, offset, offset + 12);
  if (!decodeInto(value, 2, out, offset + 12, 20)) {
    throw new SettlekitInvalidInputError(field, "expected a 20-byte 0x-prefixed address");
  }
  let cases = 0; // bit 0: a lowercase letter seen, bit 1: an uppercase one
  for (let i = 2; i < 42 && cases !== 3; i++) {
    const c = value.charCodeAt(i);
    if (c >= 97) cases |= 1;
    else if (c >= 65) cases |= 2;
  }
  if (cases === 3 && !checksumHolds(value)) {
    throw new SettlekitInvalidInputError(
      field,
      "mixed-case address with an invalid EIP-55 checksum (a typo?); pass it checksummed or in lower case",
    );
  }
}

/** Writes a `bytes32`. */
export function writeBytes32(out: Uint8Array, offset: number, value: unknown, field: string): void {
  if (!isPrefixed(value) || value.length !== 66 || !decodeInto(value, 2, out, offset, 32)) {
    throw new SettlekitInvalidInputError(field, "expected 32 bytes as 0x-prefixed hex");
  }
}

const LIMITS: Record<number, bigint> = { 64: 1n << 64n, 256: 1n << 256n };

/** Writes an unsigned integer of at most `bits` bits as a big-endian ABI word. */
export function writeUint(out: Uint8Array, offset: number, value: unknown, bits: 64 | 256, field: string): void {
  if (typeof value !== "bigint" || value < 0n || value >= (LIMITS[bits] as bigint)) {
    throw new SettlekitInvalidInputError(field, `expected a bigint in [0, 2^${bits})`);
  }
  const digits = value.toString(16);
  const padded = digits.length % 2 === 0 ? digits : `0${digits}`;
  const length = padded.length / 2;
  out.fill(0, offset, offset + 32 - length);
  decodeInto(padded, 0, out, offset + 32 - length, length);
}
