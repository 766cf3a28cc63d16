/**
 * `npm run demo`: a day of business on settlekit, end to end, on this machine.
 *
 * Starts anvil on a free 127.0.0.1 port, deploys the contracts with the Ignition modules through
 * `npm run deploy` (records in a temporary folder), starts the relayer (`src/relayer/bin.mjs`) on
 * its embedded store in a temporary data directory, and plays the day through the client
 * library and the relayer's HTTP API: four escrows, 300 payment intents from 20 payers (and a few
 * invalid ones), a channel paid with 10,000 vouchers and settled with one claim, and a channel
 * the relayer defends as watchtower. It ends with a summary — gas per operation from the
 * receipts, intents per second, accept latencies, and every balance reconciled against the
 * chain — and exits 0 only if everything reconciled. Every process it started is stopped, on
 * success, on error and on Ctrl-C; nothing is left in the repository.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  type Abi,
  type Address,
  type Chain,
  createPublicClient,
  createTestClient,
  createWalletClient,
  type Hex,
  http,
  type PublicClient,
  parseUnits,
  type TransactionReceipt,
  toHex,
  zeroAddress,
} from "viem";
import { generatePrivateKey, type PrivateKeyAccount, privateKeyToAccount } from "viem/accounts";
import { foundry } from "viem/chains";
import {
  channelIdOf,
  createChannelClient,
  createEscrowClient,
  createRelayerClient,
  createSettlementClient,
  type DeploymentDomain,
  loadDeployment,
  type Payment,
  RelayerRequestError,
  signPayment,
  signRelease,
  signVoucher,
  verifyVoucher,
} from "../src/client/index.js";
import { freePort, type LocalChain, startAnvil } from "./lib/anvil.js";

const root = path.resolve(import.meta.dirname, "..");
const started = performance.now();

// ------------------------------------------------------------------ output

const useColor = process.stdout.isTTY && process.env.NO_COLOR === undefined;
const paint = (code: number) => (text: string) => (useColor ? `\u001b[${code}m${text}\u001b[0m` : text);
const bold = paint(1);
const dim = paint(2);
const green = paint(32);
const red = paint(31);
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(1).padStart(5)}s`;
const log = (text: string) => console.log(`${dim(elapsed())}  ${text}`);
const section = (title: string) => console.log(`\n${bold(title)}`);
const ok = (text: string) => log(`${green("✓")} ${text}`);

function table(headers: string[], rows: (string | number)[][], align: ("l" | "r")[] = []): void {
  const cells = rows.map((row) => row.map(String));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((row) => row[i]?.length ?? 0)));
  const line = (row: string[]) =>
    row.map((cell, i) => (align[i] === "r" ? cell.padStart(widths[i]) : cell.padEnd(widths[i]))).join("  ");
  console.log(`  ${bold(line(headers))}`);
  console.log(`  ${widths.map((w) => "─".repeat(w)).join("  ")}`);
  for (const row of cells) console.log(`  ${line(row)}`);
}

const DECIMALS = 6;
const usd = (units: number | string) => parseUnits(String(units), DECIMALS);
const fmt = (amount: bigint) => {
  const negative = amount < 0n;
  const abs = negative ? -amount : amount;
  const whole = (abs / 10n ** BigInt(DECIMALS)).toLocaleString("en-US");
  const fraction = (abs % 10n ** BigInt(DECIMALS)).toString().padStart(DECIMALS, "0").replace(/0+$/, "");
  return `${negative ? "-" : ""}${whole}${fraction ? `.${fraction}` : ""}`;
};
const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns a value other than undefined, or gives up after `timeoutMs`. */
async function until<T>(check: () => Promise<T | undefined>, timeoutMs: number, intervalMs = 200) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) return undefined;
    await sleep(intervalMs);
  }
}

// ------------------------------------------------------------------ processes and cleanup

const cleanups: { name: string; run: () => Promise<void> | void }[] = [];
let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const { name, run } of cleanups.reverse()) {
      try {
        await run();
      } catch (error) {
        console.error(`cleanup of ${name} failed: ${(error as Error).message}`);
      }
    }
  })();
  return cleaning;
}

/** Stops a child started with `detached: true` (its own process group), by its id, and waits for it. */
function stopGroup(child: ChildProcess, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const pid = child.pid;
    if (pid === undefined || child.exitCode !== null || child.signalCode !== null) return resolve();
    const force = setTimeout(() => {
      try {
        process.kill(-pid, "SIGKILL");
      } catch {
        // already gone
      }
    }, graceMs);
    child.once("exit", () => {
      clearTimeout(force);
      resolve();
    });
    try {
      process.kill(-pid, "SIGTERM");
    } catch {
      clearTimeout(force);
      resolve();
    }
  });
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping everything the demo started…`);
    void cleanup().then(() => process.exit(130));
  });
}

/** Runs a command in its own process group; output goes to `logFile`. Rejects on a non-zero exit. */
function run(command: string, args: string[], env: NodeJS.ProcessEnv, logFile: string): Promise<void> {
  const fd = openSync(logFile, "a");
  const child = spawn(command, args, { cwd: root, env, stdio: ["ignore", fd, fd], detached: true });
  closeSync(fd);
  const entry = { name: `${command} ${args.join(" ")}`, run: () => stopGroup(child, 3_000) };
  cleanups.push(entry);
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => {
      cleanups.splice(cleanups.indexOf(entry), 1);
      if (code === 0) resolve();
      else reject(new Error(`${entry.name} exited with ${code}:\n${readFileSync(logFile, "utf8").slice(-3_000)}`));
    });
  });
}

// ------------------------------------------------------------------ the day

/** Anvil's default accounts (mnemonic "test test … junk"), 10,000 ETH each: local use only. */
const KEYS = {
  deployer: "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
  alice: "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
  bob: "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
  dave: "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
  paula: "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
  carol: "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
  quinn: "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
  rita: "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
  relayer: "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
} as const satisfies Record<string, Hex>;

/** What each balance should be, kept by the script as it goes; compared with the chain at the end. */
class Ledger {
  readonly expected = new Map<string, { label: string; amount: bigint; read: () => Promise<bigint> }>();
  /** A balance to reconcile, read from the chain by `read`. */
  open(label: string, read: () => Promise<bigint>): void {
    this.expected.set(label, { label, amount: 0n, read });
  }
  change(label: string, delta: bigint): void {
    const entry = this.expected.get(label);
    if (entry === undefined) throw new Error(`no balance "${label}" in the ledger`);
    entry.amount += delta;
  }
  move(from: string, to: string, amount: bigint): void {
    this.change(from, -amount);
    this.change(to, amount);
  }
}

interface GasRow {
  operation: string;
  count: number;
  gas: bigint;
  note?: string;
}

async function main(): Promise<number> {
  console.log(bold("settlekit demo — a day of business on a local chain"));
  const temp = mkdtempSync(path.join(tmpdir(), "settlekit-demo-"));
  cleanups.push({ name: "temporary files", run: () => rmSync(temp, { recursive: true, force: true }) });
  const deploymentId = `demo-${process.pid}-${Date.now()}`;
  cleanups.push({
    name: "Ignition journal",
    run: () => rmSync(path.join(root, "deploy", "deployments", deploymentId), { recursive: true, force: true }),
  });
  const recordsDir = path.join(temp, "deployments");

  // 1. The chain.
  section("Setting up");
  const anvil: LocalChain = await startAnvil({ args: ["--quiet"] });
  cleanups.push({ name: "anvil", run: () => anvil.stop() });
  ok(`anvil on ${anvil.url} (pid ${anvil.pid})`);
  const chain: Chain = { ...foundry, rpcUrls: { default: { http: [anvil.url] } } };
  const publicClient = createPublicClient({ chain, transport: http(anvil.url), pollingInterval: 50 }) as PublicClient;
  const wallet = (key: Hex) =>
    createWalletClient({ chain, transport: http(anvil.url), account: privateKeyToAccount(key), pollingInterval: 50 });
  const testClient = createTestClient({ chain, mode: "anvil", transport: http(anvil.url) });
  const chainNow = async () => (await publicClient.getBlock({ blockTag: "latest" })).timestamp;
  const warp = async (seconds: bigint) => {
    await testClient.increaseTime({ seconds: Number(seconds) });
    await testClient.mine({ blocks: 1 });
  };

  // 2. The contracts, with the Ignition modules through the deploy script.
  const deployStarted = performance.now();
  const env = {
    ...process.env,
    HARDHAT_DISABLE_TELEMETRY: "true",
    SETTLEKIT_LOCALHOST_URL: anvil.url,
    SETTLEKIT_DEPLOYMENTS_DIR: recordsDir,
    SETTLEKIT_DEPLOYMENT_ID: deploymentId,
  };
  await run("npm", ["run", "--silent", "deploy", "--", "--network", "localhost"], env, path.join(temp, "deploy.log"));
  const record = loadDeployment(31_337, { directory: recordsDir });
  const addresses = {
    escrow: record.contracts.Escrow?.address as Address,
    hub: record.contracts.SettlementHub?.address as Address,
    channels: record.contracts.PaymentChannels?.address as Address,
  };
  ok(
    `deployed with Ignition in ${((performance.now() - deployStarted) / 1000).toFixed(1)} s: ` +
      `Escrow ${addresses.escrow}, SettlementHub ${addresses.hub}, PaymentChannels ${addresses.channels}`,
  );

  // 3. The relayer, as `npm start` runs it, on its embedded store. It boots (a few seconds)
  // while the token and the first escrow are set up.
  const relayerReady = (async () => {
    const port = await freePort();
    const relayerUrl = `http://127.0.0.1:${port}`;
    const relayerLog = path.join(temp, "relayer.log");
    const relayerFd = openSync(relayerLog, "a");
    const relayerProcess = spawn(
      process.execPath,
      [
        path.join(root, "src", "relayer", "bin.mjs"),
        ...["--rpc-url", anvil.url, "--port", String(port), "--data-dir", path.join(temp, "relayer-data")],
        ...["--batch-max-size", "100", "--batch-max-wait-ms", "100", "--poll-interval-ms", "100"],
        ...["--min-validity-seconds", "10", "--rate-limit", "100000", "--log-level", "warn"],
        ...["--automation-interval-ms", "200"],
      ],
      {
        cwd: root,
        env: { ...env, RELAYER_PRIVATE_KEY: KEYS.relayer },
        stdio: ["ignore", relayerFd, relayerFd],
        detached: true,
      },
    );
    closeSync(relayerFd);
    cleanups.push({ name: "relayer", run: () => stopGroup(relayerProcess, 15_000) });
    const relayer = createRelayerClient({ url: relayerUrl });
    const health = await until(async () => {
      if (relayerProcess.exitCode !== null) throw new Error(`relayer exited:\n${readFileSync(relayerLog, "utf8")}`);
      return relayer.health().then(
        (h) => (h.status === "ok" ? h : undefined),
        () => undefined,
      );
    }, 30_000);
    if (health === undefined) throw new Error(`relayer did not become healthy:\n${readFileSync(relayerLog, "utf8")}`);
    ok(`relayer on ${relayerUrl} (pid ${relayerProcess.pid}, store ${health.store}, key ${health.relayer})`);
    if ((await relayer.status()).escrows === null) throw new Error("the relayer's automation is not running");
    log(`status page: ${relayerUrl}/  (open it while the demo runs)`);
    return { relayer, relayerUrl };
  })();
  relayerReady.catch(() => undefined); // awaited below; this only keeps an early failure from going unhandled

  // An ERC-20 for the day's money: the test token from the build artifacts.
  const tokenArtifact = JSON.parse(
    readFileSync(
      path.join(root, "artifacts", "contracts", "test", "tokens", "TestToken.sol", "TestToken.json"),
      "utf8",
    ),
  ) as { abi: readonly unknown[]; bytecode: Hex };
  const tokenAbi = tokenArtifact.abi as Abi;
  const deployer = wallet(KEYS.deployer);
  const gas: GasRow[] = [];
  const receipt = async (hash: Hex): Promise<TransactionReceipt> => {
    const r = await publicClient.waitForTransactionReceipt({ hash });
    if (r.status !== "success") throw new Error(`transaction ${hash} reverted`);
    return r;
  };
  const tokenReceipt = await receipt(
    await deployer.deployContract({
      abi: tokenAbi,
      bytecode: tokenArtifact.bytecode,
      args: ["Demo Dollar", "USDx", DECIMALS],
    }),
  );
  const token = tokenReceipt.contractAddress as Address;
  const tokenCall = async (key: Hex, functionName: string, args: unknown[]) =>
    receipt(await wallet(key).writeContract({ address: token, abi: tokenAbi, functionName, args }));
  const tokenBalance = (account: Address) =>
    publicClient.readContract({
      address: token,
      abi: tokenAbi,
      functionName: "balanceOf",
      args: [account],
    }) as Promise<bigint>;
  ok(`ERC-20 "Demo Dollar" (USDx, ${DECIMALS} decimals) at ${token}`);

  const people = Object.fromEntries(
    Object.entries(KEYS).map(([name, key]) => [name, privateKeyToAccount(key)]),
  ) as Record<keyof typeof KEYS, PrivateKeyAccount>;
  const ledger = new Ledger();
  for (const name of ["alice", "bob", "carol", "paula", "quinn", "rita"] as const) {
    ledger.open(`${name} (wallet)`, () => tokenBalance(people[name].address));
  }
  ledger.open("Escrow contract", () => tokenBalance(addresses.escrow));
  ledger.open("PaymentChannels contract", () => tokenBalance(addresses.channels));
  ledger.open("SettlementHub contract", () => tokenBalance(addresses.hub));
  const mint = async (name: keyof typeof KEYS, amount: bigint) => {
    await tokenCall(KEYS.deployer, "mint", [people[name].address, amount]);
    ledger.change(`${name} (wallet)`, amount);
  };

  // ------------------------------------------------------------ escrows
  section("Escrows");
  await mint("alice", usd(10_000));
  await tokenCall(KEYS.alice, "approve", [addresses.escrow, 2n ** 256n - 1n]);
  const escrowAs = (key: Hex) =>
    createEscrowClient({ publicClient, walletClient: wallet(key), address: addresses.escrow });
  const alice = escrowAs(KEYS.alice);
  const escrowDomain: DeploymentDomain = { chainId: 31_337, verifyingContract: addresses.escrow };
  const move = (from: string, to: string, amount: bigint) => ledger.move(from, to, amount);
  const createEscrow = async (terms: {
    payee: Address;
    arbiter?: Address;
    amount: bigint;
    deadline: bigint;
    onExpiry: 0 | 1;
    ref: string;
  }) => {
    const { receipt: r, event } = await alice.createAndWait([
      {
        payee: terms.payee,
        arbiter: terms.arbiter ?? zeroAddress,
        token,
        amount: terms.amount,
        deadline: terms.deadline,
        onExpiry: terms.onExpiry,
        ref: toHex(terms.ref, { size: 32 }),
      },
    ]);
    move("alice (wallet)", "Escrow contract", terms.amount);
    return { id: event.args.id as bigint, gas: r.gasUsed };
  };
  const day = 86_400n;

  // a) Released in milestones.
  const e1 = await createEscrow({
    payee: people.bob.address,
    amount: usd(900),
    deadline: (await chainNow()) + 30n * day,
    onExpiry: 0,
    ref: "website redesign",
  });
  gas.push({ operation: "Escrow.create (ERC-20)", count: 1, gas: e1.gas });
  const releaseGas: bigint[] = [];
  for (let milestone = 1; milestone <= 3; milestone++) {
    releaseGas.push((await alice.releaseAndWait([e1.id, usd(300)])).receipt.gasUsed);
    move("Escrow contract", "bob (wallet)", usd(300));
  }
  gas.push({ operation: "Escrow.release (milestone)", count: 3, gas: releaseGas.reduce((a, b) => a + b) / 3n });
  ok(`escrow #${e1.id}: alice → bob 900 USDx, released in 3 milestones of 300`);

  // b) Released gaslessly: alice signs, the relayer submits releaseWithSig.
  const { relayer, relayerUrl } = await relayerReady;
  const e2 = await createEscrow({
    payee: people.bob.address,
    amount: usd(500),
    deadline: (await chainNow()) + 30n * day,
    onExpiry: 0,
    ref: "logo design",
  });
  const release = { id: e2.id, releasedTotal: usd(500), deadline: (await chainNow()) + 3_600n };
  const releaseSignature = await signRelease({ account: people.alice, domain: escrowDomain, release });
  const relayed = await relayer.submitRelease({ release, signature: releaseSignature });
  const releaseDone = await until(async () => {
    const status = await relayer.getRelease(relayed.digest);
    return status.status === "settled" || status.status === "failed" ? status : undefined;
  }, 30_000);
  if (releaseDone?.status !== "settled" || releaseDone.txHash === null) {
    throw new Error(`the relayed release did not settle: ${JSON.stringify(releaseDone)}`);
  }
  move("Escrow contract", "bob (wallet)", usd(500));
  gas.push({
    operation: "Escrow.releaseWithSig (relayer)",
    count: 1,
    gas: (await receipt(releaseDone.txHash)).gasUsed,
  });
  ok(`escrow #${e2.id}: alice → bob 500 USDx, released by signature through the relayer (tx ${releaseDone.txHash})`);

  // c) Disputed and resolved by the arbiter.
  const e3 = await createEscrow({
    payee: people.carol.address,
    arbiter: people.dave.address,
    amount: usd(400),
    deadline: (await chainNow()) + 30n * day,
    onExpiry: 0,
    ref: "translation",
  });
  const disputed = await escrowAs(KEYS.carol).disputeAndWait([e3.id]);
  gas.push({ operation: "Escrow.dispute", count: 1, gas: disputed.receipt.gasUsed });
  const resolved = await escrowAs(KEYS.dave).resolveAndWait([e3.id, usd(250)]);
  gas.push({ operation: "Escrow.resolve (arbiter)", count: 1, gas: resolved.receipt.gasUsed });
  move("Escrow contract", "carol (wallet)", usd(250));
  move("Escrow contract", "alice (wallet)", usd(150));
  ok(`escrow #${e3.id}: alice → carol 400 USDx, disputed by carol, resolved by dave: 250 to carol, 150 back to alice`);

  // d) Expires; the relayer settles it on its own (after the hub payments, once its deadline passed).
  const e4 = await createEscrow({
    payee: people.bob.address,
    amount: usd(200),
    deadline: (await chainNow()) + 120n,
    onExpiry: 1,
    ref: "maintenance retainer",
  });
  ok(`escrow #${e4.id}: alice → bob 200 USDx, releases to bob at its deadline in 2 minutes (chain time)`);

  // ------------------------------------------------------------ hub payments
  section("Instant payments: 300 intents from 20 payers, settled in batches");
  const hub = createSettlementClient({ publicClient, walletClient: deployer, address: addresses.hub });
  const hubDomain: DeploymentDomain = { chainId: 31_337, verifyingContract: addresses.hub };
  const hubBalance = (account: Address) => hub.balanceOf([account, token]);
  const payers = Array.from({ length: 20 }, () => privateKeyToAccount(generatePrivateKey()));
  const merchants = Array.from({ length: 5 }, () => privateKeyToAccount(generatePrivateKey()).address);
  const deposit = usd(1_000);
  await tokenCall(KEYS.deployer, "mint", [people.deployer.address, deposit * 20n]);
  await tokenCall(KEYS.deployer, "approve", [addresses.hub, deposit * 20n]);
  const payerLabel = (i: number) => `payer ${String(i + 1).padStart(2, "0")} (hub)`;
  const merchantLabel = (i: number) => `merchant ${i + 1} (hub)`;
  for (const [i, payer] of payers.entries()) ledger.open(payerLabel(i), () => hubBalance(payer.address));
  for (const [i, merchant] of merchants.entries()) ledger.open(merchantLabel(i), () => hubBalance(merchant));
  ledger.open("relayer fees (hub)", () => hubBalance(people.relayer.address));
  const depositGas: bigint[] = [];
  for (const [i, payer] of payers.entries()) {
    depositGas.push((await hub.depositForAndWait([payer.address, token, deposit])).receipt.gasUsed);
    ledger.change("SettlementHub contract", deposit);
    ledger.change(payerLabel(i), deposit);
  }
  gas.push({
    operation: "SettlementHub.depositFor (ERC-20)",
    count: depositGas.length,
    gas: depositGas.reduce((a, b) => a + b) / BigInt(depositGas.length),
  });
  ok("20 payers funded: 1,000 USDx each deposited into the hub");

  const fee = usd("0.01");
  const validBefore = (await chainNow()) + 3_600n;
  const signStarted = performance.now();
  const intents = await Promise.all(
    Array.from({ length: 300 }, async (_, i) => {
      const payer = payers[i % 20];
      const payment: Payment = {
        from: payer.address,
        to: merchants[i % 5],
        token,
        amount: usd((1 + (i % 50) / 10).toFixed(2)),
        fee,
        nonce: BigInt(Math.floor(i / 20)),
        validAfter: 0n,
        validBefore,
        ref: toHex(`order ${i + 1}`, { size: 32 }),
      };
      return { payer: i % 20, payment, signature: await signPayment({ account: payer, domain: hubDomain, payment }) };
    }),
  );
  ok(`300 intents signed off-chain in ${(performance.now() - signStarted).toFixed(0)} ms`);

  const latencies: number[] = [];
  const submitStarted = performance.now();
  const digests: Hex[] = [];
  for (let i = 0; i < intents.length; i += 50) {
    const answers = await Promise.all(
      intents.slice(i, i + 50).map(async ({ payment, signature }) => {
        const t = performance.now();
        const answer = await relayer.submitPayment({ payment, signature });
        latencies.push(performance.now() - t);
        return answer.digest;
      }),
    );
    digests.push(...answers);
  }
  const acceptedIn = performance.now() - submitStarted;
  ok(`300 intents accepted by the relayer in ${acceptedIn.toFixed(0)} ms`);
  const allSettled = await until(
    async () => {
      const status = await relayer.status();
      return status.queue.accepted + status.queue.submitted === 0 ? status : undefined;
    },
    60_000,
    100,
  );
  if (allSettled === undefined) throw new Error("the relayer did not settle the intents within 60 s");
  const settledIn = performance.now() - submitStarted;
  const results = [];
  for (let i = 0; i < digests.length; i += 50) {
    results.push(...(await Promise.all(digests.slice(i, i + 50).map((d) => relayer.getPayment(d)))));
  }
  const failed = results.filter((r) => r.status !== "settled");
  if (failed.length > 0) throw new Error(`${failed.length} intents did not settle: ${failed[0].failureReason}`);
  for (const { payer, payment } of intents) {
    ledger.move(payerLabel(payer), merchantLabel(merchants.indexOf(payment.to)), payment.amount);
    ledger.move(payerLabel(payer), "relayer fees (hub)", payment.fee);
  }
  const batches = new Map<Hex, number>();
  for (const r of results) batches.set(r.txHash as Hex, (batches.get(r.txHash as Hex) ?? 0) + 1);
  let batchGas = 0n;
  for (const hash of batches.keys()) batchGas += (await receipt(hash)).gasUsed;
  gas.push({
    operation: "SettlementHub.settleBatch, per payment",
    count: 300,
    gas: batchGas / 300n,
    note: `${batches.size} batches (${[...batches.values()].join(", ")} intents)`,
  });
  const intentsPerSecond = 300 / (settledIn / 1000);
  ok(
    `300 intents settled on-chain in ${batches.size} batches, ${(settledIn / 1000).toFixed(2)} s from first ` +
      `submission (${intentsPerSecond.toFixed(0)} intents/s)`,
  );

  // A few invalid intents, each rejected with its code.
  const payer0 = payers[0];
  const stranger = privateKeyToAccount(generatePrivateKey());
  const base = (overrides: Partial<Payment>): Payment => ({
    from: payer0.address,
    to: merchants[0],
    token,
    amount: usd(1),
    fee,
    nonce: 100n,
    validAfter: 0n,
    validBefore,
    ref: toHex("invalid", { size: 32 }),
    ...overrides,
  });
  const attempts: { what: string; payment: Payment; signer: PrivateKeyAccount; domain?: DeploymentDomain }[] = [
    { what: "signed by someone else", payment: base({}), signer: stranger },
    { what: "signed for another chain", payment: base({}), signer: payer0, domain: { ...hubDomain, chainId: 1 } },
    { what: "more than the payer's balance", payment: base({ amount: usd(5_000) }), signer: payer0 },
    {
      what: "expires in 5 seconds",
      payment: base({ validBefore: (await chainNow()) + 5n }),
      signer: payer0,
    },
    { what: "replays a settled nonce", payment: base({ nonce: 0n, amount: usd(2) }), signer: payer0 },
    { what: "pays the hub itself", payment: base({ to: addresses.hub }), signer: payer0 },
  ];
  const rejections: string[][] = [];
  for (const attempt of attempts) {
    const signature = await signPayment({
      account: attempt.signer,
      domain: attempt.domain ?? hubDomain,
      payment: attempt.payment,
    });
    try {
      await relayer.submitPayment({ payment: attempt.payment, signature });
      throw new Error(`the relayer accepted an invalid intent (${attempt.what})`);
    } catch (error) {
      if (!(error instanceof RelayerRequestError)) throw error;
      rejections.push([attempt.what, String(error.status), error.code]);
    }
  }
  ok("invalid intents rejected, nothing accepted:");
  table(["intent", "HTTP", "code"], rejections, ["l", "r", "l"]);

  // ------------------------------------------------------------ channels
  section("Micropayments: 10,000 vouchers, one claim");
  const channelDomain: DeploymentDomain = { chainId: 31_337, verifyingContract: addresses.channels };
  const channelsAs = (key: Hex) =>
    createChannelClient({ publicClient, walletClient: wallet(key), address: addresses.channels });
  const getChannel = (id: Hex) => channelsAs(KEYS.deployer).getChannel([id]);
  await mint("paula", usd(200));
  await tokenCall(KEYS.paula, "approve", [addresses.channels, usd(200)]);
  const paula = channelsAs(KEYS.paula);
  const salt1 = toHex("api usage", { size: 32 });
  const opened = await paula.openAndWait([people.quinn.address, token, zeroAddress, usd(100), salt1]);
  move("paula (wallet)", "PaymentChannels contract", usd(100));
  gas.push({ operation: "PaymentChannels.open (ERC-20)", count: 1, gas: opened.receipt.gasUsed });
  const channel1 = channelIdOf({ payer: people.paula.address, payee: people.quinn.address, token, salt: salt1 });
  ok(`channel ${channel1.slice(0, 10)}…: paula → quinn, 100 USDx deposit`);

  const perCall = usd("0.001");
  const vouchers: { cumulativeAmount: bigint; signature: Hex }[] = [];
  const voucherSignStarted = performance.now();
  for (let i = 1; i <= 10_000; i++) {
    const voucher = { channelId: channel1, cumulativeAmount: perCall * BigInt(i) };
    vouchers.push({
      cumulativeAmount: voucher.cumulativeAmount,
      signature: await signVoucher({ account: people.paula, domain: channelDomain, voucher }),
    });
    if (i % 2_500 === 0) log(`  ${i.toLocaleString("en-US")} vouchers signed by paula`);
  }
  const voucherSignMs = performance.now() - voucherSignStarted;
  // Quinn, the payee, checks every voucher as it arrives: the right signer, and more than before.
  const verifyStarted = performance.now();
  let highest = 0n;
  for (const voucher of vouchers) {
    const valid = await verifyVoucher({
      domain: channelDomain,
      voucher: { channelId: channel1, cumulativeAmount: voucher.cumulativeAmount },
      signer: people.paula.address,
      signature: voucher.signature,
    });
    if (!valid || voucher.cumulativeAmount <= highest) throw new Error("quinn received an invalid voucher");
    highest = voucher.cumulativeAmount;
  }
  const verifyMs = performance.now() - verifyStarted;
  ok(
    `10,000 vouchers of 0.001 USDx: signed in ${(voucherSignMs / 1000).toFixed(2)} s, ` +
      `verified by quinn in ${(verifyMs / 1000).toFixed(2)} s (${((10_000 / verifyMs) * 1000).toFixed(0)}/s)`,
  );
  const latest = vouchers[vouchers.length - 1];
  const claimed = await channelsAs(KEYS.quinn).claimAndWait([channel1, latest.cumulativeAmount, latest.signature]);
  move("PaymentChannels contract", "quinn (wallet)", latest.cumulativeAmount);
  gas.push({
    operation: "PaymentChannels.claim (10,000 vouchers)",
    count: 1,
    gas: claimed.receipt.gasUsed,
    note: `${(Number(claimed.receipt.gasUsed) / 10_000).toFixed(1)} gas per payment`,
  });
  ok(`quinn claimed ${fmt(latest.cumulativeAmount)} USDx with one transaction (${claimed.hash})`);

  // ------------------------------------------------------------ watchtower
  section("Watchtower: a payer requests a close; the relayer claims the latest voucher");
  const salt2 = toHex("streaming", { size: 32 });
  await paula.openAndWait([people.rita.address, token, zeroAddress, usd(50), salt2]);
  move("paula (wallet)", "PaymentChannels contract", usd(50));
  const channel2 = channelIdOf({ payer: people.paula.address, payee: people.rita.address, token, salt: salt2 });
  let latest2 = { cumulativeAmount: 0n, signature: "0x" as Hex };
  for (let i = 1; i <= 25; i++) {
    const voucher = { channelId: channel2, cumulativeAmount: usd(i) };
    latest2 = { ...voucher, signature: await signVoucher({ account: people.paula, domain: channelDomain, voucher }) };
  }
  const kept = await relayer.submitVoucher({
    voucher: { channelId: channel2, cumulativeAmount: latest2.cumulativeAmount },
    signature: latest2.signature,
  });
  ok(
    `channel ${channel2.slice(0, 10)}…: paula → rita, 50 USDx; rita handed the relayer her latest voucher (${fmt(kept.cumulativeAmount)} USDx)`,
  );
  const requested = await paula.requestCloseAndWait([channel2]);
  gas.push({ operation: "PaymentChannels.requestClose", count: 1, gas: requested.receipt.gasUsed });
  ok("paula requested a close (she hopes rita is offline)");
  const challengePeriod = await paula.challengePeriod();
  const claimedByWatchtower = await until(async () => {
    const channel = await getChannel(channel2);
    return channel.claimed === latest2.cumulativeAmount ? channel : undefined;
  }, 30_000);
  if (claimedByWatchtower === undefined) throw new Error("the relayer did not claim rita's latest voucher");
  move("PaymentChannels contract", "rita (wallet)", latest2.cumulativeAmount);
  const claimLogs = await channelsAs(KEYS.deployer).getEvents.ChannelClaimed(
    { channelId: channel2 },
    { fromBlock: 0n },
  );
  const claimTx = claimLogs[claimLogs.length - 1]?.transactionHash as Hex;
  gas.push({ operation: "PaymentChannels.claim (watchtower)", count: 1, gas: (await receipt(claimTx)).gasUsed });
  ok(`the relayer claimed rita's ${fmt(latest2.cumulativeAmount)} USDx as watchtower (tx ${claimTx})`);
  await warp(challengePeriod + 1n);
  const finalized = await until(async () => {
    const channel = await getChannel(channel2);
    return channel.status === 3 ? channel : undefined;
  }, 30_000);
  if (finalized === undefined) throw new Error("the relayer did not finalize the close");
  move("PaymentChannels contract", "paula (wallet)", usd(50) - latest2.cumulativeAmount);
  const closeLogs = await channelsAs(KEYS.deployer).getEvents.ChannelClosed({ channelId: channel2 }, { fromBlock: 0n });
  const closeTx = closeLogs[closeLogs.length - 1]?.transactionHash as Hex;
  gas.push({ operation: "PaymentChannels.finalizeClose (relayer)", count: 1, gas: (await receipt(closeTx)).gasUsed });
  ok(
    `challenge period over: the relayer finalized the close, paula got the unspent ${fmt(usd(50) - latest2.cumulativeAmount)} USDx back`,
  );

  // ------------------------------------------------------------ expiry
  section("Escrow expiry: settled by the relayer on its own");
  const e4View = await alice.getEscrow([e4.id]);
  const now = await chainNow();
  if (now <= e4View.deadline) await warp(e4View.deadline - now + 1n);
  log(`escrow #${e4.id}'s deadline has passed (chain time moved forward)`);
  const settled = await until(async () => {
    const view = await alice.getEscrow([e4.id]);
    return view.remaining === 0n ? view : undefined;
  }, 30_000);
  if (settled === undefined) throw new Error(`the relayer did not settle escrow #${e4.id} after its deadline`);
  move("Escrow contract", "bob (wallet)", usd(200));
  const expiredLogs = await alice.getEvents.EscrowExpired({ id: e4.id }, { fromBlock: 0n });
  const expireTx = expiredLogs[expiredLogs.length - 1]?.transactionHash as Hex;
  gas.push({ operation: "Escrow.settleExpiredBatch (relayer)", count: 1, gas: (await receipt(expireTx)).gasUsed });
  ok(`the relayer settled escrow #${e4.id} at expiry: 200 USDx to bob (tx ${expireTx})`);

  // ------------------------------------------------------------ summary
  section("Summary");
  const status = await relayer.status();
  table(
    ["operation", "count", "gas (each)", "note"],
    gas.map((g) => [g.operation, g.count, Number(g.gas).toLocaleString("en-US"), g.note ?? ""]),
    ["l", "r", "r", "l"],
  );
  const sorted = [...latencies].sort((a, b) => a - b);
  console.log("");
  table(
    ["figure", "value"],
    [
      ["intents settled", `${status.intents.settled} in ${batches.size} batches`],
      ["intents per second (submit → all settled)", intentsPerSecond.toFixed(0)],
      [
        "accept latency p50 / p99 (50 requests in flight)",
        `${percentile(sorted, 50).toFixed(1)} / ${percentile(sorted, 99).toFixed(1)} ms`,
      ],
      ["invalid intents rejected", `${rejections.length} (${[...new Set(rejections.map((r) => r[2]))].join(", ")})`],
      [
        "vouchers signed / verified per second",
        `${((10_000 / voucherSignMs) * 1000).toFixed(0)} / ${((10_000 / verifyMs) * 1000).toFixed(0)}`,
      ],
      ["status page", `${relayerUrl}/ (its latest ${status.recentSettlements.length} transactions)`],
    ],
  );

  console.log("");
  const rows: string[][] = [];
  let mismatches = 0;
  for (const entry of ledger.expected.values()) {
    const onChain = await entry.read();
    const match = onChain === entry.amount;
    if (!match) mismatches++;
    rows.push([entry.label, fmt(entry.amount), fmt(onChain), match ? green("✓") : red("✗")]);
  }
  table(["balance (USDx)", "expected", "on-chain", ""], rows, ["l", "r", "r", "l"]);
  const hubSum = [...ledger.expected.values()]
    .filter((e) => e.label.endsWith("(hub)"))
    .reduce((sum, e) => sum + e.amount, 0n);
  const hubHeld = await tokenBalance(addresses.hub);
  if (hubSum !== hubHeld) mismatches++;
  console.log(
    `\n  hub accounts sum to ${fmt(hubSum)} USDx; the hub holds ${fmt(hubHeld)} USDx ${hubSum === hubHeld ? green("✓") : red("✗")}`,
  );

  console.log("");
  if (mismatches > 0) {
    console.log(red(bold(`${mismatches} balance(s) did not reconcile.`)));
    return 1;
  }
  console.log(green(bold(`Every balance reconciled with the chain. Done in ${elapsed().trim()}.`)));
  return 0;
}

let code = 1;
try {
  code = await main();
} catch (error) {
  console.error(red(`\ndemo failed: ${(error as Error).stack ?? error}`));
  code = 1;
} finally {
  await cleanup();
}
process.exit(code);
