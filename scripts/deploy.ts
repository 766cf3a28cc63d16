/**
 * `npm run deploy -- --network <name>`: deploys the three settlekit contracts with Hardhat
 * Ignition (`deploy/modules/Settlekit.ts`), taking constructor parameters from
 * `deploy/parameters/<network>.json`, then writes the deployment record
 * `deploy/deployments/<chainId>.json` that the client library and the relayer read.
 *
 * Re-running resumes an interrupted deployment, or reports the contracts as already deployed.
 * Ignition's journal lives in `deploy/deployments/chain-<chainId>/`.
 *
 * A network that reports the chain id of another configured network (`localhost` on a fork of
 * Sepolia, say) gets a journal of its own (`<network>-chain-<chainId>/`) and must keep its
 * record out of the testnet's (`SETTLEKIT_DEPLOYMENTS_DIR`): neither may pass for the
 * testnet's. A record of the chain written by another network is never replaced, and a journal
 * listing contracts the chain does not have is not reported as deployed.
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import hre, { network } from "hardhat";
import type { Address } from "viem";
import SettlekitModule from "../deploy/modules/Settlekit.js";
import { type DeploymentRecord, deploymentRecordPath, writeDeploymentRecord } from "./lib/deployments.js";

const root = path.resolve(import.meta.dirname, "..");

/** Connects to the selected network; a missing configuration variable ends the run with a how-to. */
async function connect() {
  try {
    return await network.create();
  } catch (error) {
    const missing = /Configuration Variable "([^"]+)" not found/.exec(String((error as Error).message));
    if (missing === null) throw error;
    const name = missing[1];
    console.error(
      `Missing configuration variable ${name}.\n` +
        `Store it in the encrypted keystore:  npx hardhat keystore set ${name}\n` +
        `or export it for this shell:         export ${name}=...`,
    );
    process.exit(1);
  }
}

const connection = await connect();
const { networkName, ignition, viem } = connection;
const publicClient = await viem.getPublicClient();
const chainId = await publicClient.getChainId();

const parametersFile = path.join(root, "deploy", "parameters", `${networkName}.json`);
if (!existsSync(parametersFile)) {
  throw new Error(`No deployment parameters for network "${networkName}": create ${parametersFile}`);
}
const parameters = JSON.parse(readFileSync(parametersFile, "utf8"));
const recordFile = deploymentRecordPath(chainId);
const recorded = connection.networkConfig.type === "http";

/** Ends the run with `message`, before anything is deployed or recorded. */
function refuse(message: string): never {
  console.error(message);
  process.exit(1);
}

// The configured network this chain id belongs to, when it is another one: this network is then
// a fork (or a devnet reusing the id), whose deployment must not pass for that network's.
const chainOwner = Object.entries(hre.config.networks).find(
  ([name, config]) => name !== networkName && config.type === "http" && config.chainId === chainId,
)?.[0];
if (recorded && chainOwner !== undefined && !process.env.SETTLEKIT_DEPLOYMENTS_DIR) {
  refuse(
    `Network "${networkName}" reports chain ${chainId}, the chain id of network "${chainOwner}" (a fork?).\n` +
      `Its record would take the place of ${chainOwner}'s (${path.relative(root, recordFile)}), which the client ` +
      "and the relayer read.\nSet SETTLEKIT_DEPLOYMENTS_DIR to a folder for this chain's records (the client and " +
      "the relayer read it too).",
  );
}
if (recorded && existsSync(recordFile)) {
  const previous = JSON.parse(readFileSync(recordFile, "utf8")) as { network?: unknown };
  if (previous.network !== networkName) {
    refuse(
      `${recordFile} records a deployment on network "${String(previous.network)}", not "${networkName}", ` +
        `with the same chain id ${chainId}: it is not replaced.\n` +
        "Remove it if that deployment is gone, or set SETTLEKIT_DEPLOYMENTS_DIR to keep this network's records elsewhere.",
    );
  }
}

const deploymentId =
  process.env.SETTLEKIT_DEPLOYMENT_ID ??
  (chainOwner === undefined ? `chain-${chainId}` : `${networkName}-chain-${chainId}`);
const journalDir = path.join(root, "deploy", "deployments", deploymentId);
const addressesFile = path.join(journalDir, "deployed_addresses.json");

/** The contracts Ignition's journal lists as deployed (future id → address). */
const journaled = (): Record<string, Address> =>
  existsSync(addressesFile) ? JSON.parse(readFileSync(addressesFile, "utf8")) : {};

// A journal listing contracts the chain does not have belongs to another chain with this id: a
// local node restarted since (its deployment is started afresh), or a fork or reset devnet (the
// run stops: Ignition would "resume" it and report addresses with no code). The in-process
// network keeps no journal.
const missing: string[] = [];
for (const [future, address] of recorded ? Object.entries(journaled()) : []) {
  const code = await publicClient.getCode({ address });
  if (code === undefined || code === "0x") missing.push(`${future} at ${address}`);
}
if (missing.length > 0) {
  if (recorded && chainId === 31337) {
    console.log(`Local chain ${chainId} no longer has the journaled contracts: deploying afresh.`);
    rmSync(journalDir, { recursive: true, force: true });
  } else {
    refuse(
      `Ignition's journal ${path.relative(root, journalDir)} lists contracts chain ${chainId} does not have ` +
        `(${missing.join(", ")}): it is from another chain with this id (a fork, a reset devnet).\n` +
        "Remove that folder to deploy afresh, or set SETTLEKIT_DEPLOYMENT_ID to use another journal.",
    );
  }
}

const alreadyDeployed = Object.keys(journaled()).length >= 3;
const { escrow, hub, channels } = await ignition.deploy(SettlekitModule, {
  parameters,
  deploymentId,
  displayUi: false,
});

const record: DeploymentRecord = {
  chainId,
  network: networkName,
  contracts: {
    Escrow: { address: escrow.address },
    SettlementHub: { address: hub.address },
    PaymentChannels: { address: channels.address },
  },
};
if (recorded) writeDeploymentRecord(record);

console.log(
  `${alreadyDeployed ? "Already deployed" : "Deployed"} on ${networkName} (chain ${chainId}):\n` +
    `  Escrow           ${escrow.address}\n` +
    `  SettlementHub    ${hub.address}\n` +
    `  PaymentChannels  ${channels.address}\n` +
    (recorded
      ? `Record: ${path.relative(root, recordFile)}`
      : "In-process network: nothing is recorded (the chain ends with this command)."),
);
