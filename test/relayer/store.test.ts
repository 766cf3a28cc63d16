import { after, before, describe, it } from "node:test";
import { expect } from "chai";
import type { Address, Hex } from "viem";
import { sharedPostgres } from "../../scripts/lib/postgres.js";
import { MIGRATIONS } from "../../src/relayer/store/migrations.js";
import { openStore } from "../../src/relayer/store/open.js";
import { openPgliteDriver } from "../../src/relayer/store/pglite-driver.js";
import { openPostgresDriver } from "../../src/relayer/store/postgres-driver.js";
import { QUEUE_GROUPS_SQL, SqlStore, STATUS_COUNTS_SQL } from "../../src/relayer/store/sql-store.js";
import type { NewIntent } from "../../src/relayer/store/store.js";
import { HUB, OTHER_TOKEN, payment, randomAddress, randomDigest, TOKEN } from "./helpers/fixtures.js";
import { storeLocation, type TempStore, tempStore, testBackend } from "./helpers/store.js";

const SENDER: Address = "0x00000000000000000000000000000000000005e0";
const OTHER_SENDER: Address = "0x00000000000000000000000000000000000005e1";
const VERSIONS = MIGRATIONS.map((m) => m.version);
const NOW = BigInt(Math.floor(Date.now() / 1000));
const TX: Hex = `0x${"ab".repeat(32)}`;
/** A payer whose reservation sorts after any random one's. */
const Z_PAYER: Address = "0xfFfFfFffFFfffFFfFFfFFFFFffFFFffffFfFFFfF";
const BLOCK_HASH: Hex = `0x${"cd".repeat(32)}`;

/** A block after every settlement these tests record: a balance read there shows all their debits. */
const AFTER_ALL = 2n ** 62n;

function intent(
  overrides: Partial<NewIntent["payment"]> = {},
  balance = 1_000_000n,
  balanceBlock = AFTER_ALL,
): NewIntent {
  return { digest: randomDigest(), hub: HUB, payment: payment(overrides), signature: "0x1234", balance, balanceBlock };
}

describe(`relayer store (${testBackend()})`, () => {
  let temp: TempStore;
  before(async () => {
    temp = await tempStore();
  });
  after(async () => {
    await temp.dispose();
  });

  describe("migrations", () => {
    it("applies every version once and is a no-op when reopened", async () => {
      expect(await temp.store.schemaVersions()).to.deep.equal(VERSIONS);
      // A second process opening the same store finds nothing to apply.
      await temp.store.close();
      const reopened = await temp.reopen();
      expect(await reopened.schemaVersions()).to.deep.equal(VERSIONS);
      temp.store = reopened;
    });

    it("migrates a fresh database once when several instances start at the same moment", async (t) => {
      if (temp.location.backend !== "postgres") return t.skip("one process owns a PGlite directory");
      const fresh = await storeLocation("postgres");
      try {
        const stores = await Promise.all(
          Array.from({ length: 4 }, () => openStore({ ...fresh.options, inProcess: true })),
        );
        for (const store of stores) expect(await store.schemaVersions()).to.deep.equal(VERSIONS);
        await Promise.all(stores.map((s) => s.close()));
      } finally {
        await fresh.remove();
      }
    });
  });

  describe("connections", () => {
    it("survives the server closing its idle connections, and reconnects", async (t) => {
      if (temp.location.backend !== "postgres") return t.skip("PGlite has no server");
      await temp.store.schemaVersions(); // leaves an idle connection in the pool
      const database = new URL(temp.location.options.databaseUrl as string).pathname.slice(1);
      const server = await sharedPostgres();
      const [{ terminated }] = await server.query<{ terminated: string }>(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS terminated FROM pg_stat_activity WHERE datname = $1",
        [database],
      );
      expect(Number(terminated)).to.be.greaterThan(0);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(await temp.store.schemaVersions()).to.deep.equal(VERSIONS);
    });
  });

  describe("intents", () => {
    it("keeps one row for the same intent submitted twice, in one call or in two", async () => {
      const first = intent();
      const twice = await temp.store.insertIntents([first, { ...first }]);
      expect(twice.map((r) => r.result)).to.deep.equal(["inserted", "duplicate"]);
      const again = await temp.store.insertIntents([{ ...first }]);
      expect(again).to.deep.equal([{ digest: first.digest, result: "duplicate", status: "accepted" }]);
      const stored = await temp.store.getIntent(first.digest);
      expect(stored?.payment).to.deep.equal(first.payment);
      expect(stored?.status).to.equal("accepted");
    });

    it("round-trips uint256 amounts and uint64 timestamps exactly", async () => {
      const max = 2n ** 256n - 1n;
      const big = intent({ amount: 2n ** 128n - 1n, fee: 0n, nonce: max, validBefore: 2n ** 64n - 1n }, max);
      expect((await temp.store.insertIntents([big]))[0].result).to.equal("inserted");
      expect((await temp.store.getIntent(big.digest))?.payment).to.deep.equal(big.payment);
    });

    it("refuses a second live intent with the payer's nonce", async () => {
      const first = intent();
      const rival = { ...intent({ from: first.payment.from, nonce: first.payment.nonce }), digest: randomDigest() };
      const results = await temp.store.insertIntents([first, rival]);
      expect(results.map((r) => r.result)).to.deep.equal(["inserted", "nonce_conflict"]);
      expect(await temp.store.getIntent(rival.digest)).to.equal(null);
    });

    it("frees the nonce of a failed intent", async () => {
      const first = intent();
      await temp.store.insertIntents([first]);
      expect(await temp.store.failAcceptedIntents([first.digest], "expired")).to.deep.equal([first.digest]);
      const retry = intent({ from: first.payment.from, nonce: first.payment.nonce, amount: 999n });
      expect((await temp.store.insertIntents([retry]))[0].result).to.equal("inserted");
    });
  });

  describe("reservations", () => {
    it("accepts intents only while balance covers amount + fee + what is already reserved", async () => {
      const payer = randomAddress();
      const balance = 3_030n; // three intents of 1,000 + 10
      const batch = [1, 2, 3, 4].map(() => intent({ from: payer }, balance));
      const results = await temp.store.insertIntents(batch);
      expect(results.map((r) => r.result)).to.deep.equal(["inserted", "inserted", "inserted", "insufficient_balance"]);
      expect(results[3]).to.deep.include({ reserved: 3_030n });
      const [reservation] = (await temp.store.reservations(HUB)).filter((r) => r.payer === payer);
      expect(reservation).to.deep.include({ reserved: 3_030n, intents: 3, token: TOKEN });
    });

    it("never over-reserves under concurrent single-intent inserts", async () => {
      const payer = randomAddress();
      const balance = 10_100n; // room for exactly ten
      const results = await Promise.all(
        Array.from({ length: 25 }, () => temp.store.insertIntents([intent({ from: payer }, balance)])),
      );
      const inserted = results.flat().filter((r) => r.result === "inserted");
      expect(inserted).to.have.length(10);
    });

    it("keeps reservations per token and in step with the open intents through every transition", async () => {
      const payer = randomAddress();
      const a = intent({ from: payer });
      const b = intent({ from: payer, token: OTHER_TOKEN, amount: 500n, fee: 5n });
      const c = intent({ from: payer });
      await temp.store.insertIntents([a, b, c]);
      const before = (await temp.store.reservations(HUB)).filter((r) => r.payer === payer);
      expect(before.map((r) => [r.token, r.reserved]).sort()).to.deep.equal(
        [
          [TOKEN, 2_020n],
          [OTHER_TOKEN, 505n],
        ].sort(),
      );

      const claimed = await temp.store.claimIntents({
        hub: HUB,
        token: TOKEN,
        owner: SENDER.toLowerCase(),
        limit: 1_000,
        leaseMs: 60_000,
        nowSeconds: NOW,
      });
      const ours = claimed.filter((i) => i.payment.from === payer).map((i) => i.digest);
      const { batchId, items } = await temp.store.createBatch({
        kind: "settle",
        contract: HUB,
        token: TOKEN,
        sender: SENDER,
        items: ours,
      });
      expect(items).to.have.members([a.digest.toLowerCase(), c.digest.toLowerCase()]);
      await temp.store.releaseClaims(SENDER.toLowerCase());
      const changed = await temp.store.applyPaymentResults({
        batchId,
        txHash: TX,
        blockNumber: 10n,
        blockHash: BLOCK_HASH,
        settled: [a.digest],
        settledElsewhere: [],
        failed: [{ digest: c.digest, reason: "insufficient_balance" }],
        requeued: [],
      });
      expect(changed.map((i) => i.status).sort()).to.deep.equal(["failed", "settled"]);
      const afterSettle = (await temp.store.reservations(HUB)).filter((r) => r.payer === payer);
      expect(afterSettle.map((r) => [r.token, r.reserved])).to.deep.equal([[OTHER_TOKEN, 505n]]);
      expect(await temp.store.reservationMismatches()).to.deep.equal([]);
      expect(await temp.store.countMismatches()).to.deep.equal([]);

      // A reorg takes the block away: both intents are open (and reserved) again.
      const reopened = await temp.store.reopenBatch(batchId);
      expect(reopened.map((i) => i.status)).to.deep.equal(["submitted", "submitted"]);
      const afterReorg = (await temp.store.reservations(HUB)).filter((r) => r.payer === payer && r.token === TOKEN);
      expect(afterReorg[0].reserved).to.equal(2_020n);
      expect(await temp.store.reservationMismatches()).to.deep.equal([]);
      expect(await temp.store.countMismatches()).to.deep.equal([]);
    });

    it("records accepted intents settled by another transaction, releasing their reservations, and no others", async () => {
      const payer = randomAddress();
      const [a, b, c] = [intent({ from: payer }), intent({ from: payer }), intent({ from: payer })];
      await temp.store.insertIntents([a, b, c]);
      await batchOf([c]);
      const elsewhere = { txHash: TX, blockNumber: 12n, blockHash: BLOCK_HASH };
      // `a` is accepted (and claimed); `c` is in a batch (submitted): only `a` is recorded.
      const changed = await temp.store.settleAcceptedIntents([
        { ...elsewhere, digest: a.digest },
        { ...elsewhere, digest: c.digest },
      ]);
      expect(changed.map((i) => [i.digest, i.status, i.txHash, i.blockNumber])).to.deep.equal([
        [a.digest.toLowerCase(), "settled", TX.toLowerCase(), 12n],
      ]);
      expect(await temp.store.getIntent(c.digest)).to.deep.include({ status: "submitted", txHash: null });
      const reserved = (await temp.store.reservations(HUB)).filter((r) => r.payer === payer);
      expect(reserved.map((r) => r.reserved)).to.deep.equal([2_020n]); // b and c
      expect(await temp.store.reservationMismatches()).to.deep.equal([]);
      expect(await temp.store.countMismatches()).to.deep.equal([]);
      expect(await temp.store.settleAcceptedIntents([{ ...elsewhere, digest: a.digest }])).to.deep.equal([]);
    });

    it("reopens a batch undone by a reorg while a failed intent's nonce is taken again by a live one", async () => {
      const payer = randomAddress();
      const [failing, settling] = [intent({ from: payer, nonce: 40n }), intent({ from: payer, nonce: 41n })];
      await temp.store.insertIntents([failing, settling]);
      const batchId = await batchOf([failing, settling]);
      await temp.store.releaseClaims(SENDER.toLowerCase());
      await temp.store.applyPaymentResults({
        batchId,
        txHash: TX,
        blockNumber: 10n,
        blockHash: BLOCK_HASH,
        settled: [settling.digest],
        settledElsewhere: [],
        failed: [{ digest: failing.digest, reason: "insufficient_balance" }],
        requeued: [],
      });
      // The failure freed nonce 40; the payer signs another intent with it.
      const again = intent({ from: payer, nonce: 40n });
      expect((await temp.store.insertIntents([again]))[0].result).to.equal("inserted");

      const reopened = await temp.store.reopenBatch(batchId);
      expect(reopened.map((i) => [i.digest, i.status])).to.deep.equal([[settling.digest.toLowerCase(), "submitted"]]);
      expect(await temp.store.getIntent(failing.digest)).to.deep.include({
        status: "failed",
        failureReason: "insufficient_balance",
        txHash: null,
        blockNumber: null,
      });
      expect(await temp.store.getIntent(again.digest)).to.deep.include({ status: "accepted" });
      expect((await temp.store.getBatch(batchId))?.status).to.equal("pending");
      expect(await temp.store.reservationMismatches()).to.deep.equal([]);
      expect(await temp.store.countMismatches()).to.deep.equal([]);
    });

    /** Claims SENDER's accepted intents of TOKEN and puts `items` in a settle batch (its id). */
    async function batchOf(items: NewIntent[]): Promise<number> {
      await temp.store.claimIntents({
        hub: HUB,
        token: TOKEN,
        owner: SENDER.toLowerCase(),
        limit: 1_000,
        leaseMs: 60_000,
        nowSeconds: NOW,
      });
      const { batchId } = await temp.store.createBatch({
        kind: "settle",
        contract: HUB,
        token: TOKEN,
        sender: SENDER,
        items: items.map((i) => i.digest),
      });
      return batchId;
    }

    /** Claims, batches and settles `settled` at `blockNumber` (one transaction of SENDER). */
    async function settleAt(settled: NewIntent[], blockNumber: bigint): Promise<void> {
      const batchId = await batchOf(settled);
      await temp.store.releaseClaims(SENDER.toLowerCase());
      await temp.store.applyPaymentResults({
        batchId,
        txHash: TX,
        blockNumber,
        blockHash: BLOCK_HASH,
        settled: settled.map((i) => i.digest),
        settledElsewhere: [],
        failed: [],
        requeued: [],
      });
    }

    // Invariant: an intent is accepted only if the payer's balance, as of the block the read
    // reflects, covers it plus every open intent plus every intent settled after that block
    // (debited on-chain, no longer reserved, perhaps not in the read).
    it("counts the payer's intents settled after the block its balance was read at as still reserved", async () => {
      const payer = randomAddress();
      const a = intent({ from: payer }, 2_000n, 9n); // 1,000 + 10
      await temp.store.insertIntents([a]);
      await settleAt([a], 10n); // on-chain the payer now holds 990
      // A read from block 9 (a cached one, or one made while the settlement was being applied)
      // still shows 2,000: the settled 1,010 counts against it.
      const [stale] = await temp.store.insertIntents([intent({ from: payer }, 2_000n, 9n)]);
      expect(stale).to.deep.include({ result: "insufficient_balance", reserved: 1_010n });
      const [small] = await temp.store.insertIntents([intent({ from: payer, amount: 500n }, 2_000n, 9n)]);
      expect(small.result).to.equal("inserted"); // 1,010 + 510 of 2,000: the 990 left cover 510
      // A read from block 10 shows the debit itself: nothing more is counted.
      const [fresh] = await temp.store.insertIntents([intent({ from: payer, amount: 480n }, 990n, 10n)]);
      expect(fresh).to.deep.include({ result: "insufficient_balance", reserved: 510n });
      const [fits] = await temp.store.insertIntents([intent({ from: payer, amount: 470n }, 990n, 10n)]);
      expect(fits.result).to.equal("inserted"); // 510 + 480 = 990
    });

    it("refuses an intent whose nonce a live intent holds before reserving anything for it", async () => {
      const payer = randomAddress();
      const held = intent({ from: payer, nonce: 7n }, 2_000n);
      await temp.store.insertIntents([held]);
      const rival = intent({ from: payer, nonce: 7n }, 2_000n);
      const next = intent({ from: payer, nonce: 8n, amount: 900n }, 2_000n);
      const results = await temp.store.insertIntents([rival, next]);
      expect(results.map((r) => r.result)).to.deep.equal(["nonce_conflict", "inserted"]); // 1,010 + 910 of 2,000
    });

    it("never deadlocks applying a batch's results against an acceptance of the same payers", async (t) => {
      if (temp.location.backend !== "postgres") return t.skip("PGlite has one connection: nothing runs at once");
      // The results' statements change reservations one after another: here the settled one (payer
      // Z) runs, then the transaction waits while an acceptance of payers A and Z starts, then the
      // failed one (payer A) runs. Each locks reservations in key order; the two together must too.
      const driver = await openPostgresDriver(temp.location.options.databaseUrl as string, 2);
      let reached!: () => void;
      let resume!: () => void;
      const atPause = new Promise<void>((r) => {
        reached = r;
      });
      const resumed = new Promise<void>((r) => {
        resume = r;
      });
      const pausing: typeof driver = {
        ...driver,
        transaction: (fn) =>
          driver.transaction((tx) =>
            fn({
              ...tx,
              async query<Row>(text: string, params?: readonly unknown[]) {
                const rows = await tx.query<Row>(text, params);
                if (text.includes("SET status = 'settled'")) {
                  reached();
                  await resumed;
                }
                return rows;
              },
            }),
          ),
      };
      const paused = new SqlStore(pausing);
      try {
        const [a, z] = [intent({ from: "0x000000000000000000000000000000000000000a" }), intent({ from: Z_PAYER })];
        await temp.store.insertIntents([a, z]);
        const batchId = await batchOf([a, z]);
        const applying = paused.applyPaymentResults({
          batchId,
          txHash: TX,
          blockNumber: 10n,
          blockHash: BLOCK_HASH,
          settled: [z.digest],
          settledElsewhere: [],
          failed: [{ digest: a.digest, reason: "insufficient_balance" }],
          requeued: [],
        });
        await atPause;
        const accepting = temp.store.insertIntents([intent({ from: a.payment.from }), intent({ from: Z_PAYER })]);
        await new Promise((r) => setTimeout(r, 300)); // the acceptance is now waiting for a lock
        resume();
        const [applied, accepted] = await Promise.all([applying, accepting]);
        expect(applied.map((i) => i.status).sort()).to.deep.equal(["failed", "settled"]);
        expect(accepted.map((r) => r.result)).to.deep.equal(["inserted", "inserted"]);
        expect(await temp.store.reservationMismatches()).to.deep.equal([]);
      } finally {
        resume();
        await driver.close();
      }
    });

    it("never deadlocks when two instances insert and settle intents of the same payers at once", async () => {
      // On Postgres, a second connection pool on the same database, as a second instance has
      // (PGlite has one connection, which serialises everything).
      const second = temp.location.backend === "postgres";
      const other = second ? await temp.reopen() : temp.store;
      try {
        const payers = Array.from({ length: 60 }, () => randomAddress());
        // Overlapping payer sets in different orders, different for every writer and round.
        const subset = (seed: number) => payers.filter((_, i) => (i * 7 + seed) % 4 !== 0).reverse();
        let open = payers.flatMap((from) => [intent({ from }), intent({ from })]);
        await temp.store.insertIntents(open);
        for (let round = 0; round < 8; round++) {
          const fresh = [0, 1, 2].map((w) => subset(round * 3 + w).map((from) => intent({ from })));
          const closing = [0, 1, 2].map((w) => {
            const from = new Set(subset(round * 5 + w + 1));
            return open.filter((i, k) => k % 3 === w && from.has(i.payment.from));
          });
          // One instance accepts new intents while the other closes open intents of the same payers.
          const outcomes = await Promise.allSettled([
            ...fresh.map((rows) => temp.store.insertIntents(rows)),
            ...closing.map((rows) =>
              other.failAcceptedIntents(
                rows.map((i) => i.digest),
                "expired",
              ),
            ),
          ]);
          const errors = outcomes.filter((o) => o.status === "rejected").map((o) => String(o.reason));
          expect(errors).to.deep.equal([]);
          const closed = new Set(closing.flat());
          open = [...open.filter((i) => !closed.has(i)), ...fresh.flat()];
        }
        expect(await temp.store.reservationMismatches()).to.deep.equal([]);
        expect(await temp.store.countMismatches()).to.deep.equal([]);
      } finally {
        if (second) await other.close();
      }
    });
  });

  describe("claiming and batches", () => {
    it("gives each intent to one instance only, and to another once the lease ends", async () => {
      const token = randomAddress();
      await temp.store.insertIntents(Array.from({ length: 6 }, () => intent({ token })));
      const claim = (owner: string, leaseMs = 60_000) =>
        temp.store.claimIntents({ hub: HUB, token, owner, limit: 4, leaseMs, nowSeconds: NOW });
      const [one, two] = await Promise.all([claim("one"), claim("two")]);
      expect(one.length + two.length).to.equal(6);
      const ids = new Set([...one, ...two].map((i) => i.digest));
      expect(ids.size).to.equal(6);
      expect(await claim("three")).to.have.length(0);

      await temp.store.releaseClaims("one");
      expect(await claim("three", 1)).to.have.length(one.length);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(await claim("four")).to.have.length(one.length); // three's lease of 1 ms ran out
    });

    it("does not claim intents that are not yet valid", async () => {
      const token = randomAddress();
      await temp.store.insertIntents([intent({ token, validAfter: NOW + 600n }), intent({ token })]);
      const claimed = await temp.store.claimIntents({
        hub: HUB,
        token,
        owner: "x",
        limit: 10,
        leaseMs: 1_000,
        nowSeconds: NOW,
      });
      expect(claimed).to.have.length(1);
    });

    it("reports queue groups with capped counts and the oldest intent", async () => {
      const token = randomAddress();
      await temp.store.insertIntents(Array.from({ length: 5 }, () => intent({ token })));
      const group = (await temp.store.queueGroups(HUB, 3)).find((g) => g.token === token);
      expect(group?.ready).to.equal(3);
      expect(group?.oldestAcceptedAt).to.be.instanceOf(Date);
    });

    // A payer's reservations row outlives its last open intent, and intents are never deleted:
    // the batcher's poll and the status page (every second) must not read the whole history.
    it("answers the batcher's poll and the status page without reading the history", async () => {
      const fresh = await tempStore();
      try {
        const closed = Array.from({ length: 2_000 }, () => intent({ from: randomAddress() }));
        await fresh.store.insertIntents(closed);
        await fresh.store.failAcceptedIntents(
          closed.map((i) => i.digest),
          "expired",
        );
        const open = intent({ token: OTHER_TOKEN });
        await fresh.store.insertIntents([open]);
        const groups = await fresh.store.queueGroups(HUB, 10);
        expect(groups.map((g) => [g.token, g.ready])).to.deep.equal([[OTHER_TOKEN, 1]]);
        const snapshot = await fresh.store.statusSnapshot({ hub: HUB, sender: SENDER, windowSeconds: 60, limit: 5 });
        expect(snapshot.intents).to.deep.equal({ accepted: 1, submitted: 0, settled: 0, failed: 2_000 });
        expect(snapshot.settledInWindow).to.equal(0);
        await fresh.store.close();

        const driver =
          fresh.location.backend === "pglite"
            ? await openPgliteDriver(fresh.location.options.dataDir)
            : await openPostgresDriver(fresh.location.options.databaseUrl as string);
        try {
          await driver.exec("ANALYZE reservations, payment_intents, intent_counts, batches");
          const explain = async (sql: string, params: unknown[]) =>
            (await driver.query<{ "QUERY PLAN": string }>(`EXPLAIN ${sql}`, params))
              .map((row) => row["QUERY PLAN"])
              .join("\n");
          const poll = await explain(QUEUE_GROUPS_SQL, [HUB.toLowerCase(), 10]);
          expect(poll).to.include("reservations_open");
          expect(poll).not.to.match(/Seq Scan on (reservations|payment_intents)/);
          const status = await explain(STATUS_COUNTS_SQL, [HUB.toLowerCase(), 60]);
          expect(status).to.include("payment_intents_batch");
          expect(status).not.to.match(/Seq Scan on payment_intents/);
        } finally {
          await driver.close();
          fresh.store = await fresh.reopen();
        }
      } finally {
        await fresh.dispose();
      }
    });

    it("folds the intent counts of database sessions that ended into one row, keeping every total", async (t) => {
      if (temp.location.backend !== "postgres") {
        expect(await temp.store.compactCounts()).to.equal(0);
        return t.skip("PGlite is one session: nothing to fold");
      }
      const fresh = await tempStore();
      const other = await openStore({ ...fresh.location.options, inProcess: true }); // a second instance's pool
      try {
        await fresh.store.insertIntents([intent(), intent()]);
        await other.insertIntents([intent(), intent(), intent()]);
        const before = await fresh.store.statusSnapshot({ hub: HUB, sender: SENDER, windowSeconds: 60, limit: 1 });
        expect(before.intents.accepted).to.equal(5);
        await other.close(); // its sessions end, their rows stay
        const deadline = Date.now() + 10_000;
        let folded = await fresh.store.compactCounts();
        while (folded === 0 && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 100)); // the server notices the closed connections
          folded = await fresh.store.compactCounts();
        }
        expect(folded).to.be.greaterThan(0);
        expect(await fresh.store.compactCounts()).to.equal(0);
        const after = await fresh.store.statusSnapshot({ hub: HUB, sender: SENDER, windowSeconds: 60, limit: 1 });
        expect(after.intents).to.deep.equal(before.intents);
        expect(await fresh.store.countMismatches()).to.deep.equal([]);
      } finally {
        await other.close().catch(() => undefined); // closed already unless the test failed first
        await fresh.dispose();
      }
    });

    it("puts only intents still claimed by the sender into a batch, and tracks its transactions", async () => {
      const token = randomAddress();
      const rows = Array.from({ length: 3 }, () => intent({ token }));
      await temp.store.insertIntents(rows);
      const claimed = await temp.store.claimIntents({
        hub: HUB,
        token,
        owner: SENDER.toLowerCase(),
        limit: 2,
        leaseMs: 60_000,
        nowSeconds: NOW,
      });
      const { batchId, items } = await temp.store.createBatch({
        kind: "settle",
        contract: HUB,
        token,
        sender: SENDER,
        items: rows.map((r) => r.digest),
      });
      expect(items).to.have.length(2);
      expect(items).to.have.members(claimed.map((c) => c.digest));
      const attempt = {
        batchId,
        hash: TX,
        nonce: 7,
        gasLimit: 100_000n,
        maxFeePerGas: 2n,
        maxPriorityFeePerGas: 1n,
        raw: "0x02" as Hex,
      };
      await temp.store.recordAttempt(attempt, SENDER);
      const pending = (await temp.store.pendingBatches(SENDER)).find((b) => b.id === batchId);
      expect(pending?.nonce).to.equal(7);
      expect(pending?.attempts).to.deep.equal([attempt]);
      expect(await temp.store.pendingBatches(OTHER_SENDER)).to.deep.equal([]);

      // Its nonce went to another transaction: the intents are queued again.
      expect(await temp.store.abandonBatch(batchId, "nonce_taken", 5)).to.deep.equal([]);
      for (const digest of items) expect((await temp.store.getIntent(digest))?.status).to.equal("accepted");
      expect((await temp.store.pendingBatches(SENDER)).map((b) => b.id)).to.not.include(batchId);
    });

    it("lets one live instance adopt the pending batches of a sending key gone quiet, never its own", async () => {
      const fresh = await tempStore(); // no other test's pending batches
      try {
        const gone = randomAddress();
        const [alive, other] = [randomAddress(), randomAddress()];
        const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
        // Quiet for longer than this: wide enough that a slow query between two steps does not
        // make a fresh adopter look quiet (database time between them can pass tens of ms).
        const QUIET_MS = 500;
        const adopt = (sender: Address, unseenMs: number) =>
          fresh.store
            .adoptOrphanedBatches({ sender, unseenMs, limit: 100, jobs: [{ kind: "settle", contract: HUB }] })
            .then((batches) => batches.map((b) => b.id));
        await fresh.store.heartbeat(gone);
        const { batchId } = await fresh.store.createBatch({ kind: "settle", contract: HUB, sender: gone, items: [] });
        await fresh.store.recordAttempt(
          {
            hash: randomDigest(),
            batchId,
            nonce: 0,
            gasLimit: 1n,
            maxFeePerGas: 1n,
            maxPriorityFeePerGas: 1n,
            raw: "0x02",
          },
          gone,
        );
        expect(await adopt(alive, 60_000)).not.to.include(batchId); // its key was seen just now
        expect(await adopt(gone, 1)).not.to.include(batchId); // never a key's own batches
        await pause(QUIET_MS + 200);
        const notOurs = await fresh.store.adoptOrphanedBatches({
          sender: alive,
          unseenMs: QUIET_MS,
          limit: 100,
          jobs: [
            { kind: "expire", contract: HUB },
            { kind: "finalize", contract: null },
            { kind: "settle", contract: randomAddress() },
          ],
        });
        // Only batches the adopter's jobs could have sent: same kind, same contract.
        expect(notOurs).to.deep.equal([]);
        const [first, second] = await Promise.all([adopt(alive, QUIET_MS), adopt(other, QUIET_MS)]);
        expect([...first, ...second].filter((id) => id === batchId)).to.have.length(1); // one adopter
        const adopter = first.includes(batchId) ? alive : other;
        const rival = adopter === alive ? other : alive;
        expect(await adopt(rival, QUIET_MS)).not.to.include(batchId); // its adopter is fresh
        expect(await adopt(adopter, QUIET_MS)).to.include(batchId); // the adopter finds it again (e.g. after a restart)
        await pause(QUIET_MS + 200);
        expect(await adopt(rival, QUIET_MS)).to.include(batchId); // the adopter went quiet too
        const [batch] = await fresh.store.adoptOrphanedBatches({
          sender: adopter,
          unseenMs: 1,
          limit: 100,
          jobs: [{ kind: "settle", contract: HUB }],
        });
        expect(batch?.attempts).to.have.length(1);
        // A gap filler calls no contract of ours: adopted whatever it called.
        const filler = await fresh.store.createBatch({ kind: "filler", contract: gone, sender: gone, items: [] });
        const fillers = await fresh.store.adoptOrphanedBatches({
          sender: adopter,
          unseenMs: 1,
          limit: 100,
          jobs: [{ kind: "filler", contract: null }],
        });
        expect(fillers.map((b) => b.id)).to.deep.equal([filler.batchId]);
      } finally {
        await fresh.dispose();
      }
    });

    it("fails intents that reached the attempt limit when their batch is abandoned", async () => {
      const token = randomAddress();
      const row = intent({ token });
      const batchId = await batchOf(row);
      expect(await temp.store.abandonBatch(batchId, "reverted", 1)).to.deep.equal([row.digest.toLowerCase()]);
      expect(await temp.store.getIntent(row.digest)).to.deep.include({ status: "failed", failureReason: "reverted" });
    });

    it("queues every intent again, at the attempt limit too, when abandoned with no limit", async () => {
      const row = intent({ token: randomAddress() });
      const batchId = await batchOf(row);
      expect(await temp.store.abandonBatch(batchId, "sender_gone", null)).to.deep.equal([]);
      expect(await temp.store.getIntent(row.digest)).to.deep.include({ status: "accepted", failureReason: null });
      expect((await temp.store.getBatch(batchId))?.status).to.equal("abandoned");
    });

    /** Puts `row` in a settle batch of its own: inserted, claimed (its first attempt), batched. */
    async function batchOf(row: NewIntent): Promise<number> {
      await temp.store.insertIntents([row]);
      await temp.store.claimIntents({
        hub: HUB,
        token: row.payment.token,
        owner: SENDER.toLowerCase(),
        limit: 1,
        leaseMs: 1,
        nowSeconds: NOW,
      });
      const { batchId } = await temp.store.createBatch({
        kind: "settle",
        contract: HUB,
        sender: SENDER,
        items: [row.digest],
      });
      return batchId;
    }
  });

  describe("releases, vouchers and cursors", () => {
    it("stores a release once", async () => {
      const release = {
        digest: randomDigest(),
        escrow: randomAddress(),
        id: 3n,
        releasedTotal: 50n,
        deadline: NOW + 100n,
        signature: "0xaa" as Hex,
      };
      expect((await temp.store.insertRelease(release)).inserted).to.equal(true);
      const again = await temp.store.insertRelease(release);
      expect(again.inserted).to.equal(false);
      expect(again.record).to.deep.include({ status: "accepted", id: 3n, releasedTotal: 50n });
    });

    it("records an outcome decided before sending only while the deciding owner still holds the release", async () => {
      const escrow = randomAddress();
      const release = {
        digest: randomDigest(),
        escrow,
        id: 5n,
        releasedTotal: 50n,
        deadline: NOW + 100n,
        signature: "0xaa" as Hex,
      };
      await temp.store.insertRelease(release);
      // `late` held the claim; its lease ran out and `taker` holds it now.
      await temp.store.claimReleases({ escrow, owner: "late", limit: 1, leaseMs: 1 });
      await new Promise((r) => setTimeout(r, 20));
      expect(await temp.store.claimReleases({ escrow, owner: "taker", limit: 1, leaseMs: 60_000 })).to.have.length(1);
      const failed = { status: "failed" as const, reason: "expired" };
      expect(await temp.store.setReleaseOutcome(release.digest, failed, "late")).to.equal(false);
      expect(await temp.store.getRelease(release.digest)).to.deep.include({ status: "accepted", failureReason: null });
      expect(await temp.store.setReleaseOutcome(release.digest, failed, "taker")).to.equal(true);
      expect(await temp.store.getRelease(release.digest)).to.deep.include({
        status: "failed",
        failureReason: "expired",
      });
    });

    it("gives back a batch's unused intent claims without touching the owner's release claims", async () => {
      const escrow = randomAddress();
      const owner = `owner-${randomDigest().slice(2, 10)}`;
      const release = {
        digest: randomDigest(),
        escrow,
        id: 4n,
        releasedTotal: 50n,
        deadline: NOW + 100n,
        signature: "0xaa" as Hex,
      };
      await temp.store.insertRelease(release);
      const claim = () => temp.store.claimReleases({ escrow, owner: "other", limit: 10, leaseMs: 60_000 });
      expect(await temp.store.claimReleases({ escrow, owner, limit: 10, leaseMs: 60_000 })).to.have.length(1);
      await temp.store.releaseClaims(owner, [randomDigest()]); // the batcher, giving back intents
      expect(await claim()).to.deep.equal([]); // still held by the relays job of `owner`
      await temp.store.releaseClaims(owner); // start-up: everything of `owner`
      expect(await claim()).to.have.length(1);
    });

    it("keeps only the highest voucher per channel and remembers a claim request", async () => {
      const channels = randomAddress();
      const channelId = randomDigest();
      const put = (cumulativeAmount: bigint, claim = false) =>
        temp.store.upsertVoucher({ channels, channelId, cumulativeAmount, signature: `0x${cumulativeAmount}`, claim });
      await put(5n);
      expect((await put(9n)).cumulativeAmount).to.equal(9n);
      const older = await put(7n, true);
      expect(older).to.deep.include({ cumulativeAmount: 9n, signature: "0x9", claimRequested: true });
      expect((await temp.store.claimableVouchers(channels, 10)).map((v) => v.channelId)).to.deep.equal([
        channelId.toLowerCase(),
      ]);
      await temp.store.markVoucherClaimed(channels, channelId, 9n, null);
      expect(await temp.store.getVoucher(channels, channelId)).to.deep.include({
        claimedAmount: 9n,
        claimRequested: false,
      });
      expect(await temp.store.claimableVouchers(channels, 10)).to.deep.equal([]);
    });

    it("keeps a claim in flight when an on-chain claimed amount is noted, and ends it when its batch confirms", async () => {
      const channels = randomAddress();
      const channelId = randomDigest();
      await temp.store.upsertVoucher({ channels, channelId, cumulativeAmount: 9n, signature: "0x09", claim: true });
      const claim = { kind: "claim" as const, contract: channels, sender: randomAddress(), note: `${channelId}:9` };
      const { batchId } = await temp.store.createBatch({ ...claim, items: [channelId] });
      // The other path (relays job or watchtower) reads 3 claimed on-chain while the claim of 9 is in flight.
      await temp.store.markVoucherClaimed(channels, channelId, 3n, null);
      expect((await temp.store.createBatch({ ...claim, items: [channelId] })).items, "still in flight").to.deep.equal(
        [],
      );
      await temp.store.markVoucherClaimed(channels, channelId, 9n, batchId);
      expect(await temp.store.getVoucher(channels, channelId)).to.deep.include({
        claimedAmount: 9n,
        claimRequested: false,
      });
      expect(
        (await temp.store.createBatch({ ...claim, items: [channelId] })).items,
        "no longer in flight",
      ).to.deep.equal([channelId.toLowerCase()]);
    });

    // Invariant: a voucher claim undone by a reorg is never counted as claimed by us. Should its
    // transaction not be mined again, the claim is made again; a payee never loses a voucher's
    // worth to a claim that left the chain.
    it("makes a voucher claim undone by a reorg in flight again, then claimable again if it is given up", async () => {
      const channels = randomAddress();
      const channelId = randomDigest();
      await temp.store.upsertVoucher({ channels, channelId, cumulativeAmount: 9n, signature: "0x09", claim: true });
      const claim = { kind: "claim" as const, contract: channels, sender: randomAddress(), note: `${channelId}:9` };
      const { batchId } = await temp.store.createBatch({ ...claim, items: [channelId] });
      await temp.store.markVoucherClaimed(channels, channelId, 9n, batchId);
      await temp.store.confirmBatch(batchId, { txHash: TX, blockNumber: 7n, blockHash: BLOCK_HASH }, "confirmed");
      expect(await temp.store.getVoucher(channels, channelId)).to.deep.include({
        claimedAmount: 9n,
        claimRequested: false,
        batchId: null,
      });

      await temp.store.reopenBatch(batchId);
      expect(await temp.store.getVoucher(channels, channelId), "in flight again").to.deep.include({
        claimedAmount: 0n,
        claimRequested: true,
        batchId,
      });
      expect(await temp.store.claimableVouchers(channels, 10), "not claimed twice at once").to.deep.equal([]);

      // The transaction is not mined again: given up, the claim is made again.
      await temp.store.abandonBatch(batchId, "nonce_taken", 3);
      expect((await temp.store.claimableVouchers(channels, 10)).map((v) => v.channelId)).to.deep.equal([
        channelId.toLowerCase(),
      ]);
    });

    it("leaves a voucher's later claim in flight when an earlier claim of it is undone by a reorg", async () => {
      const channels = randomAddress();
      const channelId = randomDigest();
      const sender = randomAddress();
      await temp.store.upsertVoucher({ channels, channelId, cumulativeAmount: 5n, signature: "0x05", claim: true });
      const first = await temp.store.createBatch({
        kind: "claim",
        contract: channels,
        sender,
        items: [channelId],
        note: `${channelId}:5`,
      });
      await temp.store.markVoucherClaimed(channels, channelId, 5n, first.batchId);
      await temp.store.confirmBatch(first.batchId, { txHash: TX, blockNumber: 7n, blockHash: BLOCK_HASH }, "confirmed");
      await temp.store.upsertVoucher({ channels, channelId, cumulativeAmount: 9n, signature: "0x09", claim: true });
      const second = await temp.store.createBatch({
        kind: "claim",
        contract: channels,
        sender,
        items: [channelId],
        note: `${channelId}:9`,
      });
      expect(second.items).to.have.length(1);

      await temp.store.reopenBatch(first.batchId);
      expect(await temp.store.getVoucher(channels, channelId)).to.deep.include({
        claimedAmount: 0n,
        batchId: second.batchId,
      });
    });

    it("persists indexer cursors", async () => {
      expect(await temp.store.getCursor("escrow")).to.equal(null);
      await temp.store.setCursor("escrow", { blockNumber: 5n, blockHash: BLOCK_HASH });
      await temp.store.setCursor("escrow", { blockNumber: 6n, blockHash: TX });
      expect(await temp.store.getCursor("escrow")).to.deep.equal({ blockNumber: 6n, blockHash: TX });
    });
  });

  describe("in a worker thread", () => {
    it("answers every call as the in-process store does, errors included", async () => {
      const other = await tempStore("pglite");
      await other.store.close();
      const store = await openStore({ dataDir: other.location.options.dataDir });
      try {
        const row = intent({ amount: 2n ** 100n }, 2n ** 101n);
        expect(await store.insertIntents([row])).to.deep.equal([{ digest: row.digest, result: "inserted" }]);
        const stored = await store.getIntent(row.digest);
        expect(stored?.payment).to.deep.equal(row.payment);
        expect(stored?.acceptedAt).to.be.instanceOf(Date);
        expect(await store.schemaVersions()).to.deep.equal(VERSIONS);
        const escrow = randomAddress();
        const due = { id: 1n, deadline: 5n, disputedAt: 0n, state: "active" as const, remaining: 9n, settleAfter: 5n };
        await store.upsertIndexedEscrows(escrow, [due], 3n);
        expect(await store.dueEscrows(escrow, 6n, 10)).to.deep.equal([due]);
        const mixed = [intent(), { ...intent(), hub: randomAddress() }];
        let message = "";
        await store.insertIntents(mixed).catch((error: Error) => {
          message = error.message;
        });
        expect(message).to.contain("one hub per call");
      } finally {
        await store.close();
        await other.location.remove();
      }
    });
  });
});
