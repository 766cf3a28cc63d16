import { type Hex, stringToBytes } from "viem";
import { SettlekitInvalidInputError } from "../errors.js";
import { bytesToHex, writeAddress, writeBytes32, writeUint } from "./bytes.js";
import { keccak256Bytes } from "./keccak.js";
import {
  type DeploymentDomain,
  DOMAIN_VERSION,
  ESCROW_DOMAIN_NAME,
  PAYMENT_CHANNELS_DOMAIN_NAME,
  type Payment,
  type Release,
  SETTLEMENT_HUB_DOMAIN_NAME,
  type Voucher,
} from "./types.js";

// Digests are computed as the contracts do (OZ EIP712): keccak256(0x1901 ‖ domainSeparator ‖
// keccak256(typeHash ‖ encoded fields)), with the type hashes and each deployment's
// domain separator computed once, and one keccak over a reused buffer per struct.

const DOMAIN_TYPEHASH = keccak256Bytes(
  stringToBytes("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
);
const VERSION_HASH = keccak256Bytes(stringToBytes(DOMAIN_VERSION));
const PAYMENT_TYPEHASH = keccak256Bytes(
  stringToBytes(
    "Payment(address from,address to,address token,uint256 amount,uint256 fee,uint256 nonce,uint64 validAfter,uint64 validBefore,bytes32 ref)",
  ),
);
const VOUCHER_TYPEHASH = keccak256Bytes(stringToBytes("Voucher(bytes32 channelId,uint256 cumulativeAmount)"));
const RELEASE_TYPEHASH = keccak256Bytes(stringToBytes("Release(uint256 id,uint256 releasedTotal,uint256 deadline)"));

/** @internal The domain name of each contract whose messages settlekit hashes. */
export type DomainName =
  | typeof ESCROW_DOMAIN_NAME
  | typeof SETTLEMENT_HUB_DOMAIN_NAME
  | typeof PAYMENT_CHANNELS_DOMAIN_NAME;

const NAME_HASHES = new Map<string, Uint8Array>(
  [ESCROW_DOMAIN_NAME, SETTLEMENT_HUB_DOMAIN_NAME, PAYMENT_CHANNELS_DOMAIN_NAME].map((name) => [
    name,
    keccak256Bytes(stringToBytes(name)),
  ]),
);

const MAX_CACHED_DOMAINS = 1024;
const domainPrefixes = new Map<string, Uint8Array>();

/**
 * `0x1901 ‖ domainSeparator` followed by room for the struct hash, cached per deployment. The
 * chain id is checked before the cache is consulted (its key would not tell `31337` from
 * `"31337"`), and the key holds `verifyingContract` as given, so that each spelling of it is
 * checked once (a wrong checksum is never served from the cache).
 */
function digestBuffer(name: DomainName, domain: DeploymentDomain): Uint8Array {
  if (typeof domain !== "object" || domain === null)
    throw new SettlekitInvalidInputError("domain", "expected an object");
  const { chainId, verifyingContract } = domain;
  if (!Number.isSafeInteger(chainId) || chainId <= 0) {
    throw new SettlekitInvalidInputError("chainId", "expected a positive safe integer");
  }
  const key = `${name}|${chainId}|${typeof verifyingContract === "string" ? verifyingContract : ""}`;
  const cached = domainPrefixes.get(key);
  if (cached) return cached;
  const encoded = new Uint8Array(160);
  encoded.set(DOMAIN_TYPEHASH, 0);
  encoded.set(NAME_HASHES.get(name) as Uint8Array, 32);
  encoded.set(VERSION_HASH, 64);
  writeUint(encoded, 96, BigInt(chainId), 256, "chainId");
  writeAddress(encoded, 128, verifyingContract, "verifyingContract");
  const buffer = new Uint8Array(66);
  buffer[0] = 0x19;
  buffer[1] = 0x01;
  buffer.set(keccak256Bytes(encoded), 2);
  if (domainPrefixes.size >= MAX_CACHED_DOMAINS) domainPrefixes.clear();
  domainPrefixes.set(key, buffer);
  return buffer;
}

function finish(name: DomainName, domain: DeploymentDomain, struct: Uint8Array): Uint8Array {
  const buffer = digestBuffer(name, domain);
  buffer.set(keccak256Bytes(struct), 34);
  return keccak256Bytes(buffer);
}

const paymentStruct = new Uint8Array(320);
paymentStruct.set(PAYMENT_TYPEHASH, 0);
const voucherStruct = new Uint8Array(96);
voucherStruct.set(VOUCHER_TYPEHASH, 0);
const releaseStruct = new Uint8Array(128);
releaseStruct.set(RELEASE_TYPEHASH, 0);

function required<T>(value: T | undefined | null, field: string): T {
  if (typeof value !== "object" || value === null) throw new SettlekitInvalidInputError(field, "expected an object");
  return value;
}

/** @internal The EIP-712 digest of a payment, as bytes. */
export function paymentDigest(domain: DeploymentDomain, payment: Payment): Uint8Array {
  const p = required(payment, "payment");
  writeAddress(paymentStruct, 32, p.from, "from");
  writeAddress(paymentStruct, 64, p.to, "to");
  writeAddress(paymentStruct, 96, p.token, "token");
  writeUint(paymentStruct, 128, p.amount, 256, "amount");
  writeUint(paymentStruct, 160, p.fee, 256, "fee");
  writeUint(paymentStruct, 192, p.nonce, 256, "nonce");
  writeUint(paymentStruct, 224, p.validAfter, 64, "validAfter");
  writeUint(paymentStruct, 256, p.validBefore, 64, "validBefore");
  writeBytes32(paymentStruct, 288, p.ref, "ref");
  return finish(SETTLEMENT_HUB_DOMAIN_NAME, domain, paymentStruct);
}

/** @internal The EIP-712 digest of a voucher, as bytes. */
export function voucherDigest(domain: DeploymentDomain, voucher: Voucher): Uint8Array {
  const v = required(voucher, "voucher");
  writeBytes32(voucherStruct, 32, v.channelId, "channelId");
  writeUint(voucherStruct, 64, v.cumulativeAmount, 256, "cumulativeAmount");
  return finish(PAYMENT_CHANNELS_DOMAIN_NAME, domain, voucherStruct);
}

/** @internal The EIP-712 digest of a release authorisation, as bytes. */
export function releaseDigest(domain: DeploymentDomain, release: Release): Uint8Array {
  const r = required(release, "release");
  writeUint(releaseStruct, 32, r.id, 256, "id");
  writeUint(releaseStruct, 64, r.releasedTotal, 256, "releasedTotal");
  writeUint(releaseStruct, 96, r.deadline, 256, "deadline");
  return finish(ESCROW_DOMAIN_NAME, domain, releaseStruct);
}

/**
 * Parameters of {@link hashPayment}.
 *
 * @example
 * ```ts
 * import { hashPayment, type HashPaymentParameters } from "settlekit";
 *
 * const parameters: HashPaymentParameters = { domain, payment };
 * const digest = hashPayment(parameters);
 * ```
 */
export interface HashPaymentParameters {
  /** The hub deployment the payment is for. */
  domain: DeploymentDomain;
  payment: Payment;
}
/**
 * Return type of {@link hashPayment}: the EIP-712 digest.
 *
 * @example
 * ```ts
 * import { hashPayment, type HashPaymentReturnType } from "settlekit";
 *
 * const digest: HashPaymentReturnType = hashPayment({ domain, payment });
 * ```
 */
export type HashPaymentReturnType = Hex;

/**
 * The EIP-712 digest of a payment intent, exactly what `SettlementHub.paymentDigest` returns
 * and what the payer signs. Synchronous, no chain needed.
 *
 * @throws {SettlekitInvalidInputError} when a field does not fit its Solidity type.
 * @example
 * ```ts
 * import { hashPayment } from "settlekit";
 *
 * const digest = hashPayment({ domain: { chainId: 31337, verifyingContract: hub }, payment });
 * ```
 */
export function hashPayment({ domain, payment }: HashPaymentParameters): HashPaymentReturnType {
  return bytesToHex(paymentDigest(domain, payment));
}

/**
 * Parameters of {@link hashVoucher}.
 *
 * @example
 * ```ts
 * import { hashVoucher, type HashVoucherParameters } from "settlekit";
 *
 * const parameters: HashVoucherParameters = { domain, voucher };
 * const digest = hashVoucher(parameters);
 * ```
 */
export interface HashVoucherParameters {
  /** The PaymentChannels deployment the channel lives in. */
  domain: DeploymentDomain;
  voucher: Voucher;
}
/**
 * Return type of {@link hashVoucher}: the EIP-712 digest.
 *
 * @example
 * ```ts
 * import { hashVoucher, type HashVoucherReturnType } from "settlekit";
 *
 * const digest: HashVoucherReturnType = hashVoucher({ domain, voucher });
 * ```
 */
export type HashVoucherReturnType = Hex;

/**
 * The EIP-712 digest of a voucher, exactly what `PaymentChannels.voucherDigest` returns.
 *
 * @throws {SettlekitInvalidInputError} when a field does not fit its Solidity type.
 * @example
 * ```ts
 * import { hashVoucher } from "settlekit";
 *
 * const digest = hashVoucher({ domain: { chainId: 31337, verifyingContract: channels }, voucher: { channelId, cumulativeAmount: 5n } });
 * ```
 */
export function hashVoucher({ domain, voucher }: HashVoucherParameters): HashVoucherReturnType {
  return bytesToHex(voucherDigest(domain, voucher));
}

/**
 * Parameters of {@link hashRelease}.
 *
 * @example
 * ```ts
 * import { hashRelease, type HashReleaseParameters } from "settlekit";
 *
 * const parameters: HashReleaseParameters = { domain, release };
 * const digest = hashRelease(parameters);
 * ```
 */
export interface HashReleaseParameters {
  /** The Escrow deployment holding the escrow. */
  domain: DeploymentDomain;
  release: Release;
}
/**
 * Return type of {@link hashRelease}: the EIP-712 digest.
 *
 * @example
 * ```ts
 * import { hashRelease, type HashReleaseReturnType } from "settlekit";
 *
 * const digest: HashReleaseReturnType = hashRelease({ domain, release });
 * ```
 */
export type HashReleaseReturnType = Hex;

/**
 * The EIP-712 digest of a release authorisation, exactly what `Escrow.releaseDigest` returns.
 *
 * @throws {SettlekitInvalidInputError} when a field does not fit its Solidity type.
 * @example
 * ```ts
 * import { hashRelease } from "settlekit";
 *
 * const digest = hashRelease({ domain: { chainId: 31337, verifyingContract: escrow }, release: { id: 1n, releasedTotal: 10n, deadline } });
 * ```
 */
export function hashRelease({ domain, release }: HashReleaseParameters): HashReleaseReturnType {
  return bytesToHex(releaseDigest(domain, release));
}
