import { describe } from "node:test";
import { expect } from "chai";
import type { Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { ANVIL_KEYS } from "../helpers/anvil.js";
import {
  auditWhenFinal,
  expectAllSettledOnce,
  FAULT_SUITE,
  hubBalance,
  merchants,
  report,
  scenario,
  scenarioWorld,
  signIntents,
  sleep,
  spawnRelayer,
  sql,
  submitIntents,
} from "./harness.js";

const INTENTS = 40;
const ORPHAN_AFTER_MS = 2_000;

/**
 * An instance gone for good (kill -9, never restarted) with two batches in flight, the node
 * mining only when told; the node then drops one of the transactions. A second instance, with a
 * key of its own on the same Postgres, must adopt both batches once the first key has been
 * quiet for `--orphan-after-ms`: queue the dropped batch's intents again (and settle them
 * itself), leave a batch still in the node's pool alone and apply its results once it is mined
 * (the node dropped the later one), or queue the later one's intents again too when the node
 * dropped the earlier. Every intent exactly once.
 */
describe("fault: an instance gone for good with batches in flight", FAULT_SUITE, () => {
  const world = scenarioWorld();

  /**
   * `drop`: which of the two transactions the node drops. The later: the earlier is left to be
   * mined. The earlier: the later cannot be mined before it (anvil drops it too), so both are
   * abandoned and all intents are settled by the second key.
   */
  const adoption = (drop: "later" | "earlier") => async () => {
    const { chain, store, address, deposit, payers } = await world.start({ payers: 4 });
    const databaseUrl = store.options.databaseUrl as string;
    const intents = await signIntents(chain, { payers, merchants: merchants(4), count: INTENTS });
    const keyB = ANVIL_KEYS[2];
    const addressB = privateKeyToAccount(keyB).address;
    const before = await Promise.all([hubBalance(chain, address), hubBalance(chain, addressB)]);
    // Batches leave full only: two of 20.
    const flags = [
      ...["--batch-max-size", String(INTENTS / 2), "--batch-max-wait-ms", "600000"],
      ...["--orphan-after-ms", String(ORPHAN_AFTER_MS)],
    ];

    await chain.rpc("evm_setAutomine", [false]);
    const a = await spawnRelayer(await world.relayerOptions({ log: "orphan-a.log", flags }));
    const submitted = await submitIntents([a.url], intents, { concurrency: 8 });
    expect(submitted.refused.size).to.equal(0);

    // Both batches signed, recorded and in the node's pool: then the instance dies.
    type Sent = { id: string; nonce: string; hash: Hex };
    let sent: Sent[] = [];
    for (const deadline = Date.now() + 30_000; sent.length < 2; await sleep(100)) {
      if (Date.now() > deadline) throw new Error(`only ${sent.length} of 2 batches sent`);
      sent = await sql<Sent>(
        databaseUrl,
        `SELECT b.id, b.nonce, t.hash FROM batches b JOIN transactions t ON t.batch_id = b.id
         WHERE b.sender = $1 AND b.status = 'pending' AND b.kind = 'settle' ORDER BY b.nonce`,
        [address.toLowerCase()],
      );
    }
    await a.kill();
    const [earlier, later] = sent;
    await chain.rpc("anvil_dropTransaction", [(drop === "later" ? later : earlier).hash]);
    await sleep(ORPHAN_AFTER_MS + 500); // the first key has been quiet long enough

    const b = await spawnRelayer(await world.relayerOptions({ log: "orphan-b.log", key: keyB, flags }));
    // B's first adoption round abandons the dropped batch, and leaves the one still in the
    // node's pool to be mined unless it waits behind the dropped one; then the node mines again.
    type Row = { id: string; status: string; note: string | null; adopted_by: string | null };
    const states = () =>
      sql<Row>(
        databaseUrl,
        "SELECT id, status, note, adopted_by FROM batches WHERE id = ANY($1::bigint[]) ORDER BY nonce",
        [[earlier.id, later.id]],
      );
    const adopted: [string, string][] =
      drop === "later"
        ? [
            ["pending", addressB.toLowerCase()],
            ["abandoned", addressB.toLowerCase()],
          ]
        : [
            ["abandoned", addressB.toLowerCase()],
            ["abandoned", addressB.toLowerCase()],
          ];
    let seen: Row[] = [];
    for (
      const deadline = Date.now() + 30_000;
      seen.filter((r) => r.status === "abandoned").length < (drop === "later" ? 1 : 2);
      await sleep(100)
    ) {
      if (Date.now() > deadline) throw new Error(`not abandoned: ${JSON.stringify(seen)}`);
      seen = await states();
    }
    expect(seen.map((row) => [row.status, row.adopted_by])).to.deep.equal(adopted);
    await chain.rpc("evm_setAutomine", [true]);
    await chain.rpc("evm_mine");

    const result = await auditWhenFinal({
      store,
      url: b.url,
      timeoutMs: 60_000,
      chain,
      intents,
      accepted: submitted.accepted,
      deposit,
      relayers: [
        { address, before: before[0] },
        { address: addressB, before: before[1] },
      ],
    });
    const batches = await states();
    const settledBy = await sql<{ sender: string; n: string }>(
      databaseUrl,
      `SELECT b.sender, count(*) AS n FROM payment_intents p JOIN batches b ON b.id = p.batch_id
       WHERE p.status = 'settled' GROUP BY b.sender`,
    );
    const count = (sender: string) => Number(settledBy.find((r) => r.sender === sender.toLowerCase())?.n ?? 0);
    report({
      scenario: `orphaned batches: an instance killed for good with 2 batches in flight, the node dropping the ${drop} (postgres)`,
      ...result,
      notes: `its earlier batch ${batches[0]?.status} (${batches[0]?.note ?? "no note"}), its later batch ${batches[1]?.status} (${batches[1]?.note ?? "no note"}), both adopted by the other instance; intents settled in the first key's batches ${count(address)}, in the second's ${count(addressB)}`,
    });
    expectAllSettledOnce(result, INTENTS);
    if (drop === "later") {
      expect(batches.map((row) => [row.status, row.adopted_by, row.note])).to.deep.equal([
        ["confirmed", addressB.toLowerCase(), null],
        ["abandoned", addressB.toLowerCase(), "sender_gone"],
      ]);
      expect([count(address), count(addressB)]).to.deep.equal([INTENTS / 2, INTENTS / 2]);
    } else {
      expect(batches.map((row) => [row.status, row.adopted_by, row.note])).to.deep.equal([
        ["abandoned", addressB.toLowerCase(), "sender_gone"],
        // anvil drops the later transaction with the earlier (geth would keep it queued behind
        // the gap: the batcher test on a fake chain covers that case, "sender_gone_nonce_gap").
        ["abandoned", addressB.toLowerCase(), "sender_gone"],
      ]);
      expect([count(address), count(addressB)]).to.deep.equal([0, INTENTS]);
    }
  };

  scenario(
    "adopts the batches of a key gone quiet: settles the dropped one's intents, applies the other once mined",
    adoption("later"),
  );
  scenario(
    "adopts the batches of a key gone quiet: settles the intents of the dropped earlier one and of the later one after it",
    adoption("earlier"),
  );
});
