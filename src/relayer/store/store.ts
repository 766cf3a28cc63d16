import type { Address, Hex } from "viem";
import type { Payment } from "../chain/ports.js";

/**
 * The relayer's persistent state. One interface, one SQL implementation (`SqlStore`) over two
 * drivers: PGlite (embedded, the default) and a Postgres server (`DATABASE_URL`). Writes are
 * batched: every method that takes a list writes it with one multi-row statement.
 */

export type IntentStatus = "accepted" | "submitted" | "settled" | "failed";
export type BatchKind = "settle" | "release" | "claim" | "finalize" | "expire" | "filler";
export type BatchStatus = "pending" | "confirmed" | "reverted" | "abandoned";

export interface IntentRecord {
  digest: Hex;
  hub: Address;
  payment: Payment;
  signature: Hex;
  status: IntentStatus;
  failureReason: string | null;
  batchId: number | null;
  txHash: Hex | null;
  blockNumber: bigint | null;
  attempts: number;
  acceptedAt: Date;
  updatedAt: Date;
  settledAt: Date | null;
}

/** An intent that passed validation, with the hub balance its payer had when it was checked. */
export interface NewIntent {
  digest: Hex;
  hub: Address;
  payment: Payment;
  signature: Hex;
  /** The payer's on-chain hub balance of `payment.token` when validated. */
  balance: bigint;
  /**
   * A block the balance read reflects at least (the head known before it was read). The
   * payer's intents recorded settled in later blocks count against the balance as if still
   * reserved: their debit may be missing from it.
   */
  balanceBlock: bigint;
}

export type InsertIntentResult =
  | { digest: Hex; result: "inserted" }
  | { digest: Hex; result: "duplicate"; status: IntentStatus }
  | { digest: Hex; result: "nonce_conflict" }
  | { digest: Hex; result: "insufficient_balance"; reserved: bigint };

export interface Reservation {
  hub: Address;
  payer: Address;
  token: Address;
  reserved: bigint;
  intents: number;
}

export interface QueueGroup {
  token: Address;
  /** Claimable intents, counted up to the limit asked. */
  ready: number;
  oldestAcceptedAt: Date;
}

export interface TxAttempt {
  hash: Hex;
  batchId: number;
  nonce: number;
  gasLimit: bigint;
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
  raw: Hex;
}

export interface BatchRecord {
  id: number;
  kind: BatchKind;
  contract: Address;
  token: Address | null;
  sender: Address;
  size: number;
  nonce: number | null;
  status: BatchStatus;
  txHash: Hex | null;
  blockNumber: bigint | null;
  blockHash: Hex | null;
  note: string | null;
  /** Every signed transaction of the batch (replacements share its nonce), oldest first. */
  attempts: TxAttempt[];
}

export interface Inclusion {
  txHash: Hex;
  blockNumber: bigint;
  blockHash: Hex;
}

/** Per-intent results of a confirmed settle batch. */
export interface PaymentResults extends Inclusion {
  batchId: number;
  /** Settled by this batch's transaction. */
  settled: Hex[];
  /** Settled earlier by another transaction (found by its `PaymentSettled` event). */
  settledElsewhere: (Inclusion & { digest: Hex })[];
  failed: { digest: Hex; reason: string }[];
  /** No event for them: back to the queue. */
  requeued: Hex[];
}

export interface ReleaseRecord {
  digest: Hex;
  escrow: Address;
  id: bigint;
  releasedTotal: bigint;
  deadline: bigint;
  signature: Hex;
  status: IntentStatus;
  failureReason: string | null;
  batchId: number | null;
  txHash: Hex | null;
  blockNumber: bigint | null;
  acceptedAt: Date;
}

export interface VoucherRecord {
  channels: Address;
  channelId: Hex;
  cumulativeAmount: bigint;
  signature: Hex;
  claimRequested: boolean;
  claimedAmount: bigint;
  batchId: number | null;
}

/** A confirmed (or reverted) transaction of the relayer, for the status page. */
export interface RecentBatch {
  id: number;
  kind: BatchKind;
  size: number;
  status: "confirmed" | "reverted";
  txHash: Hex;
  blockNumber: bigint;
  at: Date;
}

/** What the status page shows from the store, in one read. */
export interface StatusSnapshot {
  /** The hub's intents by status (all zero without a hub). */
  intents: Record<IntentStatus, number>;
  /** Intents settled within the last `windowSeconds`. */
  settledInWindow: number;
  /** The relayer's latest confirmed or reverted transactions (fillers left out), newest first. */
  recentBatches: RecentBatch[];
  /** Channels whose latest voucher the relayer keeps (watchtower duty), most recently updated first. */
  watchedChannels: { count: number; latest: VoucherRecord[] };
}

export interface ChainCursor {
  blockNumber: bigint;
  blockHash: Hex;
}

/** An escrow as the chain indexer keeps it. */
export interface IndexedEscrow {
  id: bigint;
  deadline: bigint;
  /** Unix seconds of the dispute; 0 when never disputed. */
  disputedAt: bigint;
  state: "active" | "disputed" | "closed";
  remaining: bigint;
  /** `settleExpired` succeeds once the block timestamp is above this (see `settleableAfter`). */
  settleAfter: bigint;
}

/** A payment channel as the chain indexer keeps it. */
export interface IndexedChannel {
  channelId: Hex;
  payee: Address;
  deposit: bigint;
  claimed: bigint;
  /** Unix seconds from which `finalizeClose` succeeds; 0 while no close is requested. */
  closesAt: bigint;
  status: "open" | "closing" | "closed";
}

/** A channel whose close was requested, with what the watchtower needs to act on it. */
export interface WatchedChannel extends IndexedChannel {
  /** The latest voucher kept for it, if any. */
  voucher: VoucherRecord | null;
  /** A `finalizeClose` of ours is pending for it. */
  finalizeInFlight: boolean;
}

/** What the automation is watching (for the status page). */
export interface AutomationCounts {
  /** Escrows with funds left, not yet settleable on expiry. */
  escrowsWaiting: number;
  /** Escrows settleable on expiry now, not yet settled. */
  escrowsDue: number;
  /** Of the escrows with funds left, those disputed. */
  escrowsDisputed: number;
  channelsOpen: number;
  /** Channels whose close was requested: the watchtower's duty. */
  channelsClosing: number;
}

export interface Store {
  readonly backend: "pglite" | "postgres";

  // Payment intents
  /**
   * Inserts validated intents atomically with the reservation check: under a per-(payer, token)
   * lock, an intent is inserted only if `balance >= reserved + amount + fee`, so concurrent
   * requests, even on several instances, can never over-reserve a payer. The same digest twice
   * is a `duplicate` (one row); another live intent with the payer's nonce is a `nonce_conflict`.
   */
  insertIntents(intents: readonly NewIntent[]): Promise<InsertIntentResult[]>;
  getIntent(digest: Hex): Promise<IntentRecord | null>;
  /** Open (accepted or submitted) amounts per payer and token, maintained with every status change. */
  reservations(hub: Address): Promise<Reservation[]>;
  /** Tokens with claimable intents, each with its count (up to `limit`) and its oldest intent. */
  queueGroups(hub: Address, limit: number): Promise<QueueGroup[]>;
  /**
   * Claims up to `limit` accepted intents of one hub and token, oldest first, valid at
   * `nowSeconds` (`validAfter < nowSeconds`, as the hub requires), for `owner` until the lease ends (`FOR UPDATE SKIP LOCKED`: instances never
   * claim the same intent).
   */
  claimIntents(args: {
    hub: Address;
    token: Address;
    owner: string;
    limit: number;
    leaseMs: number;
    nowSeconds: bigint;
  }): Promise<IntentRecord[]>;
  /** The intents a settle batch carries that still wait for its result. */
  submittedIntents(batchId: number): Promise<IntentRecord[]>;
  /**
   * Gives back claims: without `digests`, all of the owner's (intents and escrow releases, at
   * start-up); with them, those payment intents only (ones a batch did not use).
   */
  releaseClaims(owner: string, digests?: readonly Hex[]): Promise<number>;
  /** Marks accepted intents failed before submission (e.g. expired). Returns those changed. */
  failAcceptedIntents(digests: readonly Hex[], reason: string): Promise<Hex[]>;
  /**
   * Records accepted intents as settled by a transaction other than a batch of this relayer
   * (found by their `PaymentSettled` logs). Returns those changed.
   */
  settleAcceptedIntents(settlements: readonly (Inclusion & { digest: Hex })[]): Promise<IntentRecord[]>;

  // Batches and their transactions
  /**
   * Creates a batch and moves its items to `submitted` in one transaction. For `settle`, only
   * intents still accepted and claimed by `sender` are taken; the returned items are the batch.
   * For `expire` (items: escrow ids as hex) and `finalize` (items: channel ids) the indexed rows
   * remember the batch, which keeps them out of `dueEscrows`/in flight while it is pending.
   */
  createBatch(args: {
    kind: BatchKind;
    contract: Address;
    token?: Address;
    sender: Address;
    items: readonly Hex[];
    note?: string;
  }): Promise<{ batchId: number; items: Hex[] }>;
  /** Records a signed transaction before it is broadcast (so a crash cannot lose track of it). */
  recordAttempt(attempt: TxAttempt, sender: Address): Promise<void>;
  markAttemptRejected(hash: Hex): Promise<void>;
  /** Applies a confirmed settle batch's per-intent results; returns the records that changed. */
  applyPaymentResults(results: PaymentResults): Promise<IntentRecord[]>;
  /** A confirmed non-settle batch (release, claim, ...), successful or reverted. */
  confirmBatch(batchId: number, inclusion: Inclusion, status: "confirmed" | "reverted", note?: string): Promise<void>;
  /**
   * Gives up a batch that will never be mined as it is (its nonce went to another transaction,
   * or it was never sent): its items go back to the queue, except those that reached
   * `maxAttempts`, which fail with `reason`. With `maxAttempts` null none fails (the batch's
   * transaction may still be mined elsewhere). Returns the items that failed.
   */
  abandonBatch(batchId: number, reason: string, maxAttempts: number | null): Promise<Hex[]>;
  /**
   * A reorg removed a confirmed batch's block: its items go back to `submitted`, the batch to
   * `pending` (except a failed intent whose nonce a live intent of the payer took meanwhile: it
   * stays failed, its block forgotten). A voucher claim's voucher is in flight again (unless another claim of it is), with
   * its claim requested and no amount noted as claimed by us, so that a claim never mined again
   * is made again.
   */
  reopenBatch(batchId: number): Promise<IntentRecord[]>;
  pendingBatches(sender: Address): Promise<BatchRecord[]>;
  /** Notes that `sender`'s instance is alive (see `adoptOrphanedBatches`). */
  heartbeat(sender: Address): Promise<void>;
  /**
   * Pending batches of other senders unseen for `unseenMs` (an instance gone for good, a rotated
   * key) that one of `jobs` could have sent: the same kind, calling the same contract (`null`:
   * any, for gap fillers). They are marked as adopted by `sender`, so that no other live
   * instance takes them too; also returned: those `sender` adopted before, and any whose
   * adopter is unseen as long.
   */
  adoptOrphanedBatches(args: {
    sender: Address;
    unseenMs: number;
    limit: number;
    jobs: readonly { kind: BatchKind; contract: Address | null }[];
  }): Promise<BatchRecord[]>;
  getBatch(batchId: number): Promise<BatchRecord | null>;
  /**
   * Batches of `sender`, or adopted by it, confirmed at or after `fromBlock` (the reorg watch
   * after a restart).
   */
  confirmedBatchesSince(sender: Address, fromBlock: bigint): Promise<BatchRecord[]>;

  // Escrow releases
  insertRelease(
    release: Omit<ReleaseRecord, "status" | "failureReason" | "batchId" | "txHash" | "blockNumber" | "acceptedAt">,
  ): Promise<{ inserted: boolean; record: ReleaseRecord }>;
  getRelease(digest: Hex): Promise<ReleaseRecord | null>;
  claimReleases(args: { escrow: Address; owner: string; limit: number; leaseMs: number }): Promise<ReleaseRecord[]>;
  /** Digests of the releases a release batch carries that still wait for its result. */
  submittedReleases(batchId: number): Promise<Hex[]>;
  /**
   * Records how a release ended. With `claimedBy`, only while the release is still accepted and
   * claimed by that owner (an outcome decided before sending: another instance whose lease
   * began since may have sent it); returns whether it was recorded.
   */
  setReleaseOutcome(
    digest: Hex,
    outcome: { status: "settled" | "failed"; reason?: string; inclusion?: Inclusion },
    claimedBy?: string,
  ): Promise<boolean>;

  // Vouchers
  /** Keeps the voucher if it is the channel's highest; returns the channel's latest stored voucher. */
  upsertVoucher(voucher: {
    channels: Address;
    channelId: Hex;
    cumulativeAmount: bigint;
    signature: Hex;
    claim: boolean;
  }): Promise<VoucherRecord>;
  getVoucher(channels: Address, channelId: Hex): Promise<VoucherRecord | null>;
  /** Vouchers whose claim was asked for and is not in flight. */
  claimableVouchers(channels: Address, limit: number): Promise<VoucherRecord[]>;
  /**
   * Notes `cumulativeAmount` as claimed: after the claim batch `batchId` confirmed (no longer in
   * flight then), or, with `batchId` null, as read on-chain (a claim in flight stays so).
   */
  markVoucherClaimed(
    channels: Address,
    channelId: Hex,
    cumulativeAmount: bigint,
    batchId: number | null,
  ): Promise<void>;
  /** Forgets that a claim of the channel's voucher was asked for (the channel is closed: none can succeed). */
  dropClaimRequest(channels: Address, channelId: Hex): Promise<void>;

  // Chain indexing
  getCursor(name: string): Promise<ChainCursor | null>;
  setCursor(name: string, cursor: ChainCursor): Promise<void>;
  /** Upserts escrows as read from the chain after the block range ending at `blockNumber`. */
  upsertIndexedEscrows(escrow: Address, rows: readonly IndexedEscrow[], blockNumber: bigint): Promise<void>;
  /** Upserts channels as read from the chain after the block range ending at `blockNumber`. */
  upsertIndexedChannels(channels: Address, rows: readonly IndexedChannel[], blockNumber: bigint): Promise<void>;
  /** Escrows last touched by a block range ending after `blockNumber` (to re-read after a reorg). */
  escrowIdsIndexedAfter(escrow: Address, blockNumber: bigint): Promise<bigint[]>;
  /** Channels last touched by a block range ending after `blockNumber` (to re-read after a reorg). */
  channelIdsIndexedAfter(channels: Address, blockNumber: bigint): Promise<Hex[]>;
  /**
   * Escrows with funds left whose settle time is below `nowSeconds` and that no pending batch of
   * ours carries, soonest first.
   */
  dueEscrows(escrow: Address, nowSeconds: bigint, limit: number): Promise<IndexedEscrow[]>;
  /** Channels whose close was requested, soonest to close first, with their latest voucher. */
  closingChannels(channels: Address, limit: number): Promise<WatchedChannel[]>;
  automationCounts(args: { escrow?: Address; channels?: Address; nowSeconds: bigint }): Promise<AutomationCounts>;

  /** Figures for the status page (`GET /v1/status`). */
  statusSnapshot(args: {
    hub?: Address;
    channels?: Address;
    sender: Address;
    windowSeconds: number;
    limit: number;
  }): Promise<StatusSnapshot>;

  /** Payers whose maintained reservation differs from the one derived from their open intents (should be none). */
  reservationMismatches(): Promise<{ hub: Address; payer: Address; token: Address }[]>;
  /**
   * Folds the intent counts of database sessions that ended into one row (the counts stay the
   * same): on a Postgres server each pooled connection writes rows of its own, and connections
   * come and go. Returns the rows folded; 0 on PGlite, which is one session.
   */
  compactCounts(): Promise<number>;
  /** Statuses whose maintained intent count differs from a recount of the intents (should be none). */
  countMismatches(): Promise<{ hub: Address; status: IntentStatus; kept: number; counted: number }[]>;
  /** Applied schema versions, oldest first. */
  schemaVersions(): Promise<number[]>;
  close(): Promise<void>;
}
