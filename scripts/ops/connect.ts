import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import type { Address } from "viem";
import {
  createChannelClient,
  createEscrowClient,
  createSettlementClient,
  loadDeployment,
} from "../../src/client/index.js";
import { deploymentsDir } from "../lib/deployments.js";

export const CONTRACTS = ["Escrow", "SettlementHub", "PaymentChannels"] as const;
export type ContractName = (typeof CONTRACTS)[number];

/** The contracts named by a `--contract` option: one of {@link CONTRACTS}, or `all`. */
export function selectContracts(option: string): ContractName[] {
  if (option === "all") return [...CONTRACTS];
  const name = CONTRACTS.find((c) => c === option);
  if (name === undefined) throw new Error(`--contract must be one of ${CONTRACTS.join(", ")} or all, got "${option}"`);
  return [name];
}

/** Clients for the three deployed contracts of the selected network, signing as its first account. */
export async function connectDeployment(hre: HardhatRuntimeEnvironment) {
  const { viem, networkName } = await hre.network.create();
  const publicClient = await viem.getPublicClient();
  const [walletClient] = await viem.getWalletClients();
  const chainId = await publicClient.getChainId();
  const record = loadDeployment(chainId, { directory: deploymentsDir() });
  const address = (name: ContractName): Address => {
    const found = record.contracts[name]?.address;
    if (found === undefined) throw new Error(`The deployment record of chain ${chainId} has no ${name}`);
    return found;
  };
  const clients = {
    Escrow: createEscrowClient({ publicClient, walletClient, address: address("Escrow") }),
    SettlementHub: createSettlementClient({ publicClient, walletClient, address: address("SettlementHub") }),
    PaymentChannels: createChannelClient({ publicClient, walletClient, address: address("PaymentChannels") }),
  };
  return { networkName, chainId, publicClient, walletClient, clients };
}
