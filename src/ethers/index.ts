// settlekit for ethers v6 (`import … from "settlekit/ethers"`): the TypeChain bindings of the
// three contracts, generated into types/ethers-contracts by `npm run build`. Signing helpers
// and ABIs live in the main entry (`settlekit`) and work with ethers too (they are plain data).

/**
 * The ethers v6 contract type of `Escrow`: typed methods, `filters` and events.
 *
 * @example
 * ```ts
 * import { Escrow__factory, type Escrow } from "settlekit/ethers";
 *
 * const escrow: Escrow = Escrow__factory.connect(address, signer);
 * ```
 */
/**
 * Structs and event types of `Escrow` (`CreateParamsStruct`, `EscrowViewStructOutput`, ...).
 *
 * @example
 * ```ts
 * import type { EscrowTypes } from "settlekit/ethers";
 *
 * const params: EscrowTypes.CreateParamsStruct = { payee, arbiter, token, amount, deadline, onExpiry: 0, ref };
 * ```
 */
export type { Escrow, IEscrow as EscrowTypes } from "../../types/ethers-contracts/escrow/Escrow.js";
/**
 * Deploys or connects `Escrow` with ethers v6.
 *
 * @example
 * ```ts
 * import { Escrow__factory } from "settlekit/ethers";
 *
 * const escrow = await new Escrow__factory(signer).deploy(owner, feeRecipient, 50, 7n * 86_400n);
 * const remaining = await Escrow__factory.connect(await escrow.getAddress(), provider).remaining(1n);
 * ```
 */
export { Escrow__factory } from "../../types/ethers-contracts/factories/escrow/Escrow__factory.js";
/**
 * Deploys or connects `PaymentChannels` with ethers v6.
 *
 * @example
 * ```ts
 * import { PaymentChannels__factory } from "settlekit/ethers";
 *
 * const channels = PaymentChannels__factory.connect(address, signer);
 * await channels.claim(channelId, cumulativeAmount, signature);
 * ```
 */
export { PaymentChannels__factory } from "../../types/ethers-contracts/factories/micropayments/PaymentChannels__factory.js";
/**
 * Deploys or connects `SettlementHub` with ethers v6.
 *
 * @example
 * ```ts
 * import { SettlementHub__factory } from "settlekit/ethers";
 *
 * const hub = SettlementHub__factory.connect(address, signer);
 * await hub.deposit(ethers.ZeroAddress, amount, { value: amount });
 * ```
 */
export { SettlementHub__factory } from "../../types/ethers-contracts/factories/settlement/SettlementHub__factory.js";
/**
 * The ethers v6 contract type of `PaymentChannels`.
 *
 * @example
 * ```ts
 * import { PaymentChannels__factory, type PaymentChannels } from "settlekit/ethers";
 *
 * const channels: PaymentChannels = PaymentChannels__factory.connect(address, signer);
 * ```
 */
/**
 * Structs and event types of `PaymentChannels` (`ChannelStructOutput`, `ClaimStruct`, ...).
 *
 * @example
 * ```ts
 * import type { PaymentChannelsTypes } from "settlekit/ethers";
 *
 * const claim: PaymentChannelsTypes.ClaimStruct = { channelId, cumulativeAmount, signature };
 * ```
 */
export type {
  IPaymentChannels as PaymentChannelsTypes,
  PaymentChannels,
} from "../../types/ethers-contracts/micropayments/PaymentChannels.js";
/**
 * The ethers v6 contract type of `SettlementHub`.
 *
 * @example
 * ```ts
 * import { SettlementHub__factory, type SettlementHub } from "settlekit/ethers";
 *
 * const hub: SettlementHub = SettlementHub__factory.connect(address, signer);
 * ```
 */
/**
 * Structs and event types of `SettlementHub` (`PaymentStruct`, `WithdrawalRequestStructOutput`, ...).
 *
 * @example
 * ```ts
 * import type { SettlementHubTypes } from "settlekit/ethers";
 *
 * const payment: SettlementHubTypes.PaymentStruct = { from, to, token, amount, fee, nonce, validAfter, validBefore, ref };
 * ```
 */
export type {
  ISettlementHub as SettlementHubTypes,
  SettlementHub,
} from "../../types/ethers-contracts/settlement/SettlementHub.js";
