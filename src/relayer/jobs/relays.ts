import type { Logger } from "pino";
import type { Address, Hex } from "viem";
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
import type { ReleaseRecord, Store, VoucherRecord } from "../store/store.js";
import type { TimeSource } from "../time.js";

export interface RelaysOptions {
  escrow?: EscrowPort;
  channels?: ChannelsPort;
  chain: ChainPort;
  store: Store;
  txManager: TxManager;
  gate: Gate;
  time: TimeSource;
  metrics: RelayerMetrics;
  logger: Logger;
  claimLeaseMs: number;
  maxAttempts: number;
}

/** Voucher claims the relays job sends per round. */
const CLAIMS_PER_ROUND = 10;
/** A channel whose claim was rejected by simulation or reverted is not claimed again for this long. */
const CLAIM_BACKOFF_MS = 60_000;

/** A voucher claim's batch note: what it claims, so the result can be recorded after a restart. */
const claimNote = (channelId: Hex, cumulativeAmount: bigint) => `${channelId}:${cumulativeAmount}`;
const parseClaimNote = (note: string | null) => {
  const [channelId, amount] = (note ?? ":").split(":");
  return { channelId: channelId as Hex, cumulativeAmount: BigInt(amount || "0") };
};

/**
 * Relays what is not a payment intent, one transaction each: payers' release authorisations
 * (`releaseWithSig`) and voucher claims asked for with `claim: true`. Each is simulated first:
 * a release that would revert (nothing left to release, authorisation expired) fails with the
 * reason, or is settled if the escrow already released its total; a claim that would revert, or
 * whose transaction reverted, waits a minute before the channel is claimed again, and a closed
 * channel's claim request is dropped.
 */
export class Relays {
  readonly #owner: string;
  readonly #claimBackoff = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(private readonly o: RelaysOptions) {
    this.#owner = o.chain.sender.toLowerCase();
    o.txManager.on("release", this.#releaseHandler, o.escrow?.address);
    o.txManager.on("claim", this.#claimHandler, o.channels?.address);
  }

  start(intervalMs: number): void {
    this.#timer = setInterval(() => {
      void this.tick();
    }, intervalMs);
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  tick(): Promise<void> {
    this.#running ??= this.#round()
      .catch((error: unknown) => this.o.logger.error({ err: error }, "relay round failed"))
      .finally(() => {
        this.#running = undefined;
      });
    return this.#running;
  }

  async #round(): Promise<void> {
    if (this.o.gate.paused) return;
    const { escrow, channels, store } = this.o;
    if (escrow) {
      const releases = await store.claimReleases({
        escrow: escrow.address,
        owner: this.#owner,
        limit: 10,
        leaseMs: this.o.claimLeaseMs,
      });
      for (const release of releases) await this.#relayRelease(escrow, release);
    }
    if (channels) {
      const now = this.o.time.nowMs();
      for (const [channelId, untilMs] of this.#claimBackoff) if (untilMs <= now) this.#claimBackoff.delete(channelId);
      // Fetched past the claims waiting out a backoff, which would otherwise fill every fetch
      // and keep the claims asked for after them from ever being sent.
      const vouchers = await store.claimableVouchers(channels.address, CLAIMS_PER_ROUND + this.#claimBackoff.size);
      let sent = 0;
      for (const voucher of vouchers) {
        if (sent >= CLAIMS_PER_ROUND) break;
        if (this.#backedOff(voucher.channelId)) continue;
        await this.claimVoucher(voucher);
        sent++;
      }
    }
  }

  async #relayRelease(escrow: EscrowPort, release: ReleaseRecord): Promise<void> {
    const { store, logger } = this.o;
    const digest = release.digest;
    if (release.deadline <= this.o.time.seconds()) {
      await this.#endUnsent(escrow, release, "expired");
      return;
    }
    const data = escrow.encodeReleaseWithSig(release, release.signature);
    let gas: bigint;
    try {
      gas = await this.o.chain.estimateGas({ to: escrow.address, data });
    } catch (error) {
      if (error instanceof CallRevertedError) {
        await this.#endUnsent(escrow, release, `simulation_reverted: ${error.message}`);
      } else {
        // The node could not be asked: the claim's lease runs out and the release is retried.
        logger.warn({ err: error, releaseDigest: digest }, "release simulation failed; will retry");
      }
      return;
    }
    const { batchId, items } = await store.createBatch({
      kind: "release",
      contract: escrow.address,
      sender: this.o.chain.sender,
      items: [digest],
    });
    if (items.length === 0) {
      await store.abandonBatch(batchId, "claims_lost", this.o.maxAttempts);
      return;
    }
    await this.#send(batchId, "release", escrow.address, data, gas);
  }

  /**
   * Claims a kept voucher now, one transaction (also the watchtower's claim for a channel being
   * closed). `submitted`: the claim is on its way (or another one of this voucher already is);
   * `rejected`: its simulation reverts (already claimed, above the deposit, channel closed), so
   * it was not sent; `retry`: the node could not be asked or the transaction not be recorded.
   */
  async claimVoucher(voucher: VoucherRecord): Promise<"submitted" | "rejected" | "retry"> {
    const { store, logger, channels } = this.o;
    if (channels === undefined) return "rejected";
    if (this.#backedOff(voucher.channelId)) return "retry";
    const data = channels.encodeClaim(voucher, voucher.signature);
    let gas: bigint;
    try {
      gas = await this.o.chain.estimateGas({ to: channels.address, data });
    } catch (error) {
      this.#backOff(voucher.channelId);
      if (error instanceof CallRevertedError) {
        const channel = await channels.getChannel(voucher.channelId);
        // A closed channel pays no claim again: stop asking. An open one may (a top-up, say).
        if (channel === null || !channel.open) await store.dropClaimRequest(channels.address, voucher.channelId);
        else await store.markVoucherClaimed(channels.address, voucher.channelId, channel.claimed, null);
        logger.info({ channelId: voucher.channelId, reason: error.message }, "voucher claim would revert; not sent");
        return "rejected";
      }
      logger.warn({ err: error, channelId: voucher.channelId }, "claim simulation failed; will retry");
      return "retry";
    }
    const { batchId, items } = await store.createBatch({
      kind: "claim",
      contract: channels.address,
      sender: this.o.chain.sender,
      items: [voucher.channelId],
      note: claimNote(voucher.channelId, voucher.cumulativeAmount),
    });
    if (items.length === 0) {
      // Another claim of this voucher is in flight.
      await store.abandonBatch(batchId, "claims_lost", this.o.maxAttempts);
      return "submitted";
    }
    return (await this.#send(batchId, "claim", channels.address, data, gas)) ? "submitted" : "retry";
  }

  /**
   * Ends a release that will not be sent. Settled if the escrow has already released at least
   * its total (the payer released directly, or a release of a higher total went first): what it
   * authorised has been paid, by a transaction other than the relayer's (no hash recorded).
   * Failed with `reason` otherwise. Only while this instance still holds the release's claim.
   */
  async #endUnsent(escrow: EscrowPort, release: ReleaseRecord, reason: string): Promise<void> {
    const { store, logger } = this.o;
    const digest = release.digest;
    let released: bigint;
    try {
      released = (await escrow.getEscrow(release.id))?.released ?? 0n;
    } catch (error) {
      // The claim's lease runs out and the release is looked at again.
      logger.warn({ err: error, releaseDigest: digest }, "escrow read failed; will retry");
      return;
    }
    const paid = released >= release.releasedTotal;
    const outcome = paid ? { status: "settled" as const } : { status: "failed" as const, reason };
    if (!(await store.setReleaseOutcome(digest, outcome, this.#owner))) return;
    logger.info(
      { releaseDigest: digest, ...(paid ? { released: released.toString() } : { reason }) },
      paid ? "release already paid by another transaction; settled" : "release not sent; failed",
    );
  }

  /** Whether a claim of the channel waits out a backoff (after a rejected simulation or a reverted claim). */
  #backedOff(channelId: Hex): boolean {
    return (this.#claimBackoff.get(channelId.toLowerCase()) ?? 0) > this.o.time.nowMs();
  }

  #backOff(channelId: Hex): void {
    this.#claimBackoff.set(channelId.toLowerCase(), this.o.time.nowMs() + CLAIM_BACKOFF_MS);
  }

  /** Returns whether the transaction is on its way (signed and recorded). */
  async #send(batchId: number, kind: "release" | "claim", to: Address, data: Hex, gas: bigint): Promise<boolean> {
    try {
      const tx = await this.o.txManager.submit({ batchId, kind, to, data, gas: (gas * 120n) / 100n });
      this.o.logger.info({ batchId, kind, txHash: tx.attempts[0].hash }, `${kind} submitted`);
      return true;
    } catch (error) {
      this.o.logger.error({ err: error, batchId }, `${kind} could not be signed or recorded`);
      await this.o.store.abandonBatch(batchId, "submit_failed", this.o.maxAttempts);
      return false;
    }
  }

  /** Shared by both kinds: a revert queues the item again, a lost nonce too, a reorg reopens. */
  #common = {
    onAbandoned: async (batchId: number, reason: string, mayStillMine: boolean) => {
      await this.o.store.abandonBatch(batchId, reason, mayStillMine ? null : this.o.maxAttempts);
    },
    onReorged: async (tx: TrackedTx) => {
      await this.o.store.reopenBatch(tx.batchId);
    },
    reverted: async (tx: TrackedTx, receipt: TxReceipt) => {
      await this.o.store.abandonBatch(tx.batchId, "reverted", this.o.maxAttempts);
      await this.o.store.confirmBatch(tx.batchId, inclusionOf(receipt), "reverted");
      this.o.logger.warn({ batchId: tx.batchId, txHash: receipt.transactionHash }, `${tx.kind} reverted`);
    },
  };

  #releaseHandler: TxHandler = {
    onConfirmed: async (tx, receipt) => {
      if (receipt.status === "reverted") return this.#common.reverted(tx, receipt);
      const [release] = await this.o.store.submittedReleases(tx.batchId);
      if (release) {
        await this.o.store.setReleaseOutcome(release, { status: "settled", inclusion: inclusionOf(receipt) });
      }
      await this.o.store.confirmBatch(tx.batchId, inclusionOf(receipt), "confirmed");
      this.o.logger.info(
        { batchId: tx.batchId, releaseDigest: release, txHash: receipt.transactionHash },
        "release relayed",
      );
    },
    onAbandoned: (batchId, reason, mayStillMine) => this.#common.onAbandoned(batchId, reason, mayStillMine),
    onReorged: (tx) => this.#common.onReorged(tx),
  };

  #claimHandler: TxHandler = {
    onConfirmed: async (tx, receipt) => {
      const batch = await this.o.store.getBatch(tx.batchId);
      const { channelId, cumulativeAmount } = parseClaimNote(batch?.note ?? null);
      if (receipt.status === "reverted") {
        // Its simulation passed, yet it reverted: sent again at once it would likely revert
        // again, at the relayer's cost, round after round.
        this.#backOff(channelId);
        return this.#common.reverted(tx, receipt);
      }
      if (this.o.channels) {
        await this.o.store.markVoucherClaimed(this.o.channels.address, channelId, cumulativeAmount, tx.batchId);
      }
      await this.o.store.confirmBatch(tx.batchId, inclusionOf(receipt), "confirmed");
      this.o.logger.info(
        {
          batchId: tx.batchId,
          channelId,
          cumulativeAmount: cumulativeAmount.toString(),
          txHash: receipt.transactionHash,
        },
        "voucher claimed",
      );
    },
    onAbandoned: (batchId, reason, mayStillMine) => this.#common.onAbandoned(batchId, reason, mayStillMine),
    onReorged: (tx) => this.#common.onReorged(tx),
  };
}
