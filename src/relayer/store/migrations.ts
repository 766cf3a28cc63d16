/**
 * Versioned schema migrations, Postgres dialect, shared by the embedded store (PGlite) and a
 * Postgres server. Applied in order at start-up inside one transaction each; applied versions
 * are recorded in `schema_migrations`. Never edit a released migration: append a new one.
 *
 * Conventions: addresses and hashes are lowercase 0x-hex `text`; uint256 amounts are
 * `numeric(78,0)`, uint64 timestamps `numeric(20,0)`; block numbers `bigint`.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "intents, batches, transactions, releases, vouchers, cursors",
    sql: `
CREATE TABLE batches (
  id            bigserial PRIMARY KEY,
  kind          text NOT NULL CHECK (kind IN ('settle', 'release', 'claim', 'finalize', 'expire', 'filler')),
  contract      text NOT NULL,
  token         text,
  sender        text NOT NULL,
  size          integer NOT NULL,
  nonce         bigint,
  status        text NOT NULL CHECK (status IN ('pending', 'confirmed', 'reverted', 'abandoned')),
  tx_hash       text,
  block_number  bigint,
  block_hash    text,
  note          text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX batches_open ON batches (sender, status) WHERE status = 'pending';
CREATE INDEX batches_recent ON batches (block_number) WHERE status IN ('confirmed', 'reverted');

CREATE TABLE transactions (
  hash                      text PRIMARY KEY,
  batch_id                  bigint NOT NULL REFERENCES batches (id),
  sender                    text NOT NULL,
  nonce                     bigint NOT NULL,
  gas_limit                 numeric(78, 0) NOT NULL,
  max_fee_per_gas           numeric(78, 0) NOT NULL,
  max_priority_fee_per_gas  numeric(78, 0) NOT NULL,
  raw                       text NOT NULL,
  status                    text NOT NULL CHECK (status IN ('sent', 'mined', 'replaced', 'rejected')),
  block_number              bigint,
  gas_used                  numeric(78, 0),
  effective_gas_price       numeric(78, 0),
  created_at                timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX transactions_batch ON transactions (batch_id);

CREATE TABLE payment_intents (
  digest          text PRIMARY KEY,
  hub             text NOT NULL,
  payer           text NOT NULL,
  payee           text NOT NULL,
  token           text NOT NULL,
  amount          numeric(78, 0) NOT NULL,
  fee             numeric(78, 0) NOT NULL,
  nonce           numeric(78, 0) NOT NULL,
  valid_after     numeric(20, 0) NOT NULL,
  valid_before    numeric(20, 0) NOT NULL,
  ref             text NOT NULL,
  signature       text NOT NULL,
  status          text NOT NULL CHECK (status IN ('accepted', 'submitted', 'settled', 'failed')),
  failure_reason  text,
  batch_id        bigint REFERENCES batches (id),
  tx_hash         text,
  block_number    bigint,
  block_hash      text,
  attempts        integer NOT NULL DEFAULT 0,
  claimed_by      text,
  lease_until     timestamptz,
  accepted_at     timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  settled_at      timestamptz
);
-- One live intent per payer nonce: a second intent with the nonce of an accepted one could
-- never settle too. Failed intents free their nonce (it was never used on-chain, or the
-- chain check rejects it anyway).
CREATE UNIQUE INDEX payment_intents_payer_nonce ON payment_intents (hub, payer, nonce) WHERE status <> 'failed';
CREATE INDEX payment_intents_queue ON payment_intents (hub, token, accepted_at) WHERE status = 'accepted';
CREATE INDEX payment_intents_batch ON payment_intents (batch_id) WHERE batch_id IS NOT NULL;

-- What accepted-but-unsettled intents reserve of each payer's hub balance, by definition ...
CREATE VIEW payer_reservations AS
  SELECT hub, payer, token, sum(amount + fee) AS reserved, count(*)::integer AS intents
  FROM payment_intents
  WHERE status IN ('accepted', 'submitted')
  GROUP BY hub, payer, token;

-- ... and the same figures kept up to date by triggers on every status change, so that the
-- acceptance check reads one row per payer instead of summing all its open intents. (Rows
-- are never deleted from payment_intents; the digest never changes.)
CREATE TABLE reservations (
  hub       text NOT NULL,
  payer     text NOT NULL,
  token     text NOT NULL,
  reserved  numeric(78, 0) NOT NULL,
  intents   integer NOT NULL,
  PRIMARY KEY (hub, payer, token)
);
-- Statement-level triggers with transition tables: one aggregated upsert per statement, not
-- one per row (a group commit of hundreds of intents touches each payer's row once).
CREATE FUNCTION reserve_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO reservations AS r (hub, payer, token, reserved, intents)
    SELECT hub, payer, token, sum(amount + fee), count(*)::integer
    FROM inserted WHERE status IN ('accepted', 'submitted')
    GROUP BY hub, payer, token
    ON CONFLICT (hub, payer, token)
    DO UPDATE SET reserved = r.reserved + EXCLUDED.reserved, intents = r.intents + EXCLUDED.intents;
  RETURN NULL;
END
$$;
CREATE FUNCTION reserve_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO reservations AS r (hub, payer, token, reserved, intents)
    SELECT n.hub, n.payer, n.token,
           sum(CASE WHEN n.status IN ('accepted', 'submitted') THEN n.amount + n.fee ELSE 0 END
             - CASE WHEN o.status IN ('accepted', 'submitted') THEN o.amount + o.fee ELSE 0 END),
           sum(CASE WHEN n.status IN ('accepted', 'submitted') THEN 1 ELSE 0 END
             - CASE WHEN o.status IN ('accepted', 'submitted') THEN 1 ELSE 0 END)::integer
    FROM updated n JOIN previous o USING (digest)
    WHERE (n.status IN ('accepted', 'submitted')) <> (o.status IN ('accepted', 'submitted'))
    GROUP BY n.hub, n.payer, n.token
    ON CONFLICT (hub, payer, token)
    DO UPDATE SET reserved = r.reserved + EXCLUDED.reserved, intents = r.intents + EXCLUDED.intents;
  RETURN NULL;
END
$$;
CREATE TRIGGER payment_intents_reserve_inserted
  AFTER INSERT ON payment_intents REFERENCING NEW TABLE AS inserted
  FOR EACH STATEMENT EXECUTE FUNCTION reserve_inserted();
CREATE TRIGGER payment_intents_reserve_updated
  AFTER UPDATE ON payment_intents REFERENCING NEW TABLE AS updated OLD TABLE AS previous
  FOR EACH STATEMENT EXECUTE FUNCTION reserve_updated();

CREATE TABLE escrow_releases (
  digest          text PRIMARY KEY,
  escrow          text NOT NULL,
  escrow_id       numeric(78, 0) NOT NULL,
  released_total  numeric(78, 0) NOT NULL,
  deadline        numeric(78, 0) NOT NULL,
  signature       text NOT NULL,
  status          text NOT NULL CHECK (status IN ('accepted', 'submitted', 'settled', 'failed')),
  failure_reason  text,
  batch_id        bigint REFERENCES batches (id),
  tx_hash         text,
  block_number    bigint,
  attempts        integer NOT NULL DEFAULT 0,
  claimed_by      text,
  lease_until     timestamptz,
  accepted_at     timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX escrow_releases_queue ON escrow_releases (accepted_at) WHERE status = 'accepted';

-- The latest (highest cumulative) voucher per channel, kept for watchtower duty.
CREATE TABLE vouchers (
  channels           text NOT NULL,
  channel_id         text NOT NULL,
  cumulative_amount  numeric(78, 0) NOT NULL,
  signature          text NOT NULL,
  claim_requested    boolean NOT NULL DEFAULT false,
  claimed_amount     numeric(78, 0) NOT NULL DEFAULT 0,
  batch_id           bigint REFERENCES batches (id),
  received_at        timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (channels, channel_id)
);
CREATE INDEX vouchers_claims ON vouchers (received_at) WHERE claim_requested AND batch_id IS NULL;

-- How far each chain indexer has read (block and its hash, to notice a reorg under the cursor).
CREATE TABLE chain_cursors (
  name          text PRIMARY KEY,
  block_number  bigint NOT NULL,
  block_hash    text NOT NULL,
  updated_at    timestamptz NOT NULL DEFAULT now()
);
`,
  },
  {
    version: 2,
    name: "reservation triggers lock payers in one order",
    sql: `
-- Several transactions can update reservations at once on a Postgres server (the intake of one
-- instance, the batcher of another): each locks the rows of its payers. Upserted in the hash
-- aggregate's arbitrary order, two of them could lock the same two payers in opposite orders
-- and deadlock; in (hub, payer, token) order they cannot.
CREATE OR REPLACE FUNCTION reserve_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO reservations AS r (hub, payer, token, reserved, intents)
    SELECT hub, payer, token, sum(amount + fee), count(*)::integer
    FROM inserted WHERE status IN ('accepted', 'submitted')
    GROUP BY hub, payer, token
    ORDER BY hub, payer, token
    ON CONFLICT (hub, payer, token)
    DO UPDATE SET reserved = r.reserved + EXCLUDED.reserved, intents = r.intents + EXCLUDED.intents;
  RETURN NULL;
END
$$;
CREATE OR REPLACE FUNCTION reserve_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO reservations AS r (hub, payer, token, reserved, intents)
    SELECT n.hub, n.payer, n.token,
           sum(CASE WHEN n.status IN ('accepted', 'submitted') THEN n.amount + n.fee ELSE 0 END
             - CASE WHEN o.status IN ('accepted', 'submitted') THEN o.amount + o.fee ELSE 0 END),
           sum(CASE WHEN n.status IN ('accepted', 'submitted') THEN 1 ELSE 0 END
             - CASE WHEN o.status IN ('accepted', 'submitted') THEN 1 ELSE 0 END)::integer
    FROM updated n JOIN previous o USING (digest)
    WHERE (n.status IN ('accepted', 'submitted')) <> (o.status IN ('accepted', 'submitted'))
    GROUP BY n.hub, n.payer, n.token
    ORDER BY n.hub, n.payer, n.token
    ON CONFLICT (hub, payer, token)
    DO UPDATE SET reserved = r.reserved + EXCLUDED.reserved, intents = r.intents + EXCLUDED.intents;
  RETURN NULL;
END
$$;
`,
  },
  {
    version: 3,
    name: "indexed escrows and channels for the automation",
    sql: `
-- What the chain indexer knows about each escrow: enough to tell when it can be settled on
-- expiry. Rows are upserted from the contract's state whenever an event touches the escrow
-- (idempotent: re-reading a block range after a reorg writes the same rows again).
CREATE TABLE indexed_escrows (
  escrow        text NOT NULL,
  escrow_id     numeric(78, 0) NOT NULL,
  deadline      numeric(20, 0) NOT NULL,
  disputed_at   numeric(20, 0) NOT NULL,
  state         text NOT NULL CHECK (state IN ('active', 'disputed', 'closed')),
  remaining     numeric(78, 0) NOT NULL,
  -- settleExpired succeeds once block.timestamp > settle_after
  settle_after  numeric(20, 0) NOT NULL,
  -- the last block range that touched the row (re-read after a reorg below it)
  block_number  bigint NOT NULL,
  -- the latest settleExpiredBatch carrying it (in flight while that batch is pending)
  batch_id      bigint REFERENCES batches (id),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (escrow, escrow_id)
);
CREATE INDEX indexed_escrows_due ON indexed_escrows (escrow, settle_after) WHERE state <> 'closed';
CREATE INDEX indexed_escrows_block ON indexed_escrows (escrow, block_number);

-- What the indexer knows about each payment channel: enough for watchtower duty.
CREATE TABLE indexed_channels (
  channels      text NOT NULL,
  channel_id    text NOT NULL,
  payee         text NOT NULL,
  deposit       numeric(78, 0) NOT NULL,
  claimed       numeric(78, 0) NOT NULL,
  -- unix seconds from which finalizeClose succeeds; 0 while no close is requested
  closes_at     numeric(20, 0) NOT NULL,
  status        text NOT NULL CHECK (status IN ('open', 'closing', 'closed')),
  block_number  bigint NOT NULL,
  -- the latest finalizeClose transaction's batch (in flight while that batch is pending)
  batch_id      bigint REFERENCES batches (id),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (channels, channel_id)
);
CREATE INDEX indexed_channels_closing ON indexed_channels (channels, closes_at) WHERE status = 'closing';
CREATE INDEX indexed_channels_block ON indexed_channels (channels, block_number);
`,
  },
  {
    version: 4,
    name: "store hot path: index the open reservations, leave room for in-place updates",
    sql: `
-- A payer's reservations row stays when its last intent settles (intents = 0), so the table
-- grows with every payer ever seen. The batcher asks which tokens have open intents on every
-- poll: this index answers from the payers with open intents only, not from all of them.
CREATE INDEX reservations_open ON reservations (hub, token) WHERE intents > 0;

-- A claim (and its release) changes no indexed column, so Postgres can update the row in place
-- (a HOT update, no new index entries) when its page has room: keep 30% of each new page free.
ALTER TABLE payment_intents SET (fillfactor = 70);

-- Accepts a group of intents in one call (one round trip, plans cached by PL/pgSQL): takes each
-- (payer, token) lock in a fixed order, then, on a snapshot taken after the locks, decides each
-- intent in order: a known digest is a duplicate; a payer nonce already taken in this call is a
-- conflict; an intent whose amount + fee + what its payer already reserves exceeds the balance
-- it was validated against is refused; the rest are inserted (a live intent's nonce, taken by
-- another intent, makes the unique index skip the row: a conflict too). Returns one row per
-- intent, in order: result, the known status of a duplicate, the reservation that refused.
CREATE FUNCTION accept_intents(
  p_hub text, p_digest text[], p_payer text[], p_payee text[], p_token text[], p_amount numeric[],
  p_fee numeric[], p_nonce numeric[], p_valid_after numeric[], p_valid_before numeric[], p_ref text[],
  p_signature text[], p_balance numeric[]
) RETURNS TABLE (result text, status text, reserved numeric) LANGUAGE plpgsql AS $$
DECLARE
  n integer := cardinality(p_digest);
  lock_keys text[];
  known text[];
  key_of integer[];
  nonce_of integer[];
  digest_of integer[];
  reserved_before numeric[];
  key_reserved numeric[] := '{}';
  nonce_taken boolean[] := '{}';
  digest_taken boolean[] := '{}';
  outcome text[] := '{}';
  known_status text[] := '{}';
  refused_at numeric[] := '{}';
  inserted text[];
BEGIN
  IF n IS NULL OR n = 0 THEN RETURN; END IF;
  SELECT array_agg(k ORDER BY k COLLATE "C") INTO lock_keys
  FROM (SELECT DISTINCT payer || ':' || token AS k FROM unnest(p_payer, p_token) AS x(payer, token)) keys;
  PERFORM count(pg_advisory_xact_lock(hashtextextended(p_hub || ':' || k, 0))) FROM unnest(lock_keys) AS k;

  SELECT array_agg(s.known ORDER BY s.i), array_agg(s.k ORDER BY s.i), array_agg(s.nk ORDER BY s.i),
         array_agg(s.dk ORDER BY s.i), array_agg(s.res ORDER BY s.i)
  INTO known, key_of, nonce_of, digest_of, reserved_before
  FROM (
    SELECT x.i, p.status AS known,
           dense_rank() OVER (ORDER BY x.payer, x.token) AS k,
           dense_rank() OVER (ORDER BY x.payer, x.nonce) AS nk,
           dense_rank() OVER (ORDER BY x.d) AS dk,
           coalesce(r.reserved, 0) AS res
    FROM unnest(p_digest, p_payer, p_token, p_nonce) WITH ORDINALITY AS x(d, payer, token, nonce, i)
    LEFT JOIN payment_intents p ON p.digest = x.d
    LEFT JOIN reservations r ON r.hub = p_hub AND r.payer = x.payer AND r.token = x.token
  ) s;

  FOR i IN 1..n LOOP
    IF key_reserved[key_of[i]] IS NULL THEN key_reserved[key_of[i]] := reserved_before[i]; END IF;
    IF known[i] IS NOT NULL OR coalesce(digest_taken[digest_of[i]], false) THEN
      outcome[i] := 'duplicate';
      known_status[i] := coalesce(known[i], 'accepted');
    ELSIF coalesce(nonce_taken[nonce_of[i]], false) THEN
      outcome[i] := 'nonce_conflict';
    ELSIF key_reserved[key_of[i]] + p_amount[i] + p_fee[i] > p_balance[i] THEN
      outcome[i] := 'insufficient_balance';
      refused_at[i] := key_reserved[key_of[i]];
    ELSE
      outcome[i] := 'inserted';
      key_reserved[key_of[i]] := key_reserved[key_of[i]] + p_amount[i] + p_fee[i];
      nonce_taken[nonce_of[i]] := true;
      digest_taken[digest_of[i]] := true;
    END IF;
  END LOOP;

  WITH ins AS (
    INSERT INTO payment_intents
      (digest, hub, payer, payee, token, amount, fee, nonce, valid_after, valid_before, ref, signature, status)
    SELECT x.d, p_hub, x.p, x.e, x.t, x.a, x.f, x.n, x.va, x.vb, x.r, x.s, 'accepted'
    FROM unnest(p_digest, p_payer, p_payee, p_token, p_amount, p_fee, p_nonce, p_valid_after, p_valid_before,
                p_ref, p_signature) WITH ORDINALITY AS x(d, p, e, t, a, f, n, va, vb, r, s, i)
    WHERE outcome[x.i] = 'inserted'
    ORDER BY x.i
    ON CONFLICT DO NOTHING
    RETURNING digest)
  SELECT array_agg(digest) INTO inserted FROM ins;

  RETURN QUERY
    SELECT CASE WHEN outcome[x.i] = 'inserted' AND ins.digest IS NULL THEN 'nonce_conflict' ELSE outcome[x.i] END,
           known_status[x.i], refused_at[x.i]
    FROM unnest(p_digest) WITH ORDINALITY AS x(d, i)
    LEFT JOIN unnest(coalesce(inserted, '{}')) AS ins(digest) ON ins.digest = x.d
    ORDER BY x.i;
END
$$;
`,
  },
  {
    version: 5,
    name: "intent counts per status, kept by the triggers",
    sql: `
-- How many intents each status holds, for the status page (refreshed every second) without
-- counting the whole history: kept up to date by the statement triggers below. Each database
-- session writes rows of its own (backend = its process id), so concurrent transactions of
-- several instances never wait for one another here; readers sum the rows, and the relayer
-- folds the rows of sessions that ended into backend 0 (SqlStore.compactCounts).
CREATE TABLE intent_counts (
  hub      text NOT NULL,
  status   text NOT NULL,
  backend  integer NOT NULL,
  n        bigint NOT NULL,
  PRIMARY KEY (hub, status, backend)
);
INSERT INTO intent_counts (hub, status, backend, n)
  SELECT hub, status, 0, count(*) FROM payment_intents GROUP BY hub, status;

-- Recent settlements (settled per second over a short window): the settle batches confirmed
-- lately, then their intents by the batch index. (An index on the intents' settled_at would
-- cost every settlement an index entry.)
CREATE INDEX batches_settled_at ON batches (updated_at) WHERE status = 'confirmed' AND kind = 'settle';

CREATE OR REPLACE FUNCTION reserve_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO reservations AS r (hub, payer, token, reserved, intents)
    SELECT hub, payer, token, sum(amount + fee), count(*)::integer
    FROM inserted WHERE status IN ('accepted', 'submitted')
    GROUP BY hub, payer, token
    ORDER BY hub, payer, token
    ON CONFLICT (hub, payer, token)
    DO UPDATE SET reserved = r.reserved + EXCLUDED.reserved, intents = r.intents + EXCLUDED.intents;
  INSERT INTO intent_counts AS c (hub, status, backend, n)
    SELECT hub, status, pg_backend_pid(), count(*) FROM inserted
    GROUP BY hub, status
    ON CONFLICT (hub, status, backend) DO UPDATE SET n = c.n + EXCLUDED.n;
  RETURN NULL;
END
$$;
CREATE OR REPLACE FUNCTION reserve_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- One join of the transition tables for both tables; most updates (claims) change no status.
  WITH changed AS (
    SELECT n.hub, n.payer, n.token, n.status AS now_status, o.status AS was_status,
           n.amount + n.fee AS now_value, o.amount + o.fee AS was_value
    FROM updated n JOIN previous o USING (digest)
    WHERE n.status <> o.status
  ), reserved AS (
    INSERT INTO reservations AS r (hub, payer, token, reserved, intents)
      SELECT hub, payer, token,
             sum(CASE WHEN now_status IN ('accepted', 'submitted') THEN now_value ELSE 0 END
               - CASE WHEN was_status IN ('accepted', 'submitted') THEN was_value ELSE 0 END),
             sum(CASE WHEN now_status IN ('accepted', 'submitted') THEN 1 ELSE 0 END
               - CASE WHEN was_status IN ('accepted', 'submitted') THEN 1 ELSE 0 END)::integer
      FROM changed
      WHERE (now_status IN ('accepted', 'submitted')) <> (was_status IN ('accepted', 'submitted'))
      GROUP BY hub, payer, token
      ORDER BY hub, payer, token
      ON CONFLICT (hub, payer, token)
      DO UPDATE SET reserved = r.reserved + EXCLUDED.reserved, intents = r.intents + EXCLUDED.intents
  )
  INSERT INTO intent_counts AS c (hub, status, backend, n)
    SELECT hub, status, pg_backend_pid(), sum(d) FROM (
      SELECT hub, now_status AS status, 1 AS d FROM changed
      UNION ALL
      SELECT hub, was_status, -1 FROM changed) x
    GROUP BY hub, status
    ON CONFLICT (hub, status, backend) DO UPDATE SET n = c.n + EXCLUDED.n;
  RETURN NULL;
END
$$;
`,
  },
  {
    version: 6,
    name: "sending keys seen, batches adopted from keys gone",
    sql: `
-- Each instance notes, every few seconds, that its sending key is alive. A pending batch of a key
-- unseen for long (an instance gone for good, a rotated key) is adopted by one live instance,
-- which applies its transaction's results if it was mined, or queues its items again once the
-- node no longer has it (SqlStore.adoptOrphanedBatches).
CREATE TABLE relayer_senders (
  sender   text PRIMARY KEY,
  seen_at  timestamptz NOT NULL
);
ALTER TABLE batches ADD COLUMN adopted_by text, ADD COLUMN adopted_at timestamptz;
`,
  },
  {
    version: 7,
    name: "acceptance counts settlements the balance read may not reflect; live nonces refused before reserving",
    sql: `
-- A balance read from the hub reflects the chain up to some block. An intent of the payer
-- settled after that block (and already recorded settled) is debited on-chain but no longer
-- reserved: the read does not show the debit, the reservation no longer holds the amount, and
-- without it the payer could be over-reserved by it (a cached read, or one made just before a
-- settlement was applied, or by another instance). accept_intents now takes, per intent, the
-- block its balance read reflects at least, and counts the payer's intents settled after it as
-- reserved. Each reservation row keeps the latest block in which an intent of its key was
-- recorded settled (never lowered: a reorg only makes the count find fewer), so the payer's
-- settled intents are summed only when one is newer than the read, which is rare: most reads
-- are made after the payer's latest settlement was recorded.
ALTER TABLE reservations ADD COLUMN settled_block bigint NOT NULL DEFAULT 0;
UPDATE reservations r SET settled_block = s.block
  FROM (SELECT hub, payer, token, max(block_number) AS block FROM payment_intents
        WHERE status = 'settled' GROUP BY hub, payer, token) s
  WHERE r.hub = s.hub AND r.payer = s.payer AND r.token = s.token;

CREATE OR REPLACE FUNCTION reserve_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- One join of the transition tables for both tables; most updates (claims) change no status.
  WITH changed AS (
    SELECT n.hub, n.payer, n.token, n.status AS now_status, o.status AS was_status,
           n.amount + n.fee AS now_value, o.amount + o.fee AS was_value, n.block_number
    FROM updated n JOIN previous o USING (digest)
    WHERE n.status <> o.status
  ), reserved AS (
    INSERT INTO reservations AS r (hub, payer, token, reserved, intents, settled_block)
      SELECT hub, payer, token,
             sum(CASE WHEN now_status IN ('accepted', 'submitted') THEN now_value ELSE 0 END
               - CASE WHEN was_status IN ('accepted', 'submitted') THEN was_value ELSE 0 END),
             sum(CASE WHEN now_status IN ('accepted', 'submitted') THEN 1 ELSE 0 END
               - CASE WHEN was_status IN ('accepted', 'submitted') THEN 1 ELSE 0 END)::integer,
             coalesce(max(CASE WHEN now_status = 'settled' THEN block_number END), 0)
      FROM changed
      WHERE (now_status IN ('accepted', 'submitted')) <> (was_status IN ('accepted', 'submitted'))
      GROUP BY hub, payer, token
      ORDER BY hub, payer, token
      ON CONFLICT (hub, payer, token)
      DO UPDATE SET reserved = r.reserved + EXCLUDED.reserved, intents = r.intents + EXCLUDED.intents,
                    settled_block = greatest(r.settled_block, EXCLUDED.settled_block)
  )
  INSERT INTO intent_counts AS c (hub, status, backend, n)
    SELECT hub, status, pg_backend_pid(), sum(d) FROM (
      SELECT hub, now_status AS status, 1 AS d FROM changed
      UNION ALL
      SELECT hub, was_status, -1 FROM changed) x
    GROUP BY hub, status
    ON CONFLICT (hub, status, backend) DO UPDATE SET n = c.n + EXCLUDED.n;
  RETURN NULL;
END
$$;

-- Also: an intent whose nonce a live intent of the payer holds is a conflict before anything is
-- reserved for it (it reserved its amount before, until the insert skipped it, and could make a
-- later intent of the same call be refused).
DROP FUNCTION accept_intents(text, text[], text[], text[], text[], numeric[], numeric[], numeric[], numeric[],
                             numeric[], text[], text[], numeric[]);
CREATE FUNCTION accept_intents(
  p_hub text, p_digest text[], p_payer text[], p_payee text[], p_token text[], p_amount numeric[],
  p_fee numeric[], p_nonce numeric[], p_valid_after numeric[], p_valid_before numeric[], p_ref text[],
  p_signature text[], p_balance numeric[], p_balance_block numeric[]
) RETURNS TABLE (result text, status text, reserved numeric) LANGUAGE plpgsql AS $$
DECLARE
  n integer := cardinality(p_digest);
  lock_keys text[];
  known text[];
  key_of integer[];
  nonce_of integer[];
  digest_of integer[];
  reserved_before numeric[];
  settled_after numeric[];
  nonce_live boolean[];
  key_reserved numeric[] := '{}';
  nonce_taken boolean[] := '{}';
  digest_taken boolean[] := '{}';
  outcome text[] := '{}';
  known_status text[] := '{}';
  refused_at numeric[] := '{}';
  inserted text[];
BEGIN
  IF n IS NULL OR n = 0 THEN RETURN; END IF;
  SELECT array_agg(k ORDER BY k COLLATE "C") INTO lock_keys
  FROM (SELECT DISTINCT payer || ':' || token AS k FROM unnest(p_payer, p_token) AS x(payer, token)) keys;
  PERFORM count(pg_advisory_xact_lock(hashtextextended(p_hub || ':' || k, 0))) FROM unnest(lock_keys) AS k;

  SELECT array_agg(s.known ORDER BY s.i), array_agg(s.k ORDER BY s.i), array_agg(s.nk ORDER BY s.i),
         array_agg(s.dk ORDER BY s.i), array_agg(s.res ORDER BY s.i), array_agg(s.settled ORDER BY s.i),
         array_agg(s.live ORDER BY s.i)
  INTO known, key_of, nonce_of, digest_of, reserved_before, settled_after, nonce_live
  FROM (
    SELECT x.i, p.status AS known,
           dense_rank() OVER (ORDER BY x.payer, x.token) AS k,
           dense_rank() OVER (ORDER BY x.payer, x.nonce) AS nk,
           dense_rank() OVER (ORDER BY x.d) AS dk,
           coalesce(r.reserved, 0) AS res,
           CASE WHEN r.settled_block > x.bb THEN
             (SELECT coalesce(sum(q.amount + q.fee), 0) FROM payment_intents q
              WHERE q.hub = p_hub AND q.payer = x.payer AND q.token = x.token
                AND q.status = 'settled' AND q.block_number > x.bb)
           ELSE 0 END AS settled,
           EXISTS (SELECT 1 FROM payment_intents held
                   WHERE held.hub = p_hub AND held.payer = x.payer AND held.nonce = x.nonce
                     AND held.status <> 'failed' AND held.digest <> x.d) AS live
    FROM unnest(p_digest, p_payer, p_token, p_nonce, p_balance_block)
         WITH ORDINALITY AS x(d, payer, token, nonce, bb, i)
    LEFT JOIN payment_intents p ON p.digest = x.d
    LEFT JOIN reservations r ON r.hub = p_hub AND r.payer = x.payer AND r.token = x.token
  ) s;

  FOR i IN 1..n LOOP
    IF key_reserved[key_of[i]] IS NULL THEN key_reserved[key_of[i]] := reserved_before[i]; END IF;
    IF known[i] IS NOT NULL OR coalesce(digest_taken[digest_of[i]], false) THEN
      outcome[i] := 'duplicate';
      known_status[i] := coalesce(known[i], 'accepted');
    ELSIF nonce_live[i] OR coalesce(nonce_taken[nonce_of[i]], false) THEN
      outcome[i] := 'nonce_conflict';
    ELSIF key_reserved[key_of[i]] + settled_after[i] + p_amount[i] + p_fee[i] > p_balance[i] THEN
      outcome[i] := 'insufficient_balance';
      refused_at[i] := key_reserved[key_of[i]] + settled_after[i];
    ELSE
      outcome[i] := 'inserted';
      key_reserved[key_of[i]] := key_reserved[key_of[i]] + p_amount[i] + p_fee[i];
      nonce_taken[nonce_of[i]] := true;
      digest_taken[digest_of[i]] := true;
    END IF;
  END LOOP;

  WITH ins AS (
    INSERT INTO payment_intents
      (digest, hub, payer, payee, token, amount, fee, nonce, valid_after, valid_before, ref, signature, status)
    SELECT x.d, p_hub, x.p, x.e, x.t, x.a, x.f, x.n, x.va, x.vb, x.r, x.s, 'accepted'
    FROM unnest(p_digest, p_payer, p_payee, p_token, p_amount, p_fee, p_nonce, p_valid_after, p_valid_before,
                p_ref, p_signature) WITH ORDINALITY AS x(d, p, e, t, a, f, n, va, vb, r, s, i)
    WHERE outcome[x.i] = 'inserted'
    ORDER BY x.i
    ON CONFLICT DO NOTHING
    RETURNING digest)
  SELECT array_agg(digest) INTO inserted FROM ins;

  RETURN QUERY
    SELECT CASE WHEN outcome[x.i] = 'inserted' AND ins.digest IS NULL THEN 'nonce_conflict' ELSE outcome[x.i] END,
           known_status[x.i], refused_at[x.i]
    FROM unnest(p_digest) WITH ORDINALITY AS x(d, i)
    LEFT JOIN unnest(coalesce(inserted, '{}')) AS ins(digest) ON ins.digest = x.d
    ORDER BY x.i;
END
$$;
`,
  },
];
