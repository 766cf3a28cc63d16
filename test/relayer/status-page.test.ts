import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { expect } from "chai";
import { pino } from "pino";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import {
  type Address,
  createPublicClient,
  createWalletClient,
  type Hex,
  http,
  type PublicClient,
  parseEther,
  toHex,
  zeroAddress,
} from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { foundry } from "viem/chains";
import {
  channelIdOf,
  escrowAbi,
  type Payment,
  paymentChannelsAbi,
  settlementHubAbi,
  signPayment,
  signVoucher,
} from "../../src/client/index.js";
import { createRelayerClient, type RelayerClient, type StatusResponse } from "../../src/client/relayer.js";
import { escapeHtml, formatBalance, renderStatusPage } from "../../src/relayer/api/status.js";
import { startFromConfig } from "../../src/relayer/cli.js";
import { PROJECT_ROOT, parseConfig } from "../../src/relayer/config.js";
import type { RelayerService } from "../../src/relayer/service.js";
import { ANVIL_KEYS, type Anvil, bytecodeOf, startAnvil } from "./helpers/anvil.js";

/** Debian's `chromium` package (`.ci/run` installs it). */
const CHROMIUM = "/usr/bin/chromium";
const SCREENSHOT = join(PROJECT_ROOT, "reports", "status-page.png");

/**
 * The figures the page shows, read from the DOM. (A string: the test runner's transpiler would
 * add helpers to a function's source that do not exist in the page.)
 */
const READ_PAGE = `(() => {
  const field = (name) => document.querySelector('[data-field="' + name + '"]')?.textContent ?? null;
  const titles = (table) => [...document.querySelectorAll('[data-table="' + table + '"] code')].map((c) => c.title);
  return {
    chainId: field("chain-id"),
    blockNumber: field("block-number"),
    relayer: field("relayer"),
    paused: field("paused"),
    queueDepth: field("queue-depth"),
    submitted: field("submitted"),
    settledTotal: field("settled-total"),
    failedTotal: field("failed-total"),
    relayerBalance: field("relayer-balance"),
    relayerBalanceWei: document.querySelector('[data-field="relayer-balance"]')?.title ?? null,
    channelsWatched: field("channels-watched"),
    channelsClosing: field("channels-closing"),
    settlementTxs: titles("settlements"),
    channelIds: titles("channels"),
    escrows: document.querySelector('[data-table="escrows"]')?.textContent ?? null,
    refreshed: document.body.dataset.refreshed ?? null,
  };
})()`;

interface Shown {
  chainId: string | null;
  blockNumber: string | null;
  relayer: string | null;
  paused: string | null;
  queueDepth: string | null;
  submitted: string | null;
  settledTotal: string | null;
  failedTotal: string | null;
  relayerBalance: string | null;
  relayerBalanceWei: string | null;
  channelsWatched: string | null;
  channelsClosing: string | null;
  settlementTxs: string[];
  channelIds: string[];
  escrows: string | null;
  refreshed: string | null;
}

const shown = (page: Page): Promise<Shown> => page.evaluate(READ_PAGE) as Promise<Shown>;

/** What the page must show for an API answer. */
function expected(status: StatusResponse) {
  return {
    chainId: String(status.chainId),
    blockNumber: status.blockNumber.toString(),
    relayer: status.relayer,
    paused: status.paused ? "paused" : "running",
    queueDepth: String(status.queue.accepted),
    submitted: String(status.queue.submitted),
    settledTotal: String(status.intents.settled),
    failedTotal: String(status.intents.failed),
    relayerBalance: status.relayerBalance === null ? "unknown" : formatBalance(status.relayerBalance.toString()),
    relayerBalanceWei: `${status.relayerBalance ?? ""} wei`,
    channelsWatched: String(status.channels.watched),
    channelsClosing: status.channels.closing === null ? "?" : String(status.channels.closing),
    escrows:
      status.escrows === null
        ? "automation not running on this relayer"
        : `${status.escrows.waiting}${status.escrows.due}${status.escrows.disputed}`,
    settlementTxs: status.recentSettlements.map((s) => s.txHash),
    channelIds: status.channels.latest.map((c) => c.channelId),
  };
}

describe("relayer status page (headless Chromium)", { skip: skipReason(), timeout: 180_000 }, () => {
  let anvil: Anvil;
  let publicClient: PublicClient;
  let hub: Address;
  let channels: Address;
  let escrow: Address;
  let dataDir: string;
  let profileDir: string;
  let service: RelayerService;
  let relayer: RelayerClient;
  let url: string;
  let context: BrowserContext;
  const deployerKey = ANVIL_KEYS[0];
  const chain = () => ({ ...foundry, rpcUrls: { default: { http: [anvil.url] } } });

  async function mined(hash: Promise<Hex>) {
    const receipt = await publicClient.waitForTransactionReceipt({ hash: await hash });
    if (receipt.status !== "success") throw new Error("transaction reverted");
    return receipt;
  }

  before(async () => {
    anvil = await startAnvil();
    dataDir = mkdtempSync(join(tmpdir(), "settlekit-status-"));
    profileDir = mkdtempSync(join(tmpdir(), "settlekit-chromium-"));
    publicClient = createPublicClient({ chain: chain(), transport: http(anvil.url) }) as PublicClient;
    const account = privateKeyToAccount(deployerKey);
    const wallet = createWalletClient({ chain: chain(), transport: http(anvil.url), account });
    const deploy = async (abi: never, folder: string, name: string, args: unknown[]) =>
      (await mined(wallet.deployContract({ abi, bytecode: bytecodeOf(folder, name), args } as never)))
        .contractAddress as Address;
    hub = await deploy(settlementHubAbi as never, "settlement", "SettlementHub", [account.address, 3_600n]);
    escrow = await deploy(escrowAbi as never, "escrow", "Escrow", [account.address, account.address, 0, 3_600n]);
    channels = await deploy(paymentChannelsAbi as never, "micropayments", "PaymentChannels", [account.address, 3_600n]);
    const config = parseConfig(
      [
        ...["--rpc-url", anvil.url, "--hub", hub, "--escrow", escrow, "--channels", channels],
        ...["--port", "0", "--data-dir", dataDir, "--log-level", "silent"],
        ...["--batch-max-size", "20", "--batch-max-wait-ms", "50", "--poll-interval-ms", "100"],
        ...["--min-validity-seconds", "10", "--automation-interval-ms", "100"],
      ],
      { RELAYER_PRIVATE_KEY: ANVIL_KEYS[3] },
    );
    service = await startFromConfig(config, pino({ level: "silent" }));
    const address = service.app?.server.address();
    if (address === null || address === undefined || typeof address === "string") throw new Error("not listening");
    url = `http://127.0.0.1:${address.port}`;
    relayer = createRelayerClient({ url });
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
      viewport: { width: 1200, height: 900 },
    });
  });

  after(async () => {
    await context?.close();
    await service?.stop();
    await anvil?.stop();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(profileDir, { recursive: true, force: true });
  });

  /** Signs and submits `count` intents from fresh, funded payers; resolves once all are settled. */
  async function pay(count: number, firstNonce: bigint) {
    const payers = [privateKeyToAccount(generatePrivateKey()), privateKeyToAccount(generatePrivateKey())];
    const wallet = createWalletClient({
      chain: chain(),
      transport: http(anvil.url),
      account: privateKeyToAccount(deployerKey),
    });
    for (const payer of payers) {
      await mined(
        wallet.writeContract({
          address: hub,
          abi: settlementHubAbi,
          functionName: "depositFor",
          args: [payer.address, zeroAddress, parseEther("1")],
          value: parseEther("1"),
        }),
      );
    }
    const validBefore = (await publicClient.getBlock()).timestamp + 3_600n;
    const digests = await Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const payer = payers[i % 2];
        const payment: Payment = {
          from: payer.address,
          to: payers[(i + 1) % 2].address,
          token: zeroAddress,
          amount: 1_000n + BigInt(i),
          fee: 1n,
          nonce: firstNonce + BigInt(Math.floor(i / 2)),
          validAfter: 0n,
          validBefore,
          ref: toHex(i, { size: 32 }),
        };
        const signature = await signPayment({
          account: payer,
          domain: { chainId: 31_337, verifyingContract: hub },
          payment,
        });
        return (await relayer.submitPayment({ payment, signature })).digest;
      }),
    );
    for (const digest of digests) expect((await relayer.waitForPayment(digest)).status).to.equal("settled");
  }

  /** Waits until the page has redrawn itself from the API at least once after `since`. */
  async function refreshedAfter(page: Page, since: string) {
    // Polled from here: the page's CSP (rightly) forbids the eval that waitForFunction needs.
    const deadline = Date.now() + 15_000;
    while (((await shown(page)).refreshed ?? "") <= since) {
      if (Date.now() > deadline) throw new Error(`the page did not refresh itself after ${since}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  it("shows the figures the API reports, and refreshes them by itself", async () => {
    await pay(40, 0n);
    // A channel with a voucher kept for watchtower duty.
    const payer = privateKeyToAccount(ANVIL_KEYS[2]);
    const payee = privateKeyToAccount(generatePrivateKey()).address;
    const salt = toHex(7n, { size: 32 });
    const payerWallet = createWalletClient({ chain: chain(), transport: http(anvil.url), account: payer });
    await mined(
      payerWallet.writeContract({
        address: channels,
        abi: paymentChannelsAbi,
        functionName: "open",
        args: [payee, zeroAddress, zeroAddress, parseEther("1"), salt],
        value: parseEther("1"),
      }),
    );
    const voucher = {
      channelId: channelIdOf({ payer: payer.address, payee, token: zeroAddress, salt }),
      cumulativeAmount: 500n,
    };
    const signature = await signVoucher({
      account: payer,
      domain: { chainId: 31_337, verifyingContract: channels },
      voucher,
    });
    await relayer.submitVoucher({ voucher, signature });
    // An escrow the automation will settle at its deadline, tomorrow.
    await mined(
      payerWallet.writeContract({
        address: escrow,
        abi: escrowAbi,
        functionName: "create",
        args: [
          {
            payee,
            arbiter: zeroAddress,
            token: zeroAddress,
            amount: parseEther("1"),
            deadline: (await publicClient.getBlock()).timestamp + 86_400n,
            onExpiry: 0,
            ref: toHex(1n, { size: 32 }),
          },
        ],
        value: parseEther("1"),
      }),
    );
    const indexed = await until(async () => ((await relayer.status()).escrows?.waiting === 1 ? true : undefined));
    expect(indexed, "the automation did not index the escrow").to.equal(true);

    const page = await context.newPage();
    const problems: string[] = [];
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(message.text());
    });
    page.on("pageerror", (error) => problems.push(error.message));
    const response = await page.goto(`${url}/`);
    expect(response?.status()).to.equal(200);
    expect(response?.headers()["content-type"]).to.match(/^text\/html/);
    expect(await page.title()).to.equal("settlekit relayer");

    // As served, and again after the page redrew itself from GET /v1/status.
    const api = await relayer.status();
    expect(api.intents.settled).to.equal(40);
    expect(api.queue.accepted).to.equal(0);
    expect(api.channels.watched).to.equal(1);
    expect(api.escrows).to.deep.equal({ waiting: 1, due: 0, disputed: 0 });
    expect(api.recentSettlements.length).to.be.greaterThanOrEqual(2);
    expect(await shown(page)).to.deep.include(expected(api));
    const firstRefresh = api.time;
    await refreshedAfter(page, firstRefresh);
    const [afterRefresh, apiAgain] = [await shown(page), await relayer.status()];
    expect(afterRefresh).to.deep.include(expected(apiAgain));

    // New settlements appear without a reload.
    await pay(10, 0n);
    const latest = await relayer.status();
    expect(latest.intents.settled).to.equal(50);
    await refreshedAfter(page, latest.time);
    const final = await shown(page);
    expect(final).to.deep.include(expected(await relayer.status()));
    expect(final.settledTotal).to.equal("50");

    mkdirSync(join(PROJECT_ROOT, "reports"), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(existsSync(SCREENSHOT)).to.equal(true);
    expect(problems, "console errors or CSP violations").to.deep.equal([]);
  });

  it("formats the relayer balance as ether with four decimals", () => {
    expect(formatBalance("9999998783585892335739")).to.equal("9999.9987 ETH");
    expect(formatBalance("5000000000000000")).to.equal("0.0050 ETH");
    expect(formatBalance(null)).to.equal("unknown");
  });

  it("escapes everything it renders as HTML", () => {
    expect(escapeHtml(`<script>alert("x")</script>&'`)).to.equal(
      "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;",
    );
    const hostile = "</script><img src=x onerror=alert(1)>";
    const html = renderStatusPage(
      {
        time: hostile,
        chainId: 31_337,
        relayer: hostile,
        paused: false,
        minFees: [],
        blockNumber: "1",
        relayerBalance: null,
        queue: { accepted: 0, submitted: 0, inflightTransactions: 0 },
        intents: { settled: 0, failed: 0 },
        settledPerSecond: 0,
        windowSeconds: 10,
        recentSettlements: [],
        channels: { watched: 0, closing: null, latest: [] },
        escrows: null,
      },
      "nonce",
    );
    expect(html).to.not.include("<img");
    expect(html.match(/<\/script>/g)).to.have.length(1);
  });
});

async function until<T>(check: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Skipped only off CI when the browser is missing (CI installs it, and must run this test). */
function skipReason(): string | false {
  if (existsSync(CHROMIUM)) return false;
  if (process.env.CI) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  return `${CHROMIUM} is missing (apt-get install -y chromium); .ci/run installs it`;
}
