import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { coverageArgs } from "../../../scripts/lib/anvil.js";
import { PROJECT_ROOT } from "../../../src/relayer/config.js";

const ANVIL = join(PROJECT_ROOT, "node_modules", "@foundry-rs", "anvil-linux-amd64", "bin", "anvil");

/** Anvil's default dev accounts (mnemonic "test test … junk"), funded with 10,000 ETH each. */
export const ANVIL_KEYS = [
  "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
  "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
  "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
  "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
] as const;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0));
    });
  });
}

export interface Anvil {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** Starts the npm anvil on 127.0.0.1 on a free port; `stop()` kills it by its PID. */
export async function startAnvil(): Promise<Anvil> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    ANVIL,
    ["--host", "127.0.0.1", "--port", String(port), "--quiet", ...coverageArgs()],
    {
      stdio: "ignore",
    },
  );
  const pid = child.pid;
  if (pid === undefined) throw new Error("anvil did not start");
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  for (let i = 0; ; i++) {
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
      });
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (i > 100) {
      process.kill(pid, "SIGKILL");
      throw new Error("anvil did not answer within 10 s");
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    url,
    pid,
    async stop() {
      process.kill(pid, "SIGTERM");
      await exited;
    },
  };
}

/** Deployable bytecode of a compiled contract (the Hardhat build runs before the tests). */
export function bytecodeOf(folder: string, name: string): `0x${string}` {
  const artifact = JSON.parse(
    readFileSync(join(PROJECT_ROOT, "artifacts", "contracts", folder, `${name}.sol`, `${name}.json`), "utf8"),
  ) as { bytecode: `0x${string}` };
  return artifact.bytecode;
}
