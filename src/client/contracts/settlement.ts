import type { Address, Hex } from "viem";
import { deployedAddress } from "../deployments.js";
import { settlementHubAbi } from "../generated/abis.js";
import { hashPayment } from "../signing/digest.js";
import { createNonceManager, type NonceManager } from "../signing/nonces.js";
import { signPayment } from "../signing/sign.js";
import type { DeploymentDomain, Payment } from "../signing/types.js";
import { verifyPayment } from "../signing/verify.js";
import {
  type ContractClient,
  createContractClient,
  type SettlekitPublicClient,
  type SettlekitWalletClient,
} from "./contract-client.js";
import { type BoundSignOptions, boundSigner, domainResolver } from "./domain.js";

const settlementEvents = {
  deposit: ["Deposited"],
  depositFor: ["Deposited"],
  settle: ["PaymentSettled"],
  invalidateNonces: ["NoncesInvalidated"],
  requestWithdrawal: ["WithdrawalRequested", "WithdrawalCancelled"],
  withdraw: ["Withdrawn"],
  pause: ["Paused"],
  unpause: ["Unpaused"],
  transferOwnership: ["OwnershipTransferStarted"],
  acceptOwnership: ["OwnershipTransferred"],
  renounceOwnership: ["OwnershipTransferred"],
} as const;

/**
 * Parameters of {@link createSettlementClient}.
 *
 * @example
 * ```ts
 * import { createSettlementClient, type CreateSettlementClientParameters } from "settlekit";
 *
 * const parameters: CreateSettlementClientParameters = { publicClient, walletClient, address: hubAddress };
 * const hub = createSettlementClient(parameters);
 * ```
 */
export interface CreateSettlementClientParameters {
  publicClient: SettlekitPublicClient;
  /** Needed for writes and for signing with the wallet's account. */
  walletClient?: SettlekitWalletClient;
  /** The hub; default the deployment record of the public client's chain (Node). */
  address?: Address;
}

/**
 * Signing helpers bound to one hub deployment.
 *
 * @example
 * ```ts
 * import { createSettlementClient, signPayment, type SettlementSigningHelpers } from "settlekit";
 *
 * const helpers: SettlementSigningHelpers = createSettlementClient({ publicClient, walletClient, address });
 * const signature = await helpers.signPayment(payment);
 * ```
 */
export interface SettlementSigningHelpers {
  /** The hub's EIP-712 domain (chain id from the public client). */
  getDomain(): Promise<DeploymentDomain>;
  /** {@link hashPayment} for this hub: equals `paymentDigest(payment)`. */
  hashPayment(payment: Payment): Promise<Hex>;
  /** {@link signPayment} for this hub, by `options.account` or the wallet client's account. */
  signPayment(payment: Payment, options?: BoundSignOptions): Promise<Hex>;
  /** {@link verifyPayment} for this hub, with ERC-1271 support through the public client. */
  verifyPayment(payment: Payment, signature: Hex): Promise<boolean>;
  /**
   * A {@link NonceManager} for `owner` that skips nonces the hub reports used (`nonceUsed`) and
   * the `reserved` ones (intents the relayer accepted and has not settled yet).
   */
  createNonceManager(owner: Address, options?: { wordPos?: bigint; reserved?: Iterable<bigint> }): NonceManager;
}

/**
 * The typed SettlementHub client returned by {@link createSettlementClient}.
 *
 * @example
 * ```ts
 * import { createSettlementClient, type SettlementClient } from "settlekit";
 *
 * const hub: SettlementClient = createSettlementClient({ publicClient, address });
 * const balance = await hub.balanceOf([account, zeroAddress]);
 * ```
 */
export type SettlementClient = ContractClient<typeof settlementHubAbi, typeof settlementEvents> &
  SettlementSigningHelpers;
/**
 * Return type of {@link createSettlementClient}.
 *
 * @example
 * ```ts
 * import { createSettlementClient, type CreateSettlementClientReturnType } from "settlekit";
 *
 * const hub: CreateSettlementClientReturnType = createSettlementClient({ publicClient, address });
 * ```
 */
export type CreateSettlementClientReturnType = SettlementClient;

/**
 * A typed client for a SettlementHub deployment: a method per contract function (reads; writes
 * that simulate first and resolve to the hash; `…AndWait` variants resolving to the receipt and
 * the decoded event), typed events, reverts thrown as `SettlekitContractError`, and signing
 * helpers bound to the hub's EIP-712 domain.
 *
 * @throws {SettlekitDeploymentNotFoundError} when `address` is omitted and the chain has no record.
 * @example
 * ```ts
 * import { createSettlementClient } from "settlekit";
 * import { zeroAddress } from "viem";
 *
 * const hub = createSettlementClient({ publicClient, walletClient, address: hubAddress });
 * await hub.depositAndWait([zeroAddress, 10n ** 18n], { value: 10n ** 18n });
 * const nonces = hub.createNonceManager(walletClient.account.address);
 * const payment = { ...draft, nonce: await nonces.next() };
 * const signature = await hub.signPayment(payment);
 * const { event } = await hub.settleAndWait([payment, signature]);
 * console.log(event.args.digest === (await hub.hashPayment(payment))); // true
 * ```
 */
export function createSettlementClient({
  publicClient,
  walletClient,
  address = deployedAddress("SettlementHub", publicClient.chain?.id),
}: CreateSettlementClientParameters): CreateSettlementClientReturnType {
  const contract = createContractClient({
    abi: settlementHubAbi,
    address,
    publicClient,
    walletClient,
    events: settlementEvents,
  });
  const getDomain = domainResolver(publicClient, contract.address);
  const helpers: SettlementSigningHelpers = {
    getDomain,
    hashPayment: async (payment) => hashPayment({ domain: await getDomain(), payment }),
    signPayment: async (payment, options) =>
      signPayment({ ...boundSigner(walletClient, options, "signPayment"), domain: await getDomain(), payment }),
    verifyPayment: async (payment, signature) =>
      verifyPayment({ domain: await getDomain(), payment, signature, publicClient }),
    createNonceManager: (owner, options) =>
      createNonceManager({
        owner,
        ...(options?.wordPos === undefined ? {} : { wordPos: options.wordPos }),
        ...(options?.reserved === undefined ? {} : { reserved: options.reserved }),
        source: { isUsed: (nonce) => contract.nonceUsed([owner, nonce]) },
      }),
  };
  return Object.assign(contract, helpers);
}
