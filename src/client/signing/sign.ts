import type { Address, Hex, LocalAccount, TypedDataDomain, WalletClient } from "viem";
import { SettlekitInvalidInputError } from "../errors.js";
import { bytesToHex } from "./bytes.js";
import { type DomainName, paymentDigest, releaseDigest, voucherDigest } from "./digest.js";
import {
  type DeploymentDomain,
  DOMAIN_VERSION,
  ESCROW_DOMAIN_NAME,
  PAYMENT_CHANNELS_DOMAIN_NAME,
  type Payment,
  type Release,
  SETTLEMENT_HUB_DOMAIN_NAME,
  settlekitTypes,
  type Voucher,
} from "./types.js";

/**
 * Who signs: a local account (signs in-process), or an address whose key the `walletClient` holds.
 *
 * @example
 * ```ts
 * import { signVoucher, type SignerParameters } from "settlekit";
 *
 * const signer: SignerParameters = { account: privateKeyToAccount(key), domain };
 * const signature = await signVoucher({ ...signer, voucher });
 * ```
 */
export interface SignerParameters {
  /** A viem `LocalAccount` (e.g. `privateKeyToAccount`), or an address `walletClient` can sign for. */
  account: LocalAccount | Address;
  /** Needed when `account` is an address (JSON-RPC accounts sign with `eth_signTypedData_v4`). */
  walletClient?: WalletClient;
  domain: DeploymentDomain;
}

type PrimaryType = keyof typeof settlekitTypes;

async function signTyped(
  { account, walletClient, domain }: SignerParameters,
  name: DomainName,
  primaryType: PrimaryType,
  message: Payment | Voucher | Release,
  digest: Uint8Array,
): Promise<Hex> {
  const typedDomain: TypedDataDomain = {
    name,
    version: DOMAIN_VERSION,
    chainId: domain.chainId,
    verifyingContract: domain.verifyingContract,
  };
  // viem types `message` from `types` per primary type; the three shapes are checked by the public signatures.
  const typedData = {
    domain: typedDomain,
    types: settlekitTypes,
    primaryType,
    message: message as unknown as Record<string, unknown>,
  };
  if (typeof account === "object" && account !== null) {
    // A local key signs the digest directly: the same signature as signTypedData (RFC 6979
    // is deterministic), without hashing the typed data a second time.
    if (account.sign) return account.sign({ hash: bytesToHex(digest) });
    return account.signTypedData(typedData as Parameters<LocalAccount["signTypedData"]>[0]);
  }
  if (!walletClient) {
    throw new SettlekitInvalidInputError("walletClient", "required when `account` is an address");
  }
  return walletClient.signTypedData({ ...typedData, account } as Parameters<WalletClient["signTypedData"]>[0]);
}

/**
 * Parameters of {@link signPayment}.
 *
 * @example
 * ```ts
 * import { signPayment, type SignPaymentParameters } from "settlekit";
 *
 * const parameters: SignPaymentParameters = { account, domain, payment };
 * const signature = await signPayment(parameters);
 * ```
 */
export interface SignPaymentParameters extends SignerParameters {
  payment: Payment;
}
/**
 * Return type of {@link signPayment}: a 65-byte `r‖s‖v` signature.
 *
 * @example
 * ```ts
 * import { signPayment, type SignPaymentReturnType } from "settlekit";
 *
 * const signature: SignPaymentReturnType = await signPayment({ account, domain, payment });
 * ```
 */
export type SignPaymentReturnType = Hex;

/**
 * Signs a payment intent as EIP-712 typed data for the hub deployment `domain`. The signer must
 * be `payment.from` (or the ERC-1271 wallet's owner when `from` is a smart wallet).
 *
 * @throws {SettlekitInvalidInputError} when a field does not fit its Solidity type.
 * @example
 * ```ts
 * import { signPayment } from "settlekit";
 * import { privateKeyToAccount } from "viem/accounts";
 *
 * const account = privateKeyToAccount(process.env.PAYER_KEY as `0x${string}`);
 * const signature = await signPayment({ account, domain: { chainId: 31337, verifyingContract: hub }, payment });
 * ```
 */
export async function signPayment(parameters: SignPaymentParameters): Promise<SignPaymentReturnType> {
  const digest = paymentDigest(parameters.domain, parameters.payment);
  return signTyped(parameters, SETTLEMENT_HUB_DOMAIN_NAME, "Payment", parameters.payment, digest);
}

/**
 * Parameters of {@link signVoucher}.
 *
 * @example
 * ```ts
 * import { signVoucher, type SignVoucherParameters } from "settlekit";
 *
 * const parameters: SignVoucherParameters = { account, domain, voucher };
 * const signature = await signVoucher(parameters);
 * ```
 */
export interface SignVoucherParameters extends SignerParameters {
  voucher: Voucher;
}
/**
 * Return type of {@link signVoucher}: a 65-byte `r‖s‖v` signature.
 *
 * @example
 * ```ts
 * import { signVoucher, type SignVoucherReturnType } from "settlekit";
 *
 * const signature: SignVoucherReturnType = await signVoucher({ account, domain, voucher });
 * ```
 */
export type SignVoucherReturnType = Hex;

/**
 * Signs a voucher for the PaymentChannels deployment `domain`. The signer must be the
 * channel's `signer` (the payer or its delegated session key).
 *
 * @throws {SettlekitInvalidInputError} when a field does not fit its Solidity type.
 * @example
 * ```ts
 * import { signVoucher } from "settlekit";
 *
 * const signature = await signVoucher({ account: sessionKey, domain, voucher: { channelId, cumulativeAmount: 42n } });
 * ```
 */
export async function signVoucher(parameters: SignVoucherParameters): Promise<SignVoucherReturnType> {
  const digest = voucherDigest(parameters.domain, parameters.voucher);
  return signTyped(parameters, PAYMENT_CHANNELS_DOMAIN_NAME, "Voucher", parameters.voucher, digest);
}

/**
 * Parameters of {@link signRelease}.
 *
 * @example
 * ```ts
 * import { signRelease, type SignReleaseParameters } from "settlekit";
 *
 * const parameters: SignReleaseParameters = { account, domain, release };
 * const signature = await signRelease(parameters);
 * ```
 */
export interface SignReleaseParameters extends SignerParameters {
  release: Release;
}
/**
 * Return type of {@link signRelease}: a 65-byte `r‖s‖v` signature.
 *
 * @example
 * ```ts
 * import { signRelease, type SignReleaseReturnType } from "settlekit";
 *
 * const signature: SignReleaseReturnType = await signRelease({ account, domain, release });
 * ```
 */
export type SignReleaseReturnType = Hex;

/**
 * Signs an escrow release authorisation for the Escrow deployment `domain`; the signer must be
 * the escrow's payer. Anyone may then submit it with `releaseWithSig`.
 *
 * @throws {SettlekitInvalidInputError} when a field does not fit its Solidity type.
 * @example
 * ```ts
 * import { signRelease } from "settlekit";
 *
 * const signature = await signRelease({ account: payer, domain, release: { id, releasedTotal: 100n, deadline } });
 * ```
 */
export async function signRelease(parameters: SignReleaseParameters): Promise<SignReleaseReturnType> {
  const digest = releaseDigest(parameters.domain, parameters.release);
  return signTyped(parameters, ESCROW_DOMAIN_NAME, "Release", parameters.release, digest);
}
