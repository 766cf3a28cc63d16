import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { connectDeployment, selectContracts } from "./connect.js";

export default async function pause(args: { contract: string }, hre: HardhatRuntimeEnvironment) {
  const names = selectContracts(args.contract);
  const { clients } = await connectDeployment(hre);
  for (const name of names) {
    const { hash } = await clients[name].pauseAndWait();
    console.log(`${name}: paused (${hash})`);
  }
}
