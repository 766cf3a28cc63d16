import { describe } from "node:test";
import { expect } from "chai";
import type { Hex } from "viem";
import {
  auditWhenFinal,
  expectAllSettledOnce,
  FAULT_SUITE,
  hubBalance,
  merchants,
  report,
  type SignedIntent,
  scenario,
  scenarioWorld,
  signIntents,
  sleep,
  spawnRelayer,
  sql,
  submitIntents,
  untilFinalInStore,
} from "./harness.js";

const BATCH = 25;

/** Reads a counter of the relayer's Prometheus metrics. */
async function counter(url: string, series: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.split(" ")[1]);
}

/**
 * Five rounds; in round d the relayer settles d batches (one block each, automine), then
 * `anvil_reorg` replaces the last d blocks with empty ones: the settled batches' transactions
 * vanish from the chain, their effects with them. The relayer must notice (block hash no longer
 * canonical), put their intents back in flight, send the transactions again, and end with every
 * intent settled exactly once, in a canonical block.
 */
describe("fault: reorgs of depth 1 to 5 under settled batches", FAULT_SUITE, () => {
  const world = scenarioWorld();

  scenario(
    "detects the intents each reorg unsettled, resubmits them, and settles every intent exactly once",
    async () => {
      const { chain: hubChain, store, address, deposit, payers } = await world.start({ payers: 25 });
      const databaseUrl = store.options.databaseUrl as string;
      const to = merchants(5);
      const rounds: SignedIntent[][] = [];
      for (let depth = 1; depth <= 5; depth++) {
        rounds.push(
          await signIntents(hubChain, {
            payers: payers.slice((depth - 1) * 5, depth * 5),
            merchants: to,
            count: BATCH * depth,
          }),
        );
      }
      const before = await hubBalance(hubChain, address);
      const relayer = await spawnRelayer(
        await world.relayerOptions({
          log: "reorg.log",
          flags: ["--batch-max-size", String(BATCH), "--reorg-window", "16", "--confirmations", "1"],
        }),
      );

      const accepted = new Map<Hex, number>();
      const perDepth: string[] = [];
      let unsettled = 0;
      for (let depth = 1; depth <= 5; depth++) {
        const intents = rounds[depth - 1];
        const submitted = await submitIntents([relayer.url], intents);
        expect(submitted.refused.size).to.equal(0);
        for (const [digest, index] of submitted.accepted) accepted.set(digest, index);
        await untilFinalInStore(
          databaseUrl,
          intents.map((i) => i.digest),
        );
        // Let the last batch's block settle in as the head before reorganising under it.
        await sleep(300);

        const head = await hubChain.publicClient.getBlockNumber({ cacheTime: 0 });
        const affected = await sql<{ digest: string; block_hash: string }>(
          databaseUrl,
          "SELECT digest, block_hash FROM payment_intents WHERE status = 'settled' AND block_number > $1",
          [(head - BigInt(depth)).toString()],
        );
        const reorgedBefore = await counter(relayer.url, 'relayer_transactions_total{event="reorged"}');
        await hubChain.rpc("anvil_reorg", [depth, []]);

        // Every affected intent ends settled again, in a block of the new canonical chain.
        const deadline = Date.now() + 60_000;
        for (;;) {
          const rows = await sql<{ status: string; block_number: string | null; block_hash: string | null }>(
            databaseUrl,
            "SELECT status, block_number, block_hash FROM payment_intents WHERE digest = ANY($1::text[])",
            [affected.map((a) => a.digest)],
          );
          const old = new Set(affected.map((a) => a.block_hash));
          const resettled = await Promise.all(
            rows.map(async (r) => {
              if (r.status !== "settled" || r.block_hash === null || old.has(r.block_hash)) return false;
              const block = await hubChain.publicClient.getBlock({ blockNumber: BigInt(r.block_number as string) });
              return block.hash === r.block_hash;
            }),
          );
          if (resettled.every(Boolean)) break;
          if (Date.now() > deadline) {
            const stale = rows.filter((_, i) => !resettled[i]).slice(0, 2);
            throw new Error(
              `depth ${depth}: ${resettled.filter((r) => !r).length} intents not settled again, e.g. ${JSON.stringify(stale)}; reorged ${JSON.stringify(affected.slice(0, 2))} at head ${head}`,
            );
          }
          await sleep(200);
        }
        const reorged = (await counter(relayer.url, 'relayer_transactions_total{event="reorged"}')) - reorgedBefore;
        perDepth.push(`depth ${depth}: ${affected.length} intents in ${reorged} batches`);
        unsettled += affected.length;
        expect(affected.length, `depth ${depth}`).to.be.greaterThan(0);
        expect(reorged, `depth ${depth}`).to.be.greaterThan(0);
      }

      const all = rounds.flat();
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
        scenario: "reorgs: anvil_reorg depth 1-5 under settled batches (postgres)",
        ...result,
        notes: `${unsettled} settled intents unsettled by reorgs, each detected and settled again (${perDepth.join("; ")})`,
      });
      expectAllSettledOnce(result, all.length);
    },
  );
});
