import type { Logger } from "pino";
import type { Address, Hex } from "viem";
import { oneError } from "../errors.js";
import type { RelayerMetrics } from "../metrics.js";
import type { IndexedChannel, IndexedEscrow, Store } from "../store/store.js";
import { LogSpan } from "./log-span.js";
import type { ChainPort, ChannelsPort, ChannelView, ContractEvent, EscrowPort, EscrowView } from "./ports.js";

/**
 * When `settleExpired` starts to succeed: `block.timestamp` must be above the deadline, and for
 * a disputed escrow also above `disputedAt + resolutionTimeout` (the arbiter's window), as
 * `Escrow._settleableAfter` computes it.
 */
export function settleableAfter(
  escrow: Pick<EscrowView, "deadline" | "disputedAt" | "state">,
  resolutionTimeout: bigint,
): bigint {
  if (escrow.state !== "disputed") return escrow.deadline;
  const resolvableUntil = escrow.disputedAt + resolutionTimeout;
  if (resolvableUntil <= escrow.deadline) return escrow.deadline;
  return resolvableUntil;
}

/** The row the indexer keeps for an escrow read from the chain (null: no such escrow, e.g. reorged away). */
export function indexedEscrow(id: bigint, view: EscrowView | null, resolutionTimeout: bigint): IndexedEscrow {
  if (view === null) return { id, deadline: 0n, disputedAt: 0n, state: "closed", remaining: 0n, settleAfter: 0n };
  return {
    id,
    deadline: view.deadline,
    disputedAt: view.disputedAt,
    state: view.remaining === 0n ? "closed" : view.state,
    remaining: view.remaining,
    settleAfter: settleableAfter(view, resolutionTimeout),
  };
}

/** The row the indexer keeps for a channel read from the chain (null: no such channel). */
export function indexedChannel(channelId: Hex, view: ChannelView | null): IndexedChannel {
  if (view === null) {
    return {
      channelId,
      payee: "0x0000000000000000000000000000000000000000",
      deposit: 0n,
      claimed: 0n,
      closesAt: 0n,
      status: "closed",
    };
  }
  return {
    channelId,
    payee: view.payee,
    deposit: view.deposit,
    claimed: view.claimed,
    closesAt: view.open ? view.closesAt : 0n,
    status: !view.open ? "closed" : view.closesAt > 0n ? "closing" : "open",
  };
}

export interface ChainIndexerOptions {
  chain: ChainPort;
  store: Store;
  escrow?: EscrowPort;
  channels?: ChannelsPort;
  metrics: RelayerMetrics;
  logger: Logger;
  /** First block to read when there is no cursor yet (default: the contract's deployment block). */
  fromBlock?: bigint;
  /**
   * Most blocks per `eth_getLogs` request (and per committed range). A source uses fewer for a
   * while after the node refused a range as too large (see `ChainIndexer`).
   */
  blockRange: number;
  /** How far back to re-read when the cursor's block has left the canonical chain. */
  reorgDepth: number;
}

/** One followed contract: its events say which keys changed; their state is read and stored. */
interface Source<K> {
  contract: "escrow" | "channels";
  address: Address;
  cursor: string;
  events(fromBlock: bigint, toBlock: bigint): Promise<ContractEvent<K>[]>;
  refresh(keys: readonly K[], blockNumber: bigint): Promise<void>;
  keysAfter(blockNumber: bigint): Promise<K[]>;
  /** Blocks per `eth_getLogs` request (and per committed range) for this source: at most `blockRange`. */
  span: LogSpan;
}

/** Reads of one refresh go out this many at a time (one JSON-RPC batch each). */
const READ_CHUNK = 200;
/**
 * State is read at the block it is stored for when that block is at most this far below the
 * head (every node keeps the state of its latest 128 blocks), else at the latest block: an
 * index catching up from far behind must not need an archive node. Read at the block, a row
 * cannot show older state than its block, as a load-balanced endpoint serving the read from a
 * node one block behind the one that served the logs would give (an escrow created in that
 * block read as missing, so never settled).
 */
const STATE_READ_WINDOW = 64n;

/**
 * Follows the Escrow and PaymentChannels events and keeps, per escrow and channel, what the
 * automation needs (`indexed_escrows`, `indexed_channels`).
 *
 * - Events only say *which* escrow or channel changed; its state is then read from the
 *   contract and upserted. Re-reading a range therefore writes the same rows again
 *   (idempotent), and a state read is always the chain's latest, whatever events were missed.
 * - Block ranges of at most `blockRange` blocks, from the persisted cursor (`chain_cursors`,
 *   one per contract), else `fromBlock`, else the contract's deployment block (found by a
 *   binary search on `eth_getCode`; from block 0 if the node cannot tell).
 * - Provider limits: when the node refuses an `eth_getLogs` request because its block range or
 *   its result set is too large (`isLogRangeTooLarge`: "query returned more than 10000
 *   results", "block range is too wide", HTTP 413, ...), the same blocks are asked again in
 *   requests of half as many blocks, down to a single block, whose refusal propagates. The
 *   source keeps the smaller span for its next ranges, and doubles it again (never above
 *   `blockRange`) after 10 consecutive requests of that span passed (`LogSpan`). Any other error
 *   (node unreachable, timeout, HTTP 500, rate limit) is not taken for a size limit: it
 *   propagates at once. The sub-requests of a range are all made before the range is stored
 *   and committed, so the hash check and the cursor below cover the whole range.
 * - Reorgs: the cursor keeps its block's hash. When that block is no longer canonical, the
 *   cursor goes back `reorgDepth` blocks and every row last touched above it is read again. A
 *   range is only committed if the hash of its last block did not change while it was read.
 * - The contracts are indexed concurrently and independently: one contract's failure (its
 *   logs or state reads failing) does not keep the other from being indexed. This matters for
 *   the channels, whose closes the watchtower must see within the challenge period.
 * - Errors propagate to the caller (the automation job retries with backoff), after every
 *   contract had its turn: `sync` throws the one error, or an `AggregateError` of both. The
 *   cursor only moves after a range was fully stored, so nothing is skipped.
 */
export class ChainIndexer {
  readonly #sources: Source<unknown>[] = [];
  readonly #indexed = new Map<"escrow" | "channels", bigint>();
  #head = 0n;

  constructor(private readonly o: ChainIndexerOptions) {
    const { escrow, channels, store } = o;
    if (escrow) {
      this.#sources.push({
        contract: "escrow",
        address: escrow.address,
        cursor: `escrow:${escrow.address.toLowerCase()}`,
        events: (from, to) => escrow.getEvents(from, to),
        refresh: (keys, block) => this.refreshEscrows(keys as bigint[], block),
        keysAfter: (block) => store.escrowIdsIndexedAfter(escrow.address, block),
        span: new LogSpan(BigInt(o.blockRange)),
      } satisfies Source<bigint> as Source<unknown>);
    }
    if (channels) {
      this.#sources.push({
        contract: "channels",
        address: channels.address,
        cursor: `channels:${channels.address.toLowerCase()}`,
        events: (from, to) => channels.getEvents(from, to),
        refresh: (keys, block) => this.refreshChannels(keys as Hex[], block),
        keysAfter: (block) => store.channelIdsIndexedAfter(channels.address, block),
        span: new LogSpan(BigInt(o.blockRange)),
      } satisfies Source<Hex> as Source<unknown>);
    }
  }

  /** The last block stored per contract (undefined until the first range of this run). */
  indexedBlock(contract: "escrow" | "channels"): bigint | undefined {
    return this.#indexed.get(contract);
  }

  /**
   * Reads every followed contract up to the chain's head, at most `maxRanges` ranges each (so
   * a long backfill leaves room for the automation between calls). Returns whether every
   * contract has reached the head.
   *
   * The contracts are synced concurrently, each on its own: when one fails, the others still
   * run to their end (and keep what they stored), then `sync` rejects with that error, or an
   * `AggregateError` of all of them, so the caller still sees the round fail.
   */
  async sync(maxRanges = 20): Promise<boolean> {
    const head = await this.o.chain.getBlockNumber();
    this.#head = head;
    const results = await Promise.allSettled(this.#sources.map((source) => this.#syncSource(source, head, maxRanges)));
    const errors: unknown[] = [];
    results.forEach((result, i) => {
      if (result.status === "fulfilled") return;
      errors.push(result.reason);
      this.o.logger.warn({ err: result.reason, contract: this.#sources[i].contract }, "indexing failed");
    });
    if (errors.length > 0) throw oneError(errors);
    return results.every((result) => result.status === "fulfilled" && result.value);
  }

  /** The block to read state at for rows stored as of `blockNumber`; undefined: the latest. */
  #readAt(blockNumber: bigint): bigint | undefined {
    return this.#head - blockNumber <= STATE_READ_WINDOW ? blockNumber : undefined;
  }

  /** Reads escrows' state and stores it (also used right after our own transactions). */
  async refreshEscrows(ids: readonly bigint[], blockNumber: bigint = this.#head): Promise<void> {
    const escrow = this.o.escrow;
    if (escrow === undefined || ids.length === 0) return;
    const timeout = await escrow.resolutionTimeout();
    for (let i = 0; i < ids.length; i += READ_CHUNK) {
      const chunk = ids.slice(i, i + READ_CHUNK);
      const views = await Promise.all(chunk.map((id) => escrow.getEscrow(id, this.#readAt(blockNumber))));
      await this.o.store.upsertIndexedEscrows(
        escrow.address,
        chunk.map((id, j) => indexedEscrow(id, views[j], timeout)),
        blockNumber,
      );
    }
  }

  /** Reads channels' state and stores it (also used right after our own transactions). */
  async refreshChannels(channelIds: readonly Hex[], blockNumber: bigint = this.#head): Promise<void> {
    const channels = this.o.channels;
    if (channels === undefined || channelIds.length === 0) return;
    for (let i = 0; i < channelIds.length; i += READ_CHUNK) {
      const chunk = channelIds.slice(i, i + READ_CHUNK);
      const views = await Promise.all(chunk.map((id) => channels.getChannel(id, this.#readAt(blockNumber))));
      await this.o.store.upsertIndexedChannels(
        channels.address,
        chunk.map((id, j) => indexedChannel(id, views[j])),
        blockNumber,
      );
    }
  }

  async #syncSource(source: Source<unknown>, head: bigint, maxRanges: number): Promise<boolean> {
    const { chain, store, logger, metrics } = this.o;
    const cursor = await store.getCursor(source.cursor);
    let next: bigint;
    if (cursor === null) {
      next = this.o.fromBlock ?? (await this.#deploymentBlock(source.address, head));
      logger.info({ contract: source.contract, address: source.address, fromBlock: next.toString() }, "indexing from");
    } else if ((await chain.getBlockHash(cursor.blockNumber)) === cursor.blockHash) {
      next = cursor.blockNumber + 1n;
    } else {
      // Never above the head: a chain shorter than the cursor (a reset node) must not stall the indexer.
      let back = cursor.blockNumber > BigInt(this.o.reorgDepth) ? cursor.blockNumber - BigInt(this.o.reorgDepth) : 0n;
      if (back > head) back = head;
      const keys = await source.keysAfter(back);
      logger.warn(
        {
          contract: source.contract,
          cursor: cursor.blockNumber.toString(),
          back: back.toString(),
          reread: keys.length,
        },
        "reorg under the indexer's cursor: reading again from an earlier block",
      );
      metrics.indexerReorgs.inc({ contract: source.contract });
      await source.refresh(keys, back);
      const hash = await chain.getBlockHash(back);
      if (hash === null) return false;
      await store.setCursor(source.cursor, { blockNumber: back, blockHash: hash });
      next = back + 1n;
    }

    if (next > 0n) this.#indexed.set(source.contract, next - 1n);

    for (let ranges = 0; next <= head && ranges < maxRanges; ranges++) {
      const last = next + source.span.blocks - 1n;
      const to = last < head ? last : head;
      const hashBefore = await chain.getBlockHash(to);
      const events = await this.#events(source, next, to);
      const keys = [...new Map(events.map((e) => [String(e.key).toLowerCase(), e.key])).values()];
      await source.refresh(keys, to);
      const hashAfter = await chain.getBlockHash(to);
      // The chain changed under the range: keep the cursor, the next sync reads it again.
      if (hashBefore === null || hashBefore !== hashAfter) return false;
      await store.setCursor(source.cursor, { blockNumber: to, blockHash: hashAfter });
      this.#indexed.set(source.contract, to);
      metrics.indexedBlock.set({ contract: source.contract }, Number(to));
      if (events.length > 0) {
        logger.debug(
          { contract: source.contract, fromBlock: next.toString(), toBlock: to.toString(), events: events.length },
          "indexed events",
        );
      }
      next = to + 1n;
    }
    return next > head;
  }

  /**
   * The source's events in `[from, to]`, in chain order, in `eth_getLogs` requests of at most
   * `source.span` blocks. A request the node refuses as too large is made again with half as
   * many blocks (the source keeps that span, see `LogSpan`); a one-block request refused, or any
   * other error, propagates.
   */
  async #events(source: Source<unknown>, from: bigint, to: bigint): Promise<ContractEvent<unknown>[]> {
    const { logger } = this.o;
    const parts: ContractEvent<unknown>[][] = [];
    let start = from;
    while (start <= to) {
      const last = start + source.span.blocks - 1n;
      const end = last < to ? last : to;
      const blocks = end - start + 1n;
      let events: ContractEvent<unknown>[];
      try {
        events = await source.events(start, end);
      } catch (error) {
        if (!source.span.refused(blocks, error)) throw error;
        logger.info(
          {
            err: error,
            contract: source.contract,
            fromBlock: start.toString(),
            toBlock: end.toString(),
            blocks: source.span.blocks.toString(),
          },
          "eth_getLogs range too large for the node; asking for fewer blocks",
        );
        continue;
      }
      parts.push(events);
      start = end + 1n;
      if (source.span.passed(blocks)) {
        logger.debug({ contract: source.contract, blocks: source.span.blocks.toString() }, "eth_getLogs range grown");
      }
    }
    return parts.length === 1 ? parts[0] : parts.flat();
  }

  /** The first block at which the contract has code; 0 when the node cannot answer (no archive state). */
  async #deploymentBlock(address: Address, head: bigint): Promise<bigint> {
    try {
      if (!(await this.o.chain.hasCode(address, head))) return 0n;
      let low = 0n;
      let high = head;
      while (low < high) {
        const middle = (low + high) / 2n;
        if (await this.o.chain.hasCode(address, middle)) high = middle;
        else low = middle + 1n;
      }
      return low;
    } catch (error) {
      this.o.logger.warn({ err: error, address }, "cannot find the deployment block; indexing from block 0");
      return 0n;
    }
  }
}
