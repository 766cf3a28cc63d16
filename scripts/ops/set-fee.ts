import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { connectDeployment } from "./connect.js";

export default async function setFee(args: { bps: number }, hre: HardhatRuntimeEnvironment) {
  if (!Number.isInteger(args.bps) || args.bps < 0 || args.bps > 500) {
    throw new Error(`--bps must be an integer from 0 to 500 (5%), got ${args.bps}`);
  }
  const { clients } = await connectDeployment(hre);
  const { hash } = await clients.Escrow.setFeeAndWait([args.bps]);
  console.log(`Escrow fee set to ${args.bps} bps for new escrows (${hash})`);
}
