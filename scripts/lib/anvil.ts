/**
 * Starts a real local chain (anvil from the npm package `@foundry-rs/anvil`) on 127.0.0.1 on
 * a free port, and stops it by its PID. Used by end-to-end tests, the demo and benchmarks.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import path from "node:path";

const require = createRequire(import.meta.url);

export interface LocalChain {
  url: string;
  port: number;
  pid: number;
  /** Stops the node (SIGTERM, then SIGKILL after a grace period) and waits for it to exit. */
  stop(): Promise<void>;
}

export interface StartAnvilOptions {
  /** Seconds between blocks; omitted = automine (a block per transaction). */
  blockTime?: number;
  chainId?: number;
  /** Extra command-line arguments for anvil. */
  args?: string[];
}

/**
 * Under `hardhat test --coverage` (HARDHAT_COVERAGE=true) tests deploy the instrumented contracts,
 * which outgrow EIP-170's 24,576 bytes (Escrow: 14.7 kB as built, 25.5 kB instrumented): anvil
 * then lifts the limit, as Hardhat's own network does for coverage. Every other run keeps it, so a
 * real size regression still fails the end-to-end tests and the deploy.
 */
export const coverageArgs = (): string[] =>
  process.env.HARDHAT_COVERAGE === "true" ? ["--disable-code-size-limit"] : [];

/** The anvil binary shipped by the npm package for this platform. */
export function anvilBinary(): string {
  const platformPackage = `@foundry-rs/anvil-${process.platform}-${process.arch === "x64" ? "amd64" : process.arch}`;
  return path.join(path.dirname(require.resolve(`${platformPackage}/package.json`)), "bin", "anvil");
}

/** A TCP port that is free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

async function waitForRpc(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`anvil exited early with code ${child.exitCode}`);
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
      });
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`anvil did not answer on ${url} within ${timeoutMs} ms`);
}

export async function startAnvil(options: StartAnvilOptions = {}): Promise<LocalChain> {
  const port = await freePort();
  const args = ["--host", "127.0.0.1", "--port", String(port), "--chain-id", String(options.chainId ?? 31337)];
  if (options.blockTime !== undefined) args.push("--block-time", String(options.blockTime));
  args.push(...(options.args ?? []), ...coverageArgs());
  const child = spawn(anvilBinary(), args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (chunk) => {
    stderr += chunk;
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForRpc(url, child, 15_000);
  } catch (error) {
    child.kill("SIGKILL");
    throw new Error(`${(error as Error).message}\n${stderr}`);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error("anvil has no PID");
  return {
    url,
    port,
    pid,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const force = setTimeout(() => process.kill(pid, "SIGKILL"), 3_000);
        child.once("exit", () => {
          clearTimeout(force);
          resolve();
        });
        process.kill(pid, "SIGTERM");
      }),
  };
}
