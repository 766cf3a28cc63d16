import type { Address, Hex } from "viem";

/**
 * A payment intent (DESIGN §4 `Payment`): `from` pays `amount` of `token` to `to` and `fee` to
 * whoever settles it, once, with `nonce`, within `(validAfter, validBefore)`. Every integer is a
 * `bigint`, as every uint is in viem; `validAfter`/`validBefore` must fit 64 bits.
 *
 * @example
 * ```ts
 * import type { Payment } from "settlekit";
 *
 * const payment: Payment = {
 *   from: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
 *   to: "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
 *   token: "0x0000000000000000000000000000000000000000",
 *   amount: 1_000_000n,
 *   fee: 1_000n,
 *   nonce: 0n,
 *   validAfter: 0n,
 *   validBefore: 2_000_000_000n,
 *   ref: "0x0000000000000000000000000000000000000000000000000000000000000000",
 * };
 * ```
 */
export interface Payment {
  from: Address;
  to: Address;
  token: Address;
  amount: bigint;
  fee: bigint;
  nonce: bigint;
  validAfter: bigint;
  validBefore: bigint;
  ref: Hex;
}

/**
 * A payment-channel voucher (DESIGN §5): the payer owes the payee `cumulativeAmount` in total
 * on `channelId`. Only the latest voucher ever needs to go on-chain.
 *
 * @example
 * ```ts
 * import { channelIdOf, type Voucher } from "settlekit";
 *
 * const voucher: Voucher = { channelId: channelIdOf({ payer, payee, token, salt }), cumulativeAmount: 250n };
 * ```
 */
export interface Voucher {
  channelId: Hex;
  cumulativeAmount: bigint;
}

/**
 * An escrow release authorisation (DESIGN §3): the payer agrees that escrow `id` has released
 * `releasedTotal` in total, valid until `deadline` (unix seconds).
 *
 * @example
 * ```ts
 * import type { Release } from "settlekit";
 *
 * const release: Release = { id: 1n, releasedTotal: 500n, deadline: 2_000_000_000n };
 * ```
 */
export interface Release {
  id: bigint;
  releasedTotal: bigint;
  deadline: bigint;
}

/**
 * The EIP-712 domain of one deployment. `name` and `version` are fixed per contract
 * ({@link ESCROW_DOMAIN_NAME} and friends, {@link DOMAIN_VERSION}).
 *
 * @example
 * ```ts
 * import type { DeploymentDomain } from "settlekit";
 *
 * const domain: DeploymentDomain = { chainId: 31337, verifyingContract: "0x5FbDB2315678afecb367f032d93F642f64180aa3" };
 * ```
 */
export interface DeploymentDomain {
  chainId: number;
  verifyingContract: Address;
}

/**
 * EIP-712 domain name of `Escrow`.
 *
 * @example
 * ```ts
 * import { DOMAIN_VERSION, ESCROW_DOMAIN_NAME } from "settlekit";
 *
 * const domain = { name: ESCROW_DOMAIN_NAME, version: DOMAIN_VERSION, chainId, verifyingContract };
 * ```
 */
export const ESCROW_DOMAIN_NAME = "settlekit Escrow";

/**
 * EIP-712 domain name of `SettlementHub`.
 *
 * @example
 * ```ts
 * import { DOMAIN_VERSION, SETTLEMENT_HUB_DOMAIN_NAME } from "settlekit";
 *
 * const domain = { name: SETTLEMENT_HUB_DOMAIN_NAME, version: DOMAIN_VERSION, chainId, verifyingContract };
 * ```
 */
export const SETTLEMENT_HUB_DOMAIN_NAME = "settlekit SettlementHub";

/**
 * EIP-712 domain name of `PaymentChannels`.
 *
 * @example
 * ```ts
 * import { DOMAIN_VERSION, PAYMENT_CHANNELS_DOMAIN_NAME } from "settlekit";
 *
 * const domain = { name: PAYMENT_CHANNELS_DOMAIN_NAME, version: DOMAIN_VERSION, chainId, verifyingContract };
 * ```
 */
export const PAYMENT_CHANNELS_DOMAIN_NAME = "settlekit PaymentChannels";

/**
 * EIP-712 domain version shared by the three contracts.
 *
 * @example
 * ```ts
 * import { DOMAIN_VERSION } from "settlekit";
 *
 * console.log(DOMAIN_VERSION); // "1"
 * ```
 */
export const DOMAIN_VERSION = "1";

/**
 * The EIP-712 `types` of the three signed messages, in viem's `signTypedData` shape. Use them to
 * sign with any EIP-712 signer (a hardware wallet, a custody API, `eth_signTypedData_v4`).
 *
 * @example
 * ```ts
 * import { DOMAIN_VERSION, SETTLEMENT_HUB_DOMAIN_NAME, settlekitTypes } from "settlekit";
 *
 * const signature = await walletClient.signTypedData({
 *   account,
 *   domain: { name: SETTLEMENT_HUB_DOMAIN_NAME, version: DOMAIN_VERSION, chainId, verifyingContract },
 *   types: settlekitTypes,
 *   primaryType: "Payment",
 *   message: payment,
 * });
 * ```
 */
export const settlekitTypes = {
  Payment: [
    { name: "from", type: "address" },
    { name: "to", type: "address" },
    { name: "token", type: "address" },
    { name: "amount", type: "uint256" },
    { name: "fee", type: "uint256" },
    { name: "nonce", type: "uint256" },
    { name: "validAfter", type: "uint64" },
    { name: "validBefore", type: "uint64" },
    { name: "ref", type: "bytes32" },
  ],
  Voucher: [
    { name: "channelId", type: "bytes32" },
    { name: "cumulativeAmount", type: "uint256" },
  ],
  Release: [
    { name: "id", type: "uint256" },
    { name: "releasedTotal", type: "uint256" },
    { name: "deadline", type: "uint256" },
  ],
} as const;
