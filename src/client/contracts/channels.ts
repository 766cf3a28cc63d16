import type { Address, Hex } from "viem";
import { deployedAddress } from "../deployments.js";
import { paymentChannelsAbi } from "../generated/abis.js";
import { hashVoucher } from "../signing/digest.js";
import { signVoucher } from "../signing/sign.js";
import type { DeploymentDomain, Voucher } from "../signing/types.js";
import { verifyVoucher } from "../signing/verify.js";
import {
  type ContractClient,
  createContractClient,
  type SettlekitPublicClient,
  type SettlekitWalletClient,
} from "./contract-client.js";
import { type BoundSignOptions, boundSigner, domainResolver } from "./domain.js";

const channelEvents = {
  open: ["ChannelOpened"],
  topUp: ["ChannelToppedUp"],
  requestClose: ["ChannelCloseRequested"],
  claim: ["ChannelClaimed"],
  close: ["ChannelClosed"],
  finalizeClose: ["ChannelClosed"],
  withdraw: ["OwedWithdrawn"],
  pause: ["Paused"],
  unpause: ["Unpaused"],
  transferOwnership: ["OwnershipTransferStarted"],
  acceptOwnership: ["OwnershipTransferred"],
  renounceOwnership: ["OwnershipTransferred"],
} as const;

/**
 * Parameters of {@link createChannelClient}.
 *
 * @example
 * ```ts
 * import { createChannelClient, type CreateChannelClientParameters } from "settlekit";
 *
 * const parameters: CreateChannelClientParameters = { publicClient, walletClient, address: channelsAddress };
 * const channels = createChannelClient(parameters);
 * ```
 */
export interface CreateChannelClientParameters {
  publicClient: SettlekitPublicClient;
  /** Needed for writes and for signing with the wallet's account. */
  walletClient?: SettlekitWalletClient;
  /** The PaymentChannels contract; default the deployment record of the public client's chain (Node). */
  address?: Address;
}

/**
 * Signing helpers bound to one PaymentChannels deployment.
 *
 * @example
 * ```ts
 * import { createChannelClient, signVoucher, type ChannelSigningHelpers } from "settlekit";
 *
 * const helpers: ChannelSigningHelpers = createChannelClient({ publicClient, walletClient, address });
 * const signature = await helpers.signVoucher({ channelId, cumulativeAmount: 10n });
 * ```
 */
export interface ChannelSigningHelpers {
  /** The contract's EIP-712 domain (chain id from the public client). */
  getDomain(): Promise<DeploymentDomain>;
  /** {@link hashVoucher} for this deployment: equals `voucherDigest(channelId, cumulativeAmount)`. */
  hashVoucher(voucher: Voucher): Promise<Hex>;
  /** {@link signVoucher} for this deployment, by `options.account` or the wallet client's account. */
  signVoucher(voucher: Voucher, options?: BoundSignOptions): Promise<Hex>;
  /** {@link verifyVoucher} for this deployment, with ERC-1271 support through the public client. */
  verifyVoucher(voucher: Voucher, signer: Address, signature: Hex): Promise<boolean>;
}

/**
 * The typed PaymentChannels client returned by {@link createChannelClient}.
 *
 * @example
 * ```ts
 * import { createChannelClient, type ChannelClient } from "settlekit";
 *
 * const channels: ChannelClient = createChannelClient({ publicClient, address });
 * const channel = await channels.getChannel([channelId]);
 * ```
 */
export type ChannelClient = ContractClient<typeof paymentChannelsAbi, typeof channelEvents> & ChannelSigningHelpers;
/**
 * Return type of {@link createChannelClient}.
 *
 * @example
 * ```ts
 * import { createChannelClient, type CreateChannelClientReturnType } from "settlekit";
 *
 * const channels: CreateChannelClientReturnType = createChannelClient({ publicClient, address });
 * ```
 */
export type CreateChannelClientReturnType = ChannelClient;

/**
 * A typed client for a PaymentChannels deployment: a method per contract function (reads;
 * writes that simulate first and resolve to the hash; `…AndWait` variants resolving to the
 * receipt and the decoded event), typed events, reverts thrown as `SettlekitContractError`, and
 * voucher signing bound to the contract's EIP-712 domain.
 *
 * @throws {SettlekitDeploymentNotFoundError} when `address` is omitted and the chain has no record.
 * @example
 * ```ts
 * import { channelIdOf, createChannelClient } from "settlekit";
 * import { zeroAddress } from "viem";
 *
 * const channels = createChannelClient({ publicClient, walletClient, address: channelsAddress });
 * const payer = walletClient.account.address;
 * const { event } = await channels.openAndWait([payee, zeroAddress, payer, 1000n, salt], { value: 1000n });
 * console.log(event.args.channelId === channelIdOf({ payer, payee, token: zeroAddress, salt })); // true
 * const signature = await channels.signVoucher({ channelId: event.args.channelId, cumulativeAmount: 250n });
 * // …the payee verifies it off-chain, and claims the latest voucher when it likes:
 * const ok = await channels.verifyVoucher({ channelId: event.args.channelId, cumulativeAmount: 250n }, payer, signature);
 * ```
 */
export function createChannelClient({
  publicClient,
  walletClient,
  address = deployedAddress("PaymentChannels", publicClient.chain?.id),
}: CreateChannelClientParameters): CreateChannelClientReturnType {
  const contract = createContractClient({
    abi: paymentChannelsAbi,
    address,
    publicClient,
    walletClient,
    events: channelEvents,
  });
  const getDomain = domainResolver(publicClient, contract.address);
  const helpers: ChannelSigningHelpers = {
    getDomain,
    hashVoucher: async (voucher) => hashVoucher({ domain: await getDomain(), voucher }),
    signVoucher: async (voucher, options) =>
      signVoucher({ ...boundSigner(walletClient, options, "signVoucher"), domain: await getDomain(), voucher }),
    verifyVoucher: async (voucher, signer, signature) =>
      verifyVoucher({ domain: await getDomain(), voucher, signer, signature, publicClient }),
  };
  return Object.assign(contract, helpers);
}
