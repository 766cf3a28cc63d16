import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { expect } from "chai";
import { createPublicClient, http } from "viem";
import { hardhat } from "viem/chains";
import { type LocalChain, startAnvil } from "../../scripts/lib/anvil.js";
import {
  createChannelClient,
  createEscrowClient,
  createSettlementClient,
  loadDeployment,
} from "../../src/client/index.js";

const root = path.resolve(import.meta.dirname, "..", "..");
const parameters = JSON.parse(readFileSync(path.join(root, "deploy", "parameters", "localhost.json"), "utf8"));

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `npm run deploy -- --network <name>` as a user would, with extra environment. */
function runDeploy(networkName: string, env: Record<string, string>, unset: string[] = []): Promise<RunResult> {
  return run("npm", ["run", "--silent", "deploy", "--", "--network", networkName], env, unset);
}

function run(command: string, args: string[], env: Record<string, string>, unset: string[] = []): Promise<RunResult> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, HARDHAT_DISABLE_TELEMETRY: "true", ...env };
  for (const name of unset) delete childEnv[name];
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: root, env: childEnv });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("npm run deploy", { timeout: 240_000 }, () => {
  let chain: LocalChain;
  let recordsDir: string;
  const deploymentId = `test-${process.pid}-${Date.now()}`;
  let env: Record<string, string>;

  before(async () => {
    chain = await startAnvil(); // lifts the code-size limit under --coverage only (see coverageArgs)
    recordsDir = mkdtempSync(path.join(tmpdir(), "settlekit-deployments-"));
    env = {
      SETTLEKIT_LOCALHOST_URL: chain.url,
      SETTLEKIT_DEPLOYMENTS_DIR: recordsDir,
      SETTLEKIT_DEPLOYMENT_ID: deploymentId,
    };
    // The client library in this process reads its default addresses from the same records.
    process.env.SETTLEKIT_DEPLOYMENTS_DIR = recordsDir;
  });

  after(async () => {
    delete process.env.SETTLEKIT_DEPLOYMENTS_DIR;
    await chain?.stop();
    rmSync(recordsDir, { recursive: true, force: true });
    rmSync(path.join(root, "deploy", "deployments", deploymentId), { recursive: true, force: true });
  });

  it("deploys the three contracts to a local node with the network's parameters, then reports them as already deployed", async () => {
    const first = await runDeploy("localhost", env);
    expect(first.code, first.stderr).to.equal(0);
    expect(first.stdout).to.match(/^Deployed on localhost \(chain 31337\)/m);

    // A client built from the records alone reads each contract.
    const publicClient = createPublicClient({ chain: hardhat, transport: http(chain.url) });
    const escrow = createEscrowClient({ publicClient });
    const hub = createSettlementClient({ publicClient });
    const channels = createChannelClient({ publicClient });
    expect(await escrow.resolutionTimeout()).to.equal(BigInt(parameters.Escrow.resolutionTimeout));
    expect(await hub.withdrawalDelay()).to.equal(BigInt(parameters.SettlementHub.withdrawalDelay));
    expect(await channels.challengePeriod()).to.equal(BigInt(parameters.PaymentChannels.challengePeriod));
    const record = loadDeployment(31337);
    expect(escrow.address).to.equal(record.contracts.Escrow?.address);
    for (const { address } of Object.values(record.contracts)) {
      const code = await publicClient.getCode({ address });
      expect(code?.length ?? 0, `no code at ${address}`).to.be.greaterThan(2);
    }

    const blockBefore = await publicClient.getBlockNumber();
    const second = await runDeploy("localhost", env);
    expect(second.code, second.stderr).to.equal(0);
    expect(second.stdout).to.match(/^Already deployed on localhost/m);
    expect(await publicClient.getBlockNumber(), "a re-run sent transactions").to.equal(blockBefore);
    expect(loadDeployment(31337).contracts).to.deep.equal(record.contracts);

    // The ops tasks act on the recorded deployment.
    const setFee = await run("npx", ["hardhat", "settlekit", "set-fee", "--bps", "100", "--network", "localhost"], env);
    expect(setFee.code, setFee.stderr).to.equal(0);
    expect(await escrow.feeBps()).to.equal(100);
    const tooHigh = await run(
      "npx",
      ["hardhat", "settlekit", "set-fee", "--bps", "501", "--network", "localhost"],
      env,
    );
    expect(tooHigh.code).to.not.equal(0);
    expect(tooHigh.stdout + tooHigh.stderr).to.include("--bps must be an integer from 0 to 500");
    const status = await run("npx", ["hardhat", "settlekit", "status", "--network", "localhost"], env);
    expect(status.code, status.stderr).to.equal(0);
    expect(status.stdout).to.include("Escrow fee       100 bps");
    expect(status.stdout).to.include(`SettlementHub    ${hub.address}`);
  });

  it("fails at once, naming the variable, when a testnet's RPC URL is not configured", async () => {
    const isolatedConfig = mkdtempSync(path.join(tmpdir(), "settlekit-no-keystore-"));
    try {
      // No keystore and no variable: nothing can supply SEPOLIA_RPC_URL.
      const result = await runDeploy("sepolia", { ...env, XDG_CONFIG_HOME: isolatedConfig }, [
        "SEPOLIA_RPC_URL",
        "DEPLOYER_PRIVATE_KEY",
      ]);
      expect(result.code).to.not.equal(0);
      expect(result.stdout + result.stderr).to.include("SEPOLIA_RPC_URL");
      expect(result.stdout + result.stderr).to.match(/keystore set SEPOLIA_RPC_URL/);
    } finally {
      rmSync(isolatedConfig, { recursive: true, force: true });
    }
  });

  it("wires contract verification to the explorer key configuration variable", async () => {
    const { default: hre } = await import("hardhat");
    const apiKey = hre.config.verify.etherscan.apiKey as unknown as { _type: string; name: string };
    expect(hre.config.verify.etherscan.enabled).to.equal(true);
    expect(apiKey).to.include({ _type: "ResolvedConfigurationVariable", name: "ETHERSCAN_API_KEY" });
    const verify = await run("npx", ["hardhat", "ignition", "verify", "--help"], {});
    expect(verify.code).to.equal(0);
    expect(verify.stdout).to.include("Verify contracts from a deployment");
  });
});

// Invariant: a network that reuses a configured testnet's chain id (a fork through localhost)
// never passes for that testnet: not in the records the client and relayer read, not in
// Ignition's journal, and a journal of contracts the chain lacks is never "already deployed".
describe("npm run deploy on a chain that reuses a testnet's chain id (a fork)", { timeout: 240_000 }, () => {
  const SEPOLIA = 11155111;
  const deploymentsRoot = path.join(root, "deploy", "deployments");
  const testnetJournal = path.join(deploymentsRoot, `chain-${SEPOLIA}`);
  const testnetRecord = path.join(deploymentsRoot, `${SEPOLIA}.json`);
  const forkJournal = path.join(deploymentsRoot, `localhost-chain-${SEPOLIA}`);
  // Never touch a real testnet journal or record of the developer running the tests.
  const existedBefore = [testnetJournal, testnetRecord, forkJournal].filter((file) => existsSync(file));
  let chain: LocalChain | undefined;
  let recordsDir: string;

  before(async () => {
    if (existedBefore.length > 0) throw new Error(`remove or move ${existedBefore.join(", ")} to run these tests`);
    chain = await startAnvil({ chainId: SEPOLIA });
    recordsDir = mkdtempSync(path.join(tmpdir(), "settlekit-fork-deployments-"));
  });

  after(async () => {
    await chain?.stop();
    rmSync(recordsDir, { recursive: true, force: true });
    for (const file of [testnetJournal, testnetRecord, forkJournal]) rmSync(file, { recursive: true, force: true });
  });

  const forkEnv = () => ({ SETTLEKIT_LOCALHOST_URL: (chain as LocalChain).url });

  it("refuses to record the fork where the testnet's record is read, before deploying anything", async () => {
    const result = await runDeploy("localhost", forkEnv(), ["SETTLEKIT_DEPLOYMENTS_DIR", "SETTLEKIT_DEPLOYMENT_ID"]);
    expect(result.code).to.not.equal(0);
    expect(result.stderr).to.include(`reports chain ${SEPOLIA}, the chain id of network "sepolia"`);
    expect(result.stderr).to.include("SETTLEKIT_DEPLOYMENTS_DIR");
    expect(existsSync(testnetRecord), "no record").to.equal(false);
    expect(existsSync(testnetJournal), "no journal").to.equal(false);
  });

  it("deploys the fork with records elsewhere and a journal of its own, never the testnet's", async () => {
    const result = await runDeploy("localhost", { ...forkEnv(), SETTLEKIT_DEPLOYMENTS_DIR: recordsDir }, [
      "SETTLEKIT_DEPLOYMENT_ID",
    ]);
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.match(new RegExp(`^Deployed on localhost \\(chain ${SEPOLIA}\\)`, "m"));
    expect(existsSync(path.join(forkJournal, "deployed_addresses.json"))).to.equal(true);
    expect(existsSync(testnetJournal)).to.equal(false);
    const record = JSON.parse(readFileSync(path.join(recordsDir, `${SEPOLIA}.json`), "utf8"));
    expect(record).to.include({ chainId: SEPOLIA, network: "localhost" });
  });

  it("never reports a journal's contracts the chain does not have as already deployed", async () => {
    // A fresh fork (the node restarted): the journal of the last run lists contracts it lacks.
    await chain?.stop();
    chain = await startAnvil({ chainId: SEPOLIA });
    const result = await runDeploy("localhost", { ...forkEnv(), SETTLEKIT_DEPLOYMENTS_DIR: recordsDir }, [
      "SETTLEKIT_DEPLOYMENT_ID",
    ]);
    expect(result.code).to.not.equal(0);
    expect(result.stdout).to.not.include("Already deployed");
    expect(result.stderr).to.include(`lists contracts chain ${SEPOLIA} does not have`);
    expect(result.stderr).to.include(`localhost-chain-${SEPOLIA}`);
  });

  it("never replaces a record of the chain written by another network", async () => {
    rmSync(forkJournal, { recursive: true, force: true });
    const record = `${JSON.stringify({ chainId: SEPOLIA, network: "sepolia", contracts: {} })}\n`;
    writeFileSync(path.join(recordsDir, `${SEPOLIA}.json`), record);
    const result = await runDeploy("localhost", { ...forkEnv(), SETTLEKIT_DEPLOYMENTS_DIR: recordsDir }, [
      "SETTLEKIT_DEPLOYMENT_ID",
    ]);
    expect(result.code).to.not.equal(0);
    expect(result.stderr).to.include('records a deployment on network "sepolia", not "localhost"');
    expect(readFileSync(path.join(recordsDir, `${SEPOLIA}.json`), "utf8")).to.equal(record);
    expect(existsSync(forkJournal), "nothing deployed").to.equal(false);
  });
});
