import { secp256k1 } from "@noble/curves/secp256k1";
import { type Address, getAddress, type Hex } from "viem";
import { SettlekitInvalidInputError } from "../errors.js";
import { bytesToHex, hexToBytes } from "./bytes.js";
import { keccak256Bytes } from "./keccak.js";

/** The subset of the `secp256k1@5` native binding settlekit uses. */
interface NativeSecp256k1 {
  ecdsaRecover(
    signature: Uint8Array,
    recid: number,
    msg32: Uint8Array,
    compressed: false,
    output: Uint8Array,
  ): Uint8Array;
}

let nativeBinding: NativeSecp256k1 | null | undefined;

/**
 * Loads libsecp256k1's Node binding once. Node only: reached through
 * `process.getBuiltinModule`, so bundlers see no Node import and browsers fall back to pure JS.
 */
function loadNative(): NativeSecp256k1 | null {
  if (nativeBinding !== undefined) return nativeBinding;
  nativeBinding = null;
  try {
    const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
    const moduleBuiltin = proc?.getBuiltinModule?.("node:module") as typeof import("node:module") | undefined;
    if (moduleBuiltin) {
      const require = moduleBuiltin.createRequire(import.meta.url);
      // `secp256k1/bindings` is the native addon only; the package root would silently fall
      // back to `elliptic`, slower than the pure-JS path below.
      const binding = require("secp256k1/bindings") as NativeSecp256k1;
      if (typeof binding.ecdsaRecover === "function") nativeBinding = binding;
    }
  } catch {
    nativeBinding = null;
  }
  return nativeBinding;
}

/**
 * Which implementation recovers signers: `"native"` (libsecp256k1 through the `secp256k1`
 * package, Node) or `"js"` (`@noble/curves`, everywhere). Both give identical results.
 *
 * @example
 * ```ts
 * import { defaultRecoveryBackend, recoverDigestSigner, type RecoveryBackend } from "settlekit";
 *
 * const backend: RecoveryBackend = defaultRecoveryBackend();
 * const signer = recoverDigestSigner(digest, signature, { backend });
 * ```
 */
export type RecoveryBackend = "native" | "js";

/**
 * The backend {@link recoverDigestSigner} uses by default here: `"native"` in Node when the
 * `secp256k1` binding loads, `"js"` otherwise (browsers, unsupported platforms).
 *
 * @example
 * ```ts
 * import { defaultRecoveryBackend } from "settlekit";
 *
 * console.log(defaultRecoveryBackend()); // "native" on Node
 * ```
 */
export function defaultRecoveryBackend(): RecoveryBackend {
  return loadNative() ? "native" : "js";
}

// secp256k1 n / 2, big-endian: OZ ECDSA rejects s above it (malleable signatures).
const HALF_N = hexToBytes("0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0", "HALF_N");

const compact = new Uint8Array(64);
const publicKey = new Uint8Array(65);

/** Signature parsing as OZ ECDSA does: 65 bytes r‖s‖v, v ∈ {27, 28}, s ≤ n/2. Returns the recid or -1. */
function parseSignature(signature: unknown): number {
  if (typeof signature !== "string" || signature.length !== 132) return -1;
  let bytes: Uint8Array;
  try {
    bytes = hexToBytes(signature, "signature");
  } catch {
    return -1;
  }
  const v = bytes[64] as number;
  if (v !== 27 && v !== 28) return -1;
  for (let i = 0; i < 32; i++) {
    const s = bytes[32 + i] as number;
    const h = HALF_N[i] as number;
    if (s < h) break;
    if (s > h) return -1;
  }
  compact.set(bytes.subarray(0, 64));
  return v - 27;
}

// Public key → address, remembered: a payee verifies thousands of vouchers from one signer, and
// this skips one keccak per verification. Keys are the 64 coordinate bytes as a latin1 string.
const MAX_CACHED_SIGNERS = 4096;
const signerOfKey = new Map<string, string>();

function addressOfPublicKey(key: Uint8Array): string {
  const coordinates = key.subarray(1);
  const id = String.fromCharCode.apply(null, coordinates as unknown as number[]);
  let address = signerOfKey.get(id);
  if (address === undefined) {
    address = bytesToHex(keccak256Bytes(coordinates), 12);
    if (signerOfKey.size >= MAX_CACHED_SIGNERS) signerOfKey.clear();
    signerOfKey.set(id, address);
  }
  return address;
}

/** @internal Recovers the signer as a lower-case `0x` address, or null. `digest` must be 32 bytes. */
export function recoverSignerLower(digest: Uint8Array, signature: unknown, backend?: RecoveryBackend): string | null {
  const native = backend === "js" ? null : loadNative();
  if (backend === "native" && !native) {
    throw new SettlekitInvalidInputError("backend", "native secp256k1 is not available in this environment");
  }
  const recid = parseSignature(signature);
  if (recid < 0) return null;
  try {
    if (native) return addressOfPublicKey(native.ecdsaRecover(compact, recid, digest, false, publicKey));
    const point = secp256k1.Signature.fromCompact(compact).addRecoveryBit(recid).recoverPublicKey(digest);
    return addressOfPublicKey(point.toRawBytes(false));
  } catch {
    // r or s out of range, or no curve point for r: ecrecover returns address(0) for these.
    return null;
  }
}

/**
 * Options of {@link recoverDigestSigner}.
 *
 * @example
 * ```ts
 * import { recoverDigestSigner, type RecoverDigestSignerOptions } from "settlekit";
 *
 * const options: RecoverDigestSignerOptions = { backend: "js" };
 * const signer = recoverDigestSigner(digest, signature, options);
 * ```
 */
export interface RecoverDigestSignerOptions {
  /** Force one implementation (tests, benchmarks); default {@link defaultRecoveryBackend}. */
  backend?: RecoveryBackend;
}

/**
 * Return type of {@link recoverDigestSigner}: the checksummed signer, or null.
 *
 * @example
 * ```ts
 * import { recoverDigestSigner, type RecoverDigestSignerReturnType } from "settlekit";
 *
 * const signer: RecoverDigestSignerReturnType = recoverDigestSigner(digest, signature);
 * if (signer === null) throw new Error("invalid signature");
 * ```
 */
export type RecoverDigestSignerReturnType = Address | null;

/**
 * Synchronous ECDSA recovery of the address that signed a 32-byte digest, accepting exactly
 * what OZ `ECDSA.tryRecover` accepts: a 65-byte `r‖s‖v` signature with `v` 27 or 28 and a low
 * `s`. Returns null for an invalid, malleable (high-s) or malformed signature. Uses native
 * libsecp256k1 in Node when available and `@noble/curves` otherwise, with identical results.
 *
 * @throws {SettlekitInvalidInputError} when `digest` is not 32 bytes of hex.
 * @example
 * ```ts
 * import { hashVoucher, recoverDigestSigner } from "settlekit";
 *
 * const signer = recoverDigestSigner(hashVoucher({ domain, voucher }), signature);
 * if (signer === null) throw new Error("bad signature");
 * ```
 */
export function recoverDigestSigner(
  digest: Hex,
  signature: Hex,
  options: RecoverDigestSignerOptions = {},
): RecoverDigestSignerReturnType {
  const digestBytes = hexToBytes(digest, "digest");
  if (digestBytes.length !== 32) throw new SettlekitInvalidInputError("digest", "expected 32 bytes");
  const signer = recoverSignerLower(digestBytes, signature, options.backend);
  return signer === null ? null : getAddress(signer);
}
