import { readFileSync } from "node:fs";
import { describe } from "node:test";
import { expect } from "chai";
import { type Hex, parseGwei, toHex } from "viem";
import {
  auditWhenFinal,
  expectAllSettledOnce,
  FAULT_SUITE,
  hubBalance,
  merchants,
  type RelayerProcess,
  report,
  type SignedIntent,
  scenario,
  scenarioWorld,
  signIntents,
  sleep,
  spawnRelayer,
  sql,
  submitIntents,
} from "./harness.js";

const CAP = parseGwei("6");
const STUCK_AFTER_MS = 1_500;

interface AttemptRow {
  hash: Hex;
  batch_id: string;
  nonce: string;
  max_fee_per_gas: string;
  status: string;
}

/**
 * The node mines only when the test says so (automine off) and the relayer's fee cap is low
 * (6 gwei, twice what it first offers). A batch priced out by a rising base fee must be
 * replaced with bumped fees, never above the cap; a transaction the node drops must come
 * back before the nonce gap it leaves blocks the next one for long.
 */
describe("fault: stuck and dropped transactions (automine off, low fee cap)", FAULT_SUITE, () => {
  const world = scenarioWorld();

  scenario("replaces a stuck batch with a bumped fee within the cap, and refills a dropped nonce at once", async () => {
    const { chain: hubChain, store, address, deposit, payers } = await world.start({ payers: 3 });
    const databaseUrl = store.options.databaseUrl as string;
    const to = merchants(4);
    const phases: SignedIntent[][] = [
      await signIntents(hubChain, { payers: [payers[0]], merchants: to, count: 20 }),
      await signIntents(hubChain, { payers: [payers[1]], merchants: to, count: 20 }),
      await signIntents(hubChain, { payers: [payers[2]], merchants: to, count: 40 }),
    ];
    const before = await hubBalance(hubChain, address);
    const mine = async (baseFee: bigint) => {
      await hubChain.rpc("anvil_setNextBlockBaseFeePerGas", [toHex(baseFee)]);
      await hubChain.rpc("evm_mine");
    };
    await mine(parseGwei("1"));
    await hubChain.rpc("evm_setAutomine", [false]);
    const options = await world.relayerOptions({
      log: "stuck-dropped.log",
      flags: [
        ...["--max-fee-gwei", "6", "--stuck-after-ms", String(STUCK_AFTER_MS)],
        // A phase's intents fill their batches (20 each) even when a loaded machine sends them slowly.
        ...["--batch-max-size", "20", "--batch-max-wait-ms", "5000", "--max-inflight-batches", "4"],
      ],
    });
    const relayer = await spawnRelayer(options);
    // The transactions of the batches that carry a phase's intents, oldest first.
    const attempts = (intents: SignedIntent[]) =>
      sql<AttemptRow>(
        databaseUrl,
        `SELECT hash, batch_id, nonce, max_fee_per_gas, status FROM transactions
         WHERE batch_id IN (SELECT batch_id FROM payment_intents WHERE digest = ANY($1::text[]))
         ORDER BY created_at, hash`,
        [intents.map((i) => i.digest.toLowerCase())],
      );
    const until = async <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const value = await probe();
        if (value !== undefined) return value;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await sleep(50);
      }
    };
    const pendingNonces = async (): Promise<number[]> => {
      const pool = await hubChain.rpc<{ pending: Record<string, Record<string, unknown>> }>("txpool_content");
      const ours = Object.entries(pool.pending).find(([from]) => from.toLowerCase() === address.toLowerCase());
      return ours === undefined ? [] : Object.keys(ours[1]).map(Number);
    };
    const accepted = new Map<Hex, number>();
    const submit = async (intents: SignedIntent[]) => {
      const result = await submitIntents([(relayer as RelayerProcess).url], intents);
      expect(result.refused.size).to.equal(0);
      for (const [digest, index] of result.accepted) accepted.set(digest, index);
    };
    const finalInStore = (intents: SignedIntent[]) =>
      until("the intents' results", async () => {
        const [row] = await sql<{ open: string }>(
          databaseUrl,
          "SELECT count(*) AS open FROM payment_intents WHERE digest = ANY($1::text[]) AND status NOT IN ('settled', 'failed')",
          [intents.map((i) => i.digest.toLowerCase())],
        );
        return Number(row.open) === 0 ? true : undefined;
      });

    // 1. Stuck: the base fee rises past the batch's fee cap; the relayer replaces it.
    await submit(phases[0]);
    const first = await until("the first batch's transaction", async () => (await attempts(phases[0]))[0]);
    const firstFee = BigInt(first.max_fee_per_gas);
    // Recorded first, broadcast next: wait for the pool, then mine a block it cannot be in.
    await until("the transaction in the pool", async () =>
      (await pendingNonces()).includes(Number(first.nonce)) ? true : undefined,
    );
    await mine(firstFee + 1n); // anvil evicts it, and refuses it again at this base fee
    const evicted = !(await pendingNonces()).includes(Number(first.nonce));
    const replacement = await until("a replacement", async () =>
      (await attempts(phases[0])).find((a) => a.batch_id === first.batch_id && a.hash !== first.hash),
    );
    const replacementFee = BigInt(replacement.max_fee_per_gas);
    await mine(firstFee + 1n);
    await finalInStore(phases[0]);
    const replacedRows = (await attempts(phases[0])).filter((a) => a.batch_id === first.batch_id);
    const mined = replacedRows.find((a) => a.status === "mined");
    const receiptOfFirst = await hubChain.publicClient
      .getTransactionReceipt({ hash: first.hash })
      .then(() => true)
      .catch(() => false);

    // 2. The cap holds: with the base fee above the cap, nothing is offered above it.
    await submit(phases[1]);
    const capped = await until("the second phase's transaction", async () => (await attempts(phases[1]))[0]);
    await until("the transaction in the pool", async () =>
      (await pendingNonces()).includes(Number(capped.nonce)) ? true : undefined,
    );
    await mine(CAP + parseGwei("1"));
    await sleep(3 * STUCK_AFTER_MS);
    // However slow the relayer runs, it finds the transaction stuck at the cap before the base fee falls.
    const stuckAtCap = await until("the relayer to find the transaction stuck at the fee cap", async () =>
      readFileSync(options.log, "utf8").includes("stuck at the fee cap") ? true : undefined,
    );
    const cappedRows = (await attempts(phases[1])).filter((a) => a.batch_id === capped.batch_id);
    const [{ open: openWhileCapped }] = await sql<{ open: string }>(
      databaseUrl,
      "SELECT count(*) AS open FROM payment_intents WHERE digest = ANY($1::text[]) AND status = 'submitted'",
      [phases[1].map((i) => i.digest.toLowerCase())],
    );
    // The base fee falls back: the relayer's next rebroadcast gets in, and the block takes it.
    // (A rebroadcast that lands between setting the base fee and mining is mined at once.)
    await mine(parseGwei("1"));
    await until("the capped transaction back in the pool or mined", async () =>
      (await pendingNonces()).includes(Number(capped.nonce)) ||
      (await hubChain.publicClient.getTransactionCount({ address })) > Number(capped.nonce)
        ? true
        : undefined,
    );
    await mine(parseGwei("1"));
    await finalInStore(phases[1]);

    // 3. Dropped: two batches in the pool, the node forgets the first; its nonce must come back.
    await submit(phases[2]);
    const [lower, upper] = await until("two new batches", async () => {
      const rows = await attempts(phases[2]);
      return rows.length >= 2 ? rows.sort((a, b) => Number(a.nonce) - Number(b.nonce)) : undefined;
    });
    await until("both in the pool", async () => ((await pendingNonces()).length === 2 ? true : undefined));
    const droppedAt = Date.now();
    await hubChain.rpc("anvil_dropTransaction", [lower.hash]);
    const gapSeen = !(await pendingNonces()).includes(Number(lower.nonce));
    await until("the dropped nonce back in the pool", async () =>
      (await pendingNonces()).includes(Number(lower.nonce)) ? true : undefined,
    );
    const gapMs = Date.now() - droppedAt;
    await mine(parseGwei("1"));
    await finalInStore(phases[2]);
    const nonceAfter = await hubChain.publicClient.getTransactionCount({ address });

    const all = phases.flat();
    const result = await auditWhenFinal({
      store,
      url: relayer.url,
      chain: hubChain,
      intents: all,
      accepted,
      deposit,
      relayers: [{ address, before }],
    });
    report({
      scenario: "stuck and dropped transactions: automine off, 6 gwei cap (postgres)",
      ...result,
      notes: `stuck batch at ${firstFee} wei (${evicted ? "evicted by the node" : "left in the pool"}) replaced at ${replacementFee} wei (cap ${CAP}); with the base fee above the cap ${cappedRows.length} attempt(s), highest ${cappedRows
        .map((r) => r.max_fee_per_gas)
        .sort()
        .at(-1)} wei; dropped nonce back in the pool after ${gapMs} ms`,
    });

    expect(replacement.nonce).to.equal(first.nonce);
    expect(replacementFee >= (firstFee * 110n) / 100n).to.equal(true);
    expect(replacementFee <= CAP).to.equal(true);
    expect(mined?.hash).to.equal(replacement.hash);
    expect(replacedRows.find((a) => a.hash === first.hash)?.status).to.equal("replaced");
    expect(receiptOfFirst).to.equal(false);

    expect(Number(openWhileCapped)).to.equal(phases[1].length);
    for (const row of cappedRows) expect(BigInt(row.max_fee_per_gas) <= CAP).to.equal(true);
    expect(stuckAtCap).to.equal(true);

    expect(Number(upper.nonce)).to.equal(Number(lower.nonce) + 1);
    expect(gapSeen).to.equal(true);
    // Healed while the relayer runs (it polls every 100 ms; a slow machine stretches that), not at a restart.
    expect(gapMs).to.be.lessThan(15_000);
    expect(nonceAfter).to.equal(Number(upper.nonce) + 1);

    expectAllSettledOnce(result, all.length);
  });
});
