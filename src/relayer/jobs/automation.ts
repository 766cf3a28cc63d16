import type { Logger } from "pino";
import { type Address, type Hex, toHex } from "viem";
import type { ChainIndexer } from "../chain/indexer.js";
import {
  CallRevertedError,
  type ChainPort,
  type ChannelsPort,
  type EscrowPort,
  type TxReceipt,
} from "../chain/ports.js";
import { inclusionOf, type TrackedTx, type TxHandler, type TxManager } from "../chain/tx-manager.js";
import type { Gate } from "../intake/gate.js";
import type { RelayerMetrics } from "../metrics.js";
import type { BatchKind, Store, WatchedChannel } from "../store/store.js";
import type { TimeSource } from "../time.js";
import type { Relays } from "./relays.js";

export interface AutomationOptions {
  escrow?: EscrowPort;
  channels?: ChannelsPort;
  chain: ChainPort;
  store: Store;
  txManager: TxManager;
  indexer: ChainIndexer;
  /** Sends the watchtower's voucher claims (the same path as claims asked for through the API). */
  relays: Relays;
  gate: Gate;
  time: TimeSource;
  metrics: RelayerMetrics;
  logger: Logger;
  /** Most escrows in one `settleExpiredBatch`. */
  expireBatchSize: number;
  maxAttempts: number;
}

/** What the watchtower does about a channel whose close was requested. */
export type ChannelAction = "claim" | "finalize" | "wait";

/** Key of a voucher whose claim was rejected by simulation (not tried again at that amount). */
export const voucherKey = (channelId: Hex, cumulativeAmount: bigint) =>
  `${channelId.toLowerCase()}:${cumulativeAmount}`;

/**
 * The watchtower's decision for a closing channel at chain time `nowSeconds`:
 *
 * - `claim` the kept voucher as soon as the close is requested, if it pays more than what is
 *   claimed (on-chain or by our own confirmed claims), fits the deposit, is not already being
 *   claimed and was not rejected by simulation. Claims stay possible until the close is
 *   finalized, so a claim always goes first;
 * - `finalize` once the challenge period has ended (`finalizeClose` needs
 *   `block.timestamp >= closesAt`) and nothing is left to claim or in flight;
 * - otherwise `wait`.
 */
export function channelAction(
  channel: WatchedChannel,
  nowSeconds: bigint,
  rejected: ReadonlySet<string> = new Set(),
): ChannelAction {
  if (channel.status !== "closing" || channel.finalizeInFlight) return "wait";
  const voucher = channel.voucher;
  if (voucher !== null) {
    if (voucher.batchId !== null) return "wait"; // a claim of ours is in flight
    let claimed = channel.claimed;
    if (voucher.claimedAmount > claimed) claimed = voucher.claimedAmount;
    const pays = voucher.cumulativeAmount > claimed && voucher.cumulativeAmount <= channel.deposit;
    if (pays && !rejected.has(voucherKey(channel.channelId, voucher.cumulativeAmount))) return "claim";
  }
  return nowSeconds >= channel.closesAt ? "finalize" : "wait";
}

/** A batch note carrying the escrow ids of a `settleExpiredBatch` (decimal, comma-separated). */
const expireNote = (ids: readonly bigint[]) => ids.join(",");
const parseExpireNote = (note: string | null) => (note ? note.split(",").map(BigInt) : []);

/** Something the simulation refused stays untried this long (the indexer corrects the store meanwhile). */
const SKIP_MS = 60_000;
/** Longest pause between rounds after consecutive failures. */
const MAX_BACKOFF_MS = 60_000;
/** Closing channels looked at per round (deciding is cheap; only those with work cost RPC calls). */
const CHANNELS_PER_ROUND = 1_000;

/**
 * The relayer acting on its own. Each round it brings the chain index up to date, then:
 *
 * 1. settles escrows whose settle time has passed (deadline, or for a disputed escrow the later
 *    of the deadline and the end of the arbiter's resolution timeout) with `settleExpiredBatch`,
 *    at most `expireBatchSize` at a time. Every id is simulated first with `settleExpired`
 *    (the batch itself skips ids silently) and dropped if it would revert;
 * 2. watches channels whose close was requested: claims the latest kept voucher through the
 *    relays job before anything else, then sends `finalizeClose` once the challenge period has
 *    ended (see `channelAction`).
 *
 * Every transaction goes through the transaction manager (nonces, fees, replacement,
 * confirmations, reorgs). A pending transaction keeps its escrows or channel out of the next
 * rounds; a confirmed one makes the indexer re-read them at once. A failed round (RPC or store
 * down) is logged and retried with exponential backoff; it never stops the service. Pausing the
 * relayer pauses the transactions, not the indexing.
 */
export class Automation {
  readonly #skipUntil = new Map<string, number>();
  readonly #rejectedClaims = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #intervalMs = 1_000;
  #failures = 0;
  #resumeAtMs = 0;
  /** When the last round ended, and how. */
  lastRound: { atMs: number; ok: boolean; error?: string } | undefined;
  /** The latest block timestamp a round acted on (the contracts' clock). */
  chainSeconds: bigint | undefined;

  constructor(private readonly o: AutomationOptions) {
    o.txManager.on("expire", this.#expireHandler, o.escrow?.address);
    o.txManager.on("finalize", this.#finalizeHandler, o.channels?.address);
  }

  start(intervalMs: number): void {
    this.#intervalMs = intervalMs;
    this.#timer = setInterval(() => {
      void this.tick();
    }, intervalMs);
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** One round (concurrent calls share it); never throws. */
  tick(): Promise<void> {
    this.#running ??= this.#round().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #round(): Promise<void> {
    const { logger, metrics, time } = this.o;
    if (this.o.gate.closing || time.nowMs() < this.#resumeAtMs) return;
    try {
      await this.o.indexer.sync();
      if (!this.o.gate.paused) {
        const now = await this.o.chain.getBlockTimestamp();
        this.chainSeconds = now;
        if (this.o.escrow) await this.#settleExpired(this.o.escrow, now);
        if (this.o.channels) await this.#watchChannels(this.o.channels, now);
      }
      if (this.#failures > 0) logger.info("automation recovered");
      this.#failures = 0;
      this.lastRound = { atMs: time.nowMs(), ok: true };
    } catch (error) {
      this.#failures++;
      const backoff = Math.min(this.#intervalMs * 2 ** Math.min(this.#failures, 16), MAX_BACKOFF_MS);
      this.#resumeAtMs = time.nowMs() + backoff;
      metrics.automationErrors.inc();
      logger.warn({ err: error, failures: this.#failures, retryInMs: backoff }, "automation round failed; backing off");
      this.lastRound = { atMs: time.nowMs(), ok: false, error: error instanceof Error ? error.message : String(error) };
    }
  }

  #skipped(key: string): boolean {
    const until = this.#skipUntil.get(key);
    if (until === undefined) return false;
    if (until > this.o.time.nowMs()) return true;
    this.#skipUntil.delete(key);
    return false;
  }

  async #settleExpired(escrow: EscrowPort, now: bigint): Promise<void> {
    const { store, chain, logger, metrics } = this.o;
    // Fetch a little more than a batch: some may be skipped after a rejected simulation.
    const due = (await store.dueEscrows(escrow.address, now, this.o.expireBatchSize * 2)).filter(
      (e) => !this.#skipped(`escrow:${e.id}`),
    );
    const candidates = due.slice(0, this.o.expireBatchSize);
    if (candidates.length === 0) return;

    const simulations = await Promise.allSettled(
      candidates.map((e) => chain.estimateGas({ to: escrow.address, data: escrow.encodeSettleExpired(e.id) })),
    );
    const ids: bigint[] = [];
    const rejected: bigint[] = [];
    simulations.forEach((result, i) => {
      const id = candidates[i].id;
      if (result.status === "fulfilled") ids.push(id);
      else if (result.reason instanceof CallRevertedError) rejected.push(id);
      else throw result.reason; // the node could not be asked: the round fails and backs off
    });
    if (rejected.length > 0) {
      for (const id of rejected) this.#skipUntil.set(`escrow:${id}`, this.o.time.nowMs() + SKIP_MS);
      metrics.automationSkipped.inc({ kind: "expire" }, rejected.length);
      logger.info({ escrowIds: rejected.map(String) }, "settleExpired would revert; escrows left out and read again");
      await this.o.indexer.refreshEscrows(rejected);
    }
    if (ids.length === 0) return;

    const data = escrow.encodeSettleExpiredBatch(ids);
    let gas: bigint;
    try {
      gas = await chain.estimateGas({ to: escrow.address, data });
    } catch (error) {
      if (!(error instanceof CallRevertedError)) throw error;
      metrics.automationSkipped.inc({ kind: "expire" }, ids.length);
      logger.warn({ escrowIds: ids.map(String), reason: error.message }, "settleExpiredBatch would revert; not sent");
      return;
    }
    const batchId = await this.#submit(
      "expire",
      escrow.address,
      ids.map((id) => toHex(id)),
      expireNote(ids),
      data,
      gas,
    );
    if (batchId !== null) logger.info({ batchId, escrowIds: ids.map(String) }, "settling expired escrows");
  }

  async #watchChannels(channels: ChannelsPort, now: bigint): Promise<void> {
    const { logger, metrics, relays } = this.o;
    for (const channel of await this.o.store.closingChannels(channels.address, CHANNELS_PER_ROUND)) {
      const channelId = channel.channelId;
      if (this.#skipped(`channel:${channelId}`)) continue;
      const action = channelAction(channel, now, this.#rejectedClaims);
      if (action === "claim" && channel.voucher !== null) {
        const voucher = channel.voucher;
        const outcome = await relays.claimVoucher(voucher);
        if (outcome === "submitted") {
          metrics.watchtowerClaims.inc();
          logger.info(
            {
              channelId,
              cumulativeAmount: voucher.cumulativeAmount.toString(),
              closesAt: channel.closesAt.toString(),
            },
            "watchtower: claiming the latest voucher of a closing channel",
          );
        } else if (outcome === "rejected") {
          this.#rejectedClaims.add(voucherKey(channelId, voucher.cumulativeAmount));
          metrics.automationSkipped.inc({ kind: "claim" });
          await this.o.indexer.refreshChannels([channelId]);
        }
      } else if (action === "finalize") {
        await this.#finalize(channels, channel);
      }
    }
  }

  async #finalize(channels: ChannelsPort, channel: WatchedChannel): Promise<void> {
    const { chain, logger, metrics } = this.o;
    const channelId = channel.channelId;
    const data = channels.encodeFinalizeClose(channelId);
    let gas: bigint;
    try {
      gas = await chain.estimateGas({ to: channels.address, data });
    } catch (error) {
      if (!(error instanceof CallRevertedError)) throw error;
      this.#skipUntil.set(`channel:${channelId}`, this.o.time.nowMs() + SKIP_MS);
      metrics.automationSkipped.inc({ kind: "finalize" });
      logger.info({ channelId, reason: error.message }, "finalizeClose would revert; channel read again");
      await this.o.indexer.refreshChannels([channelId]);
      return;
    }
    const batchId = await this.#submit("finalize", channels.address, [channelId], channelId, data, gas);
    if (batchId !== null) logger.info({ batchId, channelId }, "finalizing a channel close");
  }

  /** Records the batch and hands its transaction to the transaction manager; null if not sent. */
  async #submit(
    kind: BatchKind,
    to: Address,
    items: Hex[],
    note: string,
    data: Hex,
    gas: bigint,
  ): Promise<number | null> {
    const { store, chain, txManager, logger } = this.o;
    const { batchId, items: taken } = await store.createBatch({
      kind,
      contract: to,
      sender: chain.sender,
      items,
      note,
    });
    if (taken.length === 0) {
      await store.abandonBatch(batchId, "nothing_to_do", this.o.maxAttempts);
      return null;
    }
    try {
      const tx = await txManager.submit({ batchId, kind, to, data, gas: (gas * 120n) / 100n });
      logger.info({ batchId, kind, txHash: tx.attempts[0].hash }, `${kind} submitted`);
      return batchId;
    } catch (error) {
      logger.error({ err: error, batchId, kind }, `${kind} could not be signed or recorded`);
      await store.abandonBatch(batchId, "submit_failed", this.o.maxAttempts);
      return null;
    }
  }

  #common = {
    onAbandoned: async (batchId: number, reason: string, mayStillMine: boolean) => {
      // The batch is no longer pending: its escrows or channel are picked up again.
      await this.o.store.abandonBatch(batchId, reason, mayStillMine ? null : this.o.maxAttempts);
    },
    onReorged: async (tx: TrackedTx) => {
      await this.o.store.reopenBatch(tx.batchId);
    },
    reverted: async (tx: TrackedTx, receipt: TxReceipt) => {
      await this.o.store.confirmBatch(tx.batchId, inclusionOf(receipt), "reverted");
      this.o.logger.warn({ batchId: tx.batchId, txHash: receipt.transactionHash }, `${tx.kind} reverted`);
    },
  };

  #expireHandler: TxHandler = {
    onConfirmed: async (tx, receipt) => {
      if (receipt.status === "reverted") return this.#common.reverted(tx, receipt);
      const { escrow, store, indexer, logger, metrics } = this.o;
      const carried = parseExpireNote((await store.getBatch(tx.batchId))?.note ?? null);
      const settled = escrow?.decodeExpired(receipt.logs) ?? [];
      await indexer.refreshEscrows(carried, receipt.blockNumber);
      await store.confirmBatch(tx.batchId, inclusionOf(receipt), "confirmed");
      metrics.escrowsSettled.inc(settled.length);
      logger.info(
        {
          batchId: tx.batchId,
          txHash: receipt.transactionHash,
          escrowIds: settled.map(String),
          skipped: carried.filter((id) => !settled.includes(id)).map(String),
        },
        "expired escrows settled",
      );
    },
    onAbandoned: (batchId, reason, mayStillMine) => this.#common.onAbandoned(batchId, reason, mayStillMine),
    onReorged: (tx) => this.#common.onReorged(tx),
  };

  #finalizeHandler: TxHandler = {
    onConfirmed: async (tx, receipt) => {
      if (receipt.status === "reverted") return this.#common.reverted(tx, receipt);
      const { store, indexer, logger, metrics } = this.o;
      const channelId = (await store.getBatch(tx.batchId))?.note as Hex | undefined;
      if (channelId) await indexer.refreshChannels([channelId], receipt.blockNumber);
      await store.confirmBatch(tx.batchId, inclusionOf(receipt), "confirmed");
      metrics.channelsFinalized.inc();
      logger.info({ batchId: tx.batchId, channelId, txHash: receipt.transactionHash }, "channel close finalized");
    },
    onAbandoned: (batchId, reason, mayStillMine) => this.#common.onAbandoned(batchId, reason, mayStillMine),
    onReorged: (tx) => this.#common.onReorged(tx),
  };
}
