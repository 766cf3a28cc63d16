import { after, before, beforeEach, describe, it } from "node:test";
import { expect } from "chai";
import { pino } from "pino";
import { type Address, hexToString, keccak256, parseEther, parseGwei, parseTransaction, size } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { HubReader } from "../../src/relayer/chain/hub-reader.js";
import type { Payment } from "../../src/relayer/chain/ports.js";
import { TxManager } from "../../src/relayer/chain/tx-manager.js";
import { Gate } from "../../src/relayer/intake/gate.js";
import {
  Batcher,
  type BatcherOptions,
  SETTLE_CALLDATA_MAX_BYTES,
  settleGasBudget,
} from "../../src/relayer/jobs/batcher.js";
import { RelayerMetrics } from "../../src/relayer/metrics.js";
import { TimeSource } from "../../src/relayer/time.js";
import { FakeChain } from "./helpers/fake-chain.js";
import { FakeHub, fakeSign, fakeSigning } from "./helpers/fake-hub.js";
import { OTHER_TOKEN, payment, randomAddress, TOKEN } from "./helpers/fixtures.js";
import { type TempStore, tempStore } from "./helpers/store.js";

describe("batcher (fake chain and hub)", () => {
  let temp: TempStore;
  let chain: FakeChain;
  let hub: FakeHub;
  let txManager: TxManager;
  let gate: Gate;
  let metrics: RelayerMetrics;
  let clock: number;

  before(async () => {
    temp = await tempStore();
  });
  after(async () => {
    await temp.dispose();
  });

  beforeEach(async () => {
    chain = new FakeChain();
    hub = new FakeHub(chain);
    gate = new Gate();
    metrics = new RelayerMetrics();
    clock = Date.now();
    txManager = new TxManager(txManagerOptions());
    await txManager.start();
  });

  /** A transaction manager over this test's chain and store (a restart builds a second one). */
  function txManagerOptions() {
    return {
      chain,
      store: temp.store,
      metrics,
      logger: pino({ level: "silent" }),
      time: new TimeSource(() => clock),
      maxFeePerGas: parseGwei("100"),
      feeBumpPercent: 25,
      stuckAfterMs: 60_000,
      confirmations: 1,
      reorgWindow: 16,
    };
  }

  function batcher(overrides: Partial<BatcherOptions> = {}): Batcher {
    const time = new TimeSource(() => clock);
    return new Batcher({
      hub,
      chain,
      store: temp.store,
      txManager,
      reader: new HubReader(hub, { balanceTtlMs: 0, headBlock: () => txManager.head }),
      gate,
      time,
      metrics,
      logger: pino({ level: "silent" }),
      maxBatchSize: 3,
      maxWaitMs: 1_000,
      maxInflight: 4,
      claimLeaseMs: 60_000,
      maxAttempts: 3,
      ...overrides,
    });
  }

  /** Accepts intents straight into the store (validation is the intake's job, tested elsewhere). */
  async function accept(payments: Payment[], { fund = true } = {}) {
    if (fund) for (const p of payments) hub.deposit(p.from, p.token, p.amount + p.fee);
    const rows = payments.map((p) => {
      const digest = fakeSigning.hashPayment({ domain: hub.domain, payment: p });
      return {
        digest,
        hub: hub.address,
        payment: p,
        signature: fakeSign(p.from, digest),
        balance: 10n ** 30n,
        balanceBlock: txManager.head,
      };
    });
    await temp.store.insertIntents(rows);
    return rows.map((r) => r.digest);
  }

  async function settleAll(b: Batcher) {
    await b.tick({ force: true });
    chain.mine();
    await txManager.tick();
  }

  const statusOf = async (digest: `0x${string}`) => (await temp.store.getIntent(digest))?.status;

  const signed = (p: Payment) => fakeSign(p.from, fakeSigning.hashPayment({ domain: hub.domain, payment: p }));
  /** The bytes one more intent adds to a settle batch's calldata (itself, its signature, separators). */
  const bytesOf = (p: Payment) =>
    size(hub.encodeSettleBatch([p, p], [signed(p), signed(p)])) - size(hub.encodeSettleBatch([p], [signed(p)]));
  /**
   * A settle batch of one new intent that another instance's key `gone` claimed, recorded and
   * signed at `nonce` (as that instance does before broadcasting), then went quiet. The fake
   * node has not seen the transaction.
   */
  async function sentByQuietKey(gone: ReturnType<typeof privateKeyToAccount>, nonce: number, token = randomAddress()) {
    const p = payment({ token });
    const [digest] = await accept([p]);
    await temp.store.claimIntents({
      hub: hub.address,
      token,
      owner: gone.address.toLowerCase(),
      limit: 1,
      leaseMs: 60_000,
      nowSeconds: BigInt(Math.floor(clock / 1000)),
    });
    const { batchId } = await temp.store.createBatch({
      kind: "settle",
      contract: hub.address,
      sender: gone.address,
      items: [digest],
    });
    const calldata = hub.encodeSettleBatch([p], [signed(p)]);
    const fields = {
      to: hub.address,
      data: calldata,
      nonce,
      gas: 200_000n,
      maxFeePerGas: 2n,
      maxPriorityFeePerGas: 1n,
    };
    const raw = await gone.signTransaction({ ...fields, chainId: chain.chainId, type: "eip1559" });
    const hash = keccak256(raw);
    await temp.store.recordAttempt({ ...fields, batchId, hash, gasLimit: fields.gas, raw }, gone.address);
    return { batchId, digest, hash, calldata };
  }

  /** The payments of each transaction sent, in order (the fake hub's calldata is JSON). */
  const sentPayments = (): Payment[][] => chain.sent.map((tx) => hub.decodeSettleBatch(tx.data).payments);

  /**
   * Two accepted intents whose nonces are used when the batcher sends them: another relayer
   * settled the first; some blocks later the payer of the second invalidated its nonce. Checks
   * that the first is recorded settled in the other transaction, the second failed.
   */
  async function settleUsedNonces(b: Batcher): Promise<void> {
    const [elsewhere, invalidated] = [payment(), payment()];
    const [settledDigest, invalidatedDigest] = await accept([elsewhere, invalidated]);
    const foreignTx = chain.mineForeign(
      hub.address,
      hub.encodeSettleBatch([elsewhere], [fakeSign(elsewhere.from, settledDigest)]),
    );
    chain.mineEmpty(9);
    hub.used.add(`${invalidated.from.toLowerCase()}:${invalidated.nonce}`);
    await settleAll(b);
    expect(await temp.store.getIntent(settledDigest)).to.deep.include({ status: "settled", txHash: foreignTx });
    expect(await temp.store.getIntent(invalidatedDigest)).to.deep.include({
      status: "failed",
      failureReason: "nonce_used",
    });
  }

  it("records an intent another transaction settled as settled there, asking for logs in bounded ranges", async () => {
    const b = batcher({ logBlockRange: 4 });
    hub.maxLogRange = 4; // as RPC providers that refuse larger eth_getLogs ranges
    await settleUsedNonces(b);
    // Newest range first, each at most 4 blocks, contiguous down to block 0 (the second is never found).
    expect(hub.logRanges.length).to.be.greaterThan(2);
    for (const [from, to] of hub.logRanges) expect(Number(to - from + 1n)).to.be.at.most(4);
    for (let i = 1; i < hub.logRanges.length; i++) expect(hub.logRanges[i][1]).to.equal(hub.logRanges[i - 1][0] - 1n);
    expect(hub.logRanges[hub.logRanges.length - 1][0]).to.equal(0n);
  });

  it("asks for fewer blocks when the node refuses the settlement search's range as too large, and keeps to the smaller range", async () => {
    const b = batcher({ logBlockRange: 16 });
    hub.maxLogRange = 3; // refuses any range of more blocks, as "too large"
    await settleUsedNonces(b);
    // Refused ranges first (each smaller than the one before); then only ranges the node answers (the
    // smaller range is kept), contiguous from the receipt's block down to block 0.
    const refused = hub.logRanges.filter(([from, to]) => to - from + 1n > 3n);
    expect(refused.length).to.be.greaterThan(0);
    expect(hub.logRanges.slice(0, refused.length)).to.deep.equal(refused);
    for (let i = 1; i < refused.length; i++) {
      expect(Number(refused[i][1] - refused[i][0])).to.be.lessThan(Number(refused[i - 1][1] - refused[i - 1][0]));
    }
    const answered = hub.logRanges.slice(refused.length);
    for (const [from, to] of answered) expect(Number(to - from + 1n)).to.be.at.most(3);
    expect(answered[0][1]).to.equal(refused[0][1]);
    for (let i = 1; i < answered.length; i++) expect(answered[i][1]).to.equal(answered[i - 1][0] - 1n);
    expect(answered[answered.length - 1][0]).to.equal(0n);
  });

  it("waits for a full batch or the maximum wait", async () => {
    const b = batcher();
    const token: Address = randomAddress();
    await accept([payment({ token }), payment({ token })]);
    // The scan compares the database's acceptance times with this clock: start it at the real time.
    clock = Date.now();
    await b.tick();
    expect(chain.pool.size).to.equal(0);
    clock += 2_000;
    await b.tick();
    expect(chain.pool.size).to.equal(1);
  });

  it("after a late batch, lets the intents that arrive meanwhile wait their own maximum wait", async () => {
    const b = batcher({ maxBatchSize: 10, scanIntervalMs: 3_600_000 });
    const token: Address = randomAddress();
    await b.tick(); // the one scan: nothing queued
    const arrive = async () => {
      const [digest] = await accept([payment({ token })]);
      b.noteAccepted(token);
      return digest;
    };
    const first = await arrive();
    clock += 1_000;
    await b.tick();
    expect(chain.pool.size).to.equal(1);
    expect(await statusOf(first)).to.equal("submitted");

    // One intent every 100 ms: none of them has waited 1 s yet, so no batch goes.
    const trickle: `0x${string}`[] = [];
    for (let i = 0; i < 5; i++) {
      clock += 100;
      trickle.push(await arrive());
      await b.tick();
    }
    expect(chain.pool.size).to.equal(1);
    clock += 600; // the first of them has now waited 1 s: they leave together
    await b.tick();
    expect(chain.pool.size).to.equal(2);
    expect(await Promise.all(trickle.map(statusOf))).to.deep.equal(Array(5).fill("submitted"));
  });

  it("sends a full batch at once and splits a larger queue into batches of the maximum size", async () => {
    const b = batcher();
    const token: Address = randomAddress();
    await accept(Array.from({ length: 7 }, () => payment({ token })));
    await b.tick();
    expect(chain.pool.size).to.equal(2); // 3 + 3 now; the last one waits for more or for time
    expect(
      (await metrics.batchSize.get()).values.find((v) => v.metricName === "relayer_batch_size_count")?.value,
    ).to.equal(2);
  });

  it("groups intents per token, one batch each", async () => {
    const b = batcher();
    await accept([payment({ token: TOKEN }), payment({ token: OTHER_TOKEN }), payment({ token: TOKEN })]);
    await settleAll(b);
    expect(chain.blocks[chain.blocks.length - 1].txs).to.have.length(2);
  });

  it("marks each intent settled or failed from the receipt's events", async () => {
    const b = batcher();
    const token: Address = randomAddress();
    const rich = payment({ token });
    const poor = payment({ token });
    const [settled, failed] = await accept([rich, poor], { fund: false });
    hub.deposit(rich.from, token, 2_000n);
    await settleAll(b);
    expect(await temp.store.getIntent(settled)).to.deep.include({ status: "settled", blockNumber: 1n });
    expect(await temp.store.getIntent(failed)).to.deep.include({
      status: "failed",
      failureReason: "insufficient_balance",
    });
    expect(hub.balanceOf(rich.to, token)).to.equal(rich.amount);
    expect((await temp.store.reservations(hub.address)).filter((r) => r.token === token)).to.deep.equal([]);
  });

  it("fails intents that expired in the queue without sending them", async () => {
    const b = batcher();
    const soon = BigInt(Math.floor(clock / 1000) + 5);
    const [digest] = await accept([payment({ token: randomAddress(), validBefore: soon })]);
    clock += 10_000;
    await b.tick({ force: true });
    expect(chain.pool.size).to.equal(0);
    expect(await temp.store.getIntent(digest)).to.deep.include({ status: "failed", failureReason: "expired" });
  });

  it("sends nothing and gives the claims back when the node cannot simulate", async () => {
    const b = batcher();
    const [digest] = await accept([payment({ token: randomAddress() })]);
    chain.down = true;
    await b.tick({ force: true });
    chain.down = false;
    expect(chain.pool.size).to.equal(0);
    expect(await temp.store.getIntent(digest)).to.deep.include({ status: "accepted", attempts: 0 });
    clock += 1_000;
    await settleAll(b);
    expect(await statusOf(digest)).to.equal("settled");
  });

  it("simulates a batch with one call at its gas budget, and estimates only when the budget is not enough", async () => {
    const b = batcher();
    const token: Address = randomAddress();
    const gasOfLastSent = () => parseTransaction(chain.sent[chain.sent.length - 1].raw).gas;

    await accept(Array.from({ length: 3 }, () => payment({ token })));
    await settleAll(b);
    expect(chain.simulations).to.deep.equal({ calls: 1, estimates: 0 });
    expect(gasOfLastSent()).to.equal(settleGasBudget(3));

    chain.callGas = settleGasBudget(3) + 1n; // e.g. contract wallets whose checks cost more
    await accept(Array.from({ length: 3 }, () => payment({ token })));
    await settleAll(b);
    expect(chain.simulations).to.deep.equal({ calls: 2, estimates: 1 });
    expect(gasOfLastSent()).to.equal((chain.callGas * 120n) / 100n);
  });

  it("keeps every transaction under the gas cap: halves a batch estimated over it, fails an intent alone over it", async () => {
    const cap = 1_000_000n;
    txManager = new TxManager({ ...txManagerOptions(), txGasCap: cap });
    await txManager.start();
    const b = batcher({ maxBatchSize: 8 });
    const token: Address = randomAddress();
    const payments = Array.from({ length: 8 }, () => payment({ token }));
    const heavy = payments[1].from.toLowerCase(); // e.g. a contract wallet whose check costs 2M gas
    chain.gasOf = (_to, data) =>
      (JSON.parse(hexToString(data)) as { payments: { from: string }[] }).payments.reduce(
        (gas, p) => gas + (p.from.toLowerCase() === heavy ? 2_000_000n : 200_000n),
        0n,
      );
    const digests = await accept(payments);
    for (let round = 0; round < 5; round++) await settleAll(b);

    const statuses = await Promise.all(digests.map(statusOf));
    expect(statuses).to.deep.equal(["settled", "failed", ...Array(6).fill("settled")]);
    expect(await temp.store.getIntent(digests[1])).to.deep.include({ failureReason: "gas_over_cap" });
    const limits = chain.sent.map((tx) => parseTransaction(tx.raw).gas as bigint);
    expect(limits.length).to.be.greaterThan(1);
    for (const gas of limits) expect(gas <= cap, `gas limit ${gas} over the cap ${cap}`).to.equal(true);
  });

  it("sizes batches to what fees afford within the transaction fee limit, so none is priced under the base fee", async () => {
    // 0.005 ether at the 2.1 gwei fees call for (twice the 1 gwei base fee, plus the tip) pays
    // for 2,380,952 gas: two 1M-gas intents, not eight. Eight in one transaction would have to
    // offer 0.52 gwei per gas, under the base fee, and the node (like anvil) would refuse it.
    const limit = parseEther("0.005");
    chain.evictUnderpriced = true;
    chain.txFeeCap = limit;
    txManager = new TxManager({ ...txManagerOptions(), maxTxFee: limit });
    await txManager.start();
    expect(await txManager.affordableGas()).to.equal(limit / parseGwei("2.1"));
    const b = batcher({ maxBatchSize: 8 });
    const token: Address = randomAddress();
    chain.gasOf = (_to, data) =>
      1_000_000n * BigInt((JSON.parse(hexToString(data)) as { payments: [] }).payments.length);
    const digests = await accept(Array.from({ length: 8 }, () => payment({ token })));
    for (let round = 0; round < 4; round++) await settleAll(b);

    expect(await Promise.all(digests.map(statusOf))).to.deep.equal(Array(8).fill("settled"));
    const sent = chain.sent.map((tx) => parseTransaction(tx.raw));
    expect(sent).to.have.length(4);
    for (const tx of sent) {
      expect(tx.maxFeePerGas).to.equal(parseGwei("2.1")); // the full price, not squeezed under the limit
      expect((tx.gas as bigint) * (tx.maxFeePerGas as bigint) <= limit).to.equal(true);
    }
  });

  it("sends an intent that alone needs more gas than fees afford on its own, at a lower fee cap per gas", async () => {
    const limit = parseEther("0.005"); // affords 2,380,952 gas at 2.1 gwei
    chain.txFeeCap = limit;
    txManager = new TxManager({ ...txManagerOptions(), maxTxFee: limit });
    await txManager.start();
    const b = batcher();
    chain.gasOf = () => 3_000_000n; // e.g. a contract wallet's costly check
    const [digest] = await accept([payment({ token: randomAddress() })]);
    await settleAll(b);
    expect(await statusOf(digest)).to.equal("settled"); // not failed: it fits a transaction
    const [tx] = chain.sent.map((t) => parseTransaction(t.raw));
    expect(tx.gas).to.equal(3_600_000n);
    expect(tx.maxFeePerGas).to.equal(limit / 3_600_000n);
  });

  it("keeps every transaction under the nodes' size limit: the intents that fit go first, the others next", async () => {
    const b = batcher({ maxBatchSize: 400 });
    const token: Address = randomAddress();
    const payments = Array.from({ length: 400 }, () => payment({ token }));
    const digests = await accept(payments);
    await settleAll(b);

    expect(await Promise.all(digests.map(statusOf))).to.deep.equal(Array(400).fill("settled"));
    const sizes = chain.sent.map((tx) => size(tx.data));
    expect(sizes).to.have.length(2);
    for (const size of sizes) expect(size).to.be.at.most(SETTLE_CALLDATA_MAX_BYTES);
    // The first is as full as it can be: room for less than one more intent.
    const [, next] = sentPayments();
    expect(SETTLE_CALLDATA_MAX_BYTES - sizes[0]).to.be.lessThan(Math.min(...next.map(bytesOf)));
  });

  it("fills a transaction to the size limit when the intents that fit are smaller than those after them", async () => {
    // Scaling the count down by the average intent's size stops short here: take the next ones back.
    const b = batcher({ maxBatchSize: 400 });
    const token: Address = randomAddress();
    // One acceptance, so one wait; the queue keeps their order (the larger ones last).
    await accept([
      ...Array.from({ length: 200 }, () => payment({ token })),
      ...Array.from({ length: 200 }, () => payment({ token, amount: 10n ** 25n, fee: 10n ** 25n })),
    ]);
    await settleAll(b);
    const sizes = chain.sent.map((tx) => size(tx.data));
    expect(sizes).to.have.length(2);
    expect(sizes[0]).to.be.at.most(SETTLE_CALLDATA_MAX_BYTES);
    const [first, next] = sentPayments();
    expect(first.length + next.length).to.equal(400);
    expect(SETTLE_CALLDATA_MAX_BYTES - sizes[0]).to.be.lessThan(Math.min(...next.map(bytesOf)));
  });

  it("fails only the intents that make any batch revert, and settles the others", async () => {
    const b = batcher({ maxBatchSize: 8 });
    const token: Address = randomAddress();
    const payments = Array.from({ length: 7 }, () => payment({ token }));
    hub.poison.add(payments[2].from.toLowerCase());
    hub.poison.add(payments[5].from.toLowerCase());
    const digests = await accept(payments);
    await settleAll(b);
    const statuses = await Promise.all(digests.map(statusOf));
    expect(statuses).to.deep.equal(["settled", "settled", "failed", "settled", "settled", "failed", "settled"]);
    expect(await temp.store.getIntent(digests[2])).to.deep.include({ failureReason: "simulation_reverted" });
  });

  it("records a settlement found on-chain for an intent resubmitted after it settled", async () => {
    const b = batcher();
    const token: Address = randomAddress();
    const [digest] = await accept([payment({ token })]);
    await b.tick({ force: true });
    const [first] = [...chain.pool.values()];
    chain.mine();
    // The relayer lost track of the first transaction (its batch abandoned): the intent is queued again.
    const [pending] = (await temp.store.pendingBatches(chain.sender)).filter((p) => p.attempts[0].hash === first.hash);
    await temp.store.abandonBatch(pending.id, "lost", 5);
    const restarted = new TxManager(txManagerOptions());
    await restarted.start();
    const b2 = batcher({ txManager: restarted });
    await b2.tick({ force: true });
    chain.mine();
    await restarted.tick();
    const intent = await temp.store.getIntent(digest);
    expect(intent).to.deep.include({ status: "settled", txHash: first.hash });
    expect(hub.settledDigests().get(digest)).to.equal(1);
  });

  it("records a batched intent that the hub reports expired as settled where an earlier transaction paid it", async () => {
    // The hub checks an intent's expiry before its nonce: one paid earlier (a batch the node had
    // lost that was mined after all, anyone submitting the signed intent) and batched again after
    // its validBefore is reported expired, not nonce_used.
    const head = await chain.getHead();
    clock = Number(head.timestamp) * 1000;
    const [paid, unpaid] = [
      payment({ validBefore: head.timestamp + 30n }),
      payment({ validBefore: head.timestamp + 30n }),
    ];
    const [paidDigest, unpaidDigest] = await accept([paid, unpaid]);
    const foreignTx = chain.mineForeign(hub.address, hub.encodeSettleBatch([paid], [fakeSign(paid.from, paidDigest)]));
    await batcher().tick({ force: true });
    expect(chain.pool.size).to.equal(1);
    chain.mineEmpty(5); // the batch is mined a minute later, past both intents' validBefore
    chain.mine();
    await txManager.tick();
    expect(await temp.store.getIntent(paidDigest)).to.deep.include({ status: "settled", txHash: foreignTx });
    expect(await temp.store.getIntent(unpaidDigest)).to.deep.include({ status: "failed", failureReason: "expired" });
    expect(hub.settledDigests().get(paidDigest)).to.equal(1);
  });

  it("ends intents that expired in the queue as the chain has them: settled where paid, else failed", async () => {
    const token = randomAddress();
    const [paid, unpaid, invalidated] = [payment({ token }), payment({ token }), payment({ token })];
    const [paidDigest, unpaidDigest, invalidatedDigest] = await accept([paid, unpaid, invalidated]);
    // Anyone holding a signed intent may submit it: here, straight to the hub.
    const foreignTx = chain.mineForeign(hub.address, hub.encodeSettleBatch([paid], [fakeSign(paid.from, paidDigest)]));
    hub.used.add(`${invalidated.from.toLowerCase()}:${invalidated.nonce}`); // the payer invalidated it
    clock += 3_601_000; // all three expire before the batcher gets to them
    await batcher().tick({ force: true });
    expect(chain.pool.size).to.equal(0);
    expect(await temp.store.getIntent(paidDigest)).to.deep.include({ status: "settled", txHash: foreignTx });
    expect(await temp.store.getIntent(unpaidDigest)).to.deep.include({ status: "failed", failureReason: "expired" });
    expect(await temp.store.getIntent(invalidatedDigest)).to.deep.include({
      status: "failed",
      failureReason: "nonce_used",
    });
  });

  it("waits for a settlement of an expired intent to have the confirmations a batch needs", async () => {
    const deep = new TxManager({ ...txManagerOptions(), confirmations: 3 });
    await deep.start();
    const b = batcher({ txManager: deep });
    const p = payment({ token: randomAddress() });
    const [digest] = await accept([p]);
    const foreignTx = chain.mineForeign(hub.address, hub.encodeSettleBatch([p], [fakeSign(p.from, digest)]));
    clock += 3_601_000;
    await b.tick({ force: true });
    expect(await temp.store.getIntent(digest)).to.deep.include({ status: "accepted", failureReason: null });
    // Its claim was given back (the lease is a minute): the next round takes it again.
    chain.mineEmpty(2);
    await b.tick({ force: true });
    expect(await temp.store.getIntent(digest)).to.deep.include({ status: "settled", txHash: foreignTx });
  });

  it("queues again, without failing it, an intent at the attempt limit whose quiet key's transaction the node lost", async () => {
    // Another instance's key batched the intent (its last allowed attempt), signed and recorded the
    // transaction, then went quiet. This node never saw the transaction; another node may hold it.
    const gone = privateKeyToAccount(generatePrivateKey());
    const { batchId, digest, calldata } = await sentByQuietKey(gone, 0);
    await new Promise((r) => setTimeout(r, 50)); // quiet for longer than orphanAfterMs

    const adopter = new TxManager({ ...txManagerOptions(), orphanAfterMs: 20 });
    await adopter.start();
    const b = batcher({ txManager: adopter, maxAttempts: 1 });
    await adopter.tick();
    expect((await temp.store.getBatch(batchId))?.status).to.equal("abandoned");
    expect(await temp.store.getIntent(digest)).to.deep.include({ status: "accepted", failureReason: null });

    // That transaction is mined after all; the intent, batched again, is found paid by it.
    const mined = chain.mineForeign(hub.address, calldata);
    await b.tick({ force: true });
    chain.mine();
    await adopter.tick();
    expect(await temp.store.getIntent(digest)).to.deep.include({ status: "settled", txHash: mined });
    expect(hub.settledDigests().get(digest)).to.equal(1);
  });

  it("queues again the intents of a quiet key's pooled transaction that waits behind a nonce nothing holds", async () => {
    // Another instance's key sent two batches, nonces 0 and 1, then went quiet. The node dropped
    // the first and keeps the second queued behind it: only that key could fill nonce 0.
    const gone = privateKeyToAccount(generatePrivateKey());
    const token = randomAddress();
    const sent = [await sentByQuietKey(gone, 0, token), await sentByQuietKey(gone, 1, token)];
    chain.otherPooled.add(sent[1].hash);
    chain.otherAccounts.set(gone.address, { latest: 0, pending: 0 });
    await new Promise((r) => setTimeout(r, 50)); // quiet for longer than orphanAfterMs

    const adopter = new TxManager({ ...txManagerOptions(), orphanAfterMs: 20 });
    await adopter.start();
    batcher({ txManager: adopter });
    await adopter.tick();
    for (const { batchId, digest } of sent) {
      expect((await temp.store.getBatch(batchId))?.status).to.equal("abandoned");
      expect(await temp.store.getIntent(digest)).to.deep.include({ status: "accepted", failureReason: null });
    }
  });

  it("leaves a quiet key's pooled transactions to be mined when the node's pending count has reached them", async () => {
    const gone = privateKeyToAccount(generatePrivateKey());
    const { batchId, digest, hash } = await sentByQuietKey(gone, 3);
    chain.otherPooled.add(hash);
    chain.otherAccounts.set(gone.address, { latest: 3, pending: 4 }); // nonce 3 is next, and pooled
    await new Promise((r) => setTimeout(r, 50));

    const adopter = new TxManager({ ...txManagerOptions(), orphanAfterMs: 20 });
    await adopter.start();
    batcher({ txManager: adopter });
    await adopter.tick();
    expect((await temp.store.getBatch(batchId))?.status).to.equal("pending");
    expect(await temp.store.getIntent(digest)).to.deep.include({ status: "submitted", batchId });
  });

  it("confirms a batch it sent from what it sent, and one sent before a restart from the store", async () => {
    const reads: number[] = [];
    const store = new Proxy(temp.store, {
      get(target, key) {
        if (key === "submittedIntents")
          return (batchId: number) => {
            reads.push(batchId);
            return target.submittedIntents(batchId);
          };
        const value = Reflect.get(target, key, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const token: Address = randomAddress();
    const own = await accept([payment({ token }), payment({ token })]);
    await settleAll(batcher({ store }));
    for (const d of own) expect(await statusOf(d)).to.equal("settled");
    expect(reads).to.deep.equal([]);

    const before = await accept([payment({ token }), payment({ token })]);
    await batcher({ store }).tick({ force: true }); // sent; then the process stops
    const inFlight = (await temp.store.getIntent(before[0]))?.batchId;
    expect(inFlight).to.be.a("number");
    const restarted = new TxManager(txManagerOptions());
    await restarted.start();
    batcher({ store, txManager: restarted });
    chain.mine();
    await restarted.tick();
    for (const d of before) expect(await statusOf(d)).to.equal("settled");
    expect(reads).to.deep.equal([inFlight]);
    for (const d of [...own, ...before]) expect(hub.settledDigests().get(d)).to.equal(1);
  });

  it("settles every intent exactly once through a reorg that undoes its batch", async () => {
    const b = batcher();
    const token: Address = randomAddress();
    const digests = await accept(Array.from({ length: 3 }, () => payment({ token })));
    await settleAll(b);
    for (const d of digests) expect(await statusOf(d)).to.equal("settled");
    chain.reorg(1, { dropTransactions: true });
    await txManager.tick(); // reorg seen: back to submitted
    for (const d of digests) expect(await statusOf(d)).to.equal("submitted");
    expect(hub.settledDigests().size).to.equal(0);
    await txManager.tick(); // the node forgot the transaction: rebroadcast
    chain.mine();
    await txManager.tick();
    for (const d of digests) expect(await statusOf(d)).to.equal("settled");
    for (const d of digests) expect(hub.settledDigests().get(d)).to.equal(1);
  });

  it("queues intents again when their batch transaction reverts, and fails them after the attempt limit", async () => {
    const b = batcher({ maxAttempts: 2 });
    const token: Address = randomAddress();
    const [digest] = await accept([payment({ token })]);
    const revert = () => ({ logs: [], status: "reverted" as const });
    const original = chain.logsFor;
    chain.logsFor = revert;
    await settleAll(b);
    expect(await temp.store.getIntent(digest)).to.deep.include({ status: "accepted", attempts: 1 });
    clock += 1_000;
    await settleAll(b);
    expect(await temp.store.getIntent(digest)).to.deep.include({ status: "failed", failureReason: "batch_reverted" });
    chain.logsFor = original;
  });

  it("forms no batch while paused", async () => {
    const b = batcher();
    await accept([payment({ token: randomAddress() })]);
    gate.paused = true;
    await b.tick({ force: true });
    expect(chain.pool.size).to.equal(0);
  });

  it("keeps at most the configured number of transactions in flight", async () => {
    const b = batcher({ maxInflight: 1 });
    const token: Address = randomAddress();
    await accept(Array.from({ length: 6 }, () => payment({ token })));
    await b.tick();
    expect(chain.pool.size).to.equal(1);
    chain.mine();
    await txManager.tick();
    await b.tick();
    expect(chain.pool.size).to.equal(1);
  });
});
