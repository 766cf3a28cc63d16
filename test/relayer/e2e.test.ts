import { after, before, describe, it } from "node:test";
import { expect } from "chai";
import { pino } from "pino";
import {
  type Address,
  createPublicClient,
  createWalletClient,
  type Hex,
  http,
  type PublicClient,
  parseEther,
  size,
  toHex,
  type WalletClient,
  zeroAddress,
} from "viem";
import { generatePrivateKey, type PrivateKeyAccount, privateKeyToAccount } from "viem/accounts";
import { foundry } from "viem/chains";
import {
  channelIdOf,
  escrowAbi,
  type Payment,
  paymentChannelsAbi,
  settlementHubAbi,
  signPayment,
  signRelease,
  signVoucher,
} from "../../src/client/index.js";
import { createRelayerClient, type RelayerClient, RelayerRequestError } from "../../src/client/relayer.js";
import { startFromConfig } from "../../src/relayer/cli.js";
import { parseConfig } from "../../src/relayer/config.js";
import { SETTLE_CALLDATA_MAX_BYTES, settleGasBudget } from "../../src/relayer/jobs/batcher.js";
import type { RelayerService } from "../../src/relayer/service.js";
import { ANVIL_KEYS, type Anvil, bytecodeOf, startAnvil } from "./helpers/anvil.js";
import { type StoreLocation, storeLocation, testBackend } from "./helpers/store.js";

const ADMIN_TOKEN = "e2e-admin-token-0123456789";
const FEE = 7n;

/**
 * The relayer against a real node: anvil, the three contracts deployed from their build
 * artifacts, the relayer started as `npm start` would start it (its real adapters over the
 * client library), and a dApp talking to it over HTTP with `createRelayerClient`.
 */
describe(`relayer end to end (anvil, real contracts, HTTP, ${testBackend()} store)`, () => {
  let anvil: Anvil;
  let publicClient: PublicClient;
  let deployer: WalletClient;
  let hub: Address;
  let escrow: Address;
  let channels: Address;
  let storeAt: StoreLocation;
  let service: RelayerService | undefined;
  let relayer: RelayerClient;
  const relayerKey = ANVIL_KEYS[3];
  const relayerAddress = privateKeyToAccount(relayerKey).address;

  async function startRelayer(flags: string[] = []): Promise<RelayerClient> {
    const config = parseConfig(
      [
        ...["--rpc-url", anvil.url, "--hub", hub, "--escrow", escrow, "--channels", channels],
        ...["--port", "0", ...storeAt.flags, "--log-level", "silent"],
        ...["--batch-max-size", "100", "--batch-max-wait-ms", "100", "--poll-interval-ms", "100"],
        ...["--min-validity-seconds", "10", "--rate-limit", "100000"],
        ...flags,
      ],
      { RELAYER_PRIVATE_KEY: relayerKey, RELAYER_ADMIN_TOKEN: ADMIN_TOKEN },
    );
    service = await startFromConfig(config, pino({ level: "silent" }));
    const address = service.app?.server.address();
    if (address === null || address === undefined || typeof address === "string") throw new Error("not listening");
    return createRelayerClient({ url: `http://127.0.0.1:${address.port}` });
  }

  async function stopRelayer(): Promise<void> {
    await service?.stop();
    service = undefined;
  }

  async function send(hash: Promise<Hex>): Promise<void> {
    const receipt = await publicClient.waitForTransactionReceipt({ hash: await hash });
    if (receipt.status !== "success") throw new Error("transaction reverted");
  }

  before(async () => {
    anvil = await startAnvil();
    storeAt = await storeLocation();
    const chain = { ...foundry, rpcUrls: { default: { http: [anvil.url] } } };
    publicClient = createPublicClient({ chain, transport: http(anvil.url) }) as PublicClient;
    deployer = createWalletClient({ chain, transport: http(anvil.url), account: privateKeyToAccount(ANVIL_KEYS[0]) });
    const owner = deployer.account?.address as Address;
    const deploy = async (hash: Promise<Hex>) => {
      const receipt = await publicClient.waitForTransactionReceipt({ hash: await hash });
      return receipt.contractAddress as Address;
    };
    const account = deployer.account as PrivateKeyAccount;
    hub = await deploy(
      deployer.deployContract({
        abi: settlementHubAbi,
        bytecode: bytecodeOf("settlement", "SettlementHub"),
        args: [owner, 3_600n],
        account,
        chain,
      }),
    );
    escrow = await deploy(
      deployer.deployContract({
        abi: escrowAbi,
        bytecode: bytecodeOf("escrow", "Escrow"),
        args: [owner, owner, 0, 3_600n],
        account,
        chain,
      }),
    );
    channels = await deploy(
      deployer.deployContract({
        abi: paymentChannelsAbi,
        bytecode: bytecodeOf("micropayments", "PaymentChannels"),
        args: [owner, 3_600n],
        account,
        chain,
      }),
    );
    relayer = await startRelayer();
  });

  after(async () => {
    await stopRelayer();
    await anvil?.stop();
    await storeAt?.remove();
  });

  const domain = () => ({ chainId: 31_337, verifyingContract: hub });
  const now = async () => (await publicClient.getBlock()).timestamp;
  const hubBalance = (account: Address) =>
    publicClient.readContract({
      address: hub,
      abi: settlementHubAbi,
      functionName: "balanceOf",
      args: [account, zeroAddress],
    });

  async function fund(accounts: readonly Address[], amount: bigint) {
    for (const account of accounts) {
      await send(
        deployer.writeContract({
          address: hub,
          abi: settlementHubAbi,
          functionName: "depositFor",
          args: [account, zeroAddress, amount],
          value: amount,
          account: deployer.account as PrivateKeyAccount,
          chain: deployer.chain,
        }),
      );
    }
  }

  async function signed(payer: PrivateKeyAccount, fields: Partial<Payment> & Pick<Payment, "to" | "nonce" | "amount">) {
    const payment: Payment = {
      from: payer.address,
      token: zeroAddress,
      fee: FEE,
      validAfter: 0n,
      validBefore: (await now()) + 3_600n,
      ref: toHex(fields.nonce, { size: 32 }),
      ...fields,
    };
    return { payment, signature: await signPayment({ account: payer, domain: domain(), payment }) };
  }

  /** Polls the relayer until every digest is settled or failed. */
  async function settled(digests: readonly Hex[], timeoutMs = 90_000) {
    const deadline = Date.now() + timeoutMs;
    const final = new Map<Hex, Awaited<ReturnType<RelayerClient["getPayment"]>>>();
    while (final.size < digests.length) {
      if (Date.now() > deadline) throw new Error(`${digests.length - final.size} intents not final in time`);
      const open = digests.filter((d) => !final.has(d));
      for (let i = 0; i < open.length; i += 50) {
        const statuses = await Promise.all(open.slice(i, i + 50).map((d) => relayer.getPayment(d)));
        for (const s of statuses) if (s.status === "settled" || s.status === "failed") final.set(s.digest, s);
      }
      if (final.size < digests.length) await new Promise((resolve) => setTimeout(resolve, 300));
    }
    return [...final.values()];
  }

  async function rejection(promise: Promise<unknown>): Promise<string> {
    try {
      await promise;
    } catch (error) {
      if (error instanceof RelayerRequestError) return error.code;
      throw error;
    }
    return "accepted";
  }

  it("settles 500 payments from 20 payers in batches, each once, to the exact balances", async () => {
    const payers = Array.from({ length: 20 }, () => privateKeyToAccount(generatePrivateKey()));
    const merchants = Array.from({ length: 5 }, () => privateKeyToAccount(generatePrivateKey()).address);
    const deposit = parseEther("1");
    await fund(
      payers.map((p) => p.address),
      deposit,
    );
    const relayerBefore = await hubBalance(relayerAddress);

    const intents = await Promise.all(
      Array.from({ length: 500 }, (_, i) =>
        signed(payers[i % 20], { to: merchants[i % 5], nonce: BigInt(Math.floor(i / 20)), amount: 1_000n + BigInt(i) }),
      ),
    );
    const duplicates = intents.slice(0, 25);
    const answers: { digest: Hex }[] = [];
    const all = [...intents, ...duplicates];
    for (let i = 0; i < all.length; i += 50) {
      answers.push(...(await Promise.all(all.slice(i, i + 50).map((intent) => relayer.submitPayment(intent)))));
    }
    const digests = answers.slice(0, 500).map((a) => a.digest);
    expect(new Set(digests).size).to.equal(500);
    expect(answers.slice(500).map((a) => a.digest)).to.deep.equal(digests.slice(0, 25));

    const results = await settled(digests);
    expect(results.filter((r) => r.status === "settled")).to.have.length(500);
    for (const r of results) expect(r.txHash).to.match(/^0x[0-9a-f]{64}$/);
    expect(new Set(results.map((r) => r.txHash)).size)
      .to.be.greaterThan(1)
      .and.lessThan(500);

    for (const [index, payer] of payers.entries()) {
      const spent = intents
        .filter((_, i) => i % 20 === index)
        .reduce((sum, intent) => sum + intent.payment.amount + intent.payment.fee, 0n);
      expect(await hubBalance(payer.address)).to.equal(deposit - spent);
    }
    for (const [index, merchant] of merchants.entries()) {
      const received = intents
        .filter((_, i) => i % 5 === index)
        .reduce((sum, intent) => sum + intent.payment.amount, 0n);
      expect(await hubBalance(merchant)).to.equal(received);
    }
    expect(await hubBalance(relayerAddress)).to.equal(relayerBefore + 500n * FEE);

    const events = await publicClient.getContractEvents({
      address: hub,
      abi: settlementHubAbi,
      eventName: "PaymentSettled",
      fromBlock: 0n,
    });
    const counts = new Map<Hex, number>();
    for (const e of events) counts.set(e.args.digest as Hex, (counts.get(e.args.digest as Hex) ?? 0) + 1);
    for (const digest of digests) expect(counts.get(digest)).to.equal(1);

    // Resubmitting a settled intent answers with its status, and its nonce cannot be reused.
    expect((await relayer.submitPayment(intents[0])).status).to.equal("settled");
    const reuse = await signed(payers[0], { to: merchants[1], nonce: 0n, amount: 5n });
    expect(await rejection(relayer.submitPayment(reuse))).to.equal("nonce_used");
  });

  it("settles intents submitted 100 to a request, each once, to the exact balances", async () => {
    const payers = Array.from({ length: 10 }, () => privateKeyToAccount(generatePrivateKey()));
    const merchant = privateKeyToAccount(generatePrivateKey()).address;
    const deposit = parseEther("1");
    await fund(
      payers.map((p) => p.address),
      deposit,
    );
    const intents = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        signed(payers[i % 10], { to: merchant, nonce: BigInt(Math.floor(i / 10)), amount: 2_000n + BigInt(i) }),
      ),
    );
    const broke = privateKeyToAccount(generatePrivateKey());
    const unfunded = await signed(broke, { to: merchant, nonce: 0n, amount: 1n });
    const first = await relayer.submitPayments([...intents.slice(0, 100), unfunded]);
    const second = await relayer.submitPayments(intents.slice(100));
    const results = [...first.results, ...second.results];
    expect(results[100]).to.deep.include({ accepted: false, code: "insufficient_balance" });
    const accepted = results.filter((r) => r.accepted);
    expect(accepted).to.have.length(200);
    const digests = accepted.map((r) => r.digest);
    expect(new Set(digests).size).to.equal(200);

    const outcomes = await settled(digests);
    expect(outcomes.filter((r) => r.status === "settled")).to.have.length(200);
    for (const [index, payer] of payers.entries()) {
      const spent = intents
        .filter((_, i) => i % 10 === index)
        .reduce((sum, intent) => sum + intent.payment.amount + intent.payment.fee, 0n);
      expect(await hubBalance(payer.address)).to.equal(deposit - spent);
    }
    expect(await hubBalance(merchant)).to.equal(intents.reduce((sum, intent) => sum + intent.payment.amount, 0n));
  });

  it("settles a batch over the per-transaction gas cap and size limit in transactions within both", async () => {
    // 300 intents: a budget of 60,000 + 300 × 70,000 = 21,060,000 gas, over EIP-7825's cap,
    // which this anvil enforces (the batch uses far less: five payees, already credited), and
    // 134,532 bytes of calldata, over the 128 KiB a node's pool takes: the 289 that fit go
    // first, with a limit of exactly the cap; the other 11 once they have waited 6 s (a wait
    // long enough that the two requests, sent together, always arrive within it).
    await stopRelayer();
    relayer = await startRelayer(["--batch-max-size", "300", "--batch-max-wait-ms", "6000"]);
    try {
      const payers = Array.from({ length: 10 }, () => privateKeyToAccount(generatePrivateKey()));
      const merchants = Array.from({ length: 5 }, () => privateKeyToAccount(generatePrivateKey()).address);
      await fund(
        payers.map((p) => p.address),
        parseEther("1"),
      );
      await fund(merchants, 1n);
      const intents = await Promise.all(
        Array.from({ length: 300 }, (_, i) =>
          signed(payers[i % 10], { to: merchants[i % 5], nonce: BigInt(Math.floor(i / 10)), amount: 10n }),
        ),
      );
      const [first, second] = await Promise.all([
        relayer.submitPayments(intents.slice(0, 150)),
        relayer.submitPayments(intents.slice(150)),
      ]);
      const answers = [...first.results, ...second.results];
      expect(answers.filter((r) => r.accepted)).to.have.length(300);
      const results = await settled(answers.flatMap((r) => (r.accepted ? [r.digest] : [])));
      expect(results.filter((r) => r.status === "settled")).to.have.length(300);
      const count = (hash: Hex) => results.filter((r) => r.txHash === hash).length;
      const hashes = [...new Set(results.map((r) => r.txHash as Hex))].sort((a, b) => count(b) - count(a));
      const sizes = hashes.map(count);
      expect(sizes).to.deep.equal([289, 11]);
      const txs = await Promise.all(hashes.map((hash) => publicClient.getTransaction({ hash })));
      expect(txs[0].gas).to.equal(16_777_216n);
      expect(txs[1].gas).to.equal(settleGasBudget(11));
      for (const tx of txs) expect(size(tx.input)).to.be.at.most(SETTLE_CALLDATA_MAX_BYTES);
      for (const merchant of merchants) expect(await hubBalance(merchant)).to.equal(1n + 60n * 10n);
    } finally {
      await stopRelayer();
      relayer = await startRelayer();
    }
  });

  it("rejects invalid intents with their codes", async () => {
    const payer = privateKeyToAccount(generatePrivateKey());
    const stranger = privateKeyToAccount(generatePrivateKey());
    await fund([payer.address], 10_000n);
    const to = stranger.address;

    const forged = await signed(payer, { to, nonce: 1n, amount: 10n });
    forged.signature = await signPayment({ account: stranger, domain: domain(), payment: forged.payment });
    expect(await rejection(relayer.submitPayment(forged))).to.equal("invalid_signature");

    const otherChain = await signed(payer, { to, nonce: 2n, amount: 10n });
    otherChain.signature = await signPayment({
      account: payer,
      domain: { ...domain(), chainId: 1 },
      payment: otherChain.payment,
    });
    expect(await rejection(relayer.submitPayment(otherChain))).to.equal("invalid_signature");

    expect(await rejection(relayer.submitPayment(await signed(payer, { to, nonce: 3n, amount: 20_000n })))).to.equal(
      "insufficient_balance",
    );
    const soon = await signed(payer, { to, nonce: 4n, amount: 10n, validBefore: (await now()) + 5n });
    expect(await rejection(relayer.submitPayment(soon))).to.equal("expired");
    expect(
      await rejection(relayer.submitPayment(await signed(stranger, { to: payer.address, nonce: 1n, amount: 1n }))),
    ).to.equal("insufficient_balance");
  });

  it("relays a payer's signed escrow release", async () => {
    const payer = privateKeyToAccount(ANVIL_KEYS[1]);
    const payee = privateKeyToAccount(generatePrivateKey()).address;
    const wallet = createWalletClient({ chain: deployer.chain, transport: http(anvil.url), account: payer });
    const amount = parseEther("1");
    await send(
      wallet.writeContract({
        address: escrow,
        abi: escrowAbi,
        functionName: "create",
        args: [
          {
            payee,
            arbiter: zeroAddress,
            token: zeroAddress,
            amount,
            deadline: (await now()) + 86_400n,
            onExpiry: 0,
            ref: toHex(0n, { size: 32 }),
          },
        ],
        value: amount,
        account: payer,
        chain: deployer.chain,
      }),
    );
    const release = { id: 1n, releasedTotal: parseEther("0.4"), deadline: (await now()) + 3_600n };
    const signature = await signRelease({
      account: payer,
      domain: { chainId: 31_337, verifyingContract: escrow },
      release,
    });
    const accepted = await relayer.submitRelease({ release, signature });
    expect(accepted.status).to.equal("accepted");
    const deadline = Date.now() + 30_000;
    let status = accepted;
    while (status.status !== "settled" && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      status = await relayer.getRelease(accepted.digest);
    }
    expect(status.status).to.equal("settled");
    const view = await publicClient.readContract({
      address: escrow,
      abi: escrowAbi,
      functionName: "getEscrow",
      args: [1n],
    });
    expect(view.released).to.equal(parseEther("0.4"));
    expect(await publicClient.getBalance({ address: payee })).to.equal(parseEther("0.4"));
  });

  it("keeps the latest voucher and claims it on request", async () => {
    const payer = privateKeyToAccount(ANVIL_KEYS[2]);
    const payee = privateKeyToAccount(generatePrivateKey()).address;
    const wallet = createWalletClient({ chain: deployer.chain, transport: http(anvil.url), account: payer });
    const salt = toHex(42n, { size: 32 });
    await send(
      wallet.writeContract({
        address: channels,
        abi: paymentChannelsAbi,
        functionName: "open",
        args: [payee, zeroAddress, zeroAddress, parseEther("1"), salt],
        value: parseEther("1"),
        account: payer,
        chain: deployer.chain,
      }),
    );
    const channelId = channelIdOf({ payer: payer.address, payee, token: zeroAddress, salt });
    const channelDomain = { chainId: 31_337, verifyingContract: channels };
    for (const cumulativeAmount of [parseEther("0.1"), parseEther("0.3"), parseEther("0.2")]) {
      const voucher = { channelId, cumulativeAmount };
      const signature = await signVoucher({ account: payer, domain: channelDomain, voucher });
      await relayer.submitVoucher({ voucher, signature });
    }
    expect((await relayer.getVoucher(channelId)).cumulativeAmount).to.equal(parseEther("0.3"));
    const voucher = { channelId, cumulativeAmount: parseEther("0.35") };
    const signature = await signVoucher({ account: payer, domain: channelDomain, voucher });
    await relayer.submitVoucher({ voucher, signature, claim: true });
    const deadline = Date.now() + 30_000;
    while ((await relayer.getVoucher(channelId)).claimedAmount !== parseEther("0.35") && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(await publicClient.getBalance({ address: payee })).to.equal(parseEther("0.35"));
  });

  it("settles every intent accepted before a restart, after it", async () => {
    await stopRelayer();
    relayer = await startRelayer(["--batch-max-wait-ms", "600000", "--batch-max-size", "1000"]);
    const payer = privateKeyToAccount(generatePrivateKey());
    const merchant = privateKeyToAccount(generatePrivateKey()).address;
    await fund([payer.address], parseEther("1"));
    const intents = await Promise.all(
      Array.from({ length: 50 }, (_, i) => signed(payer, { to: merchant, nonce: BigInt(i), amount: 100n })),
    );
    const digests = (await Promise.all(intents.map((intent) => relayer.submitPayment(intent)))).map((a) => a.digest);
    for (const digest of digests.slice(0, 5)) expect((await relayer.getPayment(digest)).status).to.equal("accepted");
    await stopRelayer();

    relayer = await startRelayer();
    const results = await settled(digests);
    expect(results.every((r) => r.status === "settled")).to.equal(true);
    expect(await hubBalance(merchant)).to.equal(5_000n);
    expect(await hubBalance(payer.address)).to.equal(parseEther("1") - 50n * (100n + FEE));
  });

  it("pauses and resumes behind the admin token", async () => {
    expect(await rejection(relayer.pause("wrong-token-wrong-token"))).to.equal("unauthorized");
    expect(await relayer.pause(ADMIN_TOKEN)).to.deep.equal({ paused: true });
    expect((await relayer.health()).paused).to.equal(true);
    const payer = privateKeyToAccount(generatePrivateKey());
    expect(
      await rejection(relayer.submitPayment(await signed(payer, { to: zeroAddress, nonce: 1n, amount: 1n }))),
    ).to.equal("paused");
    expect(await relayer.resume(ADMIN_TOKEN)).to.deep.equal({ paused: false });
  });
});
