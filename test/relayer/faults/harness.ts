import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { after, it } from "node:test";
import { expect } from "chai";
import pg from "pg";
import {
  type Address,
  createPublicClient,
  createWalletClient,
  type Hex,
  http,
  type PublicClient,
  parseEther,
  toHex,
  type WalletClient,
  zeroAddress,
} from "viem";
import { generatePrivateKey, type PrivateKeyAccount, privateKeyToAccount } from "viem/accounts";
import { foundry } from "viem/chains";
import { freePort, type LocalChain, startAnvil } from "../../../scripts/lib/anvil.js";
import { hashPayment, type Payment, settlementHubAbi, signPayment } from "../../../src/client/index.js";
import { createRelayerClient, type PaymentStatusResponse, RelayerRequestError } from "../../../src/client/relayer.js";
import { PROJECT_ROOT } from "../../../src/relayer/config.js";
import { openStore } from "../../../src/relayer/store/open.js";
import { ANVIL_KEYS, bytecodeOf } from "../helpers/anvil.js";
import { type StoreLocation, storeLocation, type TestBackend } from "../helpers/store.js";

/**
 * The fault suite's world: a real node (anvil) with a SettlementHub, funded payers, signed
 * intents, relayers running as separate processes (`src/relayer/bin.mjs`, what `npm start`
 * runs) so they can be killed, and an auditor that compares what the relayer says with what
 * the chain shows.
 */

/**
 * The scenarios run only in `npm run test:faults` (which sets SETTLEKIT_FAULTS=1): `hardhat test`
 * without files would otherwise pick them up from `test/` with everything else.
 */
export const FAULT_SUITE = {
  skip: process.env.SETTLEKIT_FAULTS === "1" ? false : "the fault suite runs with npm run test:faults",
} as const;

export const FEE = 3n;
export const ADMIN_TOKEN = "faults-admin-token-0123456789";
export const REPORT_DIR = join(PROJECT_ROOT, "reports");
export const LOG_DIR = join(REPORT_DIR, "faults-logs");

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A seeded PRNG (mulberry32) so that "random moments" can be replayed: FAULTS_SEED=<n>. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export function faultSeed(): number {
  const configured = process.env.FAULTS_SEED;
  return configured !== undefined && configured !== "" ? Number(configured) : Date.now() % 1_000_000;
}

// ---------------------------------------------------------------------------------------------
// The chain

export interface HubChain {
  node: LocalChain;
  url: string;
  publicClient: PublicClient;
  deployer: WalletClient;
  hub: Address;
  /** Raw JSON-RPC (anvil_* and evm_* methods). */
  rpc<T = unknown>(method: string, params?: unknown[]): Promise<T>;
  stop(): Promise<void>;
}

/** Anvil on a free port with a SettlementHub (withdrawal delay 1 h, so accepted intents stay covered). */
export async function startHubChain(): Promise<HubChain> {
  const node = await startAnvil();
  const chain = { ...foundry, rpcUrls: { default: { http: [node.url] } } };
  const publicClient = createPublicClient({ chain, transport: http(node.url) }) as PublicClient;
  const account = privateKeyToAccount(ANVIL_KEYS[0]);
  const deployer = createWalletClient({ chain, transport: http(node.url), account });
  const hash = await deployer.deployContract({
    abi: settlementHubAbi,
    bytecode: bytecodeOf("settlement", "SettlementHub"),
    args: [account.address, 3_600n],
    account,
    chain,
  });
  const receipt = await publicClient.waitForTransactionReceipt({ hash });
  let id = 0;
  return {
    node,
    url: node.url,
    publicClient,
    deployer,
    hub: receipt.contractAddress as Address,
    async rpc<T>(method: string, params: unknown[] = []) {
      const response = await fetch(node.url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: ++id, method, params }),
      });
      const body = (await response.json()) as { result?: T; error?: { message: string } };
      if (body.error) throw new Error(`${method}: ${body.error.message}`);
      return body.result as T;
    },
    stop: () => node.stop(),
  };
}

export function hubBalance(chain: HubChain, account: Address): Promise<bigint> {
  return chain.publicClient.readContract({
    address: chain.hub,
    abi: settlementHubAbi,
    functionName: "balanceOf",
    args: [account, zeroAddress],
  });
}

/** Fresh payers, each with `deposit` wei of native currency in the hub (sent back to back, then awaited). */
export async function fundPayers(chain: HubChain, count: number, deposit: bigint): Promise<PrivateKeyAccount[]> {
  const payers = Array.from({ length: count }, () => privateKeyToAccount(generatePrivateKey()));
  const account = chain.deployer.account as PrivateKeyAccount;
  let nonce = await chain.publicClient.getTransactionCount({ address: account.address, blockTag: "pending" });
  const hashes: Hex[] = [];
  for (const payer of payers) {
    hashes.push(
      await chain.deployer.writeContract({
        address: chain.hub,
        abi: settlementHubAbi,
        functionName: "depositFor",
        args: [payer.address, zeroAddress, deposit],
        value: deposit,
        nonce: nonce++,
        gas: 100_000n,
        account,
        chain: chain.deployer.chain,
      }),
    );
  }
  for (const hash of hashes) {
    const receipt = await chain.publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== "success") throw new Error("deposit reverted");
  }
  return payers;
}

export interface SignedIntent {
  payment: Payment;
  signature: Hex;
  digest: Hex;
}

/**
 * `count` intents round-robin over payers and merchants; a payer's nonces are consecutive
 * (from `firstNonce`), as clients should hand them out.
 */
export async function signIntents(
  chain: HubChain,
  args: { payers: readonly PrivateKeyAccount[]; merchants: readonly Address[]; count: number; firstNonce?: bigint },
): Promise<SignedIntent[]> {
  const domain = { chainId: foundry.id, verifyingContract: chain.hub };
  const now = (await chain.publicClient.getBlock()).timestamp;
  const validBefore = now + 7_200n;
  return Promise.all(
    Array.from({ length: args.count }, async (_, i) => {
      const payer = args.payers[i % args.payers.length];
      const payment: Payment = {
        from: payer.address,
        to: args.merchants[i % args.merchants.length],
        token: zeroAddress,
        amount: 1_000n + BigInt(i),
        fee: FEE,
        nonce: (args.firstNonce ?? 0n) + BigInt(Math.floor(i / args.payers.length)),
        validAfter: 0n,
        validBefore,
        ref: toHex(i, { size: 32 }),
      };
      return {
        payment,
        signature: await signPayment({ account: payer, domain, payment }),
        digest: hashPayment({ domain, payment }),
      };
    }),
  );
}

export function merchants(count: number): Address[] {
  return Array.from({ length: count }, () => privateKeyToAccount(generatePrivateKey()).address);
}

// ---------------------------------------------------------------------------------------------
// Relayer processes

/** Flags every fault-suite relayer runs with (a scenario adds or overrides some). */
export const RELAYER_FLAGS = [
  ...["--batch-max-size", "200", "--batch-max-wait-ms", "100", "--poll-interval-ms", "100"],
  ...["--min-validity-seconds", "10", "--rate-limit", "1000000", "--log-level", "info"],
];

export interface RelayerProcess {
  url: string;
  port: number;
  pid: number;
  address: Address;
  child: ChildProcess;
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  alive(): boolean;
  /** SIGTERM (graceful shutdown), then waits for the exit. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL: no shutdown code runs at all. */
  kill(): Promise<void>;
}

export interface RelayerOptions {
  rpcUrl: string;
  hub: Address;
  key: Hex;
  /** Store flags (`--data-dir` or `--database-url`). */
  store: string[];
  /** Listen port; the same one across restarts keeps clients' URL valid. */
  port: number;
  flags?: string[];
  /** Log file (appended to across restarts). */
  log: string;
}

/** Every relayer process a scenario started and that has not exited yet. */
const running = new Set<RelayerProcess>();

/**
 * The safety net of every fault file that imports this harness: once its tests are done, no
 * relayer process it started may outlive it (a leftover child keeps the test runner waiting).
 */
after(async () => {
  await Promise.all([...running].map((relayer) => relayer.kill()));
});

/** A scenario's world: a chain with the hub, a store, the relayer key, funded payers. */
export interface ScenarioWorld {
  chain: HubChain;
  store: StoreLocation;
  /** The address of the relayer's key (anvil's fourth dev key, what `relayerOptions` uses by default). */
  address: Address;
  /** What each payer holds on the hub at the start. */
  deposit: bigint;
  payers: PrivateKeyAccount[];
}

/**
 * For one describe: `start` builds a fresh world (tearing down the previous one first); after
 * the describe, its relayer processes are stopped (SIGTERM, as an operator would), then the
 * chain, then the store is removed.
 */
export function scenarioWorld(): {
  start(o: { payers: number; backend?: TestBackend }): Promise<ScenarioWorld>;
  /**
   * Options of a relayer on the current world's chain and store, on a free port, logging to
   * `log` in `LOG_DIR`; by default with the world's key, talking to the node directly.
   */
  relayerOptions(o: { log: string; key?: Hex; rpcUrl?: string; flags?: string[] }): Promise<RelayerOptions>;
  tearDown(): Promise<void>;
} {
  let chain: HubChain | undefined;
  let store: StoreLocation | undefined;
  const key = ANVIL_KEYS[3];
  const tearDown = async () => {
    await Promise.all([...running].map((relayer) => relayer.stop()));
    await chain?.stop();
    await store?.remove();
    chain = store = undefined;
  };
  after(tearDown);
  return {
    tearDown,
    async start(o) {
      await tearDown();
      chain = await startHubChain();
      store = await storeLocation(o.backend ?? "postgres");
      const deposit = parseEther("1");
      const payers = await fundPayers(chain, o.payers, deposit);
      return { chain, store, address: privateKeyToAccount(key).address, deposit, payers };
    },
    async relayerOptions(o) {
      if (chain === undefined || store === undefined) throw new Error("relayerOptions before start");
      return {
        rpcUrl: o.rpcUrl ?? chain.url,
        hub: chain.hub,
        key: o.key ?? key,
        store: store.flags,
        port: await freePort(),
        log: join(LOG_DIR, o.log),
        flags: o.flags,
      };
    },
  };
}

/** Starts `settlekit-relayer` as its own process and waits until its API answers. */
export async function spawnRelayer(o: RelayerOptions, waitReady = true): Promise<RelayerProcess> {
  mkdirSync(LOG_DIR, { recursive: true });
  const fd = openSync(o.log, "a");
  const child = spawn(
    process.execPath,
    [
      join(PROJECT_ROOT, "src", "relayer", "bin.mjs"),
      ...["--rpc-url", o.rpcUrl, "--hub", o.hub, "--host", "127.0.0.1", "--port", String(o.port)],
      ...o.store,
      ...RELAYER_FLAGS,
      ...(o.flags ?? []),
    ],
    {
      env: { ...process.env, RELAYER_PRIVATE_KEY: o.key, RELAYER_ADMIN_TOKEN: ADMIN_TOKEN },
      stdio: ["ignore", fd, fd],
    },
  );
  closeSync(fd);
  const pid = child.pid;
  if (pid === undefined) throw new Error("relayer did not start");
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => {
      done = true;
      resolve({ code, signal });
    }),
  );
  const url = `http://127.0.0.1:${o.port}`;
  const relayer: RelayerProcess = {
    url,
    port: o.port,
    pid,
    address: privateKeyToAccount(o.key).address,
    child,
    exited,
    alive: () => !done,
    async stop() {
      if (!done) process.kill(pid, "SIGTERM");
      return exited;
    },
    async kill() {
      if (!done) process.kill(pid, "SIGKILL");
      await exited;
    },
  };
  running.add(relayer);
  void exited.then(() => running.delete(relayer));
  if (waitReady) await untilReady(relayer, o.log);
  return relayer;
}

/** Waits until the relayer's API answers (start-up resumes the previous run's work first). */
export async function untilReady(relayer: RelayerProcess, log: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!relayer.alive()) {
      throw new Error(`relayer exited during start-up:\n${readFileSync(log, "utf8").slice(-3_000)}`);
    }
    try {
      const response = await fetch(`${relayer.url}/healthz`, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      return;
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  throw new Error(`relayer did not answer within ${timeoutMs} ms`);
}

// ---------------------------------------------------------------------------------------------
// Load

/** Refusals that mean "not now": the intent is sent again until accepted or finally refused. */
const RETRIED = new Set(["network_error", "chain_unavailable", "store_unavailable", "shutting_down", "rate_limited"]);

export interface SubmitResult {
  /** Digest → index of the relayer (in `urls`) that answered 202. */
  accepted: Map<Hex, number>;
  /** Final refusals by digest. */
  refused: Map<Hex, string>;
  /** Temporary refusals and network errors, by code (each was retried). */
  retried: Record<string, number>;
  /** First submission to last answer. */
  elapsedMs: number;
}

export function emptySubmitResult(): SubmitResult {
  return { accepted: new Map(), refused: new Map(), retried: {}, elapsedMs: 0 };
}

/**
 * Submits every intent through `createRelayerClient`, `concurrency` at a time, to the relayers
 * in `urls` in turn (intent i goes to relayer i mod n). Temporary refusals (network errors, 503,
 * 429) are retried until `deadlineMs`; the same intent twice is the same digest, so a retry
 * after a request whose answer was lost is safe. `ratePerSecond` paces the first attempts.
 */
export async function submitIntents(
  urls: readonly string[],
  intents: readonly SignedIntent[],
  options: {
    concurrency?: number;
    ratePerSecond?: number;
    deadlineMs?: number;
    /** Filled as answers come in (a scenario can look at it while the load runs). */
    into?: SubmitResult;
  } = {},
): Promise<SubmitResult> {
  const clients = urls.map((url) => createRelayerClient({ url, timeoutMs: 15_000 }));
  const result: SubmitResult = options.into ?? emptySubmitResult();
  const started = Date.now();
  const deadline = started + (options.deadlineMs ?? 300_000);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const index = next++;
      if (index >= intents.length) return;
      if (options.ratePerSecond !== undefined) {
        const due = started + (index * 1_000) / options.ratePerSecond;
        if (due > Date.now()) await sleep(due - Date.now());
      }
      const intent = intents[index];
      const target = index % clients.length;
      for (;;) {
        try {
          const answer = await clients[target].submitPayment(intent);
          if (answer.digest !== intent.digest) throw new Error(`digest mismatch: ${answer.digest} ≠ ${intent.digest}`);
          result.accepted.set(intent.digest, target);
          break;
        } catch (error) {
          if (!(error instanceof RelayerRequestError)) throw error;
          if (!RETRIED.has(error.code)) {
            result.refused.set(intent.digest, error.code);
            break;
          }
          result.retried[error.code] = (result.retried[error.code] ?? 0) + 1;
          if (Date.now() > deadline) throw new Error(`intent ${intent.digest} not accepted before the deadline`);
          await sleep(100);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 32 }, worker));
  result.elapsedMs = Date.now() - started;
  return result;
}

/**
 * Polls the relayer until every digest is settled or failed; returns the final statuses.
 * Network errors (a relayer restarting) are waited out.
 */
export async function untilFinal(
  url: string,
  digests: Iterable<Hex>,
  timeoutMs = 180_000,
): Promise<Map<Hex, PaymentStatusResponse>> {
  const client = createRelayerClient({ url, timeoutMs: 15_000 });
  const open = new Set(digests);
  const final = new Map<Hex, PaymentStatusResponse>();
  const deadline = Date.now() + timeoutMs;
  while (open.size > 0) {
    if (Date.now() > deadline) throw new Error(`${open.size} intents still open after ${timeoutMs} ms`);
    const batch = [...open];
    for (let i = 0; i < batch.length; i += 100) {
      const answers = await Promise.allSettled(batch.slice(i, i + 100).map((d) => client.getPayment(d)));
      for (const answer of answers) {
        if (answer.status !== "fulfilled") continue;
        const status = answer.value;
        if (status.status === "settled" || status.status === "failed") {
          final.set(status.digest, status);
          open.delete(status.digest);
        }
      }
    }
    if (open.size > 0) await sleep(250);
  }
  return final;
}

/** One query on a Postgres database (the scenarios read the relayers' shared store directly). */
export async function sql<Row = Record<string, unknown>>(url: string, text: string, params: unknown[] = []) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text, params)).rows as Row[];
  } finally {
    await client.end();
  }
}

/** Waits until every digest is settled or failed in the store; returns when the last one got there. */
export async function untilFinalInStore(databaseUrl: string, digests: readonly Hex[], timeoutMs = 180_000) {
  const deadline = Date.now() + timeoutMs;
  const lowered = digests.map((d) => d.toLowerCase());
  for (;;) {
    const [row] = await sql<{ open: string; last: Date | null }>(
      databaseUrl,
      `SELECT count(*) FILTER (WHERE status NOT IN ('settled', 'failed')) AS open, max(updated_at) AS last
       FROM payment_intents WHERE digest = ANY($1::text[])`,
      [lowered],
    );
    if (Number(row.open) === 0) return { lastFinalAt: row.last as Date };
    if (Date.now() > deadline) throw new Error(`${row.open} intents still open after ${timeoutMs} ms`);
    await sleep(100);
  }
}

// ---------------------------------------------------------------------------------------------
// The audit: the relayer's word against the chain's

export interface AuditCounts {
  accepted: number;
  settled: number;
  failed: number;
  lost: number;
  duplicated: number;
}

export interface Audit extends AuditCounts {
  /** Every inconsistency found, in words (empty when all is well). */
  problems: string[];
  failureReasons: Record<string, number>;
}

/**
 * Checks, for every intent, the relayer's final status against the hub's events on the
 * canonical chain: settled ⇔ exactly one `PaymentSettled` (in the transaction the relayer
 * reports); failed ⇒ no `PaymentSettled` and a reason; anything else is lost. Intents that were
 * never accepted must have no event either. Then the balances: every payer's hub balance is its
 * deposit minus amount + fee of its settled intents, every merchant's the sum of its amounts,
 * the relayers' fee income `FEE` per settled intent.
 */
export async function audit(args: {
  chain: HubChain;
  intents: readonly SignedIntent[];
  accepted: ReadonlySet<Hex> | ReadonlyMap<Hex, unknown>;
  statuses: ReadonlyMap<Hex, PaymentStatusResponse>;
  deposit: bigint;
  relayers: readonly { address: Address; before: bigint }[];
  /** Block the scenario's events start at (default 0). */
  fromBlock?: bigint;
}): Promise<Audit> {
  const { chain } = args;
  const [settledEvents, failedEvents] = await Promise.all([
    chain.publicClient.getContractEvents({
      address: chain.hub,
      abi: settlementHubAbi,
      eventName: "PaymentSettled",
      fromBlock: args.fromBlock ?? 0n,
      strict: true,
    }),
    chain.publicClient.getContractEvents({
      address: chain.hub,
      abi: settlementHubAbi,
      eventName: "PaymentFailed",
      fromBlock: args.fromBlock ?? 0n,
      strict: true,
    }),
  ]);
  const settledOnChain = new Map<Hex, Hex[]>();
  for (const event of settledEvents) {
    const list = settledOnChain.get(event.args.digest) ?? [];
    list.push(event.transactionHash);
    settledOnChain.set(event.args.digest, list);
  }
  const failedOnChain = new Set(failedEvents.map((e) => e.args.digest));

  const problems: string[] = [];
  const failureReasons: Record<string, number> = {};
  const counts: AuditCounts = { accepted: 0, settled: 0, failed: 0, lost: 0, duplicated: 0 };
  const note = (text: string) => {
    if (problems.length < 20) problems.push(text);
  };
  for (const intent of args.intents) {
    const events = settledOnChain.get(intent.digest) ?? [];
    if (events.length > 1) {
      counts.duplicated++;
      note(`${intent.digest} settled ${events.length} times on-chain`);
    }
    if (!args.accepted.has(intent.digest)) {
      if (events.length > 0) note(`${intent.digest} was never accepted but settled on-chain`);
      continue;
    }
    counts.accepted++;
    const status = args.statuses.get(intent.digest);
    if (status?.status === "settled") {
      if (events.length === 0) {
        counts.lost++;
        note(`${intent.digest} reported settled without a PaymentSettled event`);
      } else {
        counts.settled++;
        if (status.txHash === null || !events.includes(status.txHash)) {
          note(`${intent.digest} reported settled in ${status.txHash}, its event is in ${events.join(", ")}`);
        }
      }
    } else if (status?.status === "failed") {
      counts.failed++;
      failureReasons[status.failureReason ?? "(none)"] = (failureReasons[status.failureReason ?? "(none)"] ?? 0) + 1;
      if (events.length > 0) note(`${intent.digest} reported failed (${status.failureReason}) but settled on-chain`);
      if (!status.failureReason) note(`${intent.digest} failed without a reason`);
      if (status.failureReason !== "expired" && status.failureReason !== "simulation_reverted") {
        if (!failedOnChain.has(intent.digest) && status.txHash !== null) {
          note(`${intent.digest} failed in ${status.txHash} without a PaymentFailed event`);
        }
      }
    } else {
      counts.lost++;
      note(`${intent.digest} is ${status?.status ?? "unknown"} at the end`);
    }
  }

  // Balances follow from the events alone.
  const spent = new Map<Address, bigint>();
  const received = new Map<Address, bigint>();
  let fees = 0n;
  for (const intent of args.intents) {
    if (!settledOnChain.has(intent.digest)) continue;
    const { from, to, amount, fee } = intent.payment;
    spent.set(from, (spent.get(from) ?? 0n) + amount + fee);
    received.set(to, (received.get(to) ?? 0n) + amount);
    fees += fee;
  }
  const payers = [...new Set(args.intents.map((i) => i.payment.from))];
  const payees = [...new Set(args.intents.map((i) => i.payment.to))];
  const [payerBalances, payeeBalances, relayerBalances] = await Promise.all([
    Promise.all(payers.map((p) => hubBalance(chain, p))),
    Promise.all(payees.map((p) => hubBalance(chain, p))),
    Promise.all(args.relayers.map((r) => hubBalance(chain, r.address))),
  ]);
  payers.forEach((payer, i) => {
    const expected = args.deposit - (spent.get(payer) ?? 0n);
    if (payerBalances[i] !== expected) note(`payer ${payer} holds ${payerBalances[i]}, expected ${expected}`);
  });
  payees.forEach((payee, i) => {
    const expected = received.get(payee) ?? 0n;
    if (payeeBalances[i] !== expected) note(`merchant ${payee} holds ${payeeBalances[i]}, expected ${expected}`);
  });
  const earned = relayerBalances.reduce((sum, balance, i) => sum + balance - args.relayers[i].before, 0n);
  if (earned !== fees) note(`relayers earned ${earned} in fees, expected ${fees}`);
  return { ...counts, problems, failureReasons };
}

/**
 * Waits until the relayer at `url` has every accepted intent settled or failed, then audits them.
 * On a Postgres store (which it can open beside the relayers), also checks what the store keeps
 * up to date by triggers against a recount: each payer's reservations and the counts per status.
 */
export async function auditWhenFinal(
  args: Omit<Parameters<typeof audit>[0], "statuses"> & { url: string; timeoutMs?: number; store?: StoreLocation },
): Promise<Audit> {
  const statuses = await untilFinal(args.url, args.accepted.keys(), args.timeoutMs);
  const result = await audit({ ...args, statuses });
  if (args.store?.options.databaseUrl !== undefined) {
    const store = await openStore({ ...args.store.options, inProcess: true });
    try {
      for (const m of await store.reservationMismatches())
        result.problems.push(`reservation of ${m.payer} (${m.token}) differs from its open intents`);
      for (const m of await store.countMismatches())
        result.problems.push(`${m.status} intents: ${m.kept} kept, ${m.counted} counted`);
    } finally {
      await store.close();
    }
  }
  return result;
}

/** The audit found nothing wrong: all `count` intents accepted, each settled exactly once, none lost. */
export function expectAllSettledOnce(result: Audit, count: number): void {
  expect(result.problems).to.deep.equal([]);
  expect(result.accepted).to.equal(count);
  expect(result.settled).to.equal(count);
  expect(result.lost).to.equal(0);
  expect(result.duplicated).to.equal(0);
}

// ---------------------------------------------------------------------------------------------
// A TCP proxy between the relayer and the node, to make the node unreachable

export interface TcpProxy {
  url: string;
  port: number;
  /** Closes the listener and cuts every open connection: connections are refused until `resume`. */
  pause(): Promise<void>;
  resume(): Promise<void>;
  close(): Promise<void>;
}

export async function startProxy(targetPort: number): Promise<TcpProxy> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer((client) => {
        const upstream = createConnection({ host: "127.0.0.1", port: targetPort });
        sockets.add(client);
        sockets.add(upstream);
        const drop = () => {
          client.destroy();
          upstream.destroy();
          sockets.delete(client);
          sockets.delete(upstream);
        };
        client.on("error", drop).on("close", drop);
        upstream.on("error", drop).on("close", drop);
        client.pipe(upstream);
        upstream.pipe(client);
      });
      s.once("error", reject);
      s.listen(port, "127.0.0.1", () => resolve());
      server = s;
    });
  const pause = async () => {
    const s = server;
    server = undefined;
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  await listen();
  return { url: `http://127.0.0.1:${port}`, port, pause, resume: listen, close: pause };
}

// ---------------------------------------------------------------------------------------------
// The report

export interface ScenarioRow extends AuditCounts {
  scenario: string;
  notes: string;
}

const rows: ScenarioRow[] = [];
let registered = 0;

/**
 * A fault scenario: a test that ends with one `report()` of its audit. The suite's report
 * expects one row per scenario registered, so a scenario that failed before its audit shows.
 */
export function scenario(title: string, fn: () => Promise<void>): void {
  registered++;
  it(title, fn);
}

/** Scenarios registered by the fault files loaded in this run. */
export function scenarioCount(): number {
  return registered;
}

/** Records a scenario's counts for the report printed at the end of the suite (and prints them now). */
export function report(row: ScenarioRow): void {
  rows.push(row);
  console.log(
    `      [faults] ${row.scenario}: accepted ${row.accepted}, settled ${row.settled}, failed ${row.failed}, lost ${row.lost}, duplicated ${row.duplicated}${row.notes ? ` — ${row.notes}` : ""}`,
  );
}

export function reportedRows(): readonly ScenarioRow[] {
  return rows;
}
