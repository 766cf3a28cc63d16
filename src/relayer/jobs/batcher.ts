import type { Logger } from "pino";
import { type Address, type Hex, size } from "viem";
import type { HubReader } from "../chain/hub-reader.js";
import { LogSpan } from "../chain/log-span.js";
import { CallRevertedError, type ChainPort, type HubPort, type Settlement, type TxReceipt } from "../chain/ports.js";
import {
  inclusionOf,
  type TrackedTx,
  TX_MAX_BYTES,
  type TxHandler,
  type TxManager,
  withinCap,
} from "../chain/tx-manager.js";
import type { Gate } from "../intake/gate.js";
import type { RelayerMetrics } from "../metrics.js";
import type { IntentRecord, PaymentResults, Store } from "../store/store.js";
import type { TimeSource } from "../time.js";

export interface BatcherOptions {
  hub: HubPort;
  chain: ChainPort;
  store: Store;
  txManager: TxManager;
  reader: HubReader;
  gate: Gate;
  time: TimeSource;
  metrics: RelayerMetrics;
  logger: Logger;
  maxBatchSize: number;
  maxWaitMs: number;
  maxInflight: number;
  claimLeaseMs: number;
  maxAttempts: number;
  /** When a batch falls back to `eth_estimateGas`: gas limit = estimate × (100 + this) / 100. */
  gasMarginPercent?: number;
  /** How often the queue itself is scanned (default 1 s; see `noteAccepted`). */
  scanIntervalMs?: number;
  /** How far back a `PaymentSettled` of an intent that reported "nonce used" is looked for (default 50,000 blocks). */
  settlementLookbackBlocks?: bigint;
  /** Most blocks per `eth_getLogs` request of that search (default 2,000: many providers refuse larger ranges). */
  logBlockRange?: number;
}

/**
 * Turns accepted intents into `settleBatch` transactions and their receipts into per-intent
 * results.
 *
 * Forming: per token of the hub, a batch is formed once `maxBatchSize` intents wait or the
 * oldest has waited `maxWaitMs`; its intents are claimed (`FOR UPDATE SKIP LOCKED`, so
 * instances never share one), already-expired ones fail without a transaction, the call is
 * simulated (one `eth_call` at a gas budget; intents that revert any batch fail, see `#simulate`), the batch is
 * recorded and its intents marked submitted in one store transaction, then sent.
 *
 * Results (at the configured confirmation depth): `PaymentSettled` → settled,
 * `PaymentFailed` → failed with the reason, except "nonce used" for an intent whose own
 * `PaymentSettled` is found on-chain (an earlier submission of it did settle) → settled there;
 * "not yet valid" or no event → back to the queue. Nothing is ever marked settled without its event, and the
 * hub's nonce bitmap makes a second settlement impossible whatever is resubmitted.
 */
/**
 * Gas a `settleBatch` of EOA-signed intents needs at most: per intent its calldata, EIP-712 hash,
 * `ecrecover`, a nonce word and two balances written from zero (the payer's first nonce in that
 * word, the payee's first credit) and its event: 61,555 measured; per batch the transaction, the
 * reentrancy guard and the relayer's first fee credit: 45,744 measured (both in
 * `test/relayer/settle-gas-budget.test.ts`, which holds the budget to them).
 */
export const SETTLE_GAS_PER_INTENT = 70_000n;
export const SETTLE_GAS_PER_BATCH = 60_000n;
export const settleGasBudget = (intents: number) => SETTLE_GAS_PER_BATCH + SETTLE_GAS_PER_INTENT * BigInt(intents);

/**
 * Largest calldata of a `settleBatch`: a signed transaction over `TX_MAX_BYTES` is refused by
 * the node, and 1 KiB is left for the rest of it (type, nonce, fees, gas, recipient, signature:
 * under 200 bytes). An EOA-signed intent takes 448 bytes (132 more per batch): 289 fit.
 */
export const SETTLE_CALLDATA_MAX_BYTES = TX_MAX_BYTES - 1_024;

/**
 * The failures an intent already paid by another transaction reports when it is batched again:
 * its used nonce, or what the hub checks before the nonce (`SettlementHub._execute`): its expiry,
 * and its signature (an ERC-1271 wallet's answer can change).
 */
const MAY_HAVE_SETTLED_ELSEWHERE: ReadonlySet<string> = new Set(["expired", "bad_signature", "nonce_used"]);

/**
 * What this instance knows of a token's queue without asking the store: how many intents wait
 * and since when the oldest has, plus the intents noted since the latest claim began (the
 * ones a claim that took everything left behind).
 */
interface PendingGroup {
  token: Address;
  count: number;
  oldestMs: number;
  fresh: number;
  freshSinceMs: number | undefined;
}

export class Batcher implements TxHandler {
  readonly #owner: string;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;
  #backoffUntilMs = 0;
  #lastScanMs = 0;
  /** Per token: intents accepted and not yet batched, as far as this instance knows. */
  readonly #pending = new Map<string, PendingGroup>();
  /**
   * The intents of each batch this process sent, until its first confirmation: the store need
   * not be read again for them. After a restart or a reorg, the store is asked instead.
   */
  readonly #sent = new Map<number, IntentRecord[]>();
  /** Blocks per request of the settlement search (fewer once the node refused a range as too large; never grown again). */
  readonly #logSpan: LogSpan;

  constructor(private readonly o: BatcherOptions) {
    this.#owner = o.chain.sender.toLowerCase();
    this.#logSpan = new LogSpan(BigInt(o.logBlockRange ?? 2_000));
    o.txManager.on("settle", this, o.hub.address);
  }

  /** Gives back claims a previous run held, then forms batches every `interval` ms. */
  async start(intervalMs = Math.max(10, Math.min(50, this.o.maxWaitMs))): Promise<void> {
    await this.o.store.releaseClaims(this.#owner);
    this.#timer = setInterval(() => {
      void this.tick();
    }, intervalMs);
  }

  /** Stops forming batches; resolves when a batch being formed has been sent. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** One round of batch forming (exposed for tests; `force` sends what waits without its maximum wait). */
  tick(options: { force?: boolean } = {}): Promise<void> {
    this.#running ??= this.#round(options.force ?? false)
      .catch((error: unknown) => this.o.logger.error({ err: error }, "batch round failed"))
      .finally(() => {
        this.#running = undefined;
      });
    return this.#running;
  }

  /**
   * Told by the intake about every accepted intent, so that deciding when a batch is due needs
   * no query: the queue itself is scanned only every `scanIntervalMs` (for intents accepted by
   * other instances or before a restart).
   */
  noteAccepted(token: Address): void {
    const key = token.toLowerCase();
    const now = this.o.time.nowMs();
    const entry = this.#pending.get(key);
    if (entry) {
      entry.count++;
      entry.fresh++;
      entry.freshSinceMs ??= now;
    } else this.#pending.set(key, { token, count: 1, oldestMs: now, fresh: 1, freshSinceMs: now });
  }

  async #round(force: boolean): Promise<void> {
    if (this.o.gate.paused || this.o.time.nowMs() < this.#backoffUntilMs) return;
    const now = this.o.time.nowMs();
    if (force || now - this.#lastScanMs >= (this.o.scanIntervalMs ?? 1_000)) {
      this.#lastScanMs = now;
      const groups = await this.o.store.queueGroups(this.o.hub.address, this.o.maxBatchSize);
      this.o.metrics.queueDepth.set(groups.reduce((n, g) => n + g.ready, 0));
      this.#pending.clear();
      for (const g of groups) {
        this.#pending.set(g.token.toLowerCase(), {
          token: g.token,
          count: g.ready,
          oldestMs: g.oldestAcceptedAt.getTime(),
          fresh: 0,
          freshSinceMs: undefined,
        });
      }
    }
    const due = [...this.#pending.entries()]
      .map(([key, g]) => ({ key, ...g, late: force || now - g.oldestMs >= this.o.maxWaitMs }))
      .filter((g) => g.late || g.count >= this.o.maxBatchSize)
      .sort((a, b) => a.oldestMs - b.oldestMs);
    for (const group of due) {
      // A full group may fill several batches; each goes out while there is room in flight. A
      // remainder smaller than a batch waits for more intents, unless its oldest waited enough.
      const minSize = group.late ? 1 : this.o.maxBatchSize;
      let sent = 0;
      let last = 0;
      let drained = false;
      for (;;) {
        if (this.#stopped && !force) return;
        if (this.o.txManager.inflight >= this.o.maxInflight) break;
        last = await this.#formBatch(group.token, minSize);
        sent += last;
        if (last < this.o.maxBatchSize) {
          // Less than a full batch: a late group's claim took every intent there was (what
          // arrived since waits its own turn); an early group's remainder waits until late.
          drained = group.late;
          break;
        }
      }
      const entry = this.#pending.get(group.key);
      if (entry === undefined) continue;
      if (drained) {
        // The intents noted since that claim are the queue now, and its oldest is the first of them.
        if (entry.fresh === 0 || entry.freshSinceMs === undefined) this.#pending.delete(group.key);
        else {
          entry.count = entry.fresh;
          entry.oldestMs = entry.freshSinceMs;
        }
      } else if (sent === 0)
        entry.count = 0; // fewer than a batch are claimable: wait until late
      else {
        // Counts from the scan are capped at a batch; after a full batch there may be more.
        entry.count = Math.max(0, entry.count - sent);
        if (last === this.o.maxBatchSize) entry.count = Math.max(entry.count, this.o.maxBatchSize);
      }
    }
  }

  /** Claims, simulates, records and sends one batch; returns the intents it took (0: none). */
  async #formBatch(token: Address, minSize: number): Promise<number> {
    const { store, hub, logger } = this.o;
    const nowSeconds = this.o.time.seconds();
    const entry = this.#pending.get(token.toLowerCase());
    if (entry !== undefined) {
      entry.fresh = 0;
      entry.freshSinceMs = undefined;
    }
    const claimed = await store.claimIntents({
      hub: hub.address,
      token,
      owner: this.#owner,
      limit: this.o.maxBatchSize,
      leaseMs: this.o.claimLeaseMs,
      nowSeconds,
    });
    if (claimed.length === 0) return 0;
    if (claimed.length < minSize) {
      await store.releaseClaims(
        this.#owner,
        claimed.map((i) => i.digest),
      );
      return 0;
    }

    const expired = claimed.filter((i) => i.payment.validBefore <= nowSeconds);
    if (expired.length > 0) await this.#endExpired(expired);
    let intents = claimed.filter((i) => i.payment.validBefore > nowSeconds);
    if (intents.length === 0) return claimed.length;

    let gas: bigint;
    let data: Hex;
    try {
      ({ intents, gas, data } = await this.#simulate(intents));
    } catch (error) {
      await store.releaseClaims(
        this.#owner,
        intents.map((i) => i.digest),
      );
      this.#backoffUntilMs = this.o.time.nowMs() + 1_000;
      logger.error({ err: error, token, size: intents.length }, "settleBatch simulation failed; claims released");
      return 0;
    }
    if (intents.length === 0) return claimed.length;

    const { batchId, items } = await store.createBatch({
      kind: "settle",
      contract: hub.address,
      token,
      sender: this.o.chain.sender,
      items: intents.map((i) => i.digest),
    });
    if (items.length === 0) {
      await store.abandonBatch(batchId, "claims_lost", this.o.maxAttempts);
      return 0;
    }
    if (items.length !== intents.length) {
      // Some claims ran out meanwhile and went to another instance: send only ours.
      const taken = new Set(items.map((d) => d.toLowerCase()));
      intents = intents.filter((i) => taken.has(i.digest.toLowerCase()));
      data = this.#encode(intents);
    }
    try {
      this.#sent.set(batchId, intents);
      const tx = await this.o.txManager.submit({ batchId, kind: "settle", to: hub.address, data, gas });
      this.o.metrics.batchSize.observe(intents.length);
      logger.info(
        { batchId, txHash: tx.attempts[tx.attempts.length - 1].hash, token, size: intents.length },
        "settle batch submitted",
      );
      return claimed.length;
    } catch (error) {
      this.#sent.delete(batchId);
      logger.error({ err: error, batchId }, "settle batch could not be signed or recorded; intents queued again");
      await store.abandonBatch(batchId, "submit_failed", this.o.maxAttempts);
      return 0;
    }
  }

  /**
   * Ends intents that expired in the queue. An expired intent can no longer settle, but it may
   * have settled already in another transaction: an earlier batch of its that the node had lost
   * and that was mined after all, or anyone else who submitted the signed intent. Its nonce is
   * then used on-chain, and a `PaymentSettled` log shows whether it was paid (recorded settled
   * there, once that block has the confirmations a batch needs; until then it waits) or the
   * payer invalidated the nonce (failed `nonce_used`); an intent whose nonce is unused fails
   * `expired`. When the node cannot be asked, the claims are released and the intents looked at
   * again in a later round.
   */
  async #endExpired(expired: readonly IntentRecord[]): Promise<void> {
    const { store, logger } = this.o;
    let used: IntentRecord[];
    let settlements = new Map<string, Settlement>();
    let head = 0n;
    try {
      const usage = await Promise.all(expired.map((i) => this.o.reader.nonceUsed(i.payment.from, i.payment.nonce)));
      used = expired.filter((_, k) => usage[k]);
      if (used.length > 0) {
        head = await this.o.chain.getBlockNumber();
        settlements = await this.#findSettlements(
          used.map((i) => i.digest),
          head,
        );
      }
    } catch (error) {
      await store.releaseClaims(
        this.#owner,
        expired.map((i) => i.digest),
      );
      logger.warn({ err: error, size: expired.length }, "could not check expired intents on-chain; claims released");
      return;
    }
    const final = head - BigInt(this.o.txManager.confirmations) + 1n;
    const recent = [...settlements.values()].filter((s) => s.blockNumber > final);
    if (recent.length > 0) {
      await store.releaseClaims(
        this.#owner,
        recent.map((s) => s.digest),
      );
    }
    const paid = [...settlements.values()].filter((s) => s.blockNumber <= final);
    if (paid.length > 0) this.#afterResults(await store.settleAcceptedIntents(paid), "settled");
    const unpaid = (i: IntentRecord) => !settlements.has(i.digest.toLowerCase());
    const endings = [
      ["nonce_used", used.filter(unpaid)],
      ["expired", expired.filter((i) => !used.includes(i))],
    ] as const;
    for (const [reason, ending] of endings) {
      if (ending.length === 0) continue;
      const failed = await store.failAcceptedIntents(
        ending.map((i) => i.digest),
        reason,
      );
      this.o.metrics.failed.inc({ reason }, failed.length);
      for (const digest of failed) logger.info({ intentDigest: digest, reason }, "intent expired before settlement");
    }
  }

  /**
   * Simulates the batch and returns its gas limit. First one `eth_call` at the gas budget of
   * EOA-signed intents: when it passes, the budget is the limit (no `eth_estimateGas`, whose
   * search runs the batch a dozen times and stalls a local node). Otherwise (a revert, a contract
   * wallet's signature check costing more, a node that did not answer) the batch is estimated:
   * the hub skips failing intents, so a batch reverts only when one intent breaks the whole call
   * (an ERC-1271 wallet that burns the gas, say): such intents are found by bisection and failed
   * with `simulation_reverted`; the others go ahead. No limit exceeds the transaction gas cap,
   * and a batch is kept to the gas it can afford at today's fees within `--max-tx-fee-eth`
   * (`TxManager.affordableGas`): the budget is capped at that, and a batch estimated over it is
   * halved until it fits (`#fit`). A batch too large for a transaction is cut to the intents that
   * fit first (`#withinSize`). Throws (nothing failed, nothing sent) when the node cannot be asked.
   */
  async #simulate(claimed: IntentRecord[]): Promise<{ intents: IntentRecord[]; gas: bigint; data: Hex }> {
    const cap = await this.o.txManager.affordableGas();
    const { intents, data } = await this.#withinSize(claimed);
    // A call that passes needs no more than it was given: the budget (or the cap) is then the limit.
    const budget = withinCap(settleGasBudget(intents.length), cap);
    try {
      await this.o.chain.call({ to: this.o.hub.address, data, gas: budget });
      return { intents, gas: budget, data };
    } catch (error) {
      this.o.logger.debug({ err: error, size: intents.length }, "batch fails at its gas budget; estimating");
    }
    let estimated: bigint | undefined;
    try {
      estimated = await this.#estimate(data);
    } catch (error) {
      if (!(error instanceof CallRevertedError)) throw error;
    }
    if (estimated !== undefined) return this.#fit(intents, data, estimated, cap);
    const culprits = await this.#culprits(intents, (batch) => this.#estimate(this.#encode(batch)));
    let rest: IntentRecord[];
    if (culprits.length > 0) {
      const failed = await this.o.store.failAcceptedIntents(
        culprits.map((i) => i.digest),
        "simulation_reverted",
      );
      this.o.metrics.failed.inc({ reason: "simulation_reverted" }, failed.length);
      for (const digest of failed) this.o.logger.warn({ intentDigest: digest }, "intent reverts any batch; failed");
      const bad = new Set(culprits.map((i) => i.digest));
      rest = intents.filter((i) => !bad.has(i.digest));
    } else {
      // Each half passes alone but not together (too much gas for one transaction): send half.
      const half = Math.ceil(intents.length / 2);
      await this.o.store.releaseClaims(
        this.#owner,
        intents.slice(half).map((i) => i.digest),
      );
      rest = intents.slice(0, half);
    }
    if (rest.length === 0) return { intents: rest, gas: 0n, data: "0x" };
    const restData = this.#encode(rest);
    return this.#fit(rest, restData, await this.#estimate(restData), cap);
  }

  /**
   * As many of `intents`, from the first, as a transaction's calldata can carry
   * (`SETTLE_CALLDATA_MAX_BYTES`), and their calldata; the others are queued again. One intent
   * always fits: the API takes signatures of at most 2,048 bytes.
   */
  async #withinSize(intents: IntentRecord[]): Promise<{ intents: IntentRecord[]; data: Hex }> {
    let count = intents.length;
    let data = this.#encode(intents);
    while (size(data) > SETTLE_CALLDATA_MAX_BYTES && count > 1) {
      // Calldata grows with each intent: scale down to the limit, then step down while still over.
      count = Math.max(1, Math.min(count - 1, Math.floor((count * SETTLE_CALLDATA_MAX_BYTES) / size(data))));
      data = this.#encode(intents.slice(0, count));
    }
    if (count === intents.length) return { intents, data };
    // Scaling assumes intents of one size; with larger ones first (a contract wallet's signature)
    // it stops short: take the next ones back while they still fit.
    for (;;) {
      const more = this.#encode(intents.slice(0, count + 1));
      if (size(more) > SETTLE_CALLDATA_MAX_BYTES) break;
      count++;
      data = more;
    }
    await this.o.store.releaseClaims(
      this.#owner,
      intents.slice(count).map((i) => i.digest),
    );
    this.o.logger.info(
      { size: intents.length, sent: count, bytes: size(data), limit: SETTLE_CALLDATA_MAX_BYTES },
      "batch over the transaction size limit; the intents that fit go first",
    );
    return { intents: intents.slice(0, count), data };
  }

  #estimate(data: Hex): Promise<bigint> {
    return this.o.chain.estimateGas({ to: this.o.hub.address, data });
  }

  /**
   * The gas limit of a batch estimated at `estimated`: the estimate with its margin, at most
   * `cap` (the transaction gas cap, or less: the gas the batch can afford at today's fees). A
   * batch estimated over `cap` is halved, the second half queued again, until it fits. A single
   * intent over the transaction gas cap fits no transaction and fails (`gas_over_cap`); one only
   * over what fees afford goes alone, at a lower fee cap per gas (see `TxManager.submit`).
   */
  async #fit(
    intents: IntentRecord[],
    data: Hex,
    estimated: bigint,
    cap: bigint,
  ): Promise<{ intents: IntentRecord[]; gas: bigint; data: Hex }> {
    let batch = intents;
    let calldata = data;
    let gas = estimated;
    while (gas > cap) {
      if (batch.length === 1) {
        if (gas <= this.o.txManager.txGasCap) break;
        const failed = await this.o.store.failAcceptedIntents([batch[0].digest], "gas_over_cap");
        this.o.metrics.failed.inc({ reason: "gas_over_cap" }, failed.length);
        for (const digest of failed) {
          this.o.logger.warn(
            { intentDigest: digest, gas: gas.toString() },
            "intent needs more gas than a transaction may have; failed",
          );
        }
        return { intents: [], gas: 0n, data: "0x" };
      }
      const half = Math.ceil(batch.length / 2);
      await this.o.store.releaseClaims(
        this.#owner,
        batch.slice(half).map((i) => i.digest),
      );
      this.o.logger.info(
        { size: batch.length, gas: gas.toString(), cap: cap.toString() },
        "batch over the gas it may have (the transaction gas cap, or what fees afford); halved",
      );
      batch = batch.slice(0, half);
      calldata = this.#encode(batch);
      gas = await this.#estimate(calldata);
    }
    const limit = (gas * BigInt(100 + (this.o.gasMarginPercent ?? 20))) / 100n;
    return { intents: batch, gas: withinCap(limit, gas > cap ? this.o.txManager.txGasCap : cap), data: calldata };
  }

  /** The intents that make a batch revert on their own (bisection). */
  async #culprits(
    intents: readonly IntentRecord[],
    estimate: (batch: readonly IntentRecord[]) => Promise<bigint>,
  ): Promise<IntentRecord[]> {
    if (intents.length === 1) return [...intents];
    const mid = Math.ceil(intents.length / 2);
    const found: IntentRecord[] = [];
    for (const half of [intents.slice(0, mid), intents.slice(mid)]) {
      try {
        await estimate(half);
      } catch (error) {
        if (!(error instanceof CallRevertedError)) throw error;
        found.push(...(await this.#culprits(half, estimate)));
      }
    }
    return found;
  }

  #encode(intents: readonly IntentRecord[]): Hex {
    return this.o.hub.encodeSettleBatch(
      intents.map((i) => i.payment),
      intents.map((i) => i.signature),
    );
  }

  async onConfirmed(tx: TrackedTx, receipt: TxReceipt): Promise<void> {
    const { store, hub, logger } = this.o;
    const sent = this.#sent.get(tx.batchId);
    this.#sent.delete(tx.batchId);
    if (receipt.status === "reverted") {
      const failed = await store.abandonBatch(tx.batchId, "batch_reverted", this.o.maxAttempts);
      await store.confirmBatch(tx.batchId, inclusionOf(receipt), "reverted");
      this.o.metrics.failed.inc({ reason: "batch_reverted" }, failed.length);
      logger.error(
        { batchId: tx.batchId, txHash: receipt.transactionHash },
        "settle batch reverted; intents queued again",
      );
      return;
    }
    // Results apply only to intents still submitted in this batch, so the list sent is enough.
    const intents = sent ?? (await store.submittedIntents(tx.batchId));
    const outcomes = new Map(hub.decodeOutcomes(receipt.logs).map((o) => [o.digest.toLowerCase(), o]));
    const results: PaymentResults = {
      batchId: tx.batchId,
      ...inclusionOf(receipt),
      settled: [],
      settledElsewhere: [],
      failed: [],
      requeued: [],
    };
    const maybePaid: { digest: Hex; reason: string }[] = [];
    for (const intent of intents) {
      const outcome = outcomes.get(intent.digest.toLowerCase());
      // No event, or "not yet valid" (the block was not past validAfter yet): try again later.
      if (outcome === undefined || (!outcome.settled && outcome.reason === "not_yet_valid")) {
        results.requeued.push(intent.digest);
      } else if (outcome.settled) results.settled.push(intent.digest);
      else if (MAY_HAVE_SETTLED_ELSEWHERE.has(outcome.reason))
        maybePaid.push({ digest: intent.digest, reason: outcome.reason });
      else results.failed.push({ digest: intent.digest, reason: outcome.reason });
    }
    // Settled by another transaction (another instance, a retry mined twice, anyone holding the
    // signed intent), or not: the payer invalidated the nonce, or the intent expired or lost its
    // signature's validity unpaid. Only a `PaymentSettled` log tells them apart.
    const elsewhere = await this.#findSettlements(
      maybePaid.map((m) => m.digest),
      receipt.blockNumber,
    );
    for (const { digest, reason } of maybePaid) {
      const earlier = elsewhere.get(digest.toLowerCase());
      if (earlier) results.settledElsewhere.push({ ...earlier, digest });
      else results.failed.push({ digest, reason });
    }
    const changed = await store.applyPaymentResults(results);
    this.#afterResults(changed, "settled");
    logger.info(
      {
        batchId: tx.batchId,
        txHash: receipt.transactionHash,
        block: receipt.blockNumber.toString(),
        settled: results.settled.length + results.settledElsewhere.length,
        failed: results.failed.length,
        requeued: results.requeued.length,
      },
      "settle batch confirmed",
    );
    if (results.requeued.length > 0) {
      logger.warn({ batchId: tx.batchId, requeued: results.requeued }, "intents without an event in the receipt");
    }
  }

  /**
   * The `PaymentSettled` logs of `digests` in the `settlementLookbackBlocks` up to `toBlock`,
   * newest ranges first, at most `logBlockRange` blocks per request; stops once all are found.
   * A range the node refuses as too large (`isLogRangeTooLarge`) is asked again in halves, down
   * to one block, and the smaller range is kept for later searches; any other error propagates.
   */
  async #findSettlements(digests: readonly Hex[], toBlock: bigint): Promise<Map<string, Settlement>> {
    const found = new Map<string, Settlement>();
    const lookback = this.o.settlementLookbackBlocks ?? 50_000n;
    const floor = toBlock > lookback ? toBlock - lookback : 0n;
    let missing = [...digests];
    let to = toBlock;
    while (missing.length > 0 && to >= floor) {
      const range = this.#logSpan.blocks;
      const from = to - range + 1n > floor ? to - range + 1n : floor;
      let settlements: Settlement[];
      try {
        settlements = await this.o.hub.findSettlements(missing, from, to);
      } catch (error) {
        if (!this.#logSpan.refused(to - from + 1n, error)) throw error;
        this.o.logger.info(
          { err: error, blocks: this.#logSpan.blocks.toString() },
          "eth_getLogs range too large for the node; searching settlements in fewer blocks",
        );
        continue;
      }
      for (const settlement of settlements) found.set(settlement.digest.toLowerCase(), settlement);
      missing = missing.filter((digest) => !found.has(digest.toLowerCase()));
      to = from - 1n;
    }
    return found;
  }

  async onAbandoned(batchId: number, reason: string, mayStillMine: boolean): Promise<void> {
    this.#sent.delete(batchId);
    const failed = await this.o.store.abandonBatch(batchId, reason, mayStillMine ? null : this.o.maxAttempts);
    this.o.metrics.failed.inc({ reason }, failed.length);
  }

  async onReorged(tx: TrackedTx): Promise<void> {
    const reopened = await this.o.store.reopenBatch(tx.batchId);
    this.#afterResults(reopened, "reorged");
    this.o.logger.warn({ batchId: tx.batchId, intents: reopened.length }, "batch results undone by a reorg");
  }

  /** Keeps caches and metrics in step with intents whose on-chain effect appeared or vanished. */
  #afterResults(changed: readonly IntentRecord[], what: "settled" | "reorged"): void {
    const now = this.o.time.nowMs();
    for (const intent of changed) {
      const { from, to, token, nonce } = intent.payment;
      this.o.reader.invalidate(from, token);
      this.o.reader.invalidate(to, token);
      if (what === "reorged") continue;
      if (intent.status === "settled") {
        this.o.reader.markNonceUsed(from, nonce);
        this.o.metrics.settled.inc();
        this.o.metrics.settleLatency.observe((now - intent.acceptedAt.getTime()) / 1000);
        this.o.logger.debug({ intentDigest: intent.digest, txHash: intent.txHash }, "intent settled");
      } else if (intent.status === "failed") {
        this.o.metrics.failed.inc({ reason: intent.failureReason ?? "unknown" });
        this.o.logger.info(
          { intentDigest: intent.digest, reason: intent.failureReason, txHash: intent.txHash },
          "intent failed",
        );
      }
    }
  }
}
