import { type Address, encodeFunctionData, type Hex, type PublicClient, parseAbi } from "viem";
import { isNodeTrouble } from "../node-errors.js";
import { bytesToHex, writeAddress } from "./bytes.js";
import { paymentDigest, releaseDigest, voucherDigest } from "./digest.js";
import { type RecoveryBackend, recoverSignerLower } from "./recover.js";
import type { DeploymentDomain, Payment, Release, Voucher } from "./types.js";

/** ERC-1271, the standard interface (not a settlekit contract). */
const erc1271Abi = parseAbi(["function isValidSignature(bytes32 hash, bytes signature) view returns (bytes4)"]);
/**
 * The answer `SignatureChecker` takes for "valid": a first word of return data that is exactly
 * the `isValidSignature` selector, left-aligned, the rest of the word zero.
 */
const ERC1271_MAGIC_WORD = `0x1626ba7e${"0".repeat(56)}`;
const SIGNER_SCRATCH = new Uint8Array(32);

/**
 * ECDSA first; then, with a `publicClient` and when `signer` has code, ERC-1271
 * `isValidSignature` called from `verifyingContract`, as that contract's `SignatureChecker` calls
 * it on-chain: a wallet whose answer depends on `msg.sender` (an allow-list of callers, a digest
 * rehashed per calling app) answers the eth_call as it would answer the contract.
 */
async function verifyDigest(
  digest: Uint8Array,
  signer: Address,
  signature: Hex,
  verifyingContract: Address,
  publicClient: PublicClient | undefined,
  backend: RecoveryBackend | undefined,
): Promise<boolean> {
  // The same address rules as every signed field (hex, 20 bytes, a mixed-case one checksummed).
  writeAddress(SIGNER_SCRATCH, 0, signer, "signer");
  const recovered = recoverSignerLower(digest, signature, backend);
  if (recovered !== null && recovered === signer.toLowerCase()) return true;
  if (!publicClient) return false;
  const code = await publicClient.getCode({ address: signer });
  if (code === undefined || code === "0x") return false;
  try {
    const { data } = await publicClient.call({
      // `from` of the eth_call: the wallet sees the same `msg.sender` as on-chain.
      account: verifyingContract,
      to: signer,
      data: encodeFunctionData({
        abi: erc1271Abi,
        functionName: "isValidSignature",
        args: [bytesToHex(digest), signature],
      }),
    });
    // The raw word, not an ABI-decoded bytes4 (which ignores the word's other 28 bytes): exactly
    // what the contracts accept.
    return (
      data !== undefined &&
      data.length >= ERC1271_MAGIC_WORD.length &&
      data.slice(0, ERC1271_MAGIC_WORD.length).toLowerCase() === ERC1271_MAGIC_WORD
    );
  } catch (error) {
    // A node that could not answer has said nothing about the signature: the caller may ask again.
    if (isNodeTrouble(error)) throw error;
    // A wallet that reverts or returns garbage rejects the signature, as SignatureChecker does.
    return false;
  }
}

/**
 * Parameters of {@link verifyPayment}.
 *
 * @example
 * ```ts
 * import { verifyPayment, type VerifyPaymentParameters } from "settlekit";
 *
 * const parameters: VerifyPaymentParameters = { domain, payment, signature, publicClient };
 * const ok = await verifyPayment(parameters);
 * ```
 */
export interface VerifyPaymentParameters {
  domain: DeploymentDomain;
  payment: Payment;
  signature: Hex;
  /**
   * Enables the ERC-1271 check for smart-wallet payers (an eth_call from the hub's address);
   * without it only EOA signatures verify.
   */
  publicClient?: PublicClient;
  /** Force a recovery implementation (benchmarks, tests); default the fastest available. */
  backend?: RecoveryBackend;
}
/**
 * Return type of {@link verifyPayment}.
 *
 * @example
 * ```ts
 * import { verifyPayment, type VerifyPaymentReturnType } from "settlekit";
 *
 * const ok: VerifyPaymentReturnType = await verifyPayment({ domain, payment, signature });
 * ```
 */
export type VerifyPaymentReturnType = boolean;

/**
 * Whether `signature` is `payment.from`'s signature of the intent: ECDSA first (no RPC), then,
 * with a `publicClient` and when `from` has code, ERC-1271 `isValidSignature`, called (eth_call)
 * from `domain.verifyingContract` as the hub calls it, so a wallet that answers depending on
 * its caller answers as it would on-chain. Accepts exactly what the hub's `SignatureChecker`
 * accepts (low-s, `v` 27/28), except that an address with code whose key also signed is
 * accepted without asking the chain.
 *
 * @throws {SettlekitInvalidInputError} when a field does not fit its Solidity type.
 * @throws viem's error when the node cannot answer the ERC-1271 check (unreachable, or an error
 * of its own such as "header not found"): it says nothing about the signature; ask again.
 * @example
 * ```ts
 * import { verifyPayment } from "settlekit";
 *
 * if (!(await verifyPayment({ domain, payment, signature, publicClient }))) throw new Error("rejected");
 * ```
 */
export async function verifyPayment({
  domain,
  payment,
  signature,
  publicClient,
  backend,
}: VerifyPaymentParameters): Promise<VerifyPaymentReturnType> {
  return verifyDigest(
    paymentDigest(domain, payment),
    payment.from,
    signature,
    domain.verifyingContract,
    publicClient,
    backend,
  );
}

/**
 * Parameters of {@link verifyVoucher}.
 *
 * @example
 * ```ts
 * import { verifyVoucher, type VerifyVoucherParameters } from "settlekit";
 *
 * const parameters: VerifyVoucherParameters = { domain, voucher, signer, signature };
 * const ok = await verifyVoucher(parameters);
 * ```
 */
export interface VerifyVoucherParameters {
  domain: DeploymentDomain;
  voucher: Voucher;
  /** The channel's signer (payer or session key), from `getChannel`. */
  signer: Address;
  signature: Hex;
  /** Enables the ERC-1271 check for smart-wallet signers (an eth_call from the contract's address). */
  publicClient?: PublicClient;
  /** Force a recovery implementation (benchmarks, tests); default the fastest available. */
  backend?: RecoveryBackend;
}
/**
 * Return type of {@link verifyVoucher}.
 *
 * @example
 * ```ts
 * import { verifyVoucher, type VerifyVoucherReturnType } from "settlekit";
 *
 * const ok: VerifyVoucherReturnType = await verifyVoucher({ domain, voucher, signer, signature });
 * ```
 */
export type VerifyVoucherReturnType = boolean;

/**
 * Whether `signature` is `signer`'s signature of the voucher — the payee's hot path, over
 * 10,000 per second per core in Node with native recovery. ECDSA first (no RPC), then, with a
 * `publicClient` and when `signer` has code, ERC-1271 `isValidSignature`, called (eth_call) from
 * `domain.verifyingContract` as the PaymentChannels contract calls it on `claim`/`close`.
 *
 * @throws {SettlekitInvalidInputError} when a field does not fit its Solidity type.
 * @throws viem's error when the node cannot answer the ERC-1271 check (unreachable, or an error
 * of its own such as "header not found"): it says nothing about the signature; ask again.
 * @example
 * ```ts
 * import { verifyVoucher } from "settlekit";
 *
 * const ok = await verifyVoucher({ domain, voucher: { channelId, cumulativeAmount }, signer: channel.signer, signature });
 * ```
 */
export async function verifyVoucher({
  domain,
  voucher,
  signer,
  signature,
  publicClient,
  backend,
}: VerifyVoucherParameters): Promise<VerifyVoucherReturnType> {
  return verifyDigest(
    voucherDigest(domain, voucher),
    signer,
    signature,
    domain.verifyingContract,
    publicClient,
    backend,
  );
}

/**
 * Parameters of {@link verifyRelease}.
 *
 * @example
 * ```ts
 * import { verifyRelease, type VerifyReleaseParameters } from "settlekit";
 *
 * const parameters: VerifyReleaseParameters = { domain, release, signer: payer, signature };
 * const ok = await verifyRelease(parameters);
 * ```
 */
export interface VerifyReleaseParameters {
  domain: DeploymentDomain;
  release: Release;
  /** The escrow's payer. */
  signer: Address;
  signature: Hex;
  /** Enables the ERC-1271 check for smart-wallet payers (an eth_call from the Escrow's address). */
  publicClient?: PublicClient;
  /** Force a recovery implementation (benchmarks, tests); default the fastest available. */
  backend?: RecoveryBackend;
}
/**
 * Return type of {@link verifyRelease}.
 *
 * @example
 * ```ts
 * import { verifyRelease, type VerifyReleaseReturnType } from "settlekit";
 *
 * const ok: VerifyReleaseReturnType = await verifyRelease({ domain, release, signer: payer, signature });
 * ```
 */
export type VerifyReleaseReturnType = boolean;

/**
 * Whether `signature` is `signer`'s (the payer's) authorisation of the release. ECDSA first (no
 * RPC), then, with a `publicClient` and when `signer` has code, ERC-1271 `isValidSignature`,
 * called (eth_call) from `domain.verifyingContract` as the Escrow calls it on `releaseWithSig`.
 *
 * @throws {SettlekitInvalidInputError} when a field does not fit its Solidity type.
 * @throws viem's error when the node cannot answer the ERC-1271 check (unreachable, or an error
 * of its own such as "header not found"): it says nothing about the signature; ask again.
 * @example
 * ```ts
 * import { verifyRelease } from "settlekit";
 *
 * const ok = await verifyRelease({ domain, release, signer: escrowView.payer, signature, publicClient });
 * ```
 */
export async function verifyRelease({
  domain,
  release,
  signer,
  signature,
  publicClient,
  backend,
}: VerifyReleaseParameters): Promise<VerifyReleaseReturnType> {
  return verifyDigest(
    releaseDigest(domain, release),
    signer,
    signature,
    domain.verifyingContract,
    publicClient,
    backend,
  );
}
