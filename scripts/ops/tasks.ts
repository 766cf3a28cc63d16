/**
 * Operations tasks for a deployed settlekit (`npx hardhat settlekit <task> --network <name>`),
 * each with `--help`. Addresses come from the deployment record of the network's chain; the
 * signer is the network's first account (the deployer key from the keystore on testnets).
 */
import { emptyTask, task } from "hardhat/config";
import { ArgumentType } from "hardhat/types/arguments";

const contractOption = {
  name: "contract",
  description: "Escrow, SettlementHub, PaymentChannels or all",
  defaultValue: "all",
} as const;

export const opsTasks = [
  emptyTask("settlekit", "Operate a deployed settlekit (owner actions and status)").build(),
  task(["settlekit", "status"], "Print owner, pending owner, pause state and fee settings of each contract")
    .setAction(() => import("./status.js"))
    .build(),
  task(["settlekit", "transfer-ownership"], "Start a two-step ownership transfer (e.g. to a multisig)")
    .addOption({ name: "to", description: "The new owner; it must call accept-ownership", defaultValue: "" })
    .addOption(contractOption)
    .setAction(() => import("./transfer-ownership.js"))
    .build(),
  task(["settlekit", "accept-ownership"], "Accept a pending ownership transfer (run as the new owner)")
    .addOption(contractOption)
    .setAction(() => import("./accept-ownership.js"))
    .build(),
  task(["settlekit", "set-fee"], "Set the Escrow protocol fee for new escrows (basis points, at most 500)")
    .addOption({ name: "bps", description: "Fee in basis points (0-500)", type: ArgumentType.INT, defaultValue: -1 })
    .setAction(() => import("./set-fee.js"))
    .build(),
  task(["settlekit", "pause"], "Pause the creation of new positions (exits are never paused)")
    .addOption(contractOption)
    .setAction(() => import("./pause.js"))
    .build(),
  task(["settlekit", "unpause"], "Resume the creation of new positions")
    .addOption(contractOption)
    .setAction(() => import("./unpause.js"))
    .build(),
];
