import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { CONTRACTS, connectDeployment } from "./connect.js";

export default async function status(_args: Record<string, unknown>, hre: HardhatRuntimeEnvironment) {
  const { networkName, chainId, clients } = await connectDeployment(hre);
  console.log(`settlekit on ${networkName} (chain ${chainId})`);
  for (const name of CONTRACTS) {
    const client = clients[name];
    const [owner, pendingOwner, paused] = await Promise.all([client.owner(), client.pendingOwner(), client.paused()]);
    console.log(`${name.padEnd(16)} ${client.address}  owner ${owner}  pending ${pendingOwner}  paused ${paused}`);
  }
  const [feeBps, feeRecipient] = await Promise.all([clients.Escrow.feeBps(), clients.Escrow.feeRecipient()]);
  console.log(`Escrow fee       ${feeBps} bps to ${feeRecipient}`);
}
