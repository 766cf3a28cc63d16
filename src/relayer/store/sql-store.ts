import { type Address, getAddress, type Hex, toHex } from "viem";
import type { SqlDriver, SqlQueryable } from "./driver.js";
import { MIGRATIONS, type Migration } from "./migrations.js";
import type {
  AutomationCounts,
  BatchKind,
  BatchRecord,
  BatchStatus,
  ChainCursor,
  Inclusion,
  IndexedChannel,
  IndexedEscrow,
  InsertIntentResult,
  IntentRecord,
  IntentStatus,
  NewIntent,
  PaymentResults,
  QueueGroup,
  RecentBatch,
  ReleaseRecord,
  Reservation,
  StatusSnapshot,
  Store,
  TxAttempt,
  VoucherRecord,
  WatchedChannel,
} from "./store.js";

/** Any integer-like column value (pg returns int8/numeric as strings, PGlite int8 as numbers). */
type Num = string | number | bigint;

interface IntentRow {
  digest: string;
  hub: string;
  payer: string;
  payee: string;
  token: string;
  amount: Num;
  fee: Num;
  nonce: Num;
  valid_after: Num;
  valid_before: Num;
  ref: string;
  signature: string;
  status: IntentStatus;
  failure_reason: string | null;
  batch_id: Num | null;
  tx_hash: string | null;
  block_number: Num | null;
  attempts: Num;
  accepted_at: Date;
  updated_at: Date;
  settled_at: Date | null;
}

interface ReleaseRow {
  digest: string;
  escrow: string;
  escrow_id: Num;
  released_total: Num;
  deadline: Num;
  signature: string;
  status: IntentStatus;
  failure_reason: string | null;
  batch_id: Num | null;
  tx_hash: string | null;
  block_number: Num | null;
  accepted_at: Date;
}

interface VoucherRow {
  channels: string;
  channel_id: string;
  cumulative_amount: Num;
  signature: string;
  claim_requested: boolean;
  claimed_amount: Num;
  batch_id: Num | null;
}

interface IndexedEscrowRow {
  escrow_id: Num;
  deadline: Num;
  disputed_at: Num;
  state: IndexedEscrow["state"];
  remaining: Num;
  settle_after: Num;
}

interface WatchedChannelRow {
  channels: string;
  channel_id: string;
  payee: string;
  deposit: Num;
  claimed: Num;
  closes_at: Num;
  status: IndexedChannel["status"];
  finalize_pending: boolean;
  cumulative_amount: Num | null;
  signature: string | null;
  claim_requested: boolean | null;
  claimed_amount: Num | null;
  voucher_batch_id: Num | null;
}

interface BatchRow {
  id: Num;
  kind: BatchKind;
  contract: string;
  token: string | null;
  sender: string;
  size: Num;
  nonce: Num | null;
  status: BatchStatus;
  tx_hash: string | null;
  block_number: Num | null;
  block_hash: string | null;
  note: string | null;
}

interface AttemptRow {
  hash: string;
  batch_id: Num;
  nonce: Num;
  gas_limit: Num;
  max_fee_per_gas: Num;
  max_priority_fee_per_gas: Num;
  raw: string;
}

const lower = (value: string): string => value.toLowerCase();
const big = (value: Num): bigint => BigInt(value);
const bigOrNull = (value: Num | null): bigint | null => (value === null ? null : BigInt(value));
const numOrNull = (value: Num | null): number | null => (value === null ? null : Number(value));

/**
 * Checksummed addresses are computed once per distinct lowercase address: the store hands out
 * the same few payers, tokens and hubs thousands of times.
 */
const checksums = new Map<string, Address>();
function checksum(value: string): Address {
  let address = checksums.get(value);
  if (address === undefined) {
    address = getAddress(value);
    if (checksums.size > 100_000) checksums.clear();
    checksums.set(value, address);
  }
  return address;
}

function toIntent(row: IntentRow): IntentRecord {
  return {
    digest: row.digest as Hex,
    hub: checksum(row.hub),
    payment: {
      from: checksum(row.payer),
      to: checksum(row.payee),
      token: checksum(row.token),
      amount: big(row.amount),
      fee: big(row.fee),
      nonce: big(row.nonce),
      validAfter: big(row.valid_after),
      validBefore: big(row.valid_before),
      ref: row.ref as Hex,
    },
    signature: row.signature as Hex,
    status: row.status,
    failureReason: row.failure_reason,
    batchId: numOrNull(row.batch_id),
    txHash: row.tx_hash as Hex | null,
    blockNumber: bigOrNull(row.block_number),
    attempts: Number(row.attempts),
    acceptedAt: row.accepted_at,
    updatedAt: row.updated_at,
    settledAt: row.settled_at,
  };
}

function toRelease(row: ReleaseRow): ReleaseRecord {
  return {
    digest: row.digest as Hex,
    escrow: checksum(row.escrow),
    id: big(row.escrow_id),
    releasedTotal: big(row.released_total),
    deadline: big(row.deadline),
    signature: row.signature as Hex,
    status: row.status,
    failureReason: row.failure_reason,
    batchId: numOrNull(row.batch_id),
    txHash: row.tx_hash as Hex | null,
    blockNumber: bigOrNull(row.block_number),
    acceptedAt: row.accepted_at,
  };
}

function toVoucher(row: VoucherRow): VoucherRecord {
  return {
    channels: checksum(row.channels),
    channelId: row.channel_id as Hex,
    cumulativeAmount: big(row.cumulative_amount),
    signature: row.signature as Hex,
    claimRequested: row.claim_requested,
    claimedAmount: big(row.claimed_amount),
    batchId: numOrNull(row.batch_id),
  };
}

function toIndexedEscrow(row: IndexedEscrowRow): IndexedEscrow {
  return {
    id: big(row.escrow_id),
    deadline: big(row.deadline),
    disputedAt: big(row.disputed_at),
    state: row.state,
    remaining: big(row.remaining),
    settleAfter: big(row.settle_after),
  };
}

function toWatchedChannel(row: WatchedChannelRow): WatchedChannel {
  return {
    channelId: row.channel_id as Hex,
    payee: checksum(row.payee),
    deposit: big(row.deposit),
    claimed: big(row.claimed),
    closesAt: big(row.closes_at),
    status: row.status,
    finalizeInFlight: row.finalize_pending,
    voucher:
      row.cumulative_amount === null
        ? null
        : toVoucher({
            channels: row.channels,
            channel_id: row.channel_id,
            cumulative_amount: row.cumulative_amount,
            signature: row.signature as string,
            claim_requested: row.claim_requested === true,
            claimed_amount: row.claimed_amount ?? 0,
            batch_id: row.voucher_batch_id,
          }),
  };
}

function toBatch(row: BatchRow, attempts: AttemptRow[]): BatchRecord {
  return {
    id: Number(row.id),
    kind: row.kind,
    contract: checksum(row.contract),
    token: row.token === null ? null : checksum(row.token),
    sender: checksum(row.sender),
    size: Number(row.size),
    nonce: numOrNull(row.nonce),
    status: row.status,
    txHash: row.tx_hash as Hex | null,
    blockNumber: bigOrNull(row.block_number),
    blockHash: row.block_hash as Hex | null,
    note: row.note,
    attempts: attempts.map((a) => ({
      hash: a.hash as Hex,
      batchId: Number(a.batch_id),
      nonce: Number(a.nonce),
      gasLimit: big(a.gas_limit),
      maxFeePerGas: big(a.max_fee_per_gas),
      maxPriorityFeePerGas: big(a.max_priority_fee_per_gas),
      raw: a.raw as Hex,
    })),
  };
}

/** Serialises schema migrations of several instances starting at once. */
const MIGRATION_LOCK = 7_316_455_001;

/** Applies the migrations not yet applied, each in its own transaction. */
export async function migrate(driver: SqlDriver, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  // Under the lock too: concurrent CREATE TABLE IF NOT EXISTS of instances starting together
  // fails on Postgres (duplicate key in pg_type).
  await driver.transaction(async (tx) => {
    await tx.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
    await tx.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
  });
  const applied: number[] = [];
  for (const migration of migrations) {
    await driver.transaction(async (tx) => {
      await tx.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
      const done = await tx.query("SELECT 1 FROM schema_migrations WHERE version = $1", [migration.version]);
      if (done.length > 0) return;
      await tx.exec(migration.sql);
      await tx.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", [
        migration.version,
        migration.name,
      ]);
      applied.push(migration.version);
    });
  }
  return applied;
}

/**
 * The tokens with claimable intents, each with its oldest claimable intent and a count capped at
 * `$2`. Tokens come from the open reservations (the `reservations_open` index: payers with
 * intents in flight, not every payer ever seen); per token, both figures walk the queue index
 * instead of the whole table. Exported for the test that checks the plan.
 * @internal
 */
export const QUEUE_GROUPS_SQL = `
  SELECT t.token,
         (SELECT min(accepted_at) FROM (
            SELECT accepted_at FROM payment_intents
            WHERE hub = $1 AND token = t.token AND status = 'accepted'
              AND (claimed_by IS NULL OR lease_until < now())
            ORDER BY accepted_at LIMIT 1) o) AS oldest,
         (SELECT count(*) FROM (
            SELECT 1 FROM payment_intents
            WHERE hub = $1 AND token = t.token AND status = 'accepted'
              AND (claimed_by IS NULL OR lease_until < now())
            LIMIT $2) c) AS ready
  FROM (SELECT DISTINCT token FROM reservations WHERE hub = $1 AND intents > 0) t`;

/**
 * Intents per status for the status page, kept by the triggers (migration 5), and those settled
 * in the last `$2` seconds, through the batches confirmed meanwhile: the page refreshes every
 * second, and must not cost more as the history grows. Exported for the test that checks the plan.
 * @internal
 */
export const STATUS_COUNTS_SQL = `
  SELECT status, sum(n) AS n FROM intent_counts WHERE hub = $1 GROUP BY status
  UNION ALL
  SELECT 'recent', count(*) FROM payment_intents
  WHERE batch_id IN (SELECT id FROM batches
                     WHERE status = 'confirmed' AND kind = 'settle' AND updated_at > now() - $2 * interval '1 second')
    AND hub = $1 AND status = 'settled'`;

/** The store over any Postgres-dialect driver: the same SQL for PGlite and a Postgres server. */
export class SqlStore implements Store {
  readonly backend: "pglite" | "postgres";

  constructor(private readonly db: SqlDriver) {
    this.backend = db.backend;
  }

  async insertIntents(intents: readonly NewIntent[]): Promise<InsertIntentResult[]> {
    if (intents.length === 0) return [];
    const hub = lower(intents[0].hub);
    if (intents.some((i) => lower(i.hub) !== hub)) throw new Error("insertIntents: one hub per call");
    // One call, its own transaction: the locks, the checks and the insert (migrations 4 and 7).
    const rows = await this.db.query<{ result: InsertIntentResult["result"]; status: string | null; reserved: Num }>(
      `SELECT * FROM accept_intents($1, $2::text[], $3::text[], $4::text[], $5::text[], $6::numeric[], $7::numeric[],
                                    $8::numeric[], $9::numeric[], $10::numeric[], $11::text[], $12::text[], $13::numeric[],
                                    $14::numeric[])`,
      [
        hub,
        intents.map((i) => lower(i.digest)),
        intents.map((i) => lower(i.payment.from)),
        intents.map((i) => lower(i.payment.to)),
        intents.map((i) => lower(i.payment.token)),
        intents.map((i) => i.payment.amount.toString()),
        intents.map((i) => i.payment.fee.toString()),
        intents.map((i) => i.payment.nonce.toString()),
        intents.map((i) => i.payment.validAfter.toString()),
        intents.map((i) => i.payment.validBefore.toString()),
        intents.map((i) => lower(i.payment.ref)),
        intents.map((i) => lower(i.signature)),
        intents.map((i) => i.balance.toString()),
        intents.map((i) => i.balanceBlock.toString()),
      ],
    );
    if (rows.length !== intents.length) throw new Error(`accept_intents answered ${rows.length} of ${intents.length}`);
    return rows.map((row, i): InsertIntentResult => {
      const digest = intents[i].digest;
      switch (row.result) {
        case "duplicate":
          return { digest, result: "duplicate", status: row.status as IntentStatus };
        case "insufficient_balance":
          return { digest, result: "insufficient_balance", reserved: big(row.reserved) };
        default:
          return { digest, result: row.result };
      }
    });
  }

  async getIntent(digest: Hex): Promise<IntentRecord | null> {
    const rows = await this.db.query<IntentRow>("SELECT * FROM payment_intents WHERE digest = $1", [lower(digest)]);
    return rows.length === 0 ? null : toIntent(rows[0]);
  }

  async reservations(hub: Address): Promise<Reservation[]> {
    const rows = await this.db.query<{ hub: string; payer: string; token: string; reserved: Num; intents: Num }>(
      "SELECT * FROM reservations WHERE hub = $1 AND intents > 0",
      [lower(hub)],
    );
    return rows.map((r) => ({
      hub: checksum(r.hub),
      payer: checksum(r.payer),
      token: checksum(r.token),
      reserved: big(r.reserved),
      intents: Number(r.intents),
    }));
  }

  async queueGroups(hub: Address, limit: number): Promise<QueueGroup[]> {
    const rows = await this.db.query<{ token: string; oldest: Date | null; ready: Num }>(QUEUE_GROUPS_SQL, [
      lower(hub),
      limit,
    ]);
    return rows
      .filter((r) => r.oldest !== null)
      .map((r) => ({ token: checksum(r.token), ready: Number(r.ready), oldestAcceptedAt: r.oldest as Date }));
  }

  async claimIntents(args: {
    hub: Address;
    token: Address;
    owner: string;
    limit: number;
    leaseMs: number;
    nowSeconds: bigint;
  }): Promise<IntentRecord[]> {
    const rows = await this.db.query<IntentRow>(
      `WITH picked AS (
         SELECT digest FROM payment_intents
         WHERE hub = $1 AND token = $2 AND status = 'accepted'
           AND (claimed_by IS NULL OR lease_until < now())
           AND valid_after < $5
         ORDER BY accepted_at
         LIMIT $4
         FOR UPDATE SKIP LOCKED)
       UPDATE payment_intents p
       SET claimed_by = $3, lease_until = now() + $6 * interval '1 millisecond', updated_at = now()
       FROM picked WHERE p.digest = picked.digest
       RETURNING p.*`,
      [lower(args.hub), lower(args.token), args.owner, args.limit, args.nowSeconds.toString(), args.leaseMs],
    );
    return rows.map(toIntent).sort((a, b) => a.acceptedAt.getTime() - b.acceptedAt.getTime());
  }

  async submittedIntents(batchId: number): Promise<IntentRecord[]> {
    const rows = await this.db.query<IntentRow>(
      "SELECT * FROM payment_intents WHERE batch_id = $1 AND status = 'submitted' ORDER BY accepted_at",
      [batchId],
    );
    return rows.map(toIntent);
  }

  async releaseClaims(owner: string, digests?: readonly Hex[]): Promise<number> {
    const rows =
      digests === undefined
        ? await this.db.query(
            `UPDATE payment_intents SET claimed_by = NULL, lease_until = NULL
             WHERE claimed_by = $1 AND status = 'accepted' RETURNING digest`,
            [owner],
          )
        : await this.db.query(
            `UPDATE payment_intents SET claimed_by = NULL, lease_until = NULL
             WHERE claimed_by = $1 AND status = 'accepted' AND digest = ANY($2::text[]) RETURNING digest`,
            [owner, digests.map(lower)],
          );
    // All of the owner's release claims only at start-up: a list names payment intents, and the
    // relays job may be holding release claims of the same owner at that moment.
    if (digests === undefined) {
      await this.db.query(
        "UPDATE escrow_releases SET claimed_by = NULL, lease_until = NULL WHERE claimed_by = $1 AND status = 'accepted'",
        [owner],
      );
    }
    return rows.length;
  }

  async failAcceptedIntents(digests: readonly Hex[], reason: string): Promise<Hex[]> {
    if (digests.length === 0) return [];
    const rows = await this.db.query<{ digest: string }>(
      `UPDATE payment_intents
       SET status = 'failed', failure_reason = $2, claimed_by = NULL, lease_until = NULL, updated_at = now()
       WHERE digest = ANY($1::text[]) AND status = 'accepted' RETURNING digest`,
      [digests.map(lower), reason],
    );
    return rows.map((r) => r.digest as Hex);
  }

  async settleAcceptedIntents(settlements: readonly (Inclusion & { digest: Hex })[]): Promise<IntentRecord[]> {
    if (settlements.length === 0) return [];
    const rows = await this.db.query<IntentRow>(
      `UPDATE payment_intents p
       SET status = 'settled', tx_hash = x.h, block_number = x.n, block_hash = x.b, failure_reason = NULL,
           claimed_by = NULL, lease_until = NULL, settled_at = now(), updated_at = now()
       FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[]) AS x(d, h, n, b)
       WHERE p.status = 'accepted' AND p.digest = x.d RETURNING p.*`,
      [
        settlements.map((s) => lower(s.digest)),
        settlements.map((s) => lower(s.txHash)),
        settlements.map((s) => s.blockNumber.toString()),
        settlements.map((s) => lower(s.blockHash)),
      ],
    );
    return rows.map(toIntent);
  }

  async createBatch(args: {
    kind: BatchKind;
    contract: Address;
    token?: Address;
    sender: Address;
    items: readonly Hex[];
    note?: string;
  }): Promise<{ batchId: number; items: Hex[] }> {
    return this.db.transaction(async (tx) => {
      const [{ id }] = await tx.query<{ id: Num }>(
        `INSERT INTO batches (kind, contract, token, sender, size, status, note)
         VALUES ($1, $2, $3, $4, $5, 'pending', $6) RETURNING id`,
        [
          args.kind,
          lower(args.contract),
          args.token === undefined ? null : lower(args.token),
          lower(args.sender),
          args.items.length,
          args.note ?? null,
        ],
      );
      const batchId = Number(id);
      const items = args.items.map(lower);
      let taken: string[] = items;
      if (args.kind === "settle") {
        taken = (
          await tx.query<{ digest: string }>(
            `UPDATE payment_intents
             SET status = 'submitted', batch_id = $1, attempts = attempts + 1,
                 claimed_by = NULL, lease_until = NULL, updated_at = now()
             WHERE digest = ANY($2::text[]) AND status = 'accepted' AND claimed_by = $3 RETURNING digest`,
            [batchId, items, lower(args.sender)],
          )
        ).map((r) => r.digest);
      } else if (args.kind === "release") {
        taken = (
          await tx.query<{ digest: string }>(
            `UPDATE escrow_releases
             SET status = 'submitted', batch_id = $1, attempts = attempts + 1,
                 claimed_by = NULL, lease_until = NULL, updated_at = now()
             WHERE digest = ANY($2::text[]) AND status = 'accepted' AND claimed_by = $3 RETURNING digest`,
            [batchId, items, lower(args.sender)],
          )
        ).map((r) => r.digest);
      } else if (args.kind === "expire" || args.kind === "finalize") {
        // Rows another pending batch carries (another instance's) are not taken: lock them first,
        // then decide in a new statement, whose snapshot sees that batch if it committed meanwhile.
        const [table, key, keys] =
          args.kind === "expire"
            ? ["indexed_escrows", "escrow_id", items.map((id) => BigInt(id).toString())]
            : ["indexed_channels", "channel_id", items];
        const where = `${args.kind === "expire" ? "escrow" : "channels"} = $1 AND ${key} = ANY($2::${
          args.kind === "expire" ? "numeric" : "text"
        }[])`;
        await tx.query(`SELECT 1 FROM ${table} WHERE ${where} FOR UPDATE`, [lower(args.contract), keys]);
        const rows = await tx.query<{ key: Num }>(
          `UPDATE ${table} r SET batch_id = $3, updated_at = now()
           WHERE ${where}
             AND NOT EXISTS (SELECT 1 FROM batches b WHERE b.id = r.batch_id AND b.status = 'pending')
           RETURNING ${key} AS key`,
          [lower(args.contract), keys, batchId],
        );
        taken = rows.map((r) => (args.kind === "expire" ? toHex(big(r.key)) : String(r.key)));
      } else if (args.kind === "claim") {
        taken = (
          await tx.query<{ channel_id: string }>(
            `UPDATE vouchers SET batch_id = $1, updated_at = now()
             WHERE channels = $2 AND channel_id = ANY($3::text[]) AND batch_id IS NULL RETURNING channel_id`,
            [batchId, lower(args.contract), items],
          )
        ).map((r) => r.channel_id);
      }
      if (taken.length !== items.length) {
        await tx.query("UPDATE batches SET size = $2 WHERE id = $1", [batchId, taken.length]);
      }
      return { batchId, items: taken as Hex[] };
    });
  }

  async recordAttempt(attempt: TxAttempt, sender: Address): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO transactions
           (hash, batch_id, sender, nonce, gas_limit, max_fee_per_gas, max_priority_fee_per_gas, raw, status)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'sent')`,
        [
          lower(attempt.hash),
          attempt.batchId,
          lower(sender),
          attempt.nonce,
          attempt.gasLimit.toString(),
          attempt.maxFeePerGas.toString(),
          attempt.maxPriorityFeePerGas.toString(),
          attempt.raw,
        ],
      );
      await tx.query("UPDATE batches SET nonce = $2, updated_at = now() WHERE id = $1", [
        attempt.batchId,
        attempt.nonce,
      ]);
    });
  }

  async markAttemptRejected(hash: Hex): Promise<void> {
    await this.db.query("UPDATE transactions SET status = 'rejected' WHERE hash = $1", [lower(hash)]);
  }

  private async finishBatch(
    tx: SqlQueryable,
    batchId: number,
    inclusion: Inclusion,
    status: "confirmed" | "reverted",
    note?: string,
  ): Promise<void> {
    await tx.query(
      `UPDATE batches SET status = $2, tx_hash = $3, block_number = $4, block_hash = $5,
                          note = coalesce($6, note), updated_at = now()
       WHERE id = $1`,
      [
        batchId,
        status,
        lower(inclusion.txHash),
        inclusion.blockNumber.toString(),
        lower(inclusion.blockHash),
        note ?? null,
      ],
    );
    await tx.query(
      `UPDATE transactions SET status = CASE WHEN hash = $2 THEN 'mined' ELSE 'replaced' END,
                               block_number = CASE WHEN hash = $2 THEN $3::bigint END
       WHERE batch_id = $1 AND status <> 'rejected'`,
      [batchId, lower(inclusion.txHash), inclusion.blockNumber.toString()],
    );
  }

  async applyPaymentResults(results: PaymentResults): Promise<IntentRecord[]> {
    return this.db.transaction(async (tx) => {
      // The statements below change reservations through their trigger, each statement in key
      // order, but one after another: the second could lock a key before the first's, against
      // `accept_intents` (or another statement) locking both in key order, a deadlock on a
      // Postgres server. Every reservation the batch's intents hold is locked first, in key order.
      await tx.query(
        `SELECT 1 FROM reservations r
         WHERE (r.hub, r.payer, r.token) IN (
           SELECT hub, payer, token FROM payment_intents WHERE batch_id = $1 AND status = 'submitted')
         ORDER BY r.hub, r.payer, r.token
         FOR UPDATE OF r`,
        [results.batchId],
      );
      const changed: IntentRow[] = [];
      const where = "batch_id = $1 AND status = 'submitted'";
      if (results.settled.length > 0) {
        changed.push(
          ...(await tx.query<IntentRow>(
            `UPDATE payment_intents
             SET status = 'settled', tx_hash = $3, block_number = $4, block_hash = $5, failure_reason = NULL,
                 settled_at = now(), updated_at = now()
             WHERE ${where} AND digest = ANY($2::text[]) RETURNING *`,
            [
              results.batchId,
              results.settled.map(lower),
              lower(results.txHash),
              results.blockNumber.toString(),
              lower(results.blockHash),
            ],
          )),
        );
      }
      if (results.settledElsewhere.length > 0) {
        changed.push(
          ...(await tx.query<IntentRow>(
            `UPDATE payment_intents p
             SET status = 'settled', tx_hash = x.h, block_number = x.n, block_hash = x.b, failure_reason = NULL,
                 settled_at = now(), updated_at = now()
             FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[]) AS x(d, h, n, b)
             WHERE p.batch_id = $1 AND p.status = 'submitted' AND p.digest = x.d RETURNING p.*`,
            [
              results.batchId,
              results.settledElsewhere.map((s) => lower(s.digest)),
              results.settledElsewhere.map((s) => lower(s.txHash)),
              results.settledElsewhere.map((s) => s.blockNumber.toString()),
              results.settledElsewhere.map((s) => lower(s.blockHash)),
            ],
          )),
        );
      }
      if (results.failed.length > 0) {
        changed.push(
          ...(await tx.query<IntentRow>(
            `UPDATE payment_intents p
             SET status = 'failed', failure_reason = x.r, tx_hash = $4, block_number = $5, block_hash = $6,
                 updated_at = now()
             FROM unnest($2::text[], $3::text[]) AS x(d, r)
             WHERE p.batch_id = $1 AND p.status = 'submitted' AND p.digest = x.d RETURNING p.*`,
            [
              results.batchId,
              results.failed.map((f) => lower(f.digest)),
              results.failed.map((f) => f.reason),
              lower(results.txHash),
              results.blockNumber.toString(),
              lower(results.blockHash),
            ],
          )),
        );
      }
      if (results.requeued.length > 0) {
        changed.push(
          ...(await tx.query<IntentRow>(
            `UPDATE payment_intents SET status = 'accepted', batch_id = NULL, updated_at = now()
             WHERE ${where} AND digest = ANY($2::text[]) RETURNING *`,
            [results.batchId, results.requeued.map(lower)],
          )),
        );
      }
      await this.finishBatch(tx, results.batchId, results, "confirmed");
      return changed.map(toIntent);
    });
  }

  async confirmBatch(
    batchId: number,
    inclusion: Inclusion,
    status: "confirmed" | "reverted",
    note?: string,
  ): Promise<void> {
    await this.db.transaction((tx) => this.finishBatch(tx, batchId, inclusion, status, note));
  }

  async abandonBatch(batchId: number, reason: string, maxAttempts: number | null): Promise<Hex[]> {
    // `attempts >= NULL` holds for no row: with maxAttempts null every item goes back to the queue.
    return this.db.transaction(async (tx) => {
      const failed = await tx.query<{ digest: string }>(
        `UPDATE payment_intents SET status = 'failed', failure_reason = $2, updated_at = now()
         WHERE batch_id = $1 AND status = 'submitted' AND attempts >= $3 RETURNING digest`,
        [batchId, reason, maxAttempts],
      );
      await tx.query(
        `UPDATE payment_intents SET status = 'accepted', batch_id = NULL, updated_at = now()
         WHERE batch_id = $1 AND status = 'submitted'`,
        [batchId],
      );
      failed.push(
        ...(await tx.query<{ digest: string }>(
          `UPDATE escrow_releases SET status = 'failed', failure_reason = $2, updated_at = now()
           WHERE batch_id = $1 AND status = 'submitted' AND attempts >= $3 RETURNING digest`,
          [batchId, reason, maxAttempts],
        )),
      );
      await tx.query(
        `UPDATE escrow_releases SET status = 'accepted', batch_id = NULL, updated_at = now()
         WHERE batch_id = $1 AND status = 'submitted'`,
        [batchId],
      );
      await tx.query("UPDATE vouchers SET batch_id = NULL, updated_at = now() WHERE batch_id = $1", [batchId]);
      await tx.query("UPDATE batches SET status = 'abandoned', note = $2, updated_at = now() WHERE id = $1", [
        batchId,
        reason,
      ]);
      return failed.map((r) => r.digest as Hex);
    });
  }

  async reopenBatch(batchId: number): Promise<IntentRecord[]> {
    return this.db.transaction(async (tx) => {
      // A failed intent freed its nonce, and the payer may have used it again meanwhile: that
      // intent is live and keeps it (one live intent per nonce). The failed one stays failed,
      // without the block that is gone; should its transaction be mined again and pay it, the
      // live one is found to have a used nonce.
      const reused = `EXISTS (SELECT 1 FROM payment_intents live
                              WHERE live.hub = p.hub AND live.payer = p.payer AND live.nonce = p.nonce
                                AND live.status <> 'failed' AND live.digest <> p.digest)`;
      await tx.query(
        `UPDATE payment_intents p SET tx_hash = NULL, block_number = NULL, block_hash = NULL, updated_at = now()
         WHERE p.batch_id = $1 AND p.status = 'failed' AND ${reused}`,
        [batchId],
      );
      const rows = await tx.query<IntentRow>(
        `UPDATE payment_intents p
         SET status = 'submitted', tx_hash = NULL, block_number = NULL, block_hash = NULL, failure_reason = NULL,
             settled_at = NULL, updated_at = now()
         WHERE p.batch_id = $1 AND (p.status = 'settled' OR (p.status = 'failed' AND NOT ${reused})) RETURNING p.*`,
        [batchId],
      );
      await tx.query(
        `UPDATE escrow_releases SET status = 'submitted', tx_hash = NULL, block_number = NULL, failure_reason = NULL,
                                    updated_at = now()
         WHERE batch_id = $1 AND status IN ('settled', 'failed')`,
        [batchId],
      );
      // A voucher claim undone: in flight again, and its amount no longer counted as claimed, so
      // that, should the transaction never be mined again, the claim is made again (the watchtower
      // and `claimableVouchers` then go by the channel's claimed amount as read on-chain).
      await tx.query(
        `UPDATE vouchers v SET batch_id = coalesce(v.batch_id, b.id), claimed_amount = 0, claim_requested = true,
                               updated_at = now()
         FROM batches b
         WHERE b.id = $1 AND b.kind = 'claim' AND b.status = 'confirmed'
           AND v.channels = b.contract AND v.channel_id = lower(split_part(b.note, ':', 1))`,
        [batchId],
      );
      await tx.query(
        `UPDATE batches SET status = 'pending', tx_hash = NULL, block_number = NULL, block_hash = NULL, updated_at = now()
         WHERE id = $1`,
        [batchId],
      );
      await tx.query(
        "UPDATE transactions SET status = 'sent', block_number = NULL WHERE batch_id = $1 AND status <> 'rejected'",
        [batchId],
      );
      return rows.map(toIntent);
    });
  }

  private async batchesWithAttempts(rows: BatchRow[]): Promise<BatchRecord[]> {
    if (rows.length === 0) return [];
    const attempts = await this.db.query<AttemptRow>(
      `SELECT * FROM transactions WHERE batch_id = ANY($1::bigint[]) AND status <> 'rejected' ORDER BY created_at, hash`,
      [rows.map((r) => String(r.id))],
    );
    return rows.map((row) =>
      toBatch(
        row,
        attempts.filter((a) => Number(a.batch_id) === Number(row.id)),
      ),
    );
  }

  async pendingBatches(sender: Address): Promise<BatchRecord[]> {
    const rows = await this.db.query<BatchRow>(
      "SELECT * FROM batches WHERE sender = $1 AND status = 'pending' ORDER BY id",
      [lower(sender)],
    );
    return this.batchesWithAttempts(rows);
  }

  async heartbeat(sender: Address): Promise<void> {
    await this.db.query(
      `INSERT INTO relayer_senders (sender, seen_at) VALUES ($1, now())
       ON CONFLICT (sender) DO UPDATE SET seen_at = now()`,
      [lower(sender)],
    );
  }

  async adoptOrphanedBatches(args: {
    sender: Address;
    unseenMs: number;
    limit: number;
    jobs: readonly { kind: BatchKind; contract: Address | null }[];
  }): Promise<BatchRecord[]> {
    const rows = await this.db.query<BatchRow>(
      `UPDATE batches b SET adopted_by = $1, adopted_at = now()
       WHERE b.id IN (
         SELECT o.id FROM batches o
         LEFT JOIN relayer_senders s ON s.sender = o.sender
         LEFT JOIN relayer_senders a ON a.sender = o.adopted_by
         WHERE o.status = 'pending' AND o.sender <> $1
           AND EXISTS (SELECT 1 FROM unnest($4::text[], $5::text[]) AS j(kind, contract)
                       WHERE j.kind = o.kind AND (j.contract IS NULL OR j.contract = o.contract))
           AND coalesce(s.seen_at, o.created_at) < now() - $2 * interval '1 millisecond'
           AND (o.adopted_by IS NULL OR o.adopted_by = $1
                OR coalesce(a.seen_at, o.adopted_at) < now() - $2 * interval '1 millisecond')
         ORDER BY o.id
         LIMIT $3
         FOR UPDATE OF o SKIP LOCKED)
       RETURNING b.*`,
      [
        lower(args.sender),
        args.unseenMs,
        args.limit,
        args.jobs.map((j) => j.kind),
        args.jobs.map((j) => (j.contract === null ? null : lower(j.contract))),
      ],
    );
    return this.batchesWithAttempts(rows.sort((x, y) => Number(x.id) - Number(y.id)));
  }

  async getBatch(batchId: number): Promise<BatchRecord | null> {
    const [batch] = await this.batchesWithAttempts(
      await this.db.query<BatchRow>("SELECT * FROM batches WHERE id = $1", [batchId]),
    );
    return batch ?? null;
  }

  async confirmedBatchesSince(sender: Address, fromBlock: bigint): Promise<BatchRecord[]> {
    const rows = await this.db.query<BatchRow>(
      `SELECT * FROM batches WHERE (sender = $1 OR adopted_by = $1) AND status IN ('confirmed', 'reverted')
         AND block_number >= $2
       ORDER BY block_number, id`,
      [lower(sender), fromBlock.toString()],
    );
    return this.batchesWithAttempts(rows);
  }

  async insertRelease(
    release: Omit<ReleaseRecord, "status" | "failureReason" | "batchId" | "txHash" | "blockNumber" | "acceptedAt">,
  ): Promise<{ inserted: boolean; record: ReleaseRecord }> {
    const inserted = await this.db.query<ReleaseRow>(
      `INSERT INTO escrow_releases (digest, escrow, escrow_id, released_total, deadline, signature, status)
       VALUES ($1, $2, $3, $4, $5, $6, 'accepted') ON CONFLICT (digest) DO NOTHING RETURNING *`,
      [
        lower(release.digest),
        lower(release.escrow),
        release.id.toString(),
        release.releasedTotal.toString(),
        release.deadline.toString(),
        lower(release.signature),
      ],
    );
    if (inserted.length > 0) return { inserted: true, record: toRelease(inserted[0]) };
    const existing = await this.getRelease(release.digest);
    if (existing === null) throw new Error(`release ${release.digest} vanished`);
    return { inserted: false, record: existing };
  }

  async getRelease(digest: Hex): Promise<ReleaseRecord | null> {
    const rows = await this.db.query<ReleaseRow>("SELECT * FROM escrow_releases WHERE digest = $1", [lower(digest)]);
    return rows.length === 0 ? null : toRelease(rows[0]);
  }

  async claimReleases(args: {
    escrow: Address;
    owner: string;
    limit: number;
    leaseMs: number;
  }): Promise<ReleaseRecord[]> {
    const rows = await this.db.query<ReleaseRow>(
      `WITH picked AS (
         SELECT digest FROM escrow_releases
         WHERE escrow = $1 AND status = 'accepted' AND (claimed_by IS NULL OR lease_until < now())
         ORDER BY accepted_at LIMIT $3 FOR UPDATE SKIP LOCKED)
       UPDATE escrow_releases r SET claimed_by = $2, lease_until = now() + $4 * interval '1 millisecond', updated_at = now()
       FROM picked WHERE r.digest = picked.digest RETURNING r.*`,
      [lower(args.escrow), args.owner, args.limit, args.leaseMs],
    );
    return rows.map(toRelease).sort((a, b) => a.acceptedAt.getTime() - b.acceptedAt.getTime());
  }

  async submittedReleases(batchId: number): Promise<Hex[]> {
    const rows = await this.db.query<{ digest: string }>(
      "SELECT digest FROM escrow_releases WHERE batch_id = $1 AND status = 'submitted'",
      [batchId],
    );
    return rows.map((r) => r.digest as Hex);
  }

  async setReleaseOutcome(
    digest: Hex,
    outcome: { status: "settled" | "failed"; reason?: string; inclusion?: Inclusion },
    claimedBy?: string,
  ): Promise<boolean> {
    const rows = await this.db.query<{ digest: string }>(
      `UPDATE escrow_releases SET status = $2, failure_reason = $3, tx_hash = $4, block_number = $5,
                                  claimed_by = NULL, lease_until = NULL, updated_at = now()
       WHERE digest = $1 AND ($6::text IS NULL OR (status = 'accepted' AND claimed_by = $6))
       RETURNING digest`,
      [
        lower(digest),
        outcome.status,
        outcome.reason ?? null,
        outcome.inclusion ? lower(outcome.inclusion.txHash) : null,
        outcome.inclusion ? outcome.inclusion.blockNumber.toString() : null,
        claimedBy ?? null,
      ],
    );
    return rows.length > 0;
  }

  async upsertVoucher(voucher: {
    channels: Address;
    channelId: Hex;
    cumulativeAmount: bigint;
    signature: Hex;
    claim: boolean;
  }): Promise<VoucherRecord> {
    const rows = await this.db.query<VoucherRow>(
      `INSERT INTO vouchers AS v (channels, channel_id, cumulative_amount, signature, claim_requested)
       VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (channels, channel_id) DO UPDATE SET
         cumulative_amount = CASE WHEN EXCLUDED.cumulative_amount > v.cumulative_amount
                                  THEN EXCLUDED.cumulative_amount ELSE v.cumulative_amount END,
         signature = CASE WHEN EXCLUDED.cumulative_amount > v.cumulative_amount
                          THEN EXCLUDED.signature ELSE v.signature END,
         claim_requested = v.claim_requested OR EXCLUDED.claim_requested,
         updated_at = now()
       RETURNING *`,
      [
        lower(voucher.channels),
        lower(voucher.channelId),
        voucher.cumulativeAmount.toString(),
        lower(voucher.signature),
        voucher.claim,
      ],
    );
    return toVoucher(rows[0]);
  }

  async getVoucher(channels: Address, channelId: Hex): Promise<VoucherRecord | null> {
    const rows = await this.db.query<VoucherRow>("SELECT * FROM vouchers WHERE channels = $1 AND channel_id = $2", [
      lower(channels),
      lower(channelId),
    ]);
    return rows.length === 0 ? null : toVoucher(rows[0]);
  }

  async claimableVouchers(channels: Address, limit: number): Promise<VoucherRecord[]> {
    const rows = await this.db.query<VoucherRow>(
      `SELECT * FROM vouchers
       WHERE channels = $1 AND claim_requested AND batch_id IS NULL AND cumulative_amount > claimed_amount
       ORDER BY received_at LIMIT $2`,
      [lower(channels), limit],
    );
    return rows.map(toVoucher);
  }

  async markVoucherClaimed(
    channels: Address,
    channelId: Hex,
    cumulativeAmount: bigint,
    batchId: number | null,
  ): Promise<void> {
    await this.db.query(
      `UPDATE vouchers SET claimed_amount = greatest(claimed_amount, $3::numeric),
                           batch_id = CASE WHEN batch_id = $4 THEN NULL ELSE batch_id END,
                           claim_requested = cumulative_amount > greatest(claimed_amount, $3::numeric), updated_at = now()
       WHERE channels = $1 AND channel_id = $2`,
      [lower(channels), lower(channelId), cumulativeAmount.toString(), batchId],
    );
  }

  async dropClaimRequest(channels: Address, channelId: Hex): Promise<void> {
    await this.db.query(
      "UPDATE vouchers SET claim_requested = false, updated_at = now() WHERE channels = $1 AND channel_id = $2",
      [lower(channels), lower(channelId)],
    );
  }

  async getCursor(name: string): Promise<ChainCursor | null> {
    const rows = await this.db.query<{ block_number: Num; block_hash: string }>(
      "SELECT block_number, block_hash FROM chain_cursors WHERE name = $1",
      [name],
    );
    return rows.length === 0 ? null : { blockNumber: big(rows[0].block_number), blockHash: rows[0].block_hash as Hex };
  }

  async setCursor(name: string, cursor: ChainCursor): Promise<void> {
    await this.db.query(
      `INSERT INTO chain_cursors (name, block_number, block_hash) VALUES ($1, $2, $3)
       ON CONFLICT (name) DO UPDATE SET block_number = EXCLUDED.block_number, block_hash = EXCLUDED.block_hash,
                                        updated_at = now()`,
      [name, cursor.blockNumber.toString(), lower(cursor.blockHash)],
    );
  }

  async upsertIndexedEscrows(escrow: Address, rows: readonly IndexedEscrow[], blockNumber: bigint): Promise<void> {
    if (rows.length === 0) return;
    await this.db.query(
      `INSERT INTO indexed_escrows AS e
         (escrow, escrow_id, deadline, disputed_at, state, remaining, settle_after, block_number)
       SELECT $1, i, d, da, s, r, sa, $2
       FROM unnest($3::numeric[], $4::numeric[], $5::numeric[], $6::text[], $7::numeric[], $8::numeric[])
            AS x(i, d, da, s, r, sa)
       ON CONFLICT (escrow, escrow_id) DO UPDATE SET
         deadline = EXCLUDED.deadline, disputed_at = EXCLUDED.disputed_at, state = EXCLUDED.state,
         remaining = EXCLUDED.remaining, settle_after = EXCLUDED.settle_after,
         block_number = greatest(e.block_number, EXCLUDED.block_number), updated_at = now()`,
      [
        lower(escrow),
        blockNumber.toString(),
        rows.map((r) => r.id.toString()),
        rows.map((r) => r.deadline.toString()),
        rows.map((r) => r.disputedAt.toString()),
        rows.map((r) => r.state),
        rows.map((r) => r.remaining.toString()),
        rows.map((r) => r.settleAfter.toString()),
      ],
    );
  }

  async upsertIndexedChannels(channels: Address, rows: readonly IndexedChannel[], blockNumber: bigint): Promise<void> {
    if (rows.length === 0) return;
    await this.db.query(
      `INSERT INTO indexed_channels AS c
         (channels, channel_id, payee, deposit, claimed, closes_at, status, block_number)
       SELECT $1, i, p, d, cl, ca, s, $2
       FROM unnest($3::text[], $4::text[], $5::numeric[], $6::numeric[], $7::numeric[], $8::text[])
            AS x(i, p, d, cl, ca, s)
       ON CONFLICT (channels, channel_id) DO UPDATE SET
         payee = EXCLUDED.payee, deposit = EXCLUDED.deposit, claimed = EXCLUDED.claimed,
         closes_at = EXCLUDED.closes_at, status = EXCLUDED.status,
         block_number = greatest(c.block_number, EXCLUDED.block_number), updated_at = now()`,
      [
        lower(channels),
        blockNumber.toString(),
        rows.map((r) => lower(r.channelId)),
        rows.map((r) => lower(r.payee)),
        rows.map((r) => r.deposit.toString()),
        rows.map((r) => r.claimed.toString()),
        rows.map((r) => r.closesAt.toString()),
        rows.map((r) => r.status),
      ],
    );
  }

  async escrowIdsIndexedAfter(escrow: Address, blockNumber: bigint): Promise<bigint[]> {
    const rows = await this.db.query<{ escrow_id: Num }>(
      "SELECT escrow_id FROM indexed_escrows WHERE escrow = $1 AND block_number > $2 ORDER BY escrow_id",
      [lower(escrow), blockNumber.toString()],
    );
    return rows.map((r) => big(r.escrow_id));
  }

  async channelIdsIndexedAfter(channels: Address, blockNumber: bigint): Promise<Hex[]> {
    const rows = await this.db.query<{ channel_id: string }>(
      "SELECT channel_id FROM indexed_channels WHERE channels = $1 AND block_number > $2 ORDER BY channel_id",
      [lower(channels), blockNumber.toString()],
    );
    return rows.map((r) => r.channel_id as Hex);
  }

  async dueEscrows(escrow: Address, nowSeconds: bigint, limit: number): Promise<IndexedEscrow[]> {
    const rows = await this.db.query<IndexedEscrowRow>(
      `SELECT e.* FROM indexed_escrows e LEFT JOIN batches b ON b.id = e.batch_id
       WHERE e.escrow = $1 AND e.state <> 'closed' AND e.remaining > 0 AND e.settle_after < $2::numeric
         AND (b.id IS NULL OR b.status <> 'pending')
       ORDER BY e.settle_after, e.escrow_id LIMIT $3`,
      [lower(escrow), nowSeconds.toString(), limit],
    );
    return rows.map(toIndexedEscrow);
  }

  async closingChannels(channels: Address, limit: number): Promise<WatchedChannel[]> {
    const rows = await this.db.query<WatchedChannelRow>(
      `SELECT c.channels, c.channel_id, c.payee, c.deposit, c.claimed, c.closes_at, c.status,
              coalesce(b.status = 'pending', false) AS finalize_pending,
              v.cumulative_amount, v.signature, v.claim_requested, v.claimed_amount, v.batch_id AS voucher_batch_id
       FROM indexed_channels c
       LEFT JOIN batches b ON b.id = c.batch_id
       LEFT JOIN vouchers v ON v.channels = c.channels AND v.channel_id = c.channel_id
       WHERE c.channels = $1 AND c.status = 'closing'
       ORDER BY c.closes_at, c.channel_id LIMIT $2`,
      [lower(channels), limit],
    );
    return rows.map(toWatchedChannel);
  }

  async automationCounts(args: {
    escrow?: Address;
    channels?: Address;
    nowSeconds: bigint;
  }): Promise<AutomationCounts> {
    const [row] = await this.db.query<Record<keyof AutomationCounts, Num>>(
      `SELECT
         (SELECT count(*) FROM indexed_escrows
          WHERE escrow = $1 AND state <> 'closed' AND remaining > 0 AND settle_after >= $3::numeric) AS "escrowsWaiting",
         (SELECT count(*) FROM indexed_escrows
          WHERE escrow = $1 AND state <> 'closed' AND remaining > 0 AND settle_after < $3::numeric) AS "escrowsDue",
         (SELECT count(*) FROM indexed_escrows
          WHERE escrow = $1 AND state = 'disputed' AND remaining > 0) AS "escrowsDisputed",
         (SELECT count(*) FROM indexed_channels WHERE channels = $2 AND status = 'open') AS "channelsOpen",
         (SELECT count(*) FROM indexed_channels WHERE channels = $2 AND status = 'closing') AS "channelsClosing"`,
      [lower(args.escrow ?? ""), lower(args.channels ?? ""), args.nowSeconds.toString()],
    );
    return {
      escrowsWaiting: Number(row.escrowsWaiting),
      escrowsDue: Number(row.escrowsDue),
      escrowsDisputed: Number(row.escrowsDisputed),
      channelsOpen: Number(row.channelsOpen),
      channelsClosing: Number(row.channelsClosing),
    };
  }

  async statusSnapshot(args: {
    hub?: Address;
    channels?: Address;
    sender: Address;
    windowSeconds: number;
    limit: number;
  }): Promise<StatusSnapshot> {
    const hub = args.hub === undefined ? "" : lower(args.hub);
    const rows = await this.db.query<{ status: IntentStatus | "recent"; n: Num }>(STATUS_COUNTS_SQL, [
      hub,
      args.windowSeconds,
    ]);
    const counts = { accepted: 0, submitted: 0, settled: 0, failed: 0, recent: 0 };
    for (const row of rows) counts[row.status] = Number(row.n);
    const batches = await this.db.query<BatchRow & { updated_at: Date }>(
      `SELECT * FROM batches
       WHERE sender = $1 AND status IN ('confirmed', 'reverted') AND kind <> 'filler'
       ORDER BY block_number DESC, id DESC LIMIT $2`,
      [lower(args.sender), args.limit],
    );
    const channels = args.channels === undefined ? "" : lower(args.channels);
    const [watched] = await this.db.query<{ count: Num }>(
      "SELECT count(*) AS count FROM vouchers WHERE channels = $1",
      [channels],
    );
    const vouchers = await this.db.query<VoucherRow>(
      "SELECT * FROM vouchers WHERE channels = $1 ORDER BY updated_at DESC, channel_id LIMIT $2",
      [channels, args.limit],
    );
    return {
      intents: {
        accepted: counts.accepted,
        submitted: counts.submitted,
        settled: counts.settled,
        failed: counts.failed,
      },
      settledInWindow: counts.recent,
      recentBatches: batches.map(
        (row): RecentBatch => ({
          id: Number(row.id),
          kind: row.kind,
          size: Number(row.size),
          status: row.status as RecentBatch["status"],
          txHash: row.tx_hash as Hex,
          blockNumber: big(row.block_number ?? 0),
          at: row.updated_at,
        }),
      ),
      watchedChannels: { count: Number(watched.count), latest: vouchers.map(toVoucher) },
    };
  }

  async reservationMismatches(): Promise<{ hub: Address; payer: Address; token: Address }[]> {
    const rows = await this.db.query<{ hub: string; payer: string; token: string }>(
      `SELECT hub, payer, token FROM reservations r
       FULL JOIN payer_reservations v USING (hub, payer, token)
       WHERE coalesce(r.reserved, 0) <> coalesce(v.reserved, 0) OR coalesce(r.intents, 0) <> coalesce(v.intents, 0)`,
    );
    return rows.map((r) => ({ hub: checksum(r.hub), payer: checksum(r.payer), token: checksum(r.token) }));
  }

  async compactCounts(): Promise<number> {
    // PGlite is one session for good: its rows never multiply.
    if (this.backend !== "postgres") return 0;
    const [row] = await this.db.query<{ folded: Num }>(
      `WITH gone AS (
         DELETE FROM intent_counts c
         WHERE backend <> 0 AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = c.backend)
         RETURNING hub, status, n),
       folded AS (
         INSERT INTO intent_counts AS c (hub, status, backend, n)
         SELECT hub, status, 0, sum(n) FROM gone GROUP BY hub, status ORDER BY hub, status
         ON CONFLICT (hub, status, backend) DO UPDATE SET n = c.n + EXCLUDED.n)
       SELECT count(*) AS folded FROM gone`,
    );
    return Number(row.folded);
  }

  async countMismatches(): Promise<{ hub: Address; status: IntentStatus; kept: number; counted: number }[]> {
    const rows = await this.db.query<{ hub: string; status: IntentStatus; kept: Num; counted: Num }>(
      `SELECT hub, status, coalesce(k.n, 0) AS kept, coalesce(c.n, 0) AS counted
       FROM (SELECT hub, status, sum(n) AS n FROM intent_counts GROUP BY hub, status) k
       FULL JOIN (SELECT hub, status, count(*) AS n FROM payment_intents GROUP BY hub, status) c USING (hub, status)
       WHERE coalesce(k.n, 0) <> coalesce(c.n, 0)`,
    );
    return rows.map((r) => ({
      hub: checksum(r.hub),
      status: r.status,
      kept: Number(r.kept),
      counted: Number(r.counted),
    }));
  }

  async schemaVersions(): Promise<number[]> {
    const rows = await this.db.query<{ version: Num }>("SELECT version FROM schema_migrations ORDER BY version");
    return rows.map((r) => Number(r.version));
  }

  close(): Promise<void> {
    return this.db.close();
  }
}
