import type { Logger } from "pino";
import { type Address, type Hex, parseTransaction } from "viem";
import type { RelayerMetrics } from "../metrics.js";
import type { BatchKind, BatchRecord, Store } from "../store/store.js";
import type { TimeSource } from "../time.js";
import { bumpedFees, type Fees, initialFees } from "./fees.js";
import { type ChainHead, type ChainPort, NodeUnreachableError, type TxReceipt } from "./ports.js";

export interface TxManagerOptions {
  chain: ChainPort;
  store: Store;
  metrics: RelayerMetrics;
  logger: Logger;
  time: TimeSource;
  /** Fee cap (wei per gas) no transaction exceeds. */
  maxFeePerGas: bigint;
  /**
   * Most one transaction may cost at its fee cap, gas limit × max fee per gas, in wei (0 or
   * unset: no limit). A geth node refuses a transaction over its `--rpc.txfeecap` (1 ether by
   * default) for good; a larger transaction gets a lower fee cap per gas instead.
   */
  maxTxFee?: bigint;
  /**
   * Largest gas limit of one transaction (default EIP-7825's 2^24): a node of a chain with that
   * cap refuses any transaction over it, for good. A larger limit asked for is lowered to it, or
   * to what the chain's blocks can hold when that is less (see `txGasCap`).
   */
  txGasCap?: bigint;
  feeBumpPercent: number;
  stuckAfterMs: number;
  confirmations: number;
  reorgWindow: number;
  /** A nonce gap older than this is filled with a zero-value transaction to self. */
  gapHealAfterMs?: number;
  /** Attempts of one item before an abandoned batch fails it instead of queueing it again. */
  maxAttempts?: number;
  /**
   * A pending batch of another sending key unseen this long (default 5 minutes) is adopted:
   * its results applied if its transaction was mined, its items queued again once the node no
   * longer has the transaction.
   */
  orphanAfterMs?: number;
}

const DEFAULT_ORPHAN_AFTER_MS = 5 * 60_000;

/** EIP-7825 (Osaka): no transaction may have a gas limit over 2^24. */
export const EIP7825_TX_GAS_CAP = 16_777_216n;

/**
 * Largest transaction nodes take into their pool: geth's refuses a signed transaction over 4
 * slots of 32 KiB for good ("oversized data"), and reth's one whose input alone is over that.
 */
export const TX_MAX_BYTES = 128 * 1024;

/** How often the latest block's gas limit is read again. */
const BLOCK_GAS_LIMIT_REFRESH_MS = 60_000;
/** How often the key's pending batches are checked for ones nothing follows (see `#sweepUntracked`). */
const UNTRACKED_SWEEP_MS = 60_000;

/** A gas limit lowered to `cap` when over it. */
export const withinCap = (gas: bigint, cap: bigint): bigint => (gas > cap ? cap : gas);

interface Attempt extends Fees {
  hash: Hex;
  raw: Hex;
  sentAtMs: number;
}

/** A transaction of one batch, possibly replaced (every replacement shares its nonce). */
export interface TrackedTx {
  batchId: number;
  kind: BatchKind;
  to: Address;
  data: Hex;
  value: bigint;
  gas: bigint;
  nonce: number;
  attempts: Attempt[];
  /** The receipt once mined (cleared when its block leaves the canonical chain). */
  receipt?: TxReceipt;
}

/** What a job does when its transaction is final, gone, or un-mined by a reorg. */
export interface TxHandler {
  /** The transaction has `confirmations` blocks; `receipt.status` tells success from revert. */
  onConfirmed(tx: TrackedTx, receipt: TxReceipt): Promise<void>;
  /**
   * The batch is given up: its nonce went to another transaction, or it was never sent; or, when
   * `mayStillMine`, its key went quiet and the node no longer has its transaction, which another
   * node may still hold and mine. Its items go back to the queue, and those at the attempt limit
   * fail, unless `mayStillMine`: a transaction may yet pay them, and failing them would report
   * them unpaid.
   */
  onAbandoned(batchId: number, reason: string, mayStillMine: boolean): Promise<void>;
  /** A reorg removed the block of a confirmed transaction; it is tracked again. */
  onReorged(tx: TrackedTx): Promise<void>;
}

interface Watched {
  tx: TrackedTx;
  blockNumber: bigint;
  blockHash: Hex;
  /** Another key's batch, adopted: undone by a reorg, it is left to adoption, never sent by this key. */
  adopted: boolean;
}

/** Where a receipt's transaction was included. */
export const inclusionOf = (receipt: TxReceipt) => ({
  txHash: receipt.transactionHash,
  blockNumber: receipt.blockNumber,
  blockHash: receipt.blockHash,
});

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error)).toLowerCase();
const isNonceTooLow = (error: unknown) =>
  /nonce too low|nonce is too low|nonce has already been used/.test(errorText(error));
const isAlreadyKnown = (error: unknown) => /already known|already imported|known transaction/.test(errorText(error));

/**
 * Sends and follows the relayer's transactions for one key.
 *
 * - **Nonces**: allocated locally from the chain's pending count at start; a nonce whose
 *   transaction could not be signed or recorded is reused by the next transaction; a gap that
 *   persists anyway (a nonce below ours that nothing of ours holds) is filled with a
 *   zero-value transaction to self.
 * - **Fees**: EIP-1559 from the node's base fee and tip, never above the configured cap.
 * - **Stuck**: a transaction unmined after `stuckAfterMs` is replaced (same nonce and data,
 *   fees raised by `feeBumpPercent`); one the node no longer knows (dropped) is rebroadcast.
 * - **Finality**: results are handed to the job only at `confirmations` blocks; for
 *   `reorgWindow` blocks after that, the block hash is re-checked whenever the head changes,
 *   and a transaction whose block left the canonical chain goes back to being tracked
 *   (`onReorged`).
 * - **Crash safety**: every signed transaction is recorded in the store before it is
 *   broadcast; `start()` resumes tracking whatever a previous run left in flight.
 */
export class TxManager {
  readonly sender: Address;
  readonly #tracked = new Map<number, TrackedTx>();
  readonly #watched = new Map<number, Watched>();
  /** Each kind's job, and the contract it calls (what an adopted batch of that kind must call). */
  readonly #handlers = new Map<BatchKind, { handler: TxHandler; contract?: Address }>();
  readonly #freeNonces: number[] = [];
  /** Transactions whose rebroadcast the node refused: how many times in a row, and when to try again. */
  readonly #refusals = new WeakMap<TrackedTx, { count: number; retryAtMs: number }>();
  /** Batches whose nonce looked taken by another transaction at the previous tick. */
  readonly #suspectTaken = new Set<number>();
  /**
   * The head whose hash was read before every watched block was last found canonical; unset
   * when a block is watched that was not part of that check.
   */
  #reorgCheckedAt: Hex | undefined;
  #head = 0n;
  #nextNonce = 0;
  #gapSinceMs: number | undefined;
  #lastHeartbeatMs = Number.NEGATIVE_INFINITY;
  #lastSweepMs = Number.NEGATIVE_INFINITY;
  /** Pending batches of this key that nothing followed at the previous sweep. */
  #untracked = new Set<number>();
  #lastAdoptionMs = Number.NEGATIVE_INFINITY;
  /** The latest block's gas limit when last read (at start, then every minute). */
  #blockGasLimit: bigint | undefined;
  #blockGasLimitReadAtMs = Number.NEGATIVE_INFINITY;
  #ticking: Promise<void> | undefined;

  constructor(private readonly o: TxManagerOptions) {
    this.sender = o.chain.sender;
  }

  /**
   * Routes the results of `kind` batches to `handler`. With `contract`, the contract this
   * instance's job for `kind` calls: pending batches of that kind and contract left by a key
   * gone quiet are adopted; without it, none of that kind are.
   */
  on(kind: BatchKind, handler: TxHandler, contract?: Address): void {
    this.#handlers.set(kind, { handler, contract });
  }

  /**
   * The largest gas limit this manager gives a transaction: the configured cap, or less on a
   * chain whose blocks hold less. A block's gas limit may fall by 1/1024 from its parent's, so
   * the limit kept is the lowest the next block can have: a transaction at the latest block's
   * own limit could fit no later block, and the node would keep it (or refuse it) for good.
   */
  get txGasCap(): bigint {
    const configured = this.o.txGasCap ?? EIP7825_TX_GAS_CAP;
    if (this.#blockGasLimit === undefined) return configured;
    return withinCap(this.#blockGasLimit - this.#blockGasLimit / 1024n, configured);
  }

  /**
   * The fee cap per gas of a transaction of `gas`: the configured one, or less when that would
   * let the transaction cost more than `maxTxFee`. Under the base fee, it waits for the base
   * fee to come down, as a transaction at the configured cap does.
   */
  #feeCap(gas: bigint): bigint {
    const perGas = this.o.maxTxFee ? this.o.maxTxFee / gas : undefined;
    return perGas !== undefined && perGas < this.o.maxFeePerGas ? perGas : this.o.maxFeePerGas;
  }

  /**
   * The largest gas limit a new transaction can have and still offer the fee cap per gas that
   * the node's fees call for now (twice the base fee plus the tip, within `maxFeePerGas`)
   * without costing more than `maxTxFee` at it; the transaction gas cap when that allows more.
   * A batch sized to it is not priced under what the chain asks (see `#feeCap`).
   */
  async affordableGas(): Promise<bigint> {
    const cap = this.txGasCap;
    if (!this.o.maxTxFee) return cap;
    const { maxFeePerGas } = initialFees(await this.o.chain.estimateFees(), this.o.maxFeePerGas);
    return maxFeePerGas === 0n ? cap : withinCap(this.o.maxTxFee / maxFeePerGas, cap);
  }

  /**
   * The highest block number the node has reported (at start and at each tick): a read sent to
   * the node afterwards reflects at least this block.
   */
  get head(): bigint {
    return this.#head;
  }

  /** The blocks a transaction needs (its own included) before its results are taken as final. */
  get confirmations(): number {
    return this.o.confirmations;
  }

  /** Transactions sent and not yet confirmed. */
  get inflight(): number {
    return this.#tracked.size;
  }

  /**
   * In-flight transactions the node no longer has and refused to take back at the latest try
   * (a key out of funds, say).
   */
  get refused(): number {
    let count = 0;
    for (const tx of this.#tracked.values()) if (this.#refusals.has(tx)) count++;
    return count;
  }

  /** Resumes after a restart: nonce from the chain, in-flight batches and the reorg watch from the store. */
  async start(): Promise<void> {
    this.#nextNonce = await this.o.chain.getTransactionCount("pending");
    const now = this.o.time.nowMs();
    await this.#readBlockGasLimit(now);
    for (const batch of await this.o.store.pendingBatches(this.sender)) {
      if (batch.attempts.length === 0 || batch.nonce === null) {
        await this.#abandon(batch.id, batch.kind, "never_sent");
        continue;
      }
      const tx = this.#fromRecord(batch, now);
      this.#tracked.set(batch.id, tx);
      this.#nextNonce = Math.max(this.#nextNonce, tx.nonce + 1);
    }
    const head = await this.o.chain.getBlockNumber();
    this.#head = head;
    const from = head > BigInt(this.o.reorgWindow) ? head - BigInt(this.o.reorgWindow) : 0n;
    for (const batch of await this.o.store.confirmedBatchesSince(this.sender, from)) {
      if (batch.status !== "confirmed" || batch.blockNumber === null || batch.blockHash === null) continue;
      this.#watched.set(batch.id, {
        tx: this.#fromRecord(batch, now),
        blockNumber: batch.blockNumber,
        blockHash: batch.blockHash,
        adopted: batch.sender.toLowerCase() !== this.sender.toLowerCase(),
      });
    }
    this.o.metrics.inflight.set(this.#tracked.size);
    this.o.logger.info(
      {
        sender: this.sender,
        nextNonce: this.#nextNonce,
        resumed: this.#tracked.size,
        watched: this.#watched.size,
        txGasCap: this.txGasCap.toString(),
      },
      "transaction manager started",
    );
  }

  /** Reads the latest block's gas limit, and says so when it lowers or raises the cap in force. */
  async #readBlockGasLimit(now: number): Promise<void> {
    const before = this.txGasCap;
    this.#blockGasLimit = await this.o.chain.getBlockGasLimit();
    this.#blockGasLimitReadAtMs = now;
    const cap = this.txGasCap;
    const configured = this.o.txGasCap ?? EIP7825_TX_GAS_CAP;
    if (cap !== before) {
      this.o.logger.warn(
        { blockGasLimit: this.#blockGasLimit.toString(), txGasCap: configured.toString(), limit: cap.toString() },
        cap < configured
          ? "the chain's blocks hold less gas than the transaction gas cap: transactions are limited to what they hold"
          : "transactions are limited to the transaction gas cap again",
      );
    }
  }

  /**
   * Signs, records and broadcasts a batch's transaction. Returns once it is recorded (the
   * broadcast may fail; `tick` rebroadcasts). Throws if it could not even be signed or recorded,
   * in which case nothing was sent and the nonce is reused.
   */
  async submit(args: {
    batchId: number;
    kind: BatchKind;
    to: Address;
    data: Hex;
    value?: bigint;
    gas: bigint;
  }): Promise<TrackedTx> {
    const gas = withinCap(args.gas, this.txGasCap);
    const fees = initialFees(await this.o.chain.estimateFees(), this.#feeCap(gas));
    let nonce = this.#allocateNonce();
    const tx: TrackedTx = { ...args, gas, value: args.value ?? 0n, nonce, attempts: [] };
    for (let round = 0; ; round++) {
      let attempt: Attempt;
      try {
        attempt = await this.#sign(tx, fees);
        await this.o.store.recordAttempt(
          { ...attempt, batchId: tx.batchId, nonce: tx.nonce, gasLimit: tx.gas },
          this.sender,
        );
      } catch (error) {
        this.#freeNonce(nonce);
        throw error;
      }
      tx.attempts.push(attempt);
      this.#tracked.set(tx.batchId, tx);
      this.o.metrics.inflight.set(this.#tracked.size);
      try {
        await this.o.chain.sendRawTransaction(attempt.raw);
        this.o.metrics.transactions.inc({ event: "sent" });
        this.o.logger.info(
          {
            batchId: tx.batchId,
            kind: tx.kind,
            txHash: attempt.hash,
            nonce,
            maxFeePerGas: fees.maxFeePerGas.toString(),
          },
          "transaction sent",
        );
        return tx;
      } catch (error) {
        if (isAlreadyKnown(error)) return tx;
        if (isNonceTooLow(error) && round < 3) {
          // Something else used this nonce: take a fresh one from the chain and sign again.
          // Untracked meanwhile: a tick must not follow a transaction without an attempt, nor
          // keep one should signing or recording fail now (the batch is then abandoned).
          this.#tracked.delete(tx.batchId);
          this.o.metrics.inflight.set(this.#tracked.size);
          tx.attempts.pop();
          await this.o.store.markAttemptRejected(attempt.hash);
          this.#nextNonce = Math.max(this.#nextNonce, await this.o.chain.getTransactionCount("pending"));
          nonce = this.#allocateNonce();
          tx.nonce = nonce;
          continue;
        }
        // Recorded but maybe not broadcast (node down, ...): the next tick rebroadcasts it.
        this.o.logger.warn({ batchId: tx.batchId, txHash: attempt.hash, err: error }, "broadcast failed; will retry");
        return tx;
      }
    }
  }

  /** Polls the chain once: receipts, confirmations, stuck and dropped transactions, gaps, reorgs. */
  tick(): Promise<void> {
    this.#ticking ??= this.#tick().finally(() => {
      this.#ticking = undefined;
    });
    return this.#ticking;
  }

  async #tick(): Promise<void> {
    const chain = this.o.chain;
    const now = this.o.time.nowMs();
    // The nonce count first: a transaction mined after it is read is then seen by its receipt.
    const confirmedCount = await chain.getTransactionCount("latest");
    const headBlock = await chain.getHead();
    const head = headBlock.number;
    if (head > this.#head) this.#head = head;
    this.o.time.observeBlock(headBlock.timestamp);
    if (now - this.#blockGasLimitReadAtMs >= BLOCK_GAS_LIMIT_REFRESH_MS) await this.#readBlockGasLimit(now);
    // Nonces below the chain's count are spent, whoever spent them.
    this.#nextNonce = Math.max(this.#nextNonce, confirmedCount);
    this.#freeNonces.splice(0, this.#freeNonces.length, ...this.#freeNonces.filter((n) => n >= confirmedCount));
    const hashes = new Map<bigint, Promise<Hex | null>>([[head, Promise.resolve(headBlock.hash)]]);
    const canonical = (n: bigint) => {
      let hash = hashes.get(n);
      if (hash === undefined) {
        hash = chain.getBlockHash(n);
        hashes.set(n, hash);
      }
      return hash;
    };

    const tracked = [...this.#tracked.values()].sort((a, b) => a.nonce - b.nonce);
    // Only a transaction whose nonce the chain's count has passed can be mined: receipts are
    // asked for those alone. For the others, whether the node still has them (a node that drops
    // a transaction may drop the sender's later ones with it). All at once: the transport sends
    // them as one JSON-RPC batch.
    const [receipts, present] = await Promise.all([
      Promise.all(tracked.map((tx) => (tx.nonce < confirmedCount ? this.#canonicalReceipt(tx, canonical) : undefined))),
      Promise.all(
        tracked.map((tx) =>
          tx.nonce < confirmedCount ? true : chain.hasTransaction(tx.attempts[tx.attempts.length - 1].hash),
        ),
      ),
    ]);
    // One transaction's trouble (its job's store write, a log lookup the node refuses) holds up
    // neither the others nor the gap healing, reorg checks and heartbeat below: it stays
    // tracked and is tried again at the next tick.
    const troubles: { batchId: number; err: unknown }[] = [];
    for (const [i, tx] of tracked.entries()) {
      try {
        await this.#follow(tx, receipts[i], present[i], { confirmedCount, head, now });
      } catch (error) {
        troubles.push({ batchId: tx.batchId, err: error });
      }
    }
    if (troubles.length > 0) {
      this.o.logger.warn(
        { batches: troubles.map((t) => t.batchId), err: troubles[0].err },
        "transactions could not be followed this tick; trying again at the next",
      );
    }

    await this.#healGaps(confirmedCount, now);
    await this.#checkReorgs(headBlock, canonical);
    await this.#sweepUntracked(now);
    await this.#adoptOrphans(now, head, canonical);
    this.o.metrics.inflight.set(this.#tracked.size);
    this.o.metrics.refused.set(this.refused);
  }

  /** One tracked transaction at a tick: confirmed, taken by another, rebroadcast or replaced. */
  async #follow(
    tx: TrackedTx,
    receipt: TxReceipt | undefined,
    present: boolean,
    at: { confirmedCount: number; head: bigint; now: number },
  ): Promise<void> {
    tx.receipt = receipt;
    if (receipt !== undefined) {
      this.#suspectTaken.delete(tx.batchId);
      if (at.head - receipt.blockNumber + 1n >= BigInt(this.o.confirmations)) await this.#confirm(tx, receipt);
      return;
    }
    if (at.confirmedCount > tx.nonce) {
      // Mined nonce, none of our hashes mined: another transaction took it. Judged on two
      // consecutive ticks, so a receipt the node is slow to serve is not mistaken for it.
      // Untracked only once abandoned in the store: a failed write is tried again.
      if (this.#suspectTaken.has(tx.batchId)) {
        await this.#abandon(tx.batchId, tx.kind, "nonce_taken");
        this.#suspectTaken.delete(tx.batchId);
        this.#tracked.delete(tx.batchId);
      } else this.#suspectTaken.add(tx.batchId);
      return;
    }
    // Its nonce is free (again, after a reorg): no longer suspected of being taken.
    this.#suspectTaken.delete(tx.batchId);
    const latest = tx.attempts[tx.attempts.length - 1];
    const stuck = at.now - latest.sentAtMs >= this.o.stuckAfterMs;
    if (!present) {
      // Dropped: send it again. A node that evicted it for a fee under the base fee refuses
      // it again, though; once it is stuck, it is replaced with bumped fees instead.
      const back = await this.#rebroadcast(tx, latest, at.now);
      if (!back && stuck) await this.#replace(tx, latest);
    } else if (stuck) {
      await this.#replace(tx, latest);
    }
  }

  /**
   * Pending batches of this key that nothing follows, as `start()` would find them: one whose
   * signing or recording failed and whose abandonment failed too (the store down), or one left
   * untracked when a write failed. Judged on two sweeps a minute apart, so a batch between its
   * creation and its first transaction is not taken for one. One never sent is abandoned (its
   * items queued again); one with transactions is followed again.
   */
  async #sweepUntracked(now: number): Promise<void> {
    if (now - this.#lastSweepMs < UNTRACKED_SWEEP_MS) return;
    this.#lastSweepMs = now;
    const untracked = (await this.o.store.pendingBatches(this.sender)).filter((b) => !this.#tracked.has(b.id));
    const seenBefore = this.#untracked;
    this.#untracked = new Set(untracked.map((b) => b.id));
    for (const batch of untracked) {
      if (!seenBefore.has(batch.id)) continue;
      if (batch.attempts.length === 0 || batch.nonce === null) {
        await this.#abandon(batch.id, batch.kind, "never_sent");
      } else {
        const tx = this.#fromRecord(batch, now);
        this.#tracked.set(batch.id, tx);
        this.#nextNonce = Math.max(this.#nextNonce, tx.nonce + 1);
        this.o.logger.warn({ batchId: batch.id, nonce: tx.nonce }, "following again a pending batch nothing followed");
      }
      this.#untracked.delete(batch.id);
    }
  }

  /**
   * Notes this key as alive, and resolves pending batches of keys gone for `orphanAfterMs`:
   * one mined is confirmed (its results applied and its block watched for reorgs, as for our
   * own; undone, it is pending again for the next round); one the node no longer has is
   * abandoned, its items queued again, none failed for the attempt limit: another node may still
   * hold the transaction. That is safe even if the transaction is mined later: the
   * contracts never pay twice for one intent, release or voucher (nonces, cumulative totals),
   * and the batcher records an intent settled by another transaction as settled there. A transaction still in
   * the node's pool is left to be mined, unless it waits behind a nonce of its key that no
   * transaction holds (the node's pending count for the key has not reached it): that gap only
   * the key gone could fill, so it is abandoned as one the node no longer has.
   */
  async #adoptOrphans(now: number, head: bigint, canonical: (n: bigint) => Promise<Hex | null>): Promise<void> {
    const orphanAfterMs = this.o.orphanAfterMs ?? DEFAULT_ORPHAN_AFTER_MS;
    if (now - this.#lastHeartbeatMs >= Math.min(5_000, orphanAfterMs / 4)) {
      await this.o.store.heartbeat(this.sender);
      this.#lastHeartbeatMs = now;
    }
    if (now - this.#lastAdoptionMs < Math.min(30_000, orphanAfterMs / 2)) return;
    this.#lastAdoptionMs = now;
    // Only batches this instance's jobs could have sent (same kind, same contract: the job
    // decodes and applies the results), and gap fillers, which call no contract.
    const orphans = await this.o.store.adoptOrphanedBatches({
      sender: this.sender,
      unseenMs: orphanAfterMs,
      limit: 20,
      jobs: [
        { kind: "filler", contract: null },
        ...[...this.#handlers].flatMap(([kind, { contract }]) => (contract === undefined ? [] : [{ kind, contract }])),
      ],
    });
    for (const batch of orphans) {
      if (batch.attempts.length === 0 || batch.nonce === null) {
        await this.#abandon(batch.id, batch.kind, "sender_gone");
        continue;
      }
      const tx = this.#fromRecord(batch, now);
      const receipt = await this.#canonicalReceipt(tx, canonical);
      if (receipt !== undefined) {
        if (head - receipt.blockNumber + 1n >= BigInt(this.o.confirmations)) await this.#confirm(tx, receipt, true);
        continue;
      }
      const known = await Promise.all(tx.attempts.map((a) => this.o.chain.hasTransaction(a.hash)));
      if (!known.some(Boolean)) await this.#abandon(batch.id, batch.kind, "sender_gone", true);
      else if ((await this.o.chain.getTransactionCount("pending", batch.sender)) <= tx.nonce) {
        // In the pool, but queued behind a nonce of the key that nothing holds (its transaction
        // dropped): only the key gone could fill it, so this one would wait there unmined.
        await this.#abandon(batch.id, batch.kind, "sender_gone_nonce_gap", true);
      }
    }
    if (orphans.length > 0) {
      this.o.logger.warn({ batches: orphans.map((b) => b.id) }, "adopted pending batches of a sending key gone quiet");
    }
  }

  /** The receipt of whichever attempt of `tx` is mined in a canonical block, newest attempt first. */
  async #canonicalReceipt(
    tx: TrackedTx,
    canonical: (n: bigint) => Promise<Hex | null>,
  ): Promise<TxReceipt | undefined> {
    for (const attempt of [...tx.attempts].reverse()) {
      const receipt = await this.o.chain.getTransactionReceipt(attempt.hash);
      if (receipt !== null && (await canonical(receipt.blockNumber)) === receipt.blockHash) return receipt;
    }
    return undefined;
  }

  /** Applies a confirmed transaction's results, and watches its block for reorgs if it succeeded. */
  async #confirm(tx: TrackedTx, receipt: TxReceipt, adopted = false): Promise<void> {
    const handler = this.#handlers.get(tx.kind)?.handler;
    // A failing handler (store down) leaves the transaction tracked: the next tick retries.
    if (handler) await handler.onConfirmed(tx, receipt);
    else
      await this.o.store.confirmBatch(
        tx.batchId,
        inclusionOf(receipt),
        receipt.status === "success" ? "confirmed" : "reverted",
      );
    this.#tracked.delete(tx.batchId);
    if (receipt.status === "success") {
      this.#watched.set(tx.batchId, { tx, blockNumber: receipt.blockNumber, blockHash: receipt.blockHash, adopted });
      this.#reorgCheckedAt = undefined;
    }
    this.o.metrics.transactions.inc({ event: receipt.status === "success" ? "confirmed" : "reverted" });
    this.o.logger.info(
      {
        batchId: tx.batchId,
        kind: tx.kind,
        txHash: receipt.transactionHash,
        block: receipt.blockNumber.toString(),
        status: receipt.status,
      },
      "transaction confirmed",
    );
  }

  async #abandon(batchId: number, kind: BatchKind, reason: string, mayStillMine = false): Promise<void> {
    const handler = this.#handlers.get(kind)?.handler;
    if (handler) await handler.onAbandoned(batchId, reason, mayStillMine);
    else await this.o.store.abandonBatch(batchId, reason, mayStillMine ? null : (this.o.maxAttempts ?? 5));
    this.o.metrics.transactions.inc({ event: "abandoned" });
    this.o.logger.warn({ batchId, kind, reason }, "batch abandoned");
  }

  /**
   * Sends a dropped transaction again; false when the node refused it, or refused it lately: after
   * a refusal the next try waits, twice as long each time (0.5 s, 1 s, … at most 60 s), so a
   * refusal that lasts (the key out of funds, say) costs a call and a log line a minute, not
   * one every poll.
   */
  async #rebroadcast(tx: TrackedTx, attempt: Attempt, now: number): Promise<boolean> {
    const refused = this.#refusals.get(tx);
    if (refused !== undefined && now < refused.retryAtMs) return false;
    if (await this.#broadcast(tx, attempt, "rebroadcast")) {
      this.#refusals.delete(tx);
      return true;
    }
    const count = (refused?.count ?? 0) + 1;
    this.#refusals.set(tx, { count, retryAtMs: now + Math.min(60_000, 500 * 2 ** (count - 1)) });
    return false;
  }

  /** Sends a signed transaction again; false when the node refused it. */
  async #broadcast(tx: TrackedTx, attempt: Attempt, event: string): Promise<boolean> {
    try {
      await this.o.chain.sendRawTransaction(attempt.raw);
      this.o.metrics.transactions.inc({ event });
      this.o.logger.info({ batchId: tx.batchId, txHash: attempt.hash, nonce: tx.nonce }, `transaction ${event}`);
      return true;
    } catch (error) {
      if (isAlreadyKnown(error)) return true;
      this.o.logger.warn({ batchId: tx.batchId, txHash: attempt.hash, err: error }, `${event} failed`);
      return false;
    }
  }

  async #replace(tx: TrackedTx, latest: Attempt): Promise<void> {
    const fees = bumpedFees(latest, await this.o.chain.estimateFees(), this.#feeCap(tx.gas), this.o.feeBumpPercent);
    if (fees === null) {
      // At the fee cap: keep waiting for the base fee to come down.
      this.o.logger.warn({ batchId: tx.batchId, txHash: latest.hash }, "transaction stuck at the fee cap");
      latest.sentAtMs = this.o.time.nowMs();
      return;
    }
    const attempt = await this.#sign(tx, fees);
    await this.o.store.recordAttempt(
      { ...attempt, batchId: tx.batchId, nonce: tx.nonce, gasLimit: tx.gas },
      this.sender,
    );
    tx.attempts.push(attempt);
    try {
      await this.o.chain.sendRawTransaction(attempt.raw);
      this.o.metrics.transactions.inc({ event: "replaced" });
      this.o.logger.info(
        {
          batchId: tx.batchId,
          txHash: attempt.hash,
          replaces: latest.hash,
          maxFeePerGas: fees.maxFeePerGas.toString(),
        },
        "transaction replaced with higher fees",
      );
    } catch (error) {
      if (isAlreadyKnown(error)) return;
      if (error instanceof NodeUnreachableError) {
        // No answer: the node may have taken it, and it may be the one mined. It stays the
        // latest attempt: found by its receipt, or sent again if the node does not have it.
        this.o.logger.warn({ batchId: tx.batchId, txHash: attempt.hash, err: error }, "replacement sent, no answer");
        return;
      }
      if (isNonceTooLow(error)) {
        // The nonce is used: by an earlier attempt, or by this one (a request retried after the
        // node took it and mined it). Kept, so that its receipt is looked for too.
        this.o.logger.info({ batchId: tx.batchId, txHash: attempt.hash }, "replacement refused: nonce already used");
        return;
      }
      // Refused (e.g. underpriced): forget this attempt; the previous one is still valid.
      tx.attempts.pop();
      await this.o.store.markAttemptRejected(attempt.hash);
      latest.sentAtMs = this.o.time.nowMs();
      this.o.logger.warn({ batchId: tx.batchId, txHash: attempt.hash, err: error }, "replacement refused");
    }
  }

  /**
   * Fills the lowest nonce that blocks one of our transactions (between the chain's count and
   * our highest in-flight nonce, held by nothing of ours), once the gap has persisted.
   */
  async #healGaps(confirmedCount: number, now: number): Promise<void> {
    const held = new Set([...this.#tracked.values()].map((tx) => tx.nonce));
    const highest = Math.max(-1, ...held);
    let gap: number | undefined;
    for (let n = confirmedCount; n < highest; n++) {
      if (!held.has(n)) {
        gap = n;
        break;
      }
    }
    if (gap === undefined) {
      this.#gapSinceMs = undefined;
      return;
    }
    this.#gapSinceMs ??= now;
    if (now - this.#gapSinceMs < (this.o.gapHealAfterMs ?? this.o.stuckAfterMs)) return;
    this.#gapSinceMs = undefined;
    // Taken before the awaits below: a `submit` meanwhile must not sign another transaction at it.
    const free = this.#freeNonces.indexOf(gap);
    if (free >= 0) this.#freeNonces.splice(free, 1);
    let tx: TrackedTx;
    let attempt: Attempt;
    try {
      const { batchId } = await this.o.store.createBatch({
        kind: "filler",
        contract: this.sender,
        sender: this.sender,
        items: [],
        note: `fills nonce ${gap}`,
      });
      const fees = initialFees(await this.o.chain.estimateFees(), this.#feeCap(21_000n));
      tx = { batchId, kind: "filler", to: this.sender, data: "0x", value: 0n, gas: 21_000n, nonce: gap, attempts: [] };
      attempt = await this.#sign(tx, fees);
      await this.o.store.recordAttempt({ ...attempt, batchId, nonce: gap, gasLimit: tx.gas }, this.sender);
    } catch (error) {
      if (free >= 0) this.#freeNonce(gap);
      throw error;
    }
    tx.attempts.push(attempt);
    this.#tracked.set(tx.batchId, tx);
    this.o.metrics.transactions.inc({ event: "filler" });
    this.o.logger.warn({ nonce: gap, txHash: attempt.hash }, "filling a nonce gap");
    await this.#broadcast(tx, attempt, "sent");
  }

  async #checkReorgs(head: ChainHead, canonical: (n: bigint) => Promise<Hex | null>): Promise<void> {
    for (const [batchId, watched] of this.#watched) {
      if (head.number - watched.blockNumber > BigInt(this.o.reorgWindow)) this.#watched.delete(batchId);
    }
    // A block's hash commits to its parent's, so to the whole chain below it: while the head is
    // the one read before every watched block was last found canonical, none of them can have
    // left the chain, and they are not asked for again (one call per tick instead of one per
    // watched block). Should the chain change while they are read, the next tick sees another
    // head and checks them all again.
    if (this.#watched.size === 0 || head.hash === this.#reorgCheckedAt) return;
    // Every watched block's hash at once (one JSON-RPC batch), then each verdict in turn.
    const watching = [...this.#watched];
    const current = await Promise.all(watching.map(([, w]) => canonical(w.blockNumber)));
    for (const [i, [batchId, watched]] of watching.entries()) {
      if (current[i] === watched.blockHash) continue;
      this.o.logger.warn(
        { batchId, txHash: watched.tx.receipt?.transactionHash, block: watched.blockNumber.toString() },
        "reorg: a confirmed transaction's block is no longer canonical",
      );
      const handler = this.#handlers.get(watched.tx.kind)?.handler;
      if (handler) await handler.onReorged(watched.tx);
      else await this.o.store.reopenBatch(batchId);
      this.#watched.delete(batchId);
      this.o.metrics.transactions.inc({ event: "reorged" });
      // Pending again: another key's transaction is resolved by the next adoption round (mined
      // again, still in the pool, or given up), not followed as one of this key's nonces.
      if (watched.adopted) continue;
      watched.tx.receipt = undefined;
      for (const attempt of watched.tx.attempts) attempt.sentAtMs = this.o.time.nowMs();
      this.#tracked.set(batchId, watched.tx);
    }
    this.#reorgCheckedAt = head.hash;
  }

  async #sign(tx: TrackedTx, fees: Fees): Promise<Attempt> {
    const signed = await this.o.chain.signTransaction({
      to: tx.to,
      data: tx.data,
      value: tx.value,
      nonce: tx.nonce,
      gas: tx.gas,
      ...fees,
    });
    return { ...fees, hash: signed.hash, raw: signed.raw, sentAtMs: this.o.time.nowMs() };
  }

  #allocateNonce(): number {
    if (this.#freeNonces.length > 0) return this.#freeNonces.shift() as number;
    return this.#nextNonce++;
  }

  #freeNonce(nonce: number): void {
    if (nonce === this.#nextNonce - 1) this.#nextNonce--;
    else {
      this.#freeNonces.push(nonce);
      this.#freeNonces.sort((a, b) => a - b);
    }
  }

  /** A tracked transaction rebuilt from the store; call data and value come from the signed bytes. */
  #fromRecord(batch: BatchRecord, now: number): TrackedTx {
    const last = batch.attempts[batch.attempts.length - 1];
    const signed = parseTransaction(last.raw);
    return {
      batchId: batch.id,
      kind: batch.kind,
      to: signed.to ?? batch.contract,
      data: signed.data ?? "0x",
      value: signed.value ?? 0n,
      gas: last.gasLimit,
      nonce: batch.nonce as number,
      attempts: batch.attempts.map((a) => ({
        hash: a.hash,
        raw: a.raw,
        maxFeePerGas: a.maxFeePerGas,
        maxPriorityFeePerGas: a.maxPriorityFeePerGas,
        sentAtMs: now,
      })),
    };
  }
}
