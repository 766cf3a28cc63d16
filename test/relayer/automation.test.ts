import { after, before, beforeEach, describe, it } from "node:test";
import { expect } from "chai";
import { pino } from "pino";
import { type Hex, parseTransaction, toHex } from "viem";
import { ChainIndexer, indexedChannel, indexedEscrow, settleableAfter } from "../../src/relayer/chain/indexer.js";
import { CallRevertedError, type ChannelView, type EscrowView } from "../../src/relayer/chain/ports.js";
import { channelAction, voucherKey } from "../../src/relayer/jobs/automation.js";
import { RelayerMetrics } from "../../src/relayer/metrics.js";
import type { WatchedChannel } from "../../src/relayer/store/store.js";
import { TimeSource } from "../../src/relayer/time.js";
import { FakeChain } from "./helpers/fake-chain.js";
import { channelView, escrowView, randomAddress, randomDigest, T0 } from "./helpers/fixtures.js";
import { FakeChannels, FakeEscrow, type FakeWorld, fakeWorld } from "./helpers/service.js";
import { type TempStore, tempStore } from "./helpers/store.js";

/** A counter's value (for the given labels). */
async function counted(metric: { get(): Promise<{ values: { value: number; labels: object }[] }> }, labels = {}) {
  const { values } = await metric.get();
  return values.find((v) => JSON.stringify(v.labels) === JSON.stringify(labels))?.value ?? 0;
}

function watched(overrides: Partial<WatchedChannel> = {}): WatchedChannel {
  const channelId = randomDigest();
  return {
    channelId,
    payee: randomAddress(),
    deposit: 1_000n,
    claimed: 100n,
    closesAt: T0 + 3_600n,
    status: "closing",
    finalizeInFlight: false,
    voucher: null,
    ...overrides,
  };
}

function voucher(channelId: Hex, cumulativeAmount: bigint, more: Partial<NonNullable<WatchedChannel["voucher"]>> = {}) {
  return {
    channels: randomAddress(),
    channelId,
    cumulativeAmount,
    signature: "0x01" as Hex,
    claimRequested: false,
    claimedAmount: 0n,
    batchId: null,
    ...more,
  };
}

describe("automation decisions", () => {
  describe("settleableAfter", () => {
    it("is the deadline for an escrow never disputed", () => {
      expect(settleableAfter({ deadline: 500n, disputedAt: 0n, state: "active" }, 3_600n)).to.equal(500n);
    });

    it("is the end of the resolution timeout for a dispute that outlasts the deadline", () => {
      expect(settleableAfter({ deadline: 500n, disputedAt: 400n, state: "disputed" }, 3_600n)).to.equal(4_000n);
    });

    it("stays the deadline for a dispute whose resolution timeout ends before it", () => {
      expect(settleableAfter({ deadline: 10_000n, disputedAt: 400n, state: "disputed" }, 3_600n)).to.equal(10_000n);
    });
  });

  describe("indexed rows", () => {
    it("stores an escrow with nothing remaining as closed, and an unknown one as closed", () => {
      expect(indexedEscrow(1n, escrowView({ remaining: 0n }), 10n).state).to.equal("closed");
      expect(indexedEscrow(2n, null, 10n)).to.deep.include({ state: "closed", remaining: 0n });
      expect(indexedEscrow(3n, escrowView({ state: "disputed", disputedAt: T0 + 90n }), 3_600n)).to.deep.include({
        state: "disputed",
        settleAfter: T0 + 3_690n,
      });
    });

    it("tells open, closing and closed channels apart", () => {
      const id = randomDigest();
      expect(indexedChannel(id, channelView()).status).to.equal("open");
      expect(indexedChannel(id, channelView({ closesAt: T0 })).status).to.equal("closing");
      expect(indexedChannel(id, channelView({ closesAt: T0, open: false }))).to.deep.include({
        status: "closed",
        closesAt: 0n,
      });
      expect(indexedChannel(id, null).status).to.equal("closed");
    });
  });

  describe("channelAction", () => {
    it("claims a voucher above what is claimed as soon as the close is requested", () => {
      const channel = watched();
      channel.voucher = voucher(channel.channelId, 400n);
      expect(channelAction(channel, T0)).to.equal("claim");
    });

    it("still claims first when the challenge period has already ended", () => {
      const channel = watched();
      channel.voucher = voucher(channel.channelId, 400n);
      expect(channelAction(channel, channel.closesAt + 10n)).to.equal("claim");
    });

    it("waits while a claim of ours is in flight", () => {
      const channel = watched();
      channel.voucher = voucher(channel.channelId, 400n, { batchId: 7 });
      expect(channelAction(channel, channel.closesAt + 10n)).to.equal("wait");
    });

    it("does not claim a voucher our confirmed claim already paid, and finalizes after the period", () => {
      const channel = watched();
      channel.voucher = voucher(channel.channelId, 400n, { claimedAmount: 400n });
      expect(channelAction(channel, channel.closesAt - 1n)).to.equal("wait");
      expect(channelAction(channel, channel.closesAt)).to.equal("finalize");
    });

    it("skips a voucher above the deposit or rejected by simulation, and finalizes", () => {
      const above = watched();
      above.voucher = voucher(above.channelId, 1_001n);
      expect(channelAction(above, above.closesAt)).to.equal("finalize");
      const rejected = watched();
      rejected.voucher = voucher(rejected.channelId, 400n);
      const keys = new Set([voucherKey(rejected.channelId, 400n)]);
      expect(channelAction(rejected, rejected.closesAt, keys)).to.equal("finalize");
      expect(channelAction(rejected, rejected.closesAt - 1n, keys)).to.equal("wait");
    });

    it("finalizes a channel without voucher only once the period has ended, and never twice at once", () => {
      const channel = watched();
      expect(channelAction(channel, channel.closesAt - 1n)).to.equal("wait");
      expect(channelAction(channel, channel.closesAt)).to.equal("finalize");
      expect(channelAction({ ...channel, finalizeInFlight: true }, channel.closesAt)).to.equal("wait");
      expect(channelAction({ ...channel, status: "open" }, channel.closesAt)).to.equal("wait");
    });
  });
});

describe("indexed escrows and channels in the store", () => {
  let temp: TempStore;
  before(async () => {
    temp = await tempStore();
  });
  after(async () => {
    await temp.dispose();
  });

  it("lists escrows due at a time, soonest first, without closed ones or ones in a pending batch", async () => {
    const { store } = temp;
    const escrow = randomAddress();
    const row = (id: bigint, settleAfter: bigint, state: "active" | "disputed" | "closed" = "active") => ({
      id,
      deadline: settleAfter,
      disputedAt: 0n,
      state,
      remaining: state === "closed" ? 0n : 10n,
      settleAfter,
    });
    await store.upsertIndexedEscrows(
      escrow,
      [row(1n, 300n), row(2n, 100n), row(3n, 200n, "closed"), row(4n, 1_000n), row(5n, 150n, "disputed")],
      10n,
    );
    expect((await store.dueEscrows(escrow, 301n, 10)).map((e) => e.id)).to.deep.equal([2n, 5n, 1n]);
    expect((await store.dueEscrows(escrow, 300n, 10)).map((e) => e.id)).to.deep.equal([2n, 5n]);
    expect((await store.dueEscrows(escrow, 301n, 1)).map((e) => e.id)).to.deep.equal([2n]);

    const { batchId, items } = await store.createBatch({
      kind: "expire",
      contract: escrow,
      sender: randomAddress(),
      items: ["0x2", "0x9"],
      note: "2,9",
    });
    expect(items).to.deep.equal(["0x2"]);
    expect((await store.dueEscrows(escrow, 301n, 10)).map((e) => e.id)).to.deep.equal([5n, 1n]);
    // Another instance's batch cannot take an escrow a pending batch carries.
    const second = await store.createBatch({
      kind: "expire",
      contract: escrow,
      sender: randomAddress(),
      items: ["0x2", "0x1"],
      note: "2,1",
    });
    expect(second.items).to.deep.equal(["0x1"]);
    await store.abandonBatch(second.batchId, "nonce_taken", 5);
    await store.abandonBatch(batchId, "nonce_taken", 5);
    expect((await store.dueEscrows(escrow, 301n, 10)).map((e) => e.id)).to.deep.equal([2n, 5n, 1n]);

    expect(await store.escrowIdsIndexedAfter(escrow, 9n)).to.deep.equal([1n, 2n, 3n, 4n, 5n]);
    expect(await store.escrowIdsIndexedAfter(escrow, 10n)).to.deep.equal([]);
    expect(await store.automationCounts({ escrow, nowSeconds: 301n })).to.deep.equal({
      escrowsWaiting: 1,
      escrowsDue: 3,
      escrowsDisputed: 1,
      channelsOpen: 0,
      channelsClosing: 0,
    });
  });

  it("lists closing channels with their latest voucher and whether a finalize is pending", async () => {
    const { store } = temp;
    const channels = randomAddress();
    const [a, b, c] = [randomDigest(), randomDigest(), randomDigest()];
    const payee = randomAddress();
    await store.upsertIndexedChannels(
      channels,
      [
        { channelId: a, payee, deposit: 1_000n, claimed: 10n, closesAt: 500n, status: "closing" },
        { channelId: b, payee, deposit: 1_000n, claimed: 0n, closesAt: 400n, status: "closing" },
        { channelId: c, payee, deposit: 1_000n, claimed: 0n, closesAt: 0n, status: "open" },
      ],
      20n,
    );
    await store.upsertVoucher({ channels, channelId: a, cumulativeAmount: 300n, signature: "0xab", claim: false });
    const closing = await store.closingChannels(channels, 10);
    expect(closing.map((ch) => ch.channelId)).to.deep.equal([b, a]);
    expect(closing[0].voucher).to.equal(null);
    expect(closing[1]).to.deep.include({ claimed: 10n, deposit: 1_000n, closesAt: 500n, finalizeInFlight: false });
    expect(closing[1].voucher).to.deep.include({ cumulativeAmount: 300n, signature: "0xab", batchId: null });

    const finalize = { kind: "finalize" as const, contract: channels, sender: randomAddress(), items: [b], note: b };
    expect((await store.createBatch(finalize)).items).to.deep.equal([b]);
    expect((await store.closingChannels(channels, 10))[0].finalizeInFlight).to.equal(true);
    expect((await store.createBatch(finalize)).items).to.deep.equal([]);
    expect(await store.automationCounts({ channels, nowSeconds: 0n })).to.deep.include({
      channelsOpen: 1,
      channelsClosing: 2,
    });
  });
});

describe("chain indexer (fake chain)", () => {
  let temp: TempStore;
  let chain: FakeChain;
  let escrow: FakeEscrow;
  let channels: FakeChannels;
  let metrics: RelayerMetrics;
  let ranges: [bigint, bigint][];

  before(async () => {
    temp = await tempStore();
  });
  after(async () => {
    await temp.dispose();
  });
  beforeEach(() => {
    chain = new FakeChain();
    escrow = new FakeEscrow();
    channels = new FakeChannels();
    metrics = new RelayerMetrics();
    ranges = [];
    const getEvents = escrow.getEvents.bind(escrow);
    escrow.getEvents = async (from, to) => {
      ranges.push([from, to]);
      return getEvents(from, to);
    };
  });

  const indexer = (options: { fromBlock?: bigint; blockRange?: number } = {}) =>
    new ChainIndexer({
      chain,
      store: temp.store,
      escrow,
      channels,
      metrics,
      logger: pino({ level: "silent" }),
      fromBlock: options.fromBlock,
      blockRange: options.blockRange ?? 10,
      reorgDepth: 4,
    });

  function emitEscrow(name: string, id: bigint, view: EscrowView | null) {
    chain.mineEmpty();
    const blockNumber = BigInt(chain.blocks.length - 1);
    escrow.events.push({ name, key: id, blockNumber, logIndex: 0 });
    if (view === null) escrow.escrows.delete(id);
    else escrow.escrows.set(id, view);
    return blockNumber;
  }

  it("reads state at the last block of the event's range, or at the latest block when that is far behind", async () => {
    const readAt = new Map<bigint, bigint | undefined>();
    escrow.getEscrow = async (id: bigint, blockNumber?: bigint) => {
      readAt.set(id, blockNumber);
      return escrow.escrows.get(id) ?? null;
    };
    chain.codeFrom.set(escrow.address, 1n);
    emitEscrow("EscrowCreated", 1n, escrowView({ deadline: T0 + 50n })); // block 1, range [1, 10]
    chain.mineEmpty(98); // head 99: block 10 is 89 below it
    emitEscrow("EscrowCreated", 2n, escrowView({ deadline: T0 + 60n })); // block 100, range [91, 100]
    await indexer().sync();
    expect(readAt.get(1n), "far below the head: the latest state").to.equal(undefined);
    expect(readAt.get(2n), "near the head: the state at its range's last block").to.equal(100n);
  });

  it("reads events from the deployment block in bounded ranges and stores the escrows' and channels' state", async () => {
    chain.mineEmpty(20);
    chain.codeFrom.set(escrow.address, 13n);
    emitEscrow("EscrowCreated", 1n, escrowView({ deadline: T0 + 50n }));
    emitEscrow("EscrowCreated", 2n, escrowView({ deadline: T0 + 60n }));
    emitEscrow("EscrowDisputed", 2n, escrowView({ deadline: T0 + 60n, state: "disputed", disputedAt: T0 + 40n }));
    chain.mineEmpty(30);
    const channelId = randomDigest();
    channels.channels.set(channelId.toLowerCase(), channelView({ closesAt: T0 + 900n, claimed: 5n }));
    channels.events.push({ name: "ChannelCloseRequested", key: channelId, blockNumber: 40n, logIndex: 0 });

    expect(await indexer().sync()).to.equal(true);
    const head = BigInt(chain.blocks.length - 1);
    expect(ranges[0][0]).to.equal(13n);
    for (const [from, to] of ranges) expect(to - from < 10n).to.equal(true);
    expect(ranges[ranges.length - 1][1]).to.equal(head);
    expect(await temp.store.getCursor(`escrow:${escrow.address.toLowerCase()}`)).to.deep.equal({
      blockNumber: head,
      blockHash: chain.blocks[Number(head)].hash,
    });
    const due = await temp.store.dueEscrows(escrow.address, T0 + 10_000n, 10);
    expect(due.map((e) => [e.id, e.state, e.settleAfter])).to.deep.equal([
      [1n, "active", T0 + 50n],
      [2n, "disputed", T0 + 40n + 3_600n],
    ]);
    const [closing] = await temp.store.closingChannels(channels.address, 10);
    expect(closing).to.deep.include({ channelId, closesAt: T0 + 900n, claimed: 5n, status: "closing" });
  });

  it("resumes from its cursor and reads only new blocks", async () => {
    chain.mineEmpty(5);
    await indexer({ fromBlock: 0n }).sync();
    ranges = [];
    emitEscrow("EscrowCreated", 7n, escrowView());
    await indexer({ fromBlock: 0n }).sync();
    expect(ranges).to.deep.equal([[6n, 6n]]);
    expect((await temp.store.dueEscrows(escrow.address, T0 + 10_000n, 10)).map((e) => e.id)).to.deep.equal([7n]);
  });

  it("re-reads the escrows of reorged blocks when the block under its cursor left the chain", async () => {
    chain.mineEmpty(5);
    const view = escrowView();
    emitEscrow("EscrowCreated", 3n, view);
    emitEscrow("EscrowReleased", 3n, { ...view, remaining: 400n });
    const sync = indexer({ fromBlock: 0n });
    await sync.sync();
    expect((await temp.store.dueEscrows(escrow.address, T0 + 10_000n, 10))[0].remaining).to.equal(400n);

    // The release's block is replaced: the escrow holds everything again.
    chain.reorg(1);
    escrow.events.pop();
    escrow.escrows.set(3n, view);
    ranges = [];
    await sync.sync();
    expect(await counted(metrics.indexerReorgs, { contract: "escrow" })).to.equal(1);
    expect((await temp.store.dueEscrows(escrow.address, T0 + 10_000n, 10))[0].remaining).to.equal(1_000n);
    const head = BigInt(chain.blocks.length - 1);
    expect(ranges).to.deep.equal([[head - 3n, head]]);
  });

  it("goes back to the head when the chain is shorter than its cursor (a reset node), and moves on", async () => {
    chain.mineEmpty(10);
    const sync = indexer({ fromBlock: 0n });
    await sync.sync();
    chain.blocks.splice(5);
    await sync.sync();
    expect((await temp.store.getCursor(`escrow:${escrow.address.toLowerCase()}`))?.blockNumber).to.equal(4n);
    emitEscrow("EscrowCreated", 11n, escrowView());
    expect(await sync.sync()).to.equal(true);
    expect((await temp.store.dueEscrows(escrow.address, T0 + 10_000n, 10)).map((e) => e.id)).to.deep.equal([11n]);
  });

  it("keeps its cursor when the node fails mid-way, and catches up afterwards", async () => {
    chain.mineEmpty(3);
    const sync = indexer({ fromBlock: 0n });
    await sync.sync();
    const before = await temp.store.getCursor(`escrow:${escrow.address.toLowerCase()}`);
    emitEscrow("EscrowCreated", 9n, escrowView());
    escrow.getEscrow = async () => {
      throw new Error("fetch failed: connect ECONNREFUSED");
    };
    const error = await sync.sync().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error, "sync fails").to.be.instanceOf(Error);
    expect((error as Error).message, "with the node's own failure").to.equal("fetch failed: connect ECONNREFUSED");
    expect(await temp.store.getCursor(`escrow:${escrow.address.toLowerCase()}`)).to.deep.equal(before);
    escrow.getEscrow = async (id) => escrow.escrows.get(id) ?? null;
    await sync.sync();
    expect((await temp.store.dueEscrows(escrow.address, T0 + 10_000n, 10)).map((e) => e.id)).to.deep.equal([9n]);
  });
});

describe("automation job (fake chain and contracts)", () => {
  let temp: TempStore;
  let world: FakeWorld;

  before(async () => {
    temp = await tempStore();
  });
  after(async () => {
    await temp.dispose();
  });
  /** A fresh world whose fake contracts follow the contracts' rules. */
  async function setUp(options: Parameters<typeof fakeWorld>[1] = {}) {
    world = fakeWorld(temp.store, options);
    const { chain, escrow, channels } = world;
    const now = () => chain.blocks[chain.blocks.length - 1].timestamp;
    // The contracts' rules, as far as these tests need them.
    chain.simulate = (to, data) => {
      if (to !== escrow.address) return;
      const text = Buffer.from(data.slice(2), "hex").toString();
      if (!text.startsWith("settleExpired ")) return;
      const id = BigInt(text.split(" ")[1]);
      const e = escrow.escrows.get(id);
      if (!e || e.remaining === 0n || settleableAfter(e, escrow.timeout) >= now()) {
        throw new CallRevertedError("EscrowNotExpired");
      }
    };
    chain.logsFor = (tx) => {
      const text = Buffer.from(tx.data.slice(2), "hex").toString();
      const [kind, arg, amount] = text.split(" ");
      if (tx.to === escrow.address && (kind === "expire" || kind === "settleExpired")) {
        const settled = escrow.idsOf(tx.data).filter((id) => (escrow.escrows.get(id)?.remaining ?? 0n) > 0n);
        for (const id of settled) {
          const e = escrow.escrows.get(id) as EscrowView;
          escrow.escrows.set(id, { ...e, remaining: 0n, state: "closed" });
        }
        return { logs: settled.map((id) => escrow.expiredLog(id)) };
      }
      if (tx.to === channels.address && kind === "claim") {
        const ch = channels.channels.get(arg) as ChannelView;
        channels.channels.set(arg, { ...ch, claimed: BigInt(amount) });
      }
      if (tx.to === channels.address && kind === "finalize") {
        const ch = channels.channels.get(arg) as ChannelView;
        channels.channels.set(arg, { ...ch, open: false });
      }
      return { logs: [] };
    };
    await world.service.txManager.start();
  }
  beforeEach(() => setUp());

  /** A round of the automation, then the transaction manager confirms what was mined. */
  async function round() {
    await world.service.automation?.tick();
    await world.service.pollChain();
  }
  const sentData = () => world.chain.sent.map((tx) => Buffer.from(tx.data.slice(2), "hex").toString());
  const latest = () => world.chain.blocks[world.chain.blocks.length - 1].timestamp;

  /** Escrows `ids`, due in that order, created in a new block. */
  function dueEscrows(ids: bigint[]) {
    const { chain, escrow } = world;
    chain.mineEmpty();
    const block = BigInt(chain.blocks.length - 1);
    ids.forEach((id, i) => {
      escrow.escrows.set(id, escrowView({ deadline: latest() - 100n + BigInt(i) }));
      escrow.events.push({ name: "EscrowCreated", key: id, blockNumber: block, logIndex: i });
    });
  }

  /** Each escrow's `settleExpired` needs its gas in `gas` (100,000 if not listed), a batch the sum of its escrows'. */
  function escrowGas(gas: Map<bigint, bigint>) {
    const { chain, escrow } = world;
    chain.gasOf = (to, data) =>
      to === escrow.address
        ? escrow.idsOf(data).reduce((sum, id) => sum + (gas.get(id) ?? 100_000n), 0n)
        : chain.callGas;
  }

  /** A channel whose close was requested (period ending at `closesAt`), with a kept voucher if `amount` is given. */
  async function closingChannel(closesAt: bigint, amount?: bigint): Promise<Hex> {
    const { chain, channels } = world;
    const channelId = randomDigest();
    channels.channels.set(channelId, channelView({ claimed: 100n, closesAt }));
    const blockNumber = BigInt(chain.blocks.length - 1);
    channels.events.push({ name: "ChannelCloseRequested", key: channelId, blockNumber, logIndex: 0 });
    if (amount !== undefined) {
      await temp.store.upsertVoucher({
        channels: channels.address,
        channelId,
        cumulativeAmount: amount,
        signature: "0x1234",
        claim: false,
      });
    }
    return channelId;
  }

  it("settles escrows past their settle time in one batch, and leaves a disputed one alone until its timeout", async () => {
    const { chain, escrow } = world;
    chain.mineEmpty(2);
    const now = chain.blocks[chain.blocks.length - 1].timestamp;
    const block = BigInt(chain.blocks.length - 1);
    escrow.escrows.set(1n, escrowView({ deadline: now - 10n }));
    escrow.escrows.set(2n, escrowView({ deadline: now - 5n }));
    escrow.escrows.set(3n, escrowView({ deadline: now + 100_000n }));
    escrow.escrows.set(4n, escrowView({ deadline: now - 5n, state: "disputed", disputedAt: now - 100n }));
    for (const id of [1n, 2n, 3n, 4n])
      escrow.events.push({ name: "EscrowCreated", key: id, blockNumber: block, logIndex: 0 });

    await round();
    expect(sentData()).to.deep.equal(["expire 1,2"]);
    expect(escrow.escrows.get(1n)?.state).to.equal("closed");
    expect(escrow.escrows.get(4n)?.state).to.equal("disputed");
    expect(await counted(world.service.metrics.escrowsSettled)).to.equal(2);
    expect((await world.service.automationStatus()).escrowsDue).to.equal(0);

    // Nothing more to do until the dispute's resolution timeout has passed.
    await round();
    expect(sentData()).to.have.length(1);
    chain.mineEmpty(Number(escrow.timeout / 12n) + 1);
    await round();
    expect(sentData()).to.deep.equal(["expire 1,2", "expire 4"]);
    expect(escrow.escrows.get(4n)?.state).to.equal("closed");
    expect(escrow.escrows.get(3n)?.state).to.equal("active");
  });

  it("drops ids whose simulation reverts and sends the rest", async () => {
    const { chain, escrow } = world;
    chain.mineEmpty();
    const now = chain.blocks[chain.blocks.length - 1].timestamp;
    escrow.escrows.set(1n, escrowView({ deadline: now - 10n }));
    escrow.escrows.set(2n, escrowView({ deadline: now - 10n }));
    escrow.events.push({ name: "EscrowCreated", key: 1n, blockNumber: 1n, logIndex: 0 });
    escrow.events.push({ name: "EscrowCreated", key: 2n, blockNumber: 1n, logIndex: 1 });
    await world.service.indexer?.sync();
    // Someone else settled escrow 1 (the indexer has not seen it yet).
    escrow.escrows.set(1n, escrowView({ deadline: now - 10n, remaining: 0n, state: "closed" }));
    await round();
    expect(sentData()).to.deep.equal(["expire 2"]);
    expect(await counted(world.service.metrics.automationSkipped, { kind: "expire" })).to.equal(1);
  });

  it("claims the latest voucher of a channel whose close is requested, then finalizes after the period", async () => {
    const { chain, channels, service } = world;
    chain.mineEmpty();
    const now = chain.blocks[chain.blocks.length - 1].timestamp;
    const channelId = randomDigest();
    channels.channels.set(channelId, channelView({ claimed: 100n, closesAt: now + 120n }));
    channels.events.push({ name: "ChannelCloseRequested", key: channelId, blockNumber: 1n, logIndex: 0 });
    await temp.store.upsertVoucher({
      channels: channels.address,
      channelId,
      cumulativeAmount: 700n,
      signature: "0x1234",
      claim: false,
    });

    await round();
    expect(sentData()).to.deep.equal([`claim ${channelId} 700 0x1234`]);
    expect(await counted(service.metrics.watchtowerClaims)).to.equal(1);
    await round(); // the claim is confirmed; the challenge period still runs
    expect(sentData()).to.have.length(1);
    expect((await temp.store.getVoucher(channels.address, channelId))?.claimedAmount).to.equal(700n);

    chain.mineEmpty(11);
    await round();
    expect(sentData()).to.deep.equal([`claim ${channelId} 700 0x1234`, `finalize ${channelId}`]);
    await round();
    expect(channels.channels.get(channelId)?.open).to.equal(false);
    expect(await counted(service.metrics.channelsFinalized)).to.equal(1);
    expect(await temp.store.closingChannels(channels.address, 10)).to.deep.equal([]);
    await round();
    expect(sentData()).to.have.length(2);
  });

  it("packs escrows by their own estimates within the transaction gas cap, leaving out one that needs far too much", async () => {
    await setUp({ config: { txGasCap: 1_000_000 } });
    dueEscrows([1n, 2n, 3n, 4n, 5n, 6n]);
    // Escrow 2's token burns the gas it is given: its own simulation passes, at 1.6 million.
    escrowGas(new Map([...[1n, 3n, 4n, 5n, 6n].map((id) => [id, 200_000n] as const), [2n, 1_600_000n]]));

    await round();
    expect(sentData()).to.deep.equal(["expire 1,3,4,5"]);
    // The batch keeps its whole margin (800,000 × 1.2): the gas cap did not cut it.
    expect(parseTransaction(world.chain.sent[0].raw).gas).to.equal(960_000n);
    expect(await counted(world.service.metrics.automationSkipped, { kind: "expire" })).to.equal(1);
    await round();
    expect(sentData()).to.deep.equal(["expire 1,3,4,5", "expire 6"]);
    expect(world.escrow.escrows.get(6n)?.state).to.equal("closed");
    expect(world.escrow.escrows.get(2n)?.state).to.equal("active");
  });

  it("keeps escrows left out from crowding out the due escrows behind them", async () => {
    await setUp({ config: { expireBatchSize: 2 } });
    dueEscrows([1n, 2n, 3n, 4n, 5n, 6n]);
    escrowGas(new Map([1n, 2n, 3n, 4n, 5n].map((id) => [id, 1_600_000n])));
    for (let i = 0; i < 3; i++) await round();
    expect(sentData()).to.deep.equal(["expire 6"]);
    expect(await counted(world.service.metrics.automationSkipped, { kind: "expire" })).to.equal(5);
  });

  it("sends the first escrow alone when the batch would revert or need more gas than it may have", async () => {
    const { chain, escrow } = world;
    dueEscrows([1n, 2n, 3n, 4n]);
    let batch: "reverts" | "too heavy" | "fine" = "reverts";
    const contract = chain.simulate;
    const isBatch = (data: Hex) => Buffer.from(data.slice(2), "hex").toString().startsWith("expire ");
    chain.simulate = (to, data) => {
      if (batch === "reverts" && isBatch(data) && escrow.idsOf(data).length > 1)
        throw new CallRevertedError("out of gas");
      contract(to, data);
    };
    chain.gasOf = (_to, data) => (batch === "too heavy" && isBatch(data) ? 20_000_000n : chain.callGas);

    await round();
    expect(sentData()).to.deep.equal(["settleExpired 1"]);
    batch = "too heavy";
    await round();
    expect(sentData()).to.deep.equal(["settleExpired 1", "settleExpired 2"]);
    batch = "fine";
    await round();
    expect(sentData()).to.deep.equal(["settleExpired 1", "settleExpired 2", "expire 3,4"]);
    for (const id of [1n, 2n, 3n, 4n]) expect(escrow.escrows.get(id)?.state).to.equal("closed");
    expect(await counted(world.service.metrics.escrowsSettled)).to.equal(4);
  });

  it("leaves the escrows of a reverted settleExpiredBatch out for a minute instead of sending them each round", async () => {
    let nowMs = Date.now();
    await setUp({ time: new TimeSource(() => nowMs) });
    const { chain } = world;
    dueEscrows([1n, 2n]);
    const contract = chain.logsFor;
    chain.logsFor = (tx, block) =>
      tx.to === world.escrow.address ? { logs: [], status: "reverted" } : contract(tx, block);

    await round();
    expect(sentData()).to.deep.equal(["expire 1,2"]);
    await round();
    expect(sentData()).to.deep.equal(["expire 1,2"]);
    expect(await counted(world.service.metrics.automationSkipped, { kind: "expire" })).to.equal(2);
    nowMs += 60_001;
    await round();
    expect(sentData()).to.deep.equal(["expire 1,2", "expire 1,2"]);
  });

  it("leaves a channel whose finalizeClose reverted out for a minute instead of sending it each round", async () => {
    let nowMs = Date.now();
    await setUp({ time: new TimeSource(() => nowMs) });
    const { chain } = world;
    chain.mineEmpty();
    const ended = await closingChannel(latest() - 10n);
    const contract = chain.logsFor;
    chain.logsFor = (tx, block) =>
      tx.to === world.channels.address ? { logs: [], status: "reverted" } : contract(tx, block);

    await round();
    expect(sentData()).to.deep.equal([`finalize ${ended}`]);
    await round();
    expect(sentData()).to.deep.equal([`finalize ${ended}`]);
    expect(await counted(world.service.metrics.automationSkipped, { kind: "finalize" })).to.equal(1);
    nowMs += 60_001;
    await round();
    expect(sentData()).to.deep.equal([`finalize ${ended}`, `finalize ${ended}`]);
  });

  it("sends no escrow another instance's batch took after they were chosen, and the others next round", async () => {
    dueEscrows([1n, 2n]);
    const { txManager } = world.service;
    const affordableGas = txManager.affordableGas.bind(txManager);
    let raced = false;
    // Between choosing the escrows and recording its batch, another instance's batch takes escrow 2.
    txManager.affordableGas = async () => {
      if (!raced) {
        raced = true;
        const other = { kind: "expire" as const, contract: world.escrow.address, sender: randomAddress() };
        expect((await temp.store.createBatch({ ...other, items: [toHex(2n)], note: "2" })).items).to.have.length(1);
      }
      return affordableGas();
    };
    await round();
    expect(sentData(), "not a batch carrying escrow 2").to.deep.equal([]);
    await round();
    expect(sentData()).to.deep.equal(["expire 1"]);
  });

  it("claims for every closing channel before any finalize, and before settling escrows", async () => {
    world.chain.mineEmpty();
    const ended = await closingChannel(latest() - 10n);
    const claimable = await closingChannel(latest() + 3_600n, 700n);
    dueEscrows([1n]);

    await round();
    expect(sentData()).to.deep.equal([`claim ${claimable} 700 0x1234`, `finalize ${ended}`, "expire 1"]);
  });

  it("claims even when escrow expiry fails, and counts the round as failed", async () => {
    const { chain } = world;
    dueEscrows([1n]);
    const channelId = await closingChannel(latest() + 3_600n, 700n);
    const contract = chain.simulate;
    chain.simulate = (to, data) => {
      if (to === world.escrow.address) throw new Error("header not found");
      contract(to, data);
    };

    await world.service.automation?.tick();
    expect(sentData()).to.deep.equal([`claim ${channelId} 700 0x1234`]);
    expect(world.service.automation?.lastRound).to.deep.include({ ok: false, error: "header not found" });
    expect(await counted(world.service.metrics.automationErrors)).to.equal(1);
    expect(await counted(world.service.metrics.watchtowerClaims)).to.equal(1);
  });

  // Invariant: a contract whose logs cannot be read never keeps the watchtower from claiming
  // within a challenge period; the round still counts as failed and backs off.
  it("claims for a closing channel while the escrow's logs keep failing, and counts the round as failed", async () => {
    const { escrow } = world;
    escrow.getEvents = async () => {
      throw new Error("escrow logs unavailable");
    };
    const channelId = await closingChannel(latest() + 3_600n, 700n);

    await world.service.automation?.tick();
    expect(sentData()).to.deep.equal([`claim ${channelId} 700 0x1234`]);
    expect(world.service.automation?.lastRound).to.deep.include({ ok: false, error: "escrow logs unavailable" });
    expect(await counted(world.service.metrics.automationErrors)).to.equal(1);
  });

  it("finalizes the other channels and settles escrows when one channel's finalize cannot be simulated", async () => {
    const { chain } = world;
    chain.mineEmpty();
    const failing = await closingChannel(latest() - 20n);
    const other = await closingChannel(latest() - 10n);
    dueEscrows([1n]);
    const contract = chain.simulate;
    chain.simulate = (to, data) => {
      if (Buffer.from(data.slice(2), "hex").toString() === `finalize ${failing}`) throw new Error("request timed out");
      contract(to, data);
    };

    await world.service.automation?.tick();
    expect(sentData()).to.deep.equal([`finalize ${other}`, "expire 1"]);
    expect(world.service.automation?.lastRound).to.deep.include({ ok: false, error: "request timed out" });
    expect(await counted(world.service.metrics.automationErrors)).to.equal(1);
  });

  it("simulates a rejected voucher claim again after a minute (a passing fault does not make the watchtower give up)", async () => {
    let nowMs = Date.now();
    await setUp({ time: new TimeSource(() => nowMs) });
    const { chain } = world;
    chain.mineEmpty();
    const channelId = await closingChannel(latest() + 3_600n, 700n);
    let claimsRevert = true;
    const contract = chain.simulate;
    chain.simulate = (to, data) => {
      if (claimsRevert && Buffer.from(data.slice(2), "hex").toString().startsWith("claim ")) {
        throw new CallRevertedError("execution reverted");
      }
      contract(to, data);
    };

    await round();
    expect(sentData()).to.deep.equal([]);
    expect(await counted(world.service.metrics.automationSkipped, { kind: "claim" })).to.equal(1);
    claimsRevert = false;
    await round();
    expect(sentData()).to.deep.equal([]);
    nowMs += 60_001;
    await round();
    expect(sentData()).to.deep.equal([`claim ${channelId} 700 0x1234`]);
  });

  it("survives a node that is down: the round fails, backs off, and nothing is sent", async () => {
    world.chain.down = true;
    await world.service.automation?.tick();
    expect(world.service.automation?.lastRound?.ok).to.equal(false);
    expect(await counted(world.service.metrics.automationErrors)).to.equal(1);
    expect(world.chain.sent).to.have.length(0);
  });
});
