import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { getAddress, isAddress } from "viem";
import { connectDeployment, selectContracts } from "./connect.js";

export default async function transferOwnership(
  args: { to: string; contract: string },
  hre: HardhatRuntimeEnvironment,
) {
  if (!isAddress(args.to)) throw new Error(`--to must be an address, got "${args.to}"`);
  const to = getAddress(args.to);
  const names = selectContracts(args.contract);
  const { clients } = await connectDeployment(hre);
  for (const name of names) {
    const { hash } = await clients[name].transferOwnershipAndWait([to]);
    console.log(`${name}: ownership transfer to ${to} started (${hash}); ${to} must run accept-ownership`);
  }
}
