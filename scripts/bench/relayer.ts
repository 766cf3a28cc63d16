// Relayer throughput and latency against a real local chain: anvil (automine), the SettlementHub
// deployed from its build artifact, and the relayer started as `npm start` starts it, in a
// process of its own (fresh embedded store per run; in the `pg` mode, a fresh database on a
// local PostgreSQL server instead). An open-loop generator in this process
// POSTs pre-signed intents at the offered rate whatever the answers (wrk2-style: latency counts
// from each request's scheduled send time, so a late generator or a queueing relayer is never
// hidden); a watcher polls the chain's logs for `PaymentSettled`/`PaymentFailed` by digest.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { Agent, request } from "node:http";
import { availableParallelism, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import {
  type Address,
  createPublicClient,
  createWalletClient,
  encodeEventTopics,
  type Hex,
  http,
  keccak256,
  parseEther,
  stringToHex,
  zeroAddress,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { foundry } from "viem/chains";
import { type Payment, settlementHubAbi, signPayment } from "../../src/client/index.js";
import { freePort, type LocalChain, startAnvil } from "../lib/anvil.js";
import { type PostgresServer, postgresBinaries, startPostgres } from "../lib/postgres.js";
import { processStat } from "../lib/proc.js";

const ROOT = resolve(import.meta.dirname, "..", "..");
/** Anvil's first and fourth default dev keys (mnemonic "test … junk"): deployer and relayer. */
const DEPLOYER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const RELAYER_KEY = "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6";
const PAYERS = 256;
const MERCHANTS = 16;
const FEE = 7n;

/**
 * batched: one intent per `POST /v1/payments`, default batching; batch1: the same with batch
 * size 1 (one transaction per intent); multi: default batching, intents sent
 * {@link INTENTS_PER_REQUEST} to a `POST /v1/payments/batch` request; pg: as batched, with the
 * store on a PostgreSQL server (`DATABASE_URL`) instead of the embedded one.
 */
export type Mode = "batched" | "batch1" | "multi" | "pg";

/** Intents per request in the `multi` mode. */
export const INTENTS_PER_REQUEST = 64;

/** The order the modes run and are reported in. */
export const MODES: readonly Mode[] = ["batched", "multi", "pg", "batch1"];

export const MODE_LABEL: Record<Mode, string> = {
  batched: "batched",
  batch1: "batch size 1",
  multi: `batched, ${INTENTS_PER_REQUEST} per request`,
  pg: "batched, PostgreSQL server",
};

export interface RelayerRun {
  mode: Mode;
  /** Offered load, intents per second. */
  offered: number;
  intents: number;
  /** Rate at which the generator actually sent (intents / send window). */
  sentRate: number;
  /** Largest delay of a send behind its schedule, ms (generator lag). */
  maxSendLagMs: number;
  accepted: number;
  /** Non-202 answers by relayer error code (or transport error). */
  rejected: Record<string, number>;
  settled: number;
  failed: number;
  /** Accepted intents neither settled nor failed on-chain when the run stopped waiting. */
  unsettled: number;
  /** Settled intents / (last settlement seen - first scheduled send), per second. */
  settledPerSecond: number;
  acceptP50Ms: number;
  acceptP99Ms: number;
  confirmP50Ms: number;
  confirmP99Ms: number;
  /** settleBatch/settle transactions that carried the settlements. */
  transactions: number;
  durationSeconds: number;
  /** Where the CPU went while the run was measured; null where processes' CPU time cannot be read. */
  cpu: CpuShare | null;
}

/**
 * CPU time (user + system, all threads) per settled intent over a measured run, by process, and
 * how busy the machine's cores were meanwhile. A run with the cores near 100% busy is CPU-bound:
 * it settles faster only if the processes together spend less CPU per intent.
 */
export interface CpuShare {
  relayerMs: number;
  nodeMs: number;
  /** The PostgreSQL server's processes (`pg` mode); null when the store is embedded in the relayer. */
  databaseMs: number | null;
  /** This process: the load generator and the settlement watcher. */
  generatorMs: number;
  cores: number;
  /** The processes' CPU time ÷ (the run's wall time × cores), percent. */
  busyPercent: number;
}

export interface RelayerSetup {
  chain: "anvil (automine)";
  payers: number;
  merchants: number;
  relayerFlags: string[];
  batchedFlags: string[];
  batch1Flags: string[];
  watcherPollMs: number;
  warmUpIntents: number;
  /** The server of the `pg` runs (`postgres --version`), null when they did not run. */
  databaseServer: string | null;
}

interface Progress {
  (message: string): void;
  status?: (message: string) => void;
}

const WATCH_POLL_MS = 25;
/** Intents sent (at 100/s) and settled before each measured run, not counted. */
const WARM_UP = 50;
const COMMON_FLAGS = [
  ...["--log-level", "warn", "--rate-limit", "100000000", "--min-validity-seconds", "10"],
  // Same for both modes; raised from the defaults (8 in flight, 250 ms polls) so that the
  // one-transaction-per-intent baseline is limited by transactions, not by the relayer's caps.
  ...["--max-inflight-batches", "64", "--poll-interval-ms", "50"],
];
const MODE_FLAGS: Record<Mode, string[]> = { batched: [], batch1: ["--batch-max-size", "1"], multi: [], pg: [] };

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

async function rpc<T>(url: string, method: string, params: unknown[]): Promise<T> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const body = (await response.json()) as { result?: T; error?: { message: string } };
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result as T;
}

const [settledTopic] = encodeEventTopics({ abi: settlementHubAbi, eventName: "PaymentSettled" });
const [failedTopic] = encodeEventTopics({ abi: settlementHubAbi, eventName: "PaymentFailed" });

/** Follows the hub's `PaymentSettled`/`PaymentFailed` logs; remembers when each digest was first seen. */
class SettlementWatcher {
  readonly seen = new Map<string, { at: number; settled: boolean; tx: string }>();
  #from: bigint;
  #timer: NodeJS.Timeout | undefined;
  #busy = false;

  constructor(
    private readonly url: string,
    private readonly hub: Address,
    fromBlock: bigint,
  ) {
    this.#from = fromBlock;
  }

  start(): void {
    this.#timer = setInterval(() => void this.poll(), WATCH_POLL_MS);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  async poll(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      const head = BigInt(await rpc<Hex>(this.url, "eth_blockNumber", []));
      if (head < this.#from) return;
      const logs = await rpc<{ topics: Hex[]; transactionHash: Hex }[]>(this.url, "eth_getLogs", [
        {
          address: this.hub,
          fromBlock: `0x${this.#from.toString(16)}`,
          toBlock: `0x${head.toString(16)}`,
          topics: [[settledTopic, failedTopic]],
        },
      ]);
      const at = performance.now();
      for (const log of logs) {
        const digest = (log.topics[1] as Hex).toLowerCase();
        if (!this.seen.has(digest)) {
          this.seen.set(digest, { at, settled: log.topics[0] === settledTopic, tx: log.transactionHash });
        }
      }
      this.#from = head + 1n;
    } catch {
      // the next poll retries the same range
    } finally {
      this.#busy = false;
    }
  }
}

interface CpuSnapshot {
  atMs: number;
  relayer: number | null;
  node: number | null;
  generator: number;
  /** Undefined without a database server; null when its processes cannot be read. */
  database: number | null | undefined;
}

function cpuSnapshot(relayerPid: number, nodePid: number, database: PostgresServer | undefined): CpuSnapshot {
  const own = process.cpuUsage();
  return {
    atMs: performance.now(),
    relayer: processStat(relayerPid)?.cpuSeconds ?? null,
    node: processStat(nodePid)?.cpuSeconds ?? null,
    generator: (own.user + own.system) / 1e6,
    database: database?.cpuSeconds(),
  };
}

function cpuShare(before: CpuSnapshot, after: CpuSnapshot, settled: number): CpuShare | null {
  if (settled === 0 || before.relayer === null || after.relayer === null || before.node === null || after.node === null)
    return null;
  if (before.database === null || after.database === null) return null;
  const seconds = {
    relayer: after.relayer - before.relayer,
    node: after.node - before.node,
    generator: after.generator - before.generator,
    database: before.database === undefined || after.database === undefined ? null : after.database - before.database,
  };
  const perIntent = (cpuSeconds: number) => Math.round((cpuSeconds * 100_000) / settled) / 100;
  const cores = availableParallelism();
  const wallSeconds = (after.atMs - before.atMs) / 1000;
  return {
    relayerMs: perIntent(seconds.relayer),
    nodeMs: perIntent(seconds.node),
    generatorMs: perIntent(seconds.generator),
    databaseMs: seconds.database === null ? null : perIntent(seconds.database),
    cores,
    busyPercent: Math.round(
      (100 * (seconds.relayer + seconds.node + seconds.generator + (seconds.database ?? 0))) / (wallSeconds * cores),
    ),
  };
}

interface RunningRelayer {
  pid: number;
  url: string;
  stop(): Promise<void>;
}

/** The relayer's environment: its key, and the embedded store unless `databaseUrl` is given. */
function relayerEnv(databaseUrl: string | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, RELAYER_PRIVATE_KEY: RELAYER_KEY };
  delete env.DATABASE_URL;
  if (databaseUrl !== undefined) env.DATABASE_URL = databaseUrl;
  return env;
}

async function startRelayer(
  chainUrl: string,
  hub: Address,
  flags: string[],
  databaseUrl?: string,
): Promise<RunningRelayer> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), "settlekit-bench-relayer-"));
  const log = join(dataDir, "relayer.log");
  const out = openSync(log, "a");
  const child: ChildProcess = spawn(
    process.execPath,
    [
      join(ROOT, "src", "relayer", "bin.mjs"),
      ...["--rpc-url", chainUrl, "--hub", hub, "--port", String(port), "--data-dir", join(dataDir, "store")],
      ...flags,
    ],
    { cwd: ROOT, env: relayerEnv(databaseUrl), stdio: ["ignore", out, out] },
  );
  if (child.pid === undefined) throw new Error("the relayer did not start");
  const pid = child.pid;
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`relayer exited with ${child.exitCode}:\n${readFileSync(log, "utf8")}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`relayer did not become healthy within 60 s:\n${readFileSync(log, "utf8")}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    pid,
    url,
    async stop() {
      if (child.exitCode === null) {
        process.kill(pid, "SIGTERM");
        const force = setTimeout(() => process.kill(pid, "SIGKILL"), 15_000);
        await exited;
        clearTimeout(force);
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

interface Answer {
  scheduled: number;
  sent: number;
  answered: number;
  status: number;
  code?: string;
  digest?: string;
}

/**
 * Sends `bodies[i]` at `t0 + i / rate` whatever the answers; resolves when all are answered.
 * With `perRequest` > 1, bodies go `perRequest` to a `POST /v1/payments/batch` request, sent
 * when its first intent is due; each intent's answer is its request's.
 */
function openLoop(
  url: string,
  bodies: readonly string[],
  rate: number,
  onAnswer: () => void,
  perRequest = 1,
): Promise<Answer[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 512 });
  const target = new URL(perRequest === 1 ? "/v1/payments" : "/v1/payments/batch", url);
  const answers: Answer[] = new Array(bodies.length);
  const requests = Math.ceil(bodies.length / perRequest);
  let done = 0;
  return new Promise((resolveAll) => {
    const t0 = performance.now() + 20;
    const due = (j: number) => t0 + (j * perRequest * 1000) / rate;
    let next = 0;
    const send = (j: number) => {
      const scheduled = due(j);
      const first = j * perRequest;
      const items = bodies.slice(first, first + perRequest);
      const body = perRequest === 1 ? (items[0] as string) : `{"items":[${items.join(",")}]}`;
      const sent = performance.now();
      const finish = (status: number, text: string) => {
        const answered = performance.now();
        const at = (m: number, fields: Partial<Answer>) => {
          answers[first + m] = { scheduled, sent, answered, status, ...fields };
        };
        try {
          const parsed = JSON.parse(text) as {
            digest?: string;
            code?: string;
            results?: { accepted: boolean; digest?: string; code?: string }[];
          };
          if (perRequest === 1)
            at(0, status === 202 ? { digest: parsed.digest?.toLowerCase() } : { code: parsed.code });
          else
            for (let m = 0; m < items.length; m++) {
              const result = status === 200 ? parsed.results?.[m] : undefined;
              if (result?.accepted) at(m, { digest: result.digest?.toLowerCase() });
              else at(m, { code: result?.code ?? parsed.code ?? `http_${status}` });
            }
        } catch {
          for (let m = 0; m < items.length; m++) at(m, { code: `http_${status}` });
        }
        for (let m = 0; m < items.length; m++) onAnswer();
        if (++done === requests) {
          agent.destroy();
          resolveAll(answers);
        }
      };
      const req = request(
        target,
        {
          method: "POST",
          agent,
          headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (chunk) => {
            text += chunk;
          });
          res.on("end", () => finish(res.statusCode ?? 0, text));
        },
      );
      req.on("error", (error) =>
        finish(0, JSON.stringify({ code: `transport_${(error as { code?: string }).code ?? "error"}` })),
      );
      req.end(body);
    };
    const pump = () => {
      const now = performance.now();
      while (next < requests && due(next) <= now) send(next++);
      if (next < requests) setTimeout(pump, 1);
    };
    setTimeout(pump, 20);
  });
}

/** The benchmark's chain: anvil with the hub deployed and payers funded in it. */
export interface BenchChain {
  anvil: LocalChain;
  hub: Address;
  chainId: number;
  payers: ReturnType<typeof privateKeyToAccount>[];
  merchants: Address[];
  nonces: bigint[];
}

export async function startBenchChain(progress: Progress): Promise<BenchChain> {
  progress("relayer: starting anvil, deploying the SettlementHub, funding payers");
  const anvil = await startAnvil();
  const chain = { ...foundry, rpcUrls: { default: { http: [anvil.url] } } };
  const publicClient = createPublicClient({ chain, transport: http(anvil.url) });
  const deployer = createWalletClient({
    chain,
    transport: http(anvil.url),
    account: privateKeyToAccount(DEPLOYER_KEY),
  });
  const artifact = JSON.parse(
    readFileSync(join(ROOT, "artifacts", "contracts", "settlement", "SettlementHub.sol", "SettlementHub.json"), "utf8"),
  ) as { bytecode: Hex };
  const deployHash = await deployer.deployContract({
    abi: settlementHubAbi,
    bytecode: artifact.bytecode,
    args: [deployer.account.address, 3_600n],
  });
  const hub = (await publicClient.waitForTransactionReceipt({ hash: deployHash })).contractAddress as Address;
  const payers = Array.from({ length: PAYERS }, (_, i) =>
    privateKeyToAccount(keccak256(stringToHex(`settlekit bench payer ${i}`))),
  );
  const merchants = Array.from(
    { length: MERCHANTS },
    (_, i) => privateKeyToAccount(keccak256(stringToHex(`settlekit bench merchant ${i}`))).address,
  );
  let last: Hex = deployHash;
  const deposit = parseEther("0.1");
  for (const payer of payers) {
    last = await deployer.writeContract({
      address: hub,
      abi: settlementHubAbi,
      functionName: "depositFor",
      args: [payer.address, zeroAddress, deposit],
      value: deposit,
    });
  }
  await publicClient.waitForTransactionReceipt({ hash: last });
  return { anvil, hub, chainId: 31_337, payers, merchants, nonces: payers.map(() => 0n) };
}

/**
 * One run: a fresh relayer in `mode`, `count` pre-signed intents offered at `offered`/s. The
 * `pg` mode needs `database`, where the run gets a database of its own.
 */
export async function runLoad(
  bench: BenchChain,
  mode: Mode,
  offered: number,
  count: number,
  progress: Progress,
  drainTimeoutMs: number,
  database?: PostgresServer,
): Promise<RelayerRun> {
  if (mode === "pg" && database === undefined) throw new Error("the pg mode needs a PostgreSQL server");
  const { anvil, hub } = bench;
  const label = `relayer ${MODE_LABEL[mode]} @ ${offered.toLocaleString("en-US")}/s`;
  progress(`${label}: signing ${(WARM_UP + count).toLocaleString("en-US")} intents`);
  const now = BigInt((await rpc<{ timestamp: Hex }>(anvil.url, "eth_getBlockByNumber", ["latest", false])).timestamp);
  const domain = { chainId: bench.chainId, verifyingContract: hub };
  const bodies: string[] = [];
  for (let i = 0; i < WARM_UP + count; i++) {
    const p = i % bench.payers.length;
    const payer = bench.payers[p] as (typeof bench.payers)[number];
    const nonce = bench.nonces[p] as bigint;
    bench.nonces[p] = nonce + 1n;
    const payment: Payment = {
      from: payer.address,
      to: bench.merchants[i % bench.merchants.length] as Address,
      token: zeroAddress,
      amount: 1_000n + BigInt(i % 1000),
      fee: FEE,
      nonce,
      validAfter: 0n,
      validBefore: now + 7_200n,
      ref: keccak256(stringToHex(`bench ${mode} ${offered} ${i}`)),
    };
    const signature = await signPayment({ account: payer, domain, payment });
    bodies.push(
      JSON.stringify({
        payment: Object.fromEntries(
          Object.entries(payment).map(([k, v]) => [k, typeof v === "bigint" ? v.toString() : v]),
        ),
        signature,
      }),
    );
  }

  progress(`${label}: starting the relayer`);
  const server = mode === "pg" ? database : undefined;
  const store = server === undefined ? undefined : await server.createDatabase();
  const relayer = await startRelayer(anvil.url, hub, [...COMMON_FLAGS, ...MODE_FLAGS[mode]], store?.url);
  const head = BigInt(await rpc<Hex>(anvil.url, "eth_blockNumber", []));
  const watcher = new SettlementWatcher(anvil.url, hub, head + 1n);
  watcher.start();
  // Warm-up, not measured: JIT, connections and the store's first batches.
  const warmUp = await openLoop(relayer.url, bodies.slice(0, WARM_UP), 100, () => undefined);
  const warmDeadline = performance.now() + 30_000;
  while (
    performance.now() < warmDeadline &&
    warmUp.some((a) => a.digest !== undefined && !watcher.seen.has(a.digest))
  ) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const measured = bodies.slice(WARM_UP);
  let answered = 0;
  const started = performance.now();
  const ticker = setInterval(() => {
    progress.status?.(
      `${label}: answered ${answered}/${count}, on-chain ${watcher.seen.size}, ${((performance.now() - started) / 1000).toFixed(0)} s`,
    );
  }, 500);
  const cpuBefore = cpuSnapshot(relayer.pid, anvil.pid, server);
  try {
    const answers = await openLoop(
      relayer.url,
      measured,
      offered,
      () => answered++,
      mode === "multi" ? INTENTS_PER_REQUEST : 1,
    );
    const accepted = answers.filter((a) => a.digest !== undefined);
    const waitUntil = performance.now() + drainTimeoutMs;
    while (performance.now() < waitUntil && accepted.some((a) => !watcher.seen.has(a.digest as string))) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await watcher.poll();
    const cpuAfter = cpuSnapshot(relayer.pid, anvil.pid, server);
    clearInterval(ticker);

    const rejected: Record<string, number> = {};
    for (const a of answers)
      if (a.digest === undefined)
        rejected[a.code ?? `http_${a.status}`] = (rejected[a.code ?? `http_${a.status}`] ?? 0) + 1;
    const acceptLatencies = accepted.map((a) => a.answered - a.scheduled).sort((x, y) => x - y);
    const confirmLatencies: number[] = [];
    const transactions = new Set<string>();
    let settled = 0;
    let failed = 0;
    let lastSeen = 0;
    for (const a of accepted) {
      const s = watcher.seen.get(a.digest as string);
      if (s === undefined) continue;
      if (!s.settled) {
        failed++;
        continue;
      }
      settled++;
      transactions.add(s.tx);
      lastSeen = Math.max(lastSeen, s.at);
      confirmLatencies.push(s.at - a.answered);
    }
    confirmLatencies.sort((x, y) => x - y);
    const first = answers[0] as Answer;
    const lastAnswer = answers[answers.length - 1] as Answer;
    const sendWindow = (lastAnswer.sent - first.sent) / 1000;
    return {
      mode,
      offered,
      intents: count,
      sentRate: sendWindow > 0 ? Math.round((count - 1) / sendWindow) : count,
      maxSendLagMs: Math.round(Math.max(...answers.map((a) => a.sent - a.scheduled))),
      accepted: accepted.length,
      rejected,
      settled,
      failed,
      unsettled: accepted.length - settled - failed,
      settledPerSecond: settled === 0 ? 0 : Math.round((settled * 1000) / (lastSeen - first.scheduled)),
      acceptP50Ms: Math.round(percentile(acceptLatencies, 50) * 10) / 10,
      acceptP99Ms: Math.round(percentile(acceptLatencies, 99) * 10) / 10,
      confirmP50Ms: Math.round(percentile(confirmLatencies, 50)),
      confirmP99Ms: Math.round(percentile(confirmLatencies, 99)),
      transactions: transactions.size,
      durationSeconds: Math.round((performance.now() - started) / 100) / 10,
      cpu: cpuShare(cpuBefore, cpuAfter, settled),
    };
  } finally {
    clearInterval(ticker);
    watcher.stop();
    await relayer.stop();
    if (server !== undefined && store !== undefined) await server.dropDatabase(store.name);
  }
}

/**
 * The relayer benchmark: every offered load in every mode. The `pg` runs need PostgreSQL
 * installed (Debian's package, as for the relayer tests); without it they are skipped and said so.
 */
export async function measureRelayer(
  progress: Progress,
  options: { loads: readonly number[]; intents: number; drainTimeoutMs: number },
): Promise<{ setup: RelayerSetup; runs: RelayerRun[] }> {
  const bench = await startBenchChain(progress);
  const runs: RelayerRun[] = [];
  let database: PostgresServer | undefined;
  let databaseServer: string | null = null;
  try {
    const bin = postgresBinaries();
    if (bin === undefined) progress("relayer: PostgreSQL is not installed; the PostgreSQL-server runs are skipped");
    else {
      progress("relayer: starting a PostgreSQL server on 127.0.0.1 for the PostgreSQL-server runs");
      database = await startPostgres();
      databaseServer = execFileSync(join(bin, "postgres"), ["--version"], { encoding: "utf8" }).trim();
    }
    const modes = database === undefined ? (["batched", "multi", "batch1"] as const) : MODES;
    for (const mode of modes) {
      for (const offered of options.loads) {
        const run = await runLoad(bench, mode, offered, options.intents, progress, options.drainTimeoutMs, database);
        runs.push(run);
        progress(
          `relayer ${MODE_LABEL[mode]} @ ${offered.toLocaleString("en-US")}/s: ${run.settled}/${run.intents} settled, ${run.settledPerSecond}/s, ` +
            `accept p99 ${run.acceptP99Ms} ms, confirmed p99 ${run.confirmP99Ms} ms, ${run.transactions} txs`,
        );
      }
    }
  } finally {
    await bench.anvil.stop();
    database?.dispose();
  }
  return {
    setup: {
      chain: "anvil (automine)",
      payers: PAYERS,
      merchants: MERCHANTS,
      relayerFlags: COMMON_FLAGS,
      batchedFlags: MODE_FLAGS.batched,
      batch1Flags: MODE_FLAGS.batch1,
      watcherPollMs: WATCH_POLL_MS,
      warmUpIntents: WARM_UP,
      databaseServer,
    },
    runs,
  };
}
