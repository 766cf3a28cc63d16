/**
 * `npm run deploy -- --network <name>`: deploys the three settlekit contracts with Hardhat
 * Ignition (`deploy/modules/Settlekit.ts`), taking constructor parameters from
 * `deploy/parameters/<network>.json`, then writes the deployment record
 * `deploy/deployments/<chainId>.json` that the client library and the relayer read.
 *
 * Re-running resumes an interrupted deployment, or reports the contracts as already deployed.
 * Ignition's journal lives in `deploy/deployments/chain-<chainId>/`.
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { network } from "hardhat";
import SettlekitModule from "../deploy/modules/Settlekit.js";
import { loadDeployment } from "../src/client/index.js";
import {
  type DeploymentRecord,
  deploymentRecordPath,
  deploymentsDir,
  writeDeploymentRecord,
} from "./lib/deployments.js";

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
const deploymentId = process.env.SETTLEKIT_DEPLOYMENT_ID ?? `chain-${chainId}`;
const journalDir = path.join(root, "deploy", "deployments", deploymentId);

// A local node restarted since the last deployment has lost the contracts while Ignition's
// journal still lists them: start that local deployment afresh instead of "resuming" it.
const recordFile = deploymentRecordPath(chainId);
if (connection.networkConfig.type === "http" && chainId === 31337 && existsSync(recordFile)) {
  const previous = loadDeployment(chainId, { directory: deploymentsDir() });
  const escrowAddress = previous.contracts.Escrow?.address;
  const code = escrowAddress && (await publicClient.getCode({ address: escrowAddress }));
  if (!code || code === "0x") {
    console.log(`Local chain ${chainId} no longer has the recorded contracts: deploying afresh.`);
    rmSync(journalDir, { recursive: true, force: true });
  }
}

const addressesFile = path.join(journalDir, "deployed_addresses.json");
const deployedBefore = existsSync(addressesFile)
  ? Object.keys(JSON.parse(readFileSync(addressesFile, "utf8"))).length
  : 0;
const alreadyDeployed = deployedBefore >= 3;
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
if (connection.networkConfig.type === "http") writeDeploymentRecord(record);

console.log(
  `${alreadyDeployed ? "Already deployed" : "Deployed"} on ${networkName} (chain ${chainId}):\n` +
    `  Escrow           ${escrow.address}\n` +
    `  SettlementHub    ${hub.address}\n` +
    `  PaymentChannels  ${channels.address}\n` +
    (connection.networkConfig.type === "http"
      ? `Record: ${path.relative(root, recordFile)}`
      : "In-process network: nothing is recorded (the chain ends with this command)."),
);
