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
import { inclusionOf, type TrackedTx, type TxHandler, type TxManager, withinCap } from "../chain/tx-manager.js";
import { messageOf, oneError } from "../errors.js";
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

/** Key of a voucher whose claim was rejected by simulation (not tried again at that amount for a while). */
export const voucherKey = (channelId: Hex, cumulativeAmount: bigint) =>
  `${channelId.toLowerCase()}:${cumulativeAmount}`;

/**
 * The watchtower's decision for a closing channel at chain time `nowSeconds`:
 *
 * - `claim` the kept voucher as soon as the close is requested, if it pays more than what is
 *   claimed (on-chain or by our own confirmed claims), fits the deposit, is not already being
 *   claimed and was not rejected by simulation lately (`rejected` has its key). Claims stay
 *   possible until the close is finalized, so a claim always goes first;
 * - `finalize` once the challenge period has ended (`finalizeClose` needs
 *   `block.timestamp >= closesAt`) and nothing is left to claim or in flight;
 * - otherwise `wait`.
 */
export function channelAction(
  channel: WatchedChannel,
  nowSeconds: bigint,
  rejected: Pick<ReadonlySet<string>, "has"> = new Set(),
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

/**
 * Something the simulation refused, or whose transaction reverted, stays untried this long (the
 * indexer corrects the store meanwhile); then it is simulated again, in case the refusal was a
 * passing fault of the node.
 */
const SKIP_MS = 60_000;
/**
 * Most gas one escrow's own `settleExpired` may be estimated at to go into a batch: ten times
 * what one normally needs (about 50,000, see gas/Escrow.json), room for any ordinary token.
 * The payout tries the transfer with all the gas left, so a token that burns what it is given
 * makes the estimate huge (1.6 million and more) and would swell every batch it is in: such an
 * escrow is left out like one whose simulation reverts.
 */
const MAX_SETTLE_EXPIRED_GAS = 500_000n;
/** A transaction's gas limit is its estimate plus this margin (percent of the estimate). */
const GAS_MARGIN_PERCENT = 120n;
/** Longest pause between rounds after consecutive failures. */
const MAX_BACKOFF_MS = 60_000;
/** Closing channels looked at per round (deciding is cheap; only those with work cost RPC calls). */
const CHANNELS_PER_ROUND = 1_000;

/**
 * The relayer acting on its own. Each round it brings the chain index up to date, then:
 *
 * 1. watches channels whose close was requested: claims the latest kept voucher through the
 *    relays job, for every such channel before any `finalizeClose` (sent once the challenge
 *    period has ended, see `channelAction`). It goes first because a claim is time-critical:
 *    once the close is finalized, the payee has lost what the voucher was worth;
 * 2. settles escrows whose settle time has passed (deadline, or for a disputed escrow the later
 *    of the deadline and the end of the arbiter's resolution timeout) with `settleExpiredBatch`,
 *    at most `expireBatchSize` at a time, within the gas one transaction may use. Every id is
 *    simulated first with `settleExpired` (the batch itself skips ids silently) and left out for
 *    a while if it would revert or needs too much gas (`MAX_SETTLE_EXPIRED_GAS`), as are the ids
 *    of a batch whose transaction reverted.
 *
 * Every transaction goes through the transaction manager (nonces, fees, replacement,
 * confirmations, reorgs). A pending transaction keeps its escrows or channel out of the next
 * rounds; a confirmed one makes the indexer re-read them at once. A part that fails (RPC or store
 * down) does not keep the other part, or the watchtower's other channels, from running; the
 * round still counts as failed (`lastRound`, `automationErrors`) and the next one waits with
 * exponential backoff, since the node or the store is likely down. It never stops the service.
 * Pausing the relayer pauses the transactions, not the indexing.
 */
export class Automation {
  /** Escrows (`escrow:<id>`) and channels (`channel:<id>`) left out, until when (ms); pruned each round. */
  readonly #skipUntil = new Map<string, number>();
  /** Vouchers whose claim was rejected (`voucherKey`), until when (ms) they are not tried; pruned each round. */
  readonly #rejectedClaims = new Map<string, number>();
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
    const errors: unknown[] = [];
    try {
      this.#prune();
      // A contract whose index could not be brought up to date (its logs failing, say) keeps
      // neither part from acting on what is indexed: the watchtower must not miss a challenge
      // period because of the escrows' logs. Acting on a stale row is safe: every transaction
      // is simulated first. The round still counts as failed.
      await this.o.indexer.sync().catch((e: unknown) => errors.push(e));
      if (!this.o.gate.paused) {
        const now = await this.o.chain.getBlockTimestamp();
        this.chainSeconds = now;
        // The watchtower first; neither part's failure keeps the other from running.
        if (this.o.channels) await this.#watchChannels(this.o.channels, now).catch((e: unknown) => errors.push(e));
        if (this.o.escrow) await this.#settleExpired(this.o.escrow, now).catch((e: unknown) => errors.push(e));
      }
    } catch (error) {
      errors.push(error);
    }
    if (errors.length === 0) {
      if (this.#failures > 0) logger.info("automation recovered");
      this.#failures = 0;
      this.lastRound = { atMs: time.nowMs(), ok: true };
    } else {
      const error = oneError(errors);
      this.#failures++;
      const backoff = Math.min(this.#intervalMs * 2 ** Math.min(this.#failures, 16), MAX_BACKOFF_MS);
      this.#resumeAtMs = time.nowMs() + backoff;
      metrics.automationErrors.inc();
      logger.warn({ err: error, failures: this.#failures, retryInMs: backoff }, "automation round failed; backing off");
      this.lastRound = { atMs: time.nowMs(), ok: false, error: messageOf(error) };
    }
  }

  /** Forgets what is left out no longer, so neither map holds more than what one `SKIP_MS` added. */
  #prune(): void {
    const nowMs = this.o.time.nowMs();
    for (const map of [this.#skipUntil, this.#rejectedClaims]) {
      for (const [key, untilMs] of map) if (untilMs <= nowMs) map.delete(key);
    }
  }

  #skipped(key: string): boolean {
    return (this.#skipUntil.get(key) ?? 0) > this.o.time.nowMs();
  }

  #leaveOutEscrows(ids: readonly bigint[]): void {
    const until = this.o.time.nowMs() + SKIP_MS;
    for (const id of ids) this.#skipUntil.set(`escrow:${id}`, until);
  }

  async #settleExpired(escrow: EscrowPort, now: bigint): Promise<void> {
    const { store, chain, txManager, logger, metrics } = this.o;
    // Fetch past the escrows left out: being due soonest, they would otherwise fill every fetch
    // and keep the escrows behind them from being settled.
    let leftOut = 0;
    for (const key of this.#skipUntil.keys()) if (key.startsWith("escrow:")) leftOut++;
    const due = (await store.dueEscrows(escrow.address, now, this.o.expireBatchSize + leftOut)).filter(
      (e) => !this.#skipped(`escrow:${e.id}`),
    );
    const candidates = due.slice(0, this.o.expireBatchSize);
    if (candidates.length === 0) return;

    const simulations = await Promise.allSettled(
      candidates.map((e) => chain.estimateGas({ to: escrow.address, data: escrow.encodeSettleExpired(e.id) })),
    );
    // Within what a transaction may have with its margin: an escrow alone always fits one.
    const ceiling = withinCap(MAX_SETTLE_EXPIRED_GAS, (txManager.txGasCap * 100n) / GAS_MARGIN_PERCENT);
    const passed: { id: bigint; gas: bigint }[] = [];
    const rejected: bigint[] = [];
    const heavy: bigint[] = [];
    simulations.forEach((result, i) => {
      const id = candidates[i].id;
      if (result.status === "fulfilled") {
        if (result.value > ceiling) heavy.push(id);
        else passed.push({ id, gas: result.value });
      } else if (result.reason instanceof CallRevertedError) rejected.push(id);
      else throw result.reason; // the node could not be asked: the round fails and backs off
    });
    if (rejected.length > 0) {
      this.#leaveOutEscrows(rejected);
      metrics.automationSkipped.inc({ kind: "expire" }, rejected.length);
      logger.info({ escrowIds: rejected.map(String) }, "settleExpired would revert; escrows left out and read again");
      await this.o.indexer.refreshEscrows(rejected);
    }
    if (heavy.length > 0) {
      this.#leaveOutEscrows(heavy);
      metrics.automationSkipped.inc({ kind: "expire" }, heavy.length);
      logger.warn(
        { escrowIds: heavy.map(String), ceiling: ceiling.toString() },
        "settleExpired needs more gas than an escrow should (a token that burns it?); escrows left out",
      );
    }
    if (passed.length === 0) return;

    // The escrows' own estimates add up to more than the batch needs (each counts a transaction's
    // base cost, and the batch warms what they share): packing by them keeps the batch within the
    // gas one transaction may have, which `TxManager.submit` would otherwise lower it to.
    const budget = ((await txManager.affordableGas()) * 100n) / GAS_MARGIN_PERCENT;
    const ids = [passed[0].id];
    let total = passed[0].gas;
    for (const { id, gas } of passed.slice(1)) {
      if (total + gas > budget) break;
      total += gas;
      ids.push(id);
    }
    const data = escrow.encodeSettleExpiredBatch(ids);
    let gas: bigint | undefined;
    let reason = "needs more gas than it may have";
    try {
      gas = await chain.estimateGas({ to: escrow.address, data });
    } catch (error) {
      if (!(error instanceof CallRevertedError)) throw error;
      reason = error.message;
    }
    if (gas !== undefined && gas <= budget) {
      const batchId = await this.#submit(
        "expire",
        escrow.address,
        ids.map((id) => toHex(id)),
        expireNote(ids),
        data,
        gas,
      );
      if (batchId !== null) logger.info({ batchId, escrowIds: ids.map(String) }, "settling expired escrows");
      return;
    }
    // The first escrow, whose own simulation passed, goes alone: expiry moves on every round.
    const first = passed[0];
    if (ids.length > 1) metrics.automationSkipped.inc({ kind: "expire" }, ids.length - 1);
    logger.warn(
      { escrowIds: ids.map(String), reason },
      "settleExpiredBatch would fail; the first escrow goes alone, the others next round",
    );
    const batchId = await this.#submit(
      "expire",
      escrow.address,
      [toHex(first.id)],
      expireNote([first.id]),
      escrow.encodeSettleExpired(first.id),
      first.gas,
    );
    if (batchId !== null) logger.info({ batchId, escrowIds: [first.id.toString()] }, "settling an expired escrow");
  }

  async #watchChannels(channels: ChannelsPort, now: bigint): Promise<void> {
    const { logger } = this.o;
    const actions = (await this.o.store.closingChannels(channels.address, CHANNELS_PER_ROUND))
      .filter((channel) => !this.#skipped(`channel:${channel.channelId}`))
      .map((channel) => ({ channel, action: channelAction(channel, now, this.#rejectedClaims) }));
    // Every claim before any finalize: a claim lands too late once the close is finalized, a
    // finalize only waits. A channel that fails is logged; the others still go.
    const errors: unknown[] = [];
    for (const kind of ["claim", "finalize"] as const) {
      for (const { channel, action } of actions) {
        if (action !== kind) continue;
        try {
          if (kind === "claim") await this.#claim(channel);
          else await this.#finalize(channels, channel);
        } catch (error) {
          errors.push(error);
          logger.warn({ err: error, channelId: channel.channelId }, `watchtower: ${kind} failed`);
        }
      }
    }
    if (errors.length > 0) throw oneError(errors);
  }

  async #claim(channel: WatchedChannel): Promise<void> {
    const { logger, metrics } = this.o;
    const { channelId, voucher } = channel;
    if (voucher === null) return;
    const outcome = await this.o.relays.claimVoucher(voucher);
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
      this.#rejectedClaims.set(voucherKey(channelId, voucher.cumulativeAmount), this.o.time.nowMs() + SKIP_MS);
      metrics.automationSkipped.inc({ kind: "claim" });
      await this.o.indexer.refreshChannels([channelId]);
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
    if (taken.length < items.length) {
      // Another instance's pending batch took some since they were chosen: the calldata would
      // carry those too (paid for, then skipped by the contract). Given back; the next round
      // chooses again without them.
      await store.abandonBatch(batchId, "nothing_to_do", this.o.maxAttempts);
      if (taken.length > 0)
        logger.info(
          { kind, items: items.length, taken: taken.length },
          `${kind} items taken meanwhile; chosen again next round`,
        );
      return null;
    }
    try {
      const tx = await txManager.submit({ batchId, kind, to, data, gas: (gas * GAS_MARGIN_PERCENT) / 100n });
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
      const { escrow, store, indexer, logger, metrics } = this.o;
      const carried = parseExpireNote((await store.getBatch(tx.batchId))?.note ?? null);
      if (receipt.status === "reverted") {
        // Sent again at once, they would likely revert again, round after round.
        this.#leaveOutEscrows(carried);
        metrics.automationSkipped.inc({ kind: "expire" }, carried.length);
        return this.#common.reverted(tx, receipt);
      }
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
      const { store, indexer, logger, metrics } = this.o;
      const channelId = (await store.getBatch(tx.batchId))?.note as Hex | undefined;
      if (receipt.status === "reverted") {
        // As for expiry: sent again at once, it would likely revert again, round after round.
        if (channelId) this.#skipUntil.set(`channel:${channelId}`, this.o.time.nowMs() + SKIP_MS);
        metrics.automationSkipped.inc({ kind: "finalize" });
        return this.#common.reverted(tx, receipt);
      }
      if (channelId) await indexer.refreshChannels([channelId], receipt.blockNumber);
      await store.confirmBatch(tx.batchId, inclusionOf(receipt), "confirmed");
      metrics.channelsFinalized.inc();
      logger.info({ batchId: tx.batchId, channelId, txHash: receipt.transactionHash }, "channel close finalized");
    },
    onAbandoned: (batchId, reason, mayStillMine) => this.#common.onAbandoned(batchId, reason, mayStillMine),
    onReorged: (tx) => this.#common.onReorged(tx),
  };
}
