import type { Address, Hex } from "viem";
import { deployedAddress } from "../deployments.js";
import { escrowAbi } from "../generated/abis.js";
import { hashRelease } from "../signing/digest.js";
import { signRelease } from "../signing/sign.js";
import type { DeploymentDomain, Release } from "../signing/types.js";
import { verifyRelease } from "../signing/verify.js";
import {
  type ContractClient,
  createContractClient,
  type SettlekitPublicClient,
  type SettlekitWalletClient,
} from "./contract-client.js";
import { type BoundSignOptions, boundSigner, domainResolver } from "./domain.js";

const escrowEvents = {
  create: ["EscrowCreated"],
  createWithPermit: ["EscrowCreated"],
  release: ["EscrowReleased"],
  refund: ["EscrowRefunded"],
  releaseWithSig: ["EscrowReleased"],
  dispute: ["EscrowDisputed"],
  resolve: ["EscrowResolved"],
  settleExpired: ["EscrowExpired"],
  withdraw: ["OwedWithdrawn"],
  setFee: ["FeeUpdated"],
  setFeeRecipient: ["FeeRecipientUpdated"],
  pause: ["Paused"],
  unpause: ["Unpaused"],
  transferOwnership: ["OwnershipTransferStarted"],
  acceptOwnership: ["OwnershipTransferred"],
  renounceOwnership: ["OwnershipTransferred"],
} as const;

/**
 * Parameters of {@link createEscrowClient}.
 *
 * @example
 * ```ts
 * import { createEscrowClient, type CreateEscrowClientParameters } from "settlekit";
 *
 * const parameters: CreateEscrowClientParameters = { publicClient, walletClient, address: escrowAddress };
 * const escrow = createEscrowClient(parameters);
 * ```
 */
export interface CreateEscrowClientParameters {
  publicClient: SettlekitPublicClient;
  /** Needed for writes and for signing with the wallet's account. */
  walletClient?: SettlekitWalletClient;
  /** The Escrow contract; default the deployment record of the public client's chain (Node). */
  address?: Address;
}

/**
 * Signing helpers bound to one Escrow deployment.
 *
 * @example
 * ```ts
 * import { createEscrowClient, signRelease, type EscrowSigningHelpers } from "settlekit";
 *
 * const helpers: EscrowSigningHelpers = createEscrowClient({ publicClient, walletClient, address });
 * const signature = await helpers.signRelease({ id, releasedTotal: 100n, deadline });
 * ```
 */
export interface EscrowSigningHelpers {
  /** The Escrow's EIP-712 domain (chain id from the public client). */
  getDomain(): Promise<DeploymentDomain>;
  /** {@link hashRelease} for this Escrow: equals `releaseDigest(id, releasedTotal, deadline)`. */
  hashRelease(release: Release): Promise<Hex>;
  /** {@link signRelease} for this Escrow, by `options.account` or the wallet client's account. */
  signRelease(release: Release, options?: BoundSignOptions): Promise<Hex>;
  /** {@link verifyRelease} for this Escrow, with ERC-1271 support through the public client. */
  verifyRelease(release: Release, signer: Address, signature: Hex): Promise<boolean>;
}

/**
 * The typed Escrow client returned by {@link createEscrowClient}.
 *
 * @example
 * ```ts
 * import { createEscrowClient, type EscrowClient } from "settlekit";
 *
 * const escrow: EscrowClient = createEscrowClient({ publicClient, address });
 * const view = await escrow.getEscrow([1n]);
 * ```
 */
export type EscrowClient = ContractClient<typeof escrowAbi, typeof escrowEvents> & EscrowSigningHelpers;
/**
 * Return type of {@link createEscrowClient}.
 *
 * @example
 * ```ts
 * import { createEscrowClient, type CreateEscrowClientReturnType } from "settlekit";
 *
 * const escrow: CreateEscrowClientReturnType = createEscrowClient({ publicClient, address });
 * ```
 */
export type CreateEscrowClientReturnType = EscrowClient;

/**
 * A typed client for an Escrow deployment: a method per contract function (reads; writes that
 * simulate first and resolve to the hash; `…AndWait` variants resolving to the receipt and the
 * decoded event), typed events, reverts thrown as `SettlekitContractError`, and release signing
 * bound to the Escrow's EIP-712 domain.
 *
 * @throws {SettlekitDeploymentNotFoundError} when `address` is omitted and the chain has no record.
 * @example
 * ```ts
 * import { createEscrowClient } from "settlekit";
 * import { zeroAddress, zeroHash } from "viem";
 *
 * const escrow = createEscrowClient({ publicClient, walletClient, address: escrowAddress });
 * const { event } = await escrow.createAndWait(
 *   [{ payee, arbiter: zeroAddress, token: zeroAddress, amount: 1000n, deadline, onExpiry: 0, ref: zeroHash }],
 *   { value: 1000n },
 * );
 * const id = event.args.id;
 * // The payer authorises 400 in total; anyone may submit it.
 * const signature = await escrow.signRelease({ id, releasedTotal: 400n, deadline });
 * await escrow.releaseWithSigAndWait([id, 400n, deadline, signature]);
 * console.log(await escrow.remaining([id])); // 600n
 * ```
 */
export function createEscrowClient({
  publicClient,
  walletClient,
  address = deployedAddress("Escrow", publicClient.chain?.id),
}: CreateEscrowClientParameters): CreateEscrowClientReturnType {
  const contract = createContractClient({ abi: escrowAbi, address, publicClient, walletClient, events: escrowEvents });
  const getDomain = domainResolver(publicClient, contract.address);
  const helpers: EscrowSigningHelpers = {
    getDomain,
    hashRelease: async (release) => hashRelease({ domain: await getDomain(), release }),
    signRelease: async (release, options) =>
      signRelease({ ...boundSigner(walletClient, options, "signRelease"), domain: await getDomain(), release }),
    verifyRelease: async (release, signer, signature) =>
      verifyRelease({ domain: await getDomain(), release, signer, signature, publicClient }),
  };
  return Object.assign(contract, helpers);
}
