import { createRequire } from "node:module";
import hardhatEthers from "@nomicfoundation/hardhat-ethers";
import hardhatToolboxViem from "@nomicfoundation/hardhat-toolbox-viem";
import hardhatTypechain from "@nomicfoundation/hardhat-typechain";
import { configVariable, defineConfig } from "hardhat/config";
import { opsTasks } from "./scripts/ops/tasks.js";

const require = createRequire(import.meta.url);
const solc = require("solc/package.json") as { version: string };

/** Reads a positive integer from the environment, so CI can run a deeper profile. */
function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new Error(`${name} must be a positive integer, got "${raw}"`);
  }
  return value;
}

/** A public testnet: RPC URL and deployer key come from configuration variables, never files. */
function testnet(chainId: number, rpcVariable: string) {
  return {
    type: "http" as const,
    chainType: "l1" as const,
    chainId,
    url: configVariable(rpcVariable),
    accounts: [configVariable("DEPLOYER_PRIVATE_KEY")],
  };
}

export default defineConfig({
  plugins: [hardhatToolboxViem, hardhatEthers, hardhatTypechain],
  tasks: opsTasks,
  solidity: {
    // The compiler comes from the npm package `solc` (WASM): nothing is ever downloaded.
    version: solc.version,
    path: require.resolve("solc/soljson.js"),
    settings: {
      evmVersion: "cancun",
      optimizer: { enabled: true, runs: 10_000 },
    },
  },
  paths: {
    tests: { nodejs: "test", solidity: "test/solidity" },
    ignition: "deploy",
  },
  test: {
    solidity: {
      fuzz: { runs: envInt("FUZZ_RUNS", 256) },
      invariant: {
        runs: envInt("INVARIANT_RUNS", 64),
        depth: envInt("INVARIANT_DEPTH", 32),
        failOnRevert: false,
      },
    },
  },
  typechain: {
    outDir: "types/ethers-contracts",
  },
  networks: {
    hardhat: { type: "edr-simulated", chainType: "l1", hardfork: "cancun" },
    // A local node (`npx hardhat node` or anvil). SETTLEKIT_LOCALHOST_URL points it elsewhere
    // on this machine (tests start nodes on free ports); it is not a secret.
    localhost: { type: "http", chainType: "l1", url: process.env.SETTLEKIT_LOCALHOST_URL ?? "http://127.0.0.1:8545" },
    sepolia: testnet(11155111, "SEPOLIA_RPC_URL"),
    baseSepolia: { ...testnet(84532, "BASE_SEPOLIA_RPC_URL"), chainType: "op" },
    arbitrumSepolia: { ...testnet(421614, "ARBITRUM_SEPOLIA_RPC_URL"), chainType: "generic" },
    opSepolia: { ...testnet(11155420, "OP_SEPOLIA_RPC_URL"), chainType: "op" },
  },
  verify: {
    etherscan: { apiKey: configVariable("ETHERSCAN_API_KEY") },
  },
});
