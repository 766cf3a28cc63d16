// fast-check generators shared by the client tests: random payments, vouchers, releases and
// keys, over the full ranges of their Solidity types.
import fc from "fast-check";
import { type Address, bytesToHex, getAddress, type Hex } from "viem";
import type { DeploymentDomain, Payment, Release, Voucher } from "../../src/client/index.js";

const MAX_UINT256 = (1n << 256n) - 1n;
const MAX_UINT64 = (1n << 64n) - 1n;
/** secp256k1 group order. */
export const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

/** Edge values first, then anything in range. */
export const uint256 = fc.oneof(
  fc.constantFrom(0n, 1n, MAX_UINT256, (1n << 128n) - 1n),
  fc.bigInt({ min: 0n, max: MAX_UINT256 }),
);
export const uint64 = fc.oneof(fc.constantFrom(0n, 1n, MAX_UINT64), fc.bigInt({ min: 0n, max: MAX_UINT64 }));
export const bytes32: fc.Arbitrary<Hex> = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => bytesToHex(b));
export const address: fc.Arbitrary<Address> = fc
  .uint8Array({ minLength: 20, maxLength: 20 })
  .map((b) => getAddress(bytesToHex(b)));
export const privateKey: fc.Arbitrary<Hex> = fc
  .bigInt({ min: 1n, max: SECP256K1_N - 1n })
  .map((k) => `0x${k.toString(16).padStart(64, "0")}` as Hex);

export const domain: fc.Arbitrary<DeploymentDomain> = fc.record({
  chainId: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  verifyingContract: address,
});

export const payment: fc.Arbitrary<Payment> = fc.record({
  from: address,
  to: address,
  token: address,
  amount: uint256,
  fee: uint256,
  nonce: uint256,
  validAfter: uint64,
  validBefore: uint64,
  ref: bytes32,
});
export const voucher: fc.Arbitrary<Voucher> = fc.record({ channelId: bytes32, cumulativeAmount: uint256 });
export const release: fc.Arbitrary<Release> = fc.record({ id: uint256, releasedTotal: uint256, deadline: uint256 });

/** A different value for one field of a struct, of the same Solidity type. */
export function tampered<T extends object>(value: T, field: keyof T & string, seed: number): T {
  const current = value[field] as unknown;
  let next: unknown;
  if (typeof current === "bigint") {
    const bits = field === "validAfter" || field === "validBefore" ? 64n : 256n;
    next = (current + BigInt(seed) + 1n) % (1n << bits);
  } else if (typeof current === "string" && current.length === 42) {
    const flipped = (Number.parseInt(current.slice(-2), 16) ^ ((seed % 255) + 1)).toString(16).padStart(2, "0");
    next = getAddress(`${current.slice(0, -2)}${flipped}`);
  } else {
    const text = current as string;
    const flipped = (Number.parseInt(text.slice(2, 4), 16) ^ ((seed % 255) + 1)).toString(16).padStart(2, "0");
    next = `0x${flipped}${text.slice(4)}`;
  }
  return { ...value, [field]: next };
}
