import { after, before, beforeEach, describe, it } from "node:test";
import { expect } from "chai";
import { pino } from "pino";
import { type Address, type Hex, keccak256, parseEther, parseGwei, parseTransaction, toHex } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { bumpedFees, initialFees } from "../../src/relayer/chain/fees.js";
import type { TxReceipt } from "../../src/relayer/chain/ports.js";
import { inclusionOf, type TrackedTx, TxManager, type TxManagerOptions } from "../../src/relayer/chain/tx-manager.js";
import { RelayerMetrics } from "../../src/relayer/metrics.js";
import { TimeSource } from "../../src/relayer/time.js";
import { FakeChain } from "./helpers/fake-chain.js";
import { type TempStore, tempStore } from "./helpers/store.js";

const TARGET: Address = "0x000000000000000000000000000000000000beef";
const CAP = parseGwei("5");

class Recorder {
  confirmed: { batchId: number; receipt: TxReceipt }[] = [];
  abandoned: { batchId: number; reason: string; mayStillMine: boolean }[] = [];
  reorged: number[] = [];
  handler = {
    onConfirmed: async (tx: TrackedTx, receipt: TxReceipt) => {
      this.confirmed.push({ batchId: tx.batchId, receipt });
    },
    onAbandoned: async (batchId: number, reason: string, mayStillMine: boolean) => {
      this.abandoned.push({ batchId, reason, mayStillMine });
    },
    onReorged: async (tx: TrackedTx) => {
      this.reorged.push(tx.batchId);
    },
  };
}

describe("fees", () => {
  const estimate = { baseFeePerGas: parseGwei("1"), maxPriorityFeePerGas: parseGwei("0.1") };

  it("pays twice the base fee plus the tip, within the cap", () => {
    expect(initialFees(estimate, CAP)).to.deep.equal({
      maxFeePerGas: parseGwei("2.1"),
      maxPriorityFeePerGas: parseGwei("0.1"),
    });
    expect(initialFees({ baseFeePerGas: parseGwei("10"), maxPriorityFeePerGas: parseGwei("9") }, CAP)).to.deep.equal({
      maxFeePerGas: CAP,
      maxPriorityFeePerGas: CAP,
    });
  });

  it("raises both fields of a replacement by the bump, and at least by the 10% nodes require", () => {
    const previous = initialFees(estimate, CAP);
    expect(bumpedFees(previous, estimate, CAP, 25)).to.deep.equal({
      maxFeePerGas: parseGwei("2.625"),
      maxPriorityFeePerGas: parseGwei("0.125"),
    });
  });

  it("follows a base fee that rose past the bump", () => {
    const previous = initialFees(estimate, CAP);
    const risen = { baseFeePerGas: parseGwei("2"), maxPriorityFeePerGas: parseGwei("0.1") };
    expect(bumpedFees(previous, risen, CAP, 25)?.maxFeePerGas).to.equal(parseGwei("4.1"));
  });

  it("gives up replacing when the cap leaves less than a 10% raise", () => {
    const atCap = { maxFeePerGas: parseGwei("4.8"), maxPriorityFeePerGas: parseGwei("0.1") };
    expect(bumpedFees(atCap, estimate, CAP, 25)).to.equal(null);
  });
});

describe("transaction manager (fake chain)", () => {
  let temp: TempStore;
  let chain: FakeChain;
  let recorder: Recorder;
  let clock: number;
  let time: TimeSource;

  before(async () => {
    temp = await tempStore();
  });
  after(async () => {
    await temp.dispose();
  });
  beforeEach(() => {
    chain = new FakeChain();
    recorder = new Recorder();
    clock = 1_000_000;
    time = new TimeSource(() => clock);
  });

  function manager(overrides: Partial<TxManagerOptions> = {}): TxManager {
    const manager = new TxManager({
      chain,
      store: temp.store,
      metrics: new RelayerMetrics(),
      logger: pino({ level: "silent" }),
      time,
      maxFeePerGas: CAP,
      feeBumpPercent: 25,
      stuckAfterMs: 10_000,
      confirmations: 1,
      reorgWindow: 16,
      gapHealAfterMs: 1_000,
      ...overrides,
    });
    manager.on("finalize", recorder.handler);
    return manager;
  }

  async function batch(): Promise<number> {
    const { batchId } = await temp.store.createBatch({
      kind: "finalize",
      contract: TARGET,
      sender: chain.sender,
      items: [],
    });
    return batchId;
  }

  /** Each transaction's data names its batch, so no two tests ever sign the same bytes. */
  async function send(m: TxManager): Promise<TrackedTx> {
    const batchId = await batch();
    return m.submit({ batchId, kind: "finalize", to: TARGET, data: toHex(batchId, { size: 32 }), gas: 100_000n });
  }

  it("never signs a gas limit over the per-transaction cap (EIP-7825's 2^24 unless configured)", async () => {
    const limitOf = (tx: TrackedTx) => parseTransaction(tx.attempts[0].raw).gas;
    const m = manager();
    await m.start();
    const over = await m.submit({
      batchId: await batch(),
      kind: "finalize",
      to: TARGET,
      data: "0x01",
      gas: 30_000_000n,
    });
    expect(limitOf(over)).to.equal(16_777_216n);
    const under = await m.submit({ batchId: await batch(), kind: "finalize", to: TARGET, data: "0x02", gas: 500_000n });
    expect(limitOf(under)).to.equal(500_000n);
    const capped = manager({ txGasCap: 400_000n });
    await capped.start();
    const lowered = await capped.submit({
      batchId: await batch(),
      kind: "finalize",
      to: TARGET,
      data: "0x03",
      gas: 500_000n,
    });
    expect(limitOf(lowered)).to.equal(400_000n);
  });

  it("keeps gas limits within what the chain's blocks hold, read at start and every minute", async () => {
    // Blocks of 4,096,000 gas: the next block may hold 1/1024 less, 4,092,000, and no limit is above that.
    const limitOf = (tx: TrackedTx) => parseTransaction(tx.attempts[0].raw).gas;
    const big = async (m: TxManager) =>
      m.submit({ batchId: await batch(), kind: "finalize", to: TARGET, data: toHex(clock), gas: 30_000_000n });
    chain.blockGasLimit = 4_096_000n;
    const m = manager();
    expect(m.txGasCap).to.equal(16_777_216n); // nothing read yet
    await m.start();
    expect(m.txGasCap).to.equal(4_092_000n);
    const first = await big(m);
    expect(limitOf(first)).to.equal(4_092_000n);
    expect(chain.pool.has(first.attempts[0].hash)).to.equal(true); // the node took it
    chain.mine();

    // The chain's blocks grow past the configured cap: the cap applies again, after the next read.
    chain.blockGasLimit = 60_000_000n;
    const reads = chain.gasLimitReads;
    clock += 30_000;
    await m.tick();
    expect(chain.gasLimitReads).to.equal(reads); // not yet a minute
    expect(m.txGasCap).to.equal(4_092_000n);
    clock += 30_000;
    await m.tick();
    expect(chain.gasLimitReads).to.equal(reads + 1);
    expect(m.txGasCap).to.equal(16_777_216n);
    expect(limitOf(await big(m))).to.equal(16_777_216n);
  });

  it("keeps every transaction's fee at its cap (gas limit × max fee) within the limit, replacements included", async () => {
    // As a geth node with --rpc.txfeecap 0.01 ether. A 5M-gas transaction may offer at most
    // 2 gwei per gas (2.1 gwei would be its due: twice the 1 gwei base fee, plus the tip).
    const limit = parseEther("0.01");
    chain.txFeeCap = limit;
    const feeOf = (tx: TrackedTx) => tx.attempts.map((a) => a.maxFeePerGas * tx.gas);
    const m = manager({ maxTxFee: limit });
    await m.start();
    const big = await m.submit({ batchId: await batch(), kind: "finalize", to: TARGET, data: "0x01", gas: 5_000_000n });
    expect(big.attempts[0].maxFeePerGas).to.equal(parseGwei("2"));
    expect(chain.pool.has(big.attempts[0].hash)).to.equal(true); // the node took it
    const small = await m.submit({ batchId: await batch(), kind: "finalize", to: TARGET, data: "0x02", gas: 100_000n });
    expect(small.attempts[0].maxFeePerGas).to.equal(parseGwei("2.1")); // far from the limit: unchanged

    // Stuck: the small one is replaced with bumped fees; the big one has no room to bump, and waits.
    clock += 10_000;
    await m.tick();
    expect(small.attempts).to.have.length(2);
    expect(big.attempts).to.have.length(1);
    for (const fee of [...feeOf(big), ...feeOf(small)]) expect(fee <= limit, `fee ${fee} over ${limit}`).to.equal(true);
    chain.mine();
    await m.tick();
    expect(recorder.confirmed.map((c) => c.batchId).sort()).to.deep.equal([big.batchId, small.batchId].sort());
  });

  it("reads the head once per tick and keeps the chain's clock from its timestamp", async () => {
    const m = manager();
    await m.start();
    // The test clock is at 1,000 s after the epoch; the fake chain's blocks are in 2023.
    expect(time.seconds()).to.equal(1_000n);
    chain.mineEmpty(2);
    const reads = chain.headReads;
    await m.tick();
    expect(chain.headReads).to.equal(reads + 1);
    expect(time.seconds()).to.equal(chain.blocks[chain.blocks.length - 1].timestamp);
  });

  it("allocates consecutive nonces from the chain's pending count and records each transaction first", async () => {
    chain.mineExternal(0);
    const m = manager();
    await m.start();
    const [a, b] = await Promise.all([send(m), send(m)]);
    expect([a.nonce, b.nonce].sort()).to.deep.equal([1, 2]);
    const pending = await temp.store.pendingBatches(chain.sender);
    const recorded = pending.filter((p) => p.id === a.batchId || p.id === b.batchId);
    expect(recorded.map((p) => p.attempts[0].hash).sort()).to.deep.equal(
      [a.attempts[0].hash, b.attempts[0].hash].sort(),
    );
    expect(chain.pool.size).to.equal(2);
    chain.mine();
    await m.tick();
    expect(recorder.confirmed.map((c) => c.batchId).sort()).to.deep.equal([a.batchId, b.batchId].sort());
    expect(m.inflight).to.equal(0);
  });

  it("takes no nonce for a transaction it could not price (node down): the next one gets it", async () => {
    const m = manager();
    await m.start();
    chain.down = true;
    const error = await send(m).catch((e: unknown) => e);
    chain.down = false;
    // The fake node's refusal, from pricing (a broadcast failure would be a NodeUnreachableError).
    expect(error).to.be.instanceOf(Error);
    expect((error as Error).name).to.equal("Error");
    expect((error as Error).message).to.equal("fetch failed: connect ECONNREFUSED");
    expect(m.inflight).to.equal(0);
    expect((await send(m)).nonce).to.equal(0);
  });

  it("never offers more than the fee cap, even when the node suggests more", async () => {
    chain.baseFeePerGas = parseGwei("50");
    const m = manager();
    await m.start();
    const tx = await send(m);
    expect(tx.attempts[0].maxFeePerGas).to.equal(CAP);
  });

  it("hands results over only at the configured confirmation depth", async () => {
    const m = manager({ confirmations: 3 });
    await m.start();
    const tx = await send(m);
    chain.mine();
    await m.tick();
    chain.mineEmpty();
    await m.tick();
    expect(recorder.confirmed).to.have.length(0);
    chain.mineEmpty();
    await m.tick();
    expect(recorder.confirmed.map((c) => c.batchId)).to.deep.equal([tx.batchId]);
  });

  it("replaces a stuck transaction with bumped fees, and the replacement is what confirms", async () => {
    const m = manager();
    await m.start();
    const tx = await send(m);
    chain.baseFeePerGas = parseGwei("2.5"); // above the first attempt's cap of 2.1 gwei
    chain.mine();
    await m.tick();
    expect(tx.attempts).to.have.length(1);
    clock += 10_000;
    await m.tick();
    expect(tx.attempts).to.have.length(2);
    expect(tx.attempts[1].maxFeePerGas).to.equal(parseGwei("5")); // 2 × 2.5 + 0.1, capped at 5
    chain.mine();
    await m.tick();
    expect(recorder.confirmed).to.have.length(1);
    expect(recorder.confirmed[0].receipt.transactionHash).to.equal(tx.attempts[1].hash);
    const record = (await temp.store.confirmedBatchesSince(chain.sender, 0n)).find((b) => b.id === tx.batchId);
    expect(record).to.equal(undefined); // the handler, not the manager, finishes batches it owns
  });

  it("keeps a replacement the node took without answering, and confirms it when it is mined", async () => {
    const m = manager();
    await m.start();
    const tx = await send(m);
    chain.baseFeePerGas = parseGwei("2.5"); // above the first attempt's cap of 2.1 gwei
    clock += 10_000;
    chain.loseAnswers = true; // the node takes the replacement; its answer times out
    await m.tick();
    chain.loseAnswers = false;
    expect(tx.attempts).to.have.length(2);
    chain.mine();
    await m.tick();
    await m.tick();
    expect(recorder.abandoned).to.deep.equal([]);
    expect(recorder.confirmed.map((c) => c.receipt.transactionHash)).to.deep.equal([tx.attempts[1].hash]);
  });

  it("keeps a replacement refused as 'nonce too low' after the node took and mined it, and confirms it", async () => {
    const m = manager();
    await m.start();
    const tx = await send(m);
    chain.baseFeePerGas = parseGwei("2.5"); // above the first attempt's cap of 2.1 gwei
    clock += 10_000;
    chain.minedBeforeAnswer = true;
    await m.tick();
    chain.minedBeforeAnswer = false;
    expect(tx.attempts).to.have.length(2);
    await m.tick();
    await m.tick();
    expect(recorder.abandoned).to.deep.equal([]);
    expect(recorder.confirmed.map((c) => c.receipt.transactionHash)).to.deep.equal([tx.attempts[1].hash]);
  });

  it("keeps waiting without replacing when the fee cap is reached", async () => {
    const m = manager();
    await m.start();
    chain.baseFeePerGas = parseGwei("4");
    const tx = await send(m);
    chain.baseFeePerGas = parseGwei("6");
    clock += 10_000;
    await m.tick();
    expect(tx.attempts).to.have.length(1);
    expect(tx.attempts[0].maxFeePerGas).to.equal(CAP);
  });

  it("rebroadcasts a transaction the node dropped", async () => {
    const m = manager();
    await m.start();
    const tx = await send(m);
    chain.drop(tx.attempts[0].hash);
    await m.tick();
    expect(chain.pool.has(tx.attempts[0].hash)).to.equal(true);
    chain.mine();
    await m.tick();
    expect(recorder.confirmed.map((c) => c.batchId)).to.deep.equal([tx.batchId]);
  });

  it("asks for receipts only once the chain's nonce count passed a transaction", async () => {
    const m = manager();
    await m.start();
    const txs = [await send(m), await send(m), await send(m)];
    const hashOf = (tx: TrackedTx) => tx.attempts[0].hash;
    const asked: Hex[] = [];
    const receipt = chain.getTransactionReceipt.bind(chain);
    chain.getTransactionReceipt = async (hash) => {
      asked.push(hash);
      return receipt(hash);
    };
    await m.tick();
    expect(asked).to.deep.equal([]);
    // The node forgets the last one while the first two are mined: receipts for those two only.
    chain.drop(hashOf(txs[2]));
    chain.mine();
    await m.tick();
    expect(asked).to.have.members([hashOf(txs[0]), hashOf(txs[1])]);
    expect(recorder.confirmed.map((c) => c.batchId)).to.deep.equal([txs[0].batchId, txs[1].batchId]);
    expect(chain.pool.has(hashOf(txs[2]))).to.equal(true);
    chain.mine();
    await m.tick();
    expect(recorder.confirmed.map((c) => c.batchId)).to.deep.equal(txs.map((tx) => tx.batchId));
  });

  it("sends a dropped transaction again while an earlier one is still pending", async () => {
    const m = manager();
    await m.start();
    const txs = [await send(m), await send(m)];
    chain.drop(txs[1].attempts[0].hash);
    await m.tick();
    expect(chain.pool.has(txs[1].attempts[0].hash)).to.equal(true);
    chain.mine();
    await m.tick();
    expect(recorder.confirmed.map((c) => c.batchId)).to.deep.equal(txs.map((tx) => tx.batchId));
  });

  it("asks a node that keeps refusing a dropped transaction less and less often, and sends it once it takes it", async () => {
    const metrics = new RelayerMetrics();
    const m = manager({ metrics }); // stuck after 10 s: no replacement within this test
    await m.start();
    const tx = await send(m);
    chain.drop(tx.attempts[0].hash);
    chain.refuseBroadcasts = "insufficient funds for gas * price + value";
    const before = chain.broadcasts;
    const poll = async (ms: number, until: () => boolean = () => false) => {
      for (let t = 0; t < ms / 50 && !until(); t++) {
        await m.tick();
        clock += 50;
      }
    };
    await poll(4_000); // 80 polls of 50 ms
    expect(chain.broadcasts - before).to.equal(4); // tried at 0, 0.5, 1.5 and 3.5 s: not at every poll
    expect((await metrics.refused.get()).values[0].value).to.equal(1);
    expect(m.refused).to.equal(1);
    chain.refuseBroadcasts = undefined;
    await poll(5_000, () => chain.pool.has(tx.attempts[0].hash));
    expect(chain.pool.has(tx.attempts[0].hash)).to.equal(true); // taken at the next try (7.5 s)
    expect(chain.broadcasts - before).to.equal(5);
    expect(tx.attempts).to.have.length(1);
    await m.tick();
    expect((await metrics.refused.get()).values[0].value).to.equal(0);
    expect(m.refused).to.equal(0);
    chain.mine();
    await m.tick();
    expect(recorder.confirmed.map((c) => c.batchId)).to.deep.equal([tx.batchId]);
  });

  it("replaces a stuck transaction the node evicted for a fee under the base fee and refuses to take back", async () => {
    chain.evictUnderpriced = true;
    const m = manager();
    await m.start();
    const tx = await send(m);
    const first = tx.attempts[0];
    chain.baseFeePerGas = first.maxFeePerGas + 1n;
    chain.mine(); // evicts it
    expect(chain.pool.size).to.equal(0);
    await m.tick(); // not stuck yet: only the (refused) rebroadcast
    expect(tx.attempts).to.have.length(1);
    clock += 10_000;
    await m.tick();
    expect(tx.attempts).to.have.length(2);
    const replacement = tx.attempts[1];
    expect(replacement.maxFeePerGas > chain.baseFeePerGas).to.equal(true);
    expect(chain.pool.has(replacement.hash)).to.equal(true);
    chain.mine();
    await m.tick();
    expect(recorder.confirmed.map((c) => [c.batchId, c.receipt.transactionHash])).to.deep.equal([
      [tx.batchId, replacement.hash],
    ]);
  });

  it("rebroadcasts after the node was down when the transaction was sent", async () => {
    const m = manager();
    await m.start();
    const original = chain.sendRawTransaction.bind(chain);
    chain.sendRawTransaction = async () => {
      throw new Error("fetch failed");
    };
    const tx = await send(m);
    chain.sendRawTransaction = original;
    expect(chain.pool.size).to.equal(0);
    await m.tick();
    chain.mine();
    await m.tick();
    expect(recorder.confirmed.map((c) => c.batchId)).to.deep.equal([tx.batchId]);
  });

  it("abandons a batch whose nonce another transaction took", async () => {
    const m = manager();
    await m.start();
    const tx = await send(m);
    chain.mineExternal(tx.nonce);
    await m.tick();
    expect(recorder.abandoned).to.have.length(0); // judged on two ticks
    await m.tick();
    expect(recorder.abandoned).to.deep.equal([{ batchId: tx.batchId, reason: "nonce_taken", mayStillMine: false }]);
    expect(m.inflight).to.equal(0);
  });

  it("judges a taken nonce on two consecutive ticks again after a reorg gave the nonce back", async () => {
    const m = manager();
    await m.start();
    await send(m);
    chain.mineExternal(0); // someone else's transaction takes nonce 0 ...
    await m.tick(); // ... suspected once
    chain.reorg(1, { dropTransactions: true }); // ... and a reorg takes it away again
    await m.tick(); // nonce 0 is free: the node is given ours again
    chain.mineExternal(0);
    await m.tick();
    expect(recorder.abandoned).to.deep.equal([]); // suspected afresh, not abandoned at once
    await m.tick();
    expect(recorder.abandoned.map((a) => a.reason)).to.deep.equal(["nonce_taken"]);
  });

  it("takes a fresh nonce when the node says the allocated one is too low", async () => {
    const m = manager();
    await m.start();
    chain.mineExternal(0);
    chain.mineExternal(1);
    const tx = await send(m);
    expect(tx.nonce).to.equal(2);
    chain.mine();
    await m.tick();
    expect(recorder.confirmed.map((c) => c.batchId)).to.deep.equal([tx.batchId]);
  });

  it("keeps no transaction without an attempt when signing again after 'nonce too low' fails", async () => {
    const m = manager();
    await m.start();
    chain.mineExternal(0); // the manager still counts nonce 0 as free: the node refuses it
    const sign = chain.signTransaction.bind(chain);
    let signed = 0;
    chain.signTransaction = async (request) => {
      if (++signed > 1) throw new Error("signer unavailable");
      return sign(request);
    };
    const error = await send(m).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(Error).with.property("message", "signer unavailable");
    expect(m.inflight).to.equal(0);
    // The next ticks follow nothing half-made (before, they threw on a transaction without attempts).
    await m.tick();
    await m.tick();
    chain.signTransaction = sign;
    const next = await send(m);
    expect(next.nonce).to.equal(1);
  });

  it("follows the other transactions when one's results cannot be handed over, and that one again next tick", async () => {
    const m = manager();
    await m.start();
    const first = await send(m);
    const second = await send(m);
    chain.mine();
    const handler = recorder.handler;
    let refuse = true;
    const onConfirmed = handler.onConfirmed.bind(handler);
    handler.onConfirmed = async (tx, receipt) => {
      if (refuse && tx.batchId === first.batchId) throw new Error("eth_getLogs: block range too large");
      return onConfirmed(tx, receipt);
    };
    await m.tick();
    expect(recorder.confirmed.map((c) => c.batchId)).to.deep.equal([second.batchId]);
    expect(m.inflight).to.equal(1);
    refuse = false;
    await m.tick();
    expect(recorder.confirmed.map((c) => c.batchId)).to.deep.equal([second.batchId, first.batchId]);
    expect(m.inflight).to.equal(0);
  });

  it("abandons a batch left pending and unfollowed (never sent, abandonment failed) at the second sweep", async () => {
    const m = manager();
    await m.start();
    await m.tick(); // the first sweep: nothing pending yet
    const record = temp.store.recordAttempt.bind(temp.store);
    temp.store.recordAttempt = async () => {
      throw new Error("store unavailable");
    };
    const batchId = await batch();
    try {
      // Signing or recording fails, and so would the batcher's abandonment: the batch stays pending.
      const error = await m
        .submit({ batchId, kind: "finalize", to: TARGET, data: "0x", gas: 100_000n })
        .catch((e: unknown) => e);
      expect(error).to.be.instanceOf(Error);
      expect((error as Error).message, "the store's own failure").to.equal("store unavailable");
    } finally {
      temp.store.recordAttempt = record;
    }
    const waiting = await batch(); // created, its first transaction not sent yet
    clock += 60_000;
    await m.tick(); // first sighting of both
    expect(recorder.abandoned).to.deep.equal([]);
    const sent = await m.submit({ batchId: waiting, kind: "finalize", to: TARGET, data: "0x", gas: 100_000n });
    clock += 60_000;
    await m.tick();
    expect(recorder.abandoned).to.deep.equal([{ batchId, reason: "never_sent", mayStillMine: false }]);
    expect(m.inflight).to.equal(1);
    chain.mine();
    await m.tick();
    expect(recorder.confirmed.map((c) => c.batchId)).to.deep.equal([sent.batchId]);
  });

  it("fills a nonce gap below its in-flight transactions with a transaction to itself", async () => {
    const m = manager();
    await m.start();
    const first = await send(m);
    const second = await send(m);
    chain.drop(first.attempts[0].hash);
    // The record of the first is lost (as if a backup of the store was restored): it is no
    // longer tracked, so nonce 0 is a gap that blocks the second.
    await temp.store.abandonBatch(first.batchId, "lost", 5);
    const resumed = manager();
    await resumed.start();
    expect(resumed.inflight).to.equal(1);
    await resumed.tick();
    expect(chain.pool.size).to.equal(1);
    clock += 1_000;
    await resumed.tick();
    const filler = [...chain.pool.values()].find((tx) => tx.nonce === 0);
    expect(filler?.to).to.equal(chain.sender);
    chain.mine();
    await resumed.tick();
    expect(recorder.confirmed.map((c) => c.batchId)).to.deep.equal([second.batchId]);
    expect(chain.minedCount()).to.equal(2);
  });

  it("never signs a transaction at the nonce a gap filler is being prepared for", async () => {
    /** Holds every fee estimate until `count` callers wait, then lets them all go on. */
    const estimatesTogether = async <T>(count: number, work: () => Promise<T>): Promise<T> => {
      const estimateFees = chain.estimateFees.bind(chain);
      let release!: () => void;
      const gate = new Promise<void>((r) => {
        release = r;
      });
      let waiting = 0;
      chain.estimateFees = async () => {
        waiting++;
        await gate;
        return estimateFees();
      };
      try {
        const done = work();
        while (waiting < count) await new Promise((r) => setTimeout(r, 5));
        release();
        return await done;
      } finally {
        chain.estimateFees = estimateFees;
      }
    };
    // Of two transactions priced together (nonces 0 and 1), the first cannot be recorded (the
    // store failing): nonce 0 is free again, below the second's.
    let failNext = true;
    const store = new Proxy(temp.store, {
      get(target, prop) {
        if (prop === "recordAttempt" && failNext) {
          return async (attempt: { nonce: number }, sender: Address) => {
            if (attempt.nonce !== 0) return target.recordAttempt(attempt as never, sender);
            failNext = false;
            throw new Error("connection terminated");
          };
        }
        const value = Reflect.get(target, prop);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const m = manager({ store });
    await m.start();
    const [a, b] = [await batch(), await batch()];
    const submit = (batchId: number) => m.submit({ batchId, kind: "finalize", to: TARGET, data: "0x", gas: 100_000n });
    const results = await estimatesTogether(2, () => Promise.allSettled([submit(a), submit(b)]));
    expect(results.map((r) => r.status)).to.deep.equal(["rejected", "fulfilled"]);
    expect((results[1] as PromiseFulfilledResult<TrackedTx>).value.nonce).to.equal(1);
    await m.tick(); // the gap at 0 is seen
    clock += 1_000;
    // The gap filler and a new transaction are priced together.
    const c = await batch();
    const [, next] = await estimatesTogether(2, () => Promise.all([m.tick(), submit(c)]));
    expect(chain.sent.map((tx) => tx.nonce).sort(), "one transaction per nonce").to.deep.equal([0, 1, 2]);
    expect(next.nonce).to.equal(2);
    expect(chain.sent.find((tx) => tx.nonce === 0)?.to).to.equal(chain.sender); // the filler
  });

  it("resumes tracking in-flight transactions after a restart", async () => {
    const first = manager();
    await first.start();
    const tx = await send(first);
    const resumed = manager();
    await resumed.start();
    expect(resumed.inflight).to.equal(1);
    chain.mine();
    await resumed.tick();
    expect(recorder.confirmed.map((c) => c.batchId)).to.deep.equal([tx.batchId]);
    const next = await send(resumed);
    expect(next.nonce).to.equal(tx.nonce + 1);
  });

  it("puts a confirmed transaction back in flight when a reorg removes its block, and confirms it again", async () => {
    const m = manager();
    await m.start();
    const tx = await send(m);
    chain.mine();
    await m.tick();
    const firstBlock = recorder.confirmed[0].receipt.blockHash;
    chain.reorg(1);
    await m.tick();
    expect(recorder.reorged).to.deep.equal([tx.batchId]);
    expect(m.inflight).to.equal(1);
    chain.mine();
    await m.tick();
    expect(recorder.confirmed).to.have.length(2);
    expect(recorder.confirmed[1].receipt.blockHash).to.not.equal(firstBlock);
  });

  it("reads watched blocks' hashes again only when the head changes, and still sees a reorg under the head", async () => {
    const m = manager();
    await m.start();
    const sent = [];
    for (let i = 0; i < 3; i++) {
      sent.push(await send(m));
      chain.mine();
      await m.tick();
    }
    expect(recorder.confirmed).to.have.length(3);
    // Same head: its hash stands for every block below it, so no watched block is asked for.
    const reads = chain.blockHashReads;
    for (let i = 0; i < 5; i++) await m.tick();
    expect(chain.blockHashReads).to.equal(reads);
    // A new head: every watched block once (the newest, the old head, is not the new one).
    chain.mineEmpty(1);
    await m.tick();
    expect(chain.blockHashReads).to.equal(reads + 3);
    await m.tick();
    expect(chain.blockHashReads).to.equal(reads + 3);
    // A reorg of the last watched block and the empty one above it: the head number is unchanged.
    const head = await chain.getBlockNumber();
    chain.reorg(2);
    expect(await chain.getBlockNumber()).to.equal(head);
    await m.tick();
    expect(recorder.reorged).to.deep.equal([sent[2].batchId]);
    expect(m.inflight).to.equal(1);
  });

  it("rebroadcasts a reorged transaction the new chain forgot", async () => {
    const m = manager();
    await m.start();
    const tx = await send(m);
    chain.mine();
    await m.tick();
    chain.reorg(2, { dropTransactions: true });
    await m.tick(); // reorg noticed, tracked again
    await m.tick(); // unknown to the node: rebroadcast
    expect(chain.pool.has(tx.attempts[0].hash)).to.equal(true);
    chain.mine();
    await m.tick();
    expect(recorder.confirmed).to.have.length(2);
  });

  it("stops watching for reorgs beyond the window", async () => {
    const m = manager({ reorgWindow: 2 });
    await m.start();
    await send(m);
    chain.mine();
    await m.tick();
    chain.mineEmpty(3);
    await m.tick();
    chain.reorg(4);
    await m.tick();
    expect(recorder.reorged).to.deep.equal([]);
  });

  it("watches an adopted batch's block for reorgs, after a restart too, and leaves the batch undone to adoption", async () => {
    const fresh = await tempStore(); // no other test's batches to adopt
    try {
      const key = privateKeyToAccount(generatePrivateKey()); // another key, gone quiet
      const { batchId } = await fresh.store.createBatch({
        kind: "finalize",
        contract: TARGET,
        sender: key.address,
        items: [],
      });
      const fields = { to: TARGET, nonce: 0, gas: 100_000n, maxFeePerGas: 2n, maxPriorityFeePerGas: 1n };
      const raw = await key.signTransaction({ ...fields, chainId: chain.chainId, type: "eip1559" });
      const hash = keccak256(raw);
      await fresh.store.recordAttempt(
        { batchId, hash, nonce: 0, gasLimit: 100_000n, maxFeePerGas: 2n, maxPriorityFeePerGas: 1n, raw },
        key.address,
      );
      chain.mineForeign(TARGET, "0x", hash); // the quiet key's transaction was mined
      await new Promise((r) => setTimeout(r, 50)); // quiet for longer than orphanAfterMs
      // A handler that records in the store, as the jobs' do: confirmed; pending again when a
      // reorg undoes it; abandoned.
      const handler = {
        onConfirmed: async (tx: TrackedTx, receipt: TxReceipt) => {
          await recorder.handler.onConfirmed(tx, receipt);
          await fresh.store.confirmBatch(tx.batchId, inclusionOf(receipt), "confirmed");
        },
        onReorged: async (tx: TrackedTx) => {
          await recorder.handler.onReorged(tx);
          await fresh.store.reopenBatch(tx.batchId);
        },
        onAbandoned: async (id: number, reason: string, mayStillMine: boolean) => {
          await recorder.handler.onAbandoned(id, reason, mayStillMine);
          await fresh.store.abandonBatch(id, reason, mayStillMine ? null : 5);
        },
      };
      const started = async () => {
        const m = manager({ store: fresh.store, orphanAfterMs: 20 });
        m.on("finalize", handler, TARGET);
        await m.start();
        return m;
      };
      const first = await started();
      await first.tick();
      expect(recorder.confirmed.map((c) => c.batchId)).to.deep.equal([batchId]);

      // A restart: the new manager watches the adopted batch's block too. The block is reorged
      // away and the node forgets the transaction.
      const m = await started();
      chain.reorg(1, { dropTransactions: true });
      const broadcasts = chain.broadcasts;
      await m.tick();
      expect(recorder.reorged).to.deep.equal([batchId]);
      expect(m.inflight, "another key's transaction is not followed as this key's").to.equal(0);
      // Pending again, it is adopted again (this tick or the next round) and found lost: given
      // up, its items queued again; nothing is sent for it.
      clock += 60_000;
      await new Promise((r) => setTimeout(r, 50));
      await m.tick();
      expect(recorder.abandoned).to.deep.equal([{ batchId, reason: "sender_gone", mayStillMine: true }]);
      expect((await fresh.store.getBatch(batchId))?.status).to.equal("abandoned");
      expect(m.inflight).to.equal(0);
      expect(chain.broadcasts, "nothing sent for it").to.equal(broadcasts);
    } finally {
      await fresh.dispose();
    }
  });

  it("adopts a quiet key's pending batches of its own kinds and contracts, and gives up those the node lost", async () => {
    const fresh = await tempStore(); // no other test's batches to adopt
    try {
      const key = privateKeyToAccount(generatePrivateKey()); // another key, never seen alive
      const gone = key.address;
      const pendingOf = async (contract: Address) => {
        const { batchId } = await fresh.store.createBatch({ kind: "finalize", contract, sender: gone, items: [] });
        const fields = { to: contract, nonce: batchId, gas: 100_000n, maxFeePerGas: 2n, maxPriorityFeePerGas: 1n };
        const raw = await key.signTransaction({ ...fields, chainId: chain.chainId, type: "eip1559" });
        await fresh.store.recordAttempt(
          {
            batchId,
            hash: keccak256(raw),
            nonce: batchId,
            gasLimit: 100_000n,
            maxFeePerGas: 2n,
            maxPriorityFeePerGas: 1n,
            raw,
          },
          gone,
        );
        return batchId;
      };
      const ours = await pendingOf(TARGET);
      const elsewhere = await pendingOf("0x000000000000000000000000000000000000dead");
      await new Promise((r) => setTimeout(r, 50)); // the key has been quiet for longer than orphanAfterMs

      // A job registered without its contract adopts nothing of that kind.
      const blind = manager({ store: fresh.store, orphanAfterMs: 20 });
      await blind.start();
      await blind.tick();
      expect(recorder.abandoned).to.deep.equal([]);

      const m = manager({ store: fresh.store, orphanAfterMs: 20 });
      m.on("finalize", recorder.handler, TARGET);
      await m.start();
      await m.tick();
      // The node has never seen the quiet key's transaction: its batch is given up, its items queued
      // again, none failed (another node may still mine that transaction).
      expect(recorder.abandoned).to.deep.equal([{ batchId: ours, reason: "sender_gone", mayStillMine: true }]);
      // A batch calling another contract is not this instance's to decode: left alone.
      expect((await fresh.store.getBatch(elsewhere))?.status).to.equal("pending");
    } finally {
      await fresh.dispose();
    }
  });
});
