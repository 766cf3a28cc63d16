import type { Logger } from "pino";
import type { Address, Hex } from "viem";
import type { BalanceRead, HubReader } from "../chain/hub-reader.js";
import type { DeploymentDomain, Payment, SignatureVerifier, SigningPort } from "../chain/ports.js";
import { RelayerError } from "../errors.js";
import type { RelayerMetrics } from "../metrics.js";
import type { InsertIntentResult, IntentRecord, IntentStatus, NewIntent, Store } from "../store/store.js";
import type { TimeSource } from "../time.js";
import type { Gate } from "./gate.js";
import { MicroBatcher } from "./micro-batch.js";

const ZERO_ADDRESS = "0x0000000000000000000000000000000000000000";

/** Amounts are stored in at most 128 bits on-chain (DESIGN §2). */
export const MAX_AMOUNT = 2n ** 128n - 1n;

export interface PaymentIntakeOptions {
  hub: Address;
  chainId: number;
  signing: SigningPort;
  verifier: SignatureVerifier;
  reader: HubReader;
  store: Store;
  gate: Gate;
  time: TimeSource;
  metrics: RelayerMetrics;
  logger: Logger;
  minValiditySeconds: number;
  /** Smallest fee per token (lowercase address; the native currency is the zero address); a token not listed: none. */
  minFees?: ReadonlyMap<string, bigint>;
  /** Largest group commit of accepted intents. */
  maxInsertBatch?: number;
  /** How long the first accepted intent waits for others to share its store transaction (default 4 ms). */
  commitDelayMs?: number;
  /** Called for every newly accepted intent (the batcher counts them). */
  onAccepted?: (payment: Payment) => void;
}

export interface AcceptedPayment {
  digest: Hex;
  status: IntentStatus;
  /** True when the digest was known already (nothing new was accepted). */
  duplicate: boolean;
}

/**
 * What of a hub balance an intent valid until `validBefore` can count on. The payer's pending
 * withdrawal request pays out from its `availableAt` (`min(requested, balance)`); one payable
 * before the intent expires could empty the balance before the intent settles, so that much is
 * not counted. A request that matures only after `validBefore` cannot overtake the intent
 * (the hub settles it only before then): this is the withdrawal delay's guarantee. Requests
 * never lapse on-chain, so one made long ago counts as payable now.
 */
function spendableBefore(balance: BalanceRead, validBefore: bigint): bigint {
  const { amount, availableAt } = balance.withdrawal;
  if (amount === 0n || availableAt >= validBefore) return balance.value;
  return amount >= balance.value ? 0n : balance.value - amount;
}

/**
 * Validates payment intents and accepts them into the store.
 *
 * Per intent: the EIP-712 digest (the intent's id), the validity window, the signature
 * (synchronous ECDSA recovery; ERC-1271 through a call only when that fails), the payer's
 * nonce on-chain and its hub balance (reads coalesced across concurrent requests). The
 * reservation check — balance ≥ amount + fee + what the payer's accepted, unsettled intents
 * reserve + what its intents settled in blocks after the one the balance read reflects — runs
 * in the store, in the same transaction as the insert and under a per-payer lock, so no
 * interleaving of requests, settlements (or instances) can over-reserve a payer. Inserts are
 * group-committed: one transaction per batch of concurrent requests, not one per request.
 */
export class PaymentIntake {
  readonly domain: DeploymentDomain;
  readonly #inflight = new Map<Hex, Promise<AcceptedPayment>>();
  readonly #writer: MicroBatcher<NewIntent, InsertIntentResult>;

  constructor(private readonly o: PaymentIntakeOptions) {
    this.domain = { chainId: o.chainId, verifyingContract: o.hub };
    this.#writer = new MicroBatcher((rows) => o.store.insertIntents(rows), {
      maxSize: o.maxInsertBatch ?? 500,
      maxDelayMs: o.commitDelayMs ?? 4,
    });
  }

  /** Throws `paused` / `shutting_down` while no intent is let in (before a batch of them is read). */
  checkOpen(): void {
    this.o.gate.check();
  }

  /** Accepts an intent or throws a `RelayerError`. The same intent twice yields the same digest. */
  async submit(payment: Payment, signature: Hex): Promise<AcceptedPayment> {
    this.o.gate.check();
    const digest = this.o.signing.hashPayment({ domain: this.domain, payment });
    const running = this.#inflight.get(digest);
    if (running !== undefined) return running.then((accepted) => ({ ...accepted, duplicate: true }));
    const attempt = this.#accept(digest, payment, signature);
    this.#inflight.set(digest, attempt);
    try {
      return await attempt;
    } finally {
      this.#inflight.delete(digest);
    }
  }

  /** Resolves once every accepted intent is persisted (shutdown). */
  drained(): Promise<void> {
    return this.#writer.drained();
  }

  async #accept(digest: Hex, payment: Payment, signature: Hex): Promise<AcceptedPayment> {
    const now = this.o.time.seconds();
    if (payment.amount === 0n || payment.amount > MAX_AMOUNT || payment.fee > MAX_AMOUNT) {
      throw new RelayerError("invalid_amount", "amount must be in 1..2^128-1 and fee in 0..2^128-1");
    }
    const payee = payment.to.toLowerCase();
    if (payee === ZERO_ADDRESS || payee === this.o.hub.toLowerCase()) {
      throw new RelayerError("invalid_recipient", `payee ${payment.to} cannot receive on the hub`);
    }
    // A resubmission of an intent accepted earlier is answered with its status even when it
    // would no longer be accepted now (too close to expiry, the node unreachable, a minimum fee
    // raised since).
    const minFee = this.o.minFees?.get(payment.token.toLowerCase()) ?? 0n;
    if (payment.fee < minFee) {
      return this.#knownOr(
        digest,
        new RelayerError(
          "fee_too_low",
          `fee ${payment.fee} is below this relayer's minimum of ${minFee} for token ${payment.token}`,
        ),
      );
    }
    if (payment.validAfter > now) {
      return this.#knownOr(
        digest,
        new RelayerError("not_yet_valid", `valid only after ${payment.validAfter} (now ${now})`),
      );
    }
    if (payment.validBefore <= now + BigInt(this.o.minValiditySeconds)) {
      return this.#knownOr(
        digest,
        new RelayerError(
          "expired",
          `validBefore ${payment.validBefore} leaves less than ${this.o.minValiditySeconds}s to settle (now ${now})`,
        ),
      );
    }
    const refusal = await this.#signatureRefusal(digest, payment, signature);
    if (refusal !== undefined) return this.#knownOr(digest, refusal);

    let balance: BalanceRead;
    let nonceUsed: boolean;
    try {
      [balance, nonceUsed] = await Promise.all([
        this.o.reader.balanceOf(payment.from, payment.token),
        this.o.reader.nonceUsed(payment.from, payment.nonce),
      ]);
    } catch (error) {
      this.o.logger.warn({ err: error, intentDigest: digest }, "hub read failed during validation");
      return this.#knownOr(digest, new RelayerError("chain_unavailable", "the hub could not be read; retry later"));
    }
    if (nonceUsed)
      return this.#knownOr(digest, new RelayerError("nonce_used", `nonce ${payment.nonce} is used on-chain`));
    const spendable = spendableBefore(balance, payment.validBefore);
    const balanceText =
      spendable === balance.value
        ? `hub balance ${balance.value}`
        : `hub balance ${balance.value} less ${balance.value - spendable} the payer may withdraw from ${balance.withdrawal.availableAt}, before the intent expires (a pending withdrawal request; requestWithdrawal(token, 0) cancels it)`;
    if (spendable < payment.amount + payment.fee) {
      return this.#knownOr(
        digest,
        new RelayerError("insufficient_balance", `${balanceText} < amount + fee ${payment.amount + payment.fee}`),
      );
    }

    let result: InsertIntentResult;
    try {
      result = await this.#writer.push({
        digest,
        hub: this.o.hub,
        payment,
        signature,
        balance: spendable,
        balanceBlock: balance.block,
      });
    } catch (error) {
      this.o.logger.error({ err: error, intentDigest: digest }, "store write failed");
      throw new RelayerError("store_unavailable", "the intent could not be stored; nothing was accepted");
    }
    switch (result.result) {
      case "inserted":
        this.o.metrics.accepted.inc();
        this.o.onAccepted?.(payment);
        this.o.logger.debug({ intentDigest: digest, payer: payment.from }, "intent accepted");
        return { digest, status: "accepted", duplicate: false };
      case "duplicate":
        this.o.metrics.duplicates.inc();
        return { digest, status: result.status, duplicate: true };
      case "nonce_conflict":
        throw new RelayerError(
          "nonce_conflict",
          `another accepted intent of ${payment.from} uses nonce ${payment.nonce}`,
        );
      case "insufficient_balance":
        throw new RelayerError(
          "insufficient_balance",
          `${balanceText} < amount + fee ${payment.amount + payment.fee} + reserved ${result.reserved}`,
        );
    }
  }

  /**
   * Why the signature is refused, if it is: not the payer's, or an ERC-1271 wallet that could not
   * be asked. (A wallet's answer can change, and its call needs the node: an intent accepted
   * earlier is answered with its status whatever the check says now.)
   */
  async #signatureRefusal(digest: Hex, payment: Payment, signature: Hex): Promise<RelayerError | undefined> {
    const signer = this.o.signing.recoverDigestSigner(digest, signature);
    if (signer !== null && signer.toLowerCase() === payment.from.toLowerCase()) return undefined;
    let valid: boolean;
    try {
      valid = await this.o.verifier.verifyPayment({ domain: this.domain, payment, signature });
    } catch (error) {
      this.o.logger.warn({ err: error, intentDigest: digest }, "ERC-1271 check failed");
      return new RelayerError("chain_unavailable", "the payer's contract signature could not be checked; retry later");
    }
    return valid
      ? undefined
      : new RelayerError("invalid_signature", `not signed by ${payment.from} for this hub and chain`);
  }

  /**
   * A request that would be refused may be a resubmission of an intent already accepted (its
   * nonce is then used by itself, its amount reserved by itself, its window maybe closing):
   * answer with its status.
   */
  async #knownOr(digest: Hex, error: RelayerError): Promise<AcceptedPayment> {
    let known: IntentRecord | null;
    try {
      known = await this.o.store.getIntent(digest);
    } catch (storeError) {
      this.o.logger.error({ err: storeError, intentDigest: digest }, "store read failed");
      throw new RelayerError("store_unavailable", "the store could not be read; retry later");
    }
    if (known === null) throw error;
    this.o.metrics.duplicates.inc();
    return { digest, status: known.status, duplicate: true };
  }
}
