import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type LocalChain, startAnvil as startLocalChain } from "../../../scripts/lib/anvil.js";
import { PROJECT_ROOT } from "../../../src/relayer/config.js";

/** Anvil's default dev accounts (mnemonic "test test … junk"), funded with 10,000 ETH each. */
export const ANVIL_KEYS = [
  "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
  "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
  "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
  "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
] as const;

export type Anvil = LocalChain;

/**
 * Starts the npm anvil on 127.0.0.1 on a free port, quietly, refusing transactions over EIP-7825's
 * gas cap as chains since Osaka do (anvil does not by default); `stop()` kills it by its PID.
 */
export const startAnvil = (): Promise<Anvil> => startLocalChain({ args: ["--quiet", "--enable-tx-gas-limit"] });

/** Deployable bytecode of a compiled contract (the Hardhat build runs before the tests). */
export function bytecodeOf(folder: string, name: string): `0x${string}` {
  const artifact = JSON.parse(
    readFileSync(join(PROJECT_ROOT, "artifacts", "contracts", folder, `${name}.sol`, `${name}.json`), "utf8"),
  ) as { bytecode: `0x${string}` };
  return artifact.bytecode;
}
