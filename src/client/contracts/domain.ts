import type { Address, LocalAccount } from "viem";
import { SettlekitMissingWalletClientError } from "../errors.js";
import type { SignerParameters } from "../signing/sign.js";
import type { DeploymentDomain } from "../signing/types.js";
import type { SettlekitPublicClient, SettlekitWalletClient } from "./contract-client.js";

/**
 * Options of a client's bound `sign…` helper.
 *
 * @example
 * ```ts
 * import { signVoucher, type BoundSignOptions } from "settlekit";
 *
 * const options: BoundSignOptions = { account: sessionKey };
 * const signature = await channels.signVoucher(voucher, options);
 * ```
 */
export interface BoundSignOptions {
  /** Signer; default the wallet client's account. */
  account?: LocalAccount | Address;
}

/**
 * @internal The domain of one deployment. The chain id is the public client's `chain`, else asked
 * of the node once: concurrent callers share one `eth_chainId` request, its answer is kept, and a
 * failed request is forgotten, so the next call asks again instead of failing for good.
 */
export function domainResolver(publicClient: SettlekitPublicClient, address: Address): () => Promise<DeploymentDomain> {
  let domain: Promise<DeploymentDomain> | undefined;
  return () => {
    domain ??= (async () => ({
      chainId: publicClient.chain?.id ?? (await publicClient.getChainId()),
      verifyingContract: address,
    }))().catch((error: unknown) => {
      domain = undefined;
      throw error;
    });
    return domain;
  };
}

/** @internal The signer of a bound helper: an explicit account, else the wallet client's. */
export function boundSigner(
  walletClient: SettlekitWalletClient | undefined,
  options: BoundSignOptions | undefined,
  helper: string,
): Pick<SignerParameters, "account" | "walletClient"> {
  const account = options?.account ?? walletClient?.account;
  if (!account) throw new SettlekitMissingWalletClientError(helper);
  if (typeof account === "string") return walletClient ? { account, walletClient } : { account };
  if (account.type === "local") return { account: account as LocalAccount };
  return walletClient ? { account: account.address, walletClient } : { account: account.address };
}
