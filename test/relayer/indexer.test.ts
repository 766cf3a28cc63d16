import { after, before, beforeEach, describe, it } from "node:test";
import { expect } from "chai";
import { pino } from "pino";
import {
  createPublicClient,
  type Hex,
  HttpRequestError,
  http,
  InvalidParamsRpcError,
  LimitExceededRpcError,
  RpcRequestError,
  TimeoutError,
} from "viem";
import { isLogRangeTooLarge } from "../../src/client/node-errors.js";
import { ClientEscrowPort } from "../../src/relayer/chain/client-adapters.js";
import { ChainIndexer } from "../../src/relayer/chain/indexer.js";
import { RelayerMetrics } from "../../src/relayer/metrics.js";
import { FakeChain } from "./helpers/fake-chain.js";
import { channelView, escrowView, randomAddress, randomDigest, T0 } from "./helpers/fixtures.js";
import { FakeChannels, FakeEscrow } from "./helpers/service.js";
import { type TempStore, tempStore } from "./helpers/store.js";

/**
 * What the relayer's viem client throws when `eth_getLogs` gets this HTTP answer: the real
 * transport and the real escrow adapter, over a fetch that answers without a network.
 */
async function getLogsError(
  answer:
    | { status?: number; rpcError?: { code: number; message: string; data?: unknown }; text?: string }
    | "hang"
    | "unreachable",
  transport: { timeout?: number; maxResponseBodySize?: number } = {},
): Promise<unknown> {
  const fetchFn = async (_input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    if (answer === "unreachable") {
      throw new TypeError("fetch failed", { cause: new Error("connect ECONNREFUSED 127.0.0.1:8545") });
    }
    if (answer === "hang") {
      // No answer: viem's timeout aborts the request, as fetch then rejects.
      return new Promise<Response>((_resolve, reject) => {
        init?.signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
      });
    }
    const request = JSON.parse(String(init?.body)) as { id: number };
    if (answer.rpcError) {
      return new Response(JSON.stringify({ jsonrpc: "2.0", id: request.id, error: answer.rpcError }), {
        status: answer.status ?? 200,
        headers: { "content-type": "application/json" },
      });
    }
    return new Response(answer.text ?? "", { status: answer.status ?? 200, headers: { "content-type": "text/html" } });
  };
  const client = createPublicClient({ transport: http("http://node.test", { fetchFn, retryCount: 0, ...transport }) });
  const escrow = new ClientEscrowPort(randomAddress(), client);
  return escrow.getEvents(1n, 5_000n).then(
    () => {
      throw new Error("eth_getLogs was expected to fail");
    },
    (error: unknown) => error,
  );
}

const rpc = (code: number, message: string, data?: unknown) => ({ rpcError: { code, message, data } });

/** A node's refusal as viem reports it (`-32005`, limit exceeded). */
const tooManyResults = () =>
  new LimitExceededRpcError(
    new RpcRequestError({
      body: { method: "eth_getLogs" },
      error: { code: -32005, message: "query returned more than 10000 results" },
      url: "http://node.test",
    }),
  );

describe("isLogRangeTooLarge", () => {
  // What nodes and providers answer when an eth_getLogs range or its result set is too large.
  const refusals: [string, Parameters<typeof getLogsError>[0]][] = [
    [
      "Infura, geth: -32005",
      rpc(-32005, "query returned more than 10000 results. Try with this block range [0x1, 0x2]."),
    ],
    [
      "Alchemy: -32602",
      rpc(
        -32602,
        "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range and no limit on the response size, or you can request any block range with a cap of 10K logs in the response. Based on your parameters, this block range should work: [0x1, 0x1f3]",
      ),
    ],
    [
      "Alchemy free tier: -32600",
      rpc(
        -32600,
        "Under the Free tier plan, you can make eth_getLogs requests with up to a 10 block range. Based on your parameters, this block range should work: [0x1, 0xa]. Upgrade to PAYG for expanded block range.",
      ),
    ],
    ["Ankr: -32600", rpc(-32600, "block range is too wide")],
    ["QuickNode: -32614, HTTP 200", rpc(-32614, "eth_getLogs is limited to a 10,000 range")],
    ["QuickNode: -32614, HTTP 400", { status: 400, ...rpc(-32614, "eth_getLogs is limited to a 10,000 range") }],
    [
      "Cloudflare: -32047",
      rpc(-32047, "Invalid eth_getLogs request. 'fromBlock'-'toBlock' range too large. Max range: 800"),
    ],
    ["thirdweb: range in data", rpc(-32602, "invalid params", "range 20000 is bigger than range limit 2000")],
    [
      "thirdweb: results in data",
      rpc(
        -32602,
        "invalid params",
        "Query returned more than 10000 results. Try with this block range [0x800000, 0x800054].",
      ),
    ],
    ["BlockPI: -32602", rpc(-32602, "eth_getLogs is limited to 1024 block range")],
    ["Chainstack: -32602", rpc(-32602, "Block range limit exceeded.")],
    ["Coinbase (Base): -32005", rpc(-32005, "please limit the query to at most 1000 blocks")],
    ["Base: -32000", rpc(-32000, "block range too large")],
    ["PublicNode: -32701", rpc(-32701, "exceed maximum block range: 50000")],
    ["BSC: -32000", rpc(-32000, "exceed maximum block range: 5000")],
    ["Berachain: -32602", rpc(-32602, "query exceeds max block range 100000")],
    ["a plan limit: -32000", rpc(-32000, "range 49999 exceeds limit of 10000")],
    ["Arbitrum (Nitro): -32000", rpc(-32000, "logs matched by query exceeds limit of 10000")],
    ["Optimism: -32000", rpc(-32000, "backend response too large")],
    ["Optimism: -32600", rpc(-32600, "Block range is too large")],
    ["LlamaRPC, Ankr: -32000", rpc(-32000, "query exceeds max results 20000, retry with the range 1-2")],
    ["Hyperliquid: -32000", rpc(-32000, "query exceeds max block range 1000")],
    ["Avalanche: -32000", rpc(-32000, "requested too many blocks from 1 to 5000, maximum is set to 2048")],
    ["thirdweb: -32000", rpc(-32000, "Maximum allowed number of requested blocks is 1000")],
    ["dRPC: 35", rpc(35, "ranges over 10000 blocks are not supported on freetier")],
    ["a proxy: HTTP 413", { status: 413, text: "<html><body>413 Request Entity Too Large</body></html>" }],
  ];
  for (const [name, answer] of refusals) {
    it(`takes a size refusal for one: ${name}`, async () => {
      const error = await getLogsError(answer);
      expect(isLogRangeTooLarge(error), String(error)).to.equal(true);
    });
  }

  it("takes a response above viem's body size limit for one", async () => {
    const logs = JSON.stringify({ jsonrpc: "2.0", id: 0, result: [] }).padEnd(4_096, " ");
    const error = await getLogsError({ text: logs }, { maxResponseBodySize: 1_024 });
    expect(error).to.have.property("name", "ResponseBodyTooLargeError");
    expect(isLogRangeTooLarge(error)).to.equal(true);
  });

  it("takes the wording in a plain error (a port not built on viem) and in viem's error classes", () => {
    expect(isLogRangeTooLarge(new Error("query returned more than 10000 results"))).to.equal(true);
    expect(isLogRangeTooLarge(tooManyResults())).to.equal(true);
    const thirdweb = new InvalidParamsRpcError(
      new RpcRequestError({
        body: {},
        error: { code: -32602, message: "invalid params", data: "range 5000 is bigger than range limit 2000" },
        url: "http://node.test",
      }),
    );
    expect(isLogRangeTooLarge(thirdweb)).to.equal(true);
    expect(isLogRangeTooLarge(new HttpRequestError({ status: 413, url: "http://node.test" }))).to.equal(true);
  });

  // Errors that say nothing about the range: asking for fewer blocks would not help.
  const others: [string, Parameters<typeof getLogsError>[0]][] = [
    ["Infura's rate limit: -32005", rpc(-32005, "daily request count exceeded, request rate limited")],
    ["a rate limit: -32005", rpc(-32005, "project ID request rate exceeded")],
    ["a rate limit: HTTP 429", { status: 429, text: "Too Many Requests" }],
    ["a server error: HTTP 500", { status: 500, text: "Internal Server Error" }],
    ["a gateway: HTTP 502", { status: 502, text: "<html>502 Bad Gateway</html>" }],
    ["a node behind: -32000", rpc(-32000, "header not found")],
    ["pruned state: -32000", rpc(-32000, "missing trie node 4a1b (path ) <nil>")],
    ["a malformed request: -32602", rpc(-32602, "invalid argument 0: hex string without 0x prefix")],
    ["a node timeout: -32000", rpc(-32000, "query timeout exceeded")],
    ["Base, no healthy backend: -32011", rpc(-32011, "no backend is currently healthy to serve traffic")],
    ["an internal error: -32603", rpc(-32603, "internal error")],
    ["a gas limit: -32000", rpc(-32000, "exceeds block gas limit")],
  ];
  for (const [name, answer] of others) {
    it(`does not take other errors for one: ${name}`, async () => {
      const error = await getLogsError(answer);
      expect(isLogRangeTooLarge(error), String(error)).to.equal(false);
    });
  }

  it("does not take an unreachable node, a timeout or anything else for one", async () => {
    const timeout = await getLogsError("hang", { timeout: 20 });
    expect(timeout).to.be.instanceOf(Error);
    expect((timeout as Error).name).to.equal("TimeoutError");
    expect(isLogRangeTooLarge(timeout)).to.equal(false);
    const refused = await getLogsError("unreachable");
    expect(refused).to.be.instanceOf(HttpRequestError);
    expect(isLogRangeTooLarge(refused)).to.equal(false);
    expect(isLogRangeTooLarge(new TimeoutError({ body: {}, url: "http://node.test" }))).to.equal(false);
    expect(isLogRangeTooLarge(new Error("fetch failed: connect ECONNREFUSED"))).to.equal(false);
    for (const value of [undefined, null, 413, "block range is too wide", {}]) {
      expect(isLogRangeTooLarge(value), String(value)).to.equal(false);
    }
  });
});

describe("chain indexer: provider limits and failures (fake chain)", () => {
  let temp: TempStore;
  let chain: FakeChain;
  let escrow: FakeEscrow;
  let channels: FakeChannels;
  /** Every escrow eth_getLogs request, answered or refused. */
  let requests: [bigint, bigint][];

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
    requests = [];
  });

  const indexer = (blockRange: number) =>
    new ChainIndexer({
      chain,
      store: temp.store,
      escrow,
      channels,
      metrics: new RelayerMetrics(),
      logger: pino({ level: "silent" }),
      fromBlock: 0n,
      blockRange,
      reorgDepth: 4,
    });

  const head = () => BigInt(chain.blocks.length - 1);
  const escrowCursor = () => temp.store.getCursor(`escrow:${escrow.address.toLowerCase()}`);
  const channelsCursor = () => temp.store.getCursor(`channels:${channels.address.toLowerCase()}`);
  const storedEscrows = async () =>
    (await temp.store.dueEscrows(escrow.address, T0 + 10_000n, 1_000)).map((e) => e.id).sort((a, b) => Number(a - b));

  /**
   * The escrow's eth_getLogs as a provider limits it: `refuse(from, to)` returns the error to
   * throw for that request (or undefined to answer it). Every request is recorded.
   */
  function limitEscrowLogs(refuse: (from: bigint, to: bigint) => unknown) {
    const getEvents = escrow.getEvents.bind(escrow);
    escrow.getEvents = async (from, to) => {
      requests.push([from, to]);
      const error = refuse(from, to);
      if (error !== undefined) throw error;
      return getEvents(from, to);
    };
  }

  /** One escrow created in each of `blocks` new blocks (ids 1, 2, ...). */
  function escrowsInNewBlocks(blocks: number) {
    for (let i = 0; i < blocks; i++) {
      chain.mineEmpty();
      const id = BigInt(escrow.escrows.size + 1);
      escrow.escrows.set(id, escrowView());
      escrow.events.push({ name: "EscrowCreated", key: id, blockNumber: head(), logIndex: 0 });
    }
  }

  /** A channel whose close was requested in the latest block. */
  function closingChannel(): Hex {
    const channelId = randomDigest();
    channels.channels.set(channelId.toLowerCase(), channelView({ closesAt: T0 + 900n }));
    channels.events.push({ name: "ChannelCloseRequested", key: channelId, blockNumber: head(), logIndex: 0 });
    return channelId;
  }

  async function syncUntilCaughtUp(sync: ChainIndexer) {
    for (let round = 0; round < 100; round++) if (await sync.sync()) return;
    throw new Error("the indexer never caught up");
  }

  it("halves a range the node refuses as too large, indexes every event and moves the cursor to the head", async () => {
    escrowsInNewBlocks(60);
    const channelId = closingChannel();
    // A provider that serves at most 4 blocks per request.
    limitEscrowLogs((from, to) => (to - from + 1n > 4n ? tooManyResults() : undefined));
    const sync = indexer(16);
    await syncUntilCaughtUp(sync);

    expect(await storedEscrows()).to.deep.equal(Array.from({ length: 60 }, (_, i) => BigInt(i + 1)));
    expect(await escrowCursor()).to.deep.equal({ blockNumber: head(), blockHash: chain.blocks[Number(head())].hash });
    expect(sync.indexedBlock("escrow")).to.equal(head());
    // The first range: asked whole, then in halves until the node answers, then in quarters.
    expect(requests.slice(0, 6)).to.deep.equal([
      [0n, 15n],
      [0n, 7n],
      [0n, 3n],
      [4n, 7n],
      [8n, 11n],
      [12n, 15n],
    ]);
    // The node answered every block exactly once, in order, and never more than 4 at a time.
    const answered = requests.filter(([from, to]) => to - from + 1n <= 4n);
    expect(answered[0][0]).to.equal(0n);
    for (let i = 1; i < answered.length; i++) expect(answered[i][0]).to.equal(answered[i - 1][1] + 1n);
    expect(answered[answered.length - 1][1]).to.equal(head());
    // The smaller span is kept: not every range is refused first (only a try at 8 blocks now and then).
    const refused = requests.length - answered.length;
    expect(refused).to.be.lessThan(answered.length / 4);
    expect(requests.every(([from, to]) => to - from + 1n <= 16n)).to.equal(true);
    // The channels were not limited, and were indexed too.
    const [closing] = await temp.store.closingChannels(channels.address, 10);
    expect(closing).to.deep.include({ channelId, status: "closing" });
  });

  it("grows the span back to --index-block-range after consecutive answers, never above it", async () => {
    escrowsInNewBlocks(400);
    // A dense stretch: many logs in blocks 1..40, a result-count limit there.
    limitEscrowLogs((from, to) => (from <= 40n && to - from + 1n > 2n ? tooManyResults() : undefined));
    await syncUntilCaughtUp(indexer(16));

    expect(await storedEscrows()).to.have.length(400);
    expect((await escrowCursor())?.blockNumber).to.equal(head());
    const sizes = requests.map(([from, to]) => to - from + 1n);
    expect(
      sizes.some((size) => size === 2n),
      "halved in the dense stretch",
    ).to.equal(true);
    expect(
      sizes.every((size) => size <= 16n),
      "never above blockRange",
    ).to.equal(true);
    // Back to full ranges past the dense stretch, through 4 and 8 blocks.
    const afterDense = requests.filter(([from]) => from > 40n).map(([from, to]) => to - from + 1n);
    expect(afterDense).to.include(4n);
    expect(afterDense).to.include(8n);
    expect(afterDense.slice(-10, -1)).to.deep.equal(Array(9).fill(16n));
  });

  it("lets a one-block range the node still refuses propagate, keeps the cursor, and catches up once it answers", async () => {
    escrowsInNewBlocks(3);
    const sync = indexer(8);
    expect(await sync.sync()).to.equal(true);
    const before = await escrowCursor();
    expect(before?.blockNumber).to.equal(3n);

    escrowsInNewBlocks(8); // blocks 4..11; block 6 alone has more logs than the node serves
    const refusal = tooManyResults();
    let refuseBlock6 = true;
    limitEscrowLogs((from, to) => (refuseBlock6 && from <= 6n && to >= 6n ? refusal : undefined));
    const error = await sync.sync().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).to.equal(refusal);
    expect(requests).to.deep.equal([
      [4n, 11n],
      [4n, 7n],
      [4n, 5n],
      [6n, 7n],
      [6n, 6n],
    ]);
    expect(await escrowCursor(), "nothing of the range committed").to.deep.equal(before);
    expect(await storedEscrows()).to.deep.equal([1n, 2n, 3n]);

    refuseBlock6 = false;
    expect(await sync.sync()).to.equal(true);
    expect(await storedEscrows()).to.have.length(11);
    expect((await escrowCursor())?.blockNumber).to.equal(head());
  });

  it("does not halve on an error that does not say the range is too large: it propagates, cursor unchanged", async () => {
    const unrelated: [string, unknown][] = [
      ["node unreachable", await getLogsError("unreachable")],
      ["timeout", await getLogsError("hang", { timeout: 20 })],
      ["HTTP 500", await getLogsError({ status: 500, text: "Internal Server Error" })],
      ["rate limit", await getLogsError(rpc(-32005, "daily request count exceeded, request rate limited"))],
      ["header not found", await getLogsError(rpc(-32000, "header not found"))],
    ];
    for (const [name, failure] of unrelated) {
      escrow = new FakeEscrow();
      requests = [];
      escrowsInNewBlocks(2);
      const sync = indexer(8);
      await sync.sync();
      const before = await escrowCursor();
      escrowsInNewBlocks(10);
      limitEscrowLogs(() => failure);
      const error = await sync.sync().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error, name).to.equal(failure);
      const from = (before?.blockNumber ?? -1n) + 1n;
      expect(requests, name).to.deep.equal([[from, from + 7n]]);
      expect(await escrowCursor(), name).to.deep.equal(before);
    }
  });

  it("stops halving at an unrelated error met on the way, and propagates it", async () => {
    escrowsInNewBlocks(20);
    const down = new Error("fetch failed: connect ECONNREFUSED");
    limitEscrowLogs((from, to) => (to - from + 1n > 8n ? tooManyResults() : from >= 8n ? down : undefined));
    const error = await indexer(16)
      .sync()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).to.equal(down);
    expect(requests).to.deep.equal([
      [0n, 15n],
      [0n, 7n],
      [8n, 15n],
    ]);
    expect(await escrowCursor()).to.equal(null);
  });

  it("commits a halved range only if the chain did not change under the whole of it", async () => {
    escrowsInNewBlocks(7); // blocks 1..7: one range of 8 blocks
    let reorged = false;
    limitEscrowLogs((from, to) => {
      if (to - from + 1n > 4n) return tooManyResults();
      // The chain's last block is replaced while the second half is read.
      if (from === 4n && !reorged) {
        reorged = true;
        chain.reorg(1);
      }
      return undefined;
    });
    const sync = indexer(8);
    expect(await sync.sync()).to.equal(false);
    expect(await escrowCursor()).to.equal(null);
    expect(await sync.sync()).to.equal(true);
    expect(await escrowCursor()).to.deep.equal({ blockNumber: 7n, blockHash: chain.blocks[7].hash });
  });

  it("indexes the channels when the escrow's logs fail (and the escrows when the channels' fail), then rejects", async () => {
    escrowsInNewBlocks(5);
    const channelId = closingChannel();
    const down = new Error("escrow logs: fetch failed");
    limitEscrowLogs(() => down);
    const sync = indexer(16);
    const error = await sync.sync().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).to.equal(down);
    const [closing] = await temp.store.closingChannels(channels.address, 10);
    expect(closing).to.deep.include({ channelId, status: "closing" });
    expect((await channelsCursor())?.blockNumber).to.equal(head());
    expect(sync.indexedBlock("channels")).to.equal(head());
    expect(await escrowCursor()).to.equal(null);

    // The other way round: the channels' logs fail, the escrows are indexed.
    const channelsDown = new Error("channels logs: fetch failed");
    escrow.getEvents = FakeEscrow.prototype.getEvents;
    channels.getEvents = async () => {
      throw channelsDown;
    };
    escrowsInNewBlocks(1);
    closingChannel();
    expect(
      await sync.sync().then(
        () => undefined,
        (e: unknown) => e,
      ),
    ).to.equal(channelsDown);
    expect(await storedEscrows()).to.have.length(6);
    expect((await escrowCursor())?.blockNumber).to.equal(head());
    expect((await channelsCursor())?.blockNumber).to.equal(head() - 1n);

    // Both failing: one AggregateError with both, the caller logs and backs off.
    limitEscrowLogs(() => down);
    escrowsInNewBlocks(1);
    const both = await sync.sync().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(both).to.be.instanceOf(AggregateError);
    expect((both as AggregateError).errors).to.have.members([down, channelsDown]);
    expect((both as AggregateError).message)
      .to.include("escrow logs")
      .and.include("channels logs");

    // Both answering again: caught up, nothing skipped.
    escrow.getEvents = FakeEscrow.prototype.getEvents;
    channels.getEvents = FakeChannels.prototype.getEvents;
    expect(await sync.sync()).to.equal(true);
    expect(await storedEscrows()).to.have.length(7);
    expect(await temp.store.closingChannels(channels.address, 10)).to.have.length(2);
  });

  it("still says whether every contract reached the head when one is behind", async () => {
    escrowsInNewBlocks(30);
    const sync = indexer(4);
    expect(await sync.sync(1)).to.equal(false);
    expect((await escrowCursor())?.blockNumber).to.equal(3n);
    expect((await channelsCursor())?.blockNumber).to.equal(3n);
    await syncUntilCaughtUp(sync);
    expect(await sync.sync()).to.equal(true);
  });
});
