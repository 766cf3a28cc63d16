import { join } from "node:path";
import { after, describe, it } from "node:test";
import { expect } from "chai";
import { type Hex, parseEther } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { freePort } from "../../../scripts/lib/anvil.js";
import { ANVIL_KEYS } from "../helpers/anvil.js";
import { type StoreLocation, storeLocation } from "../helpers/store.js";
import {
  audit,
  FAULT_SUITE,
  fundPayers,
  type HubChain,
  hubBalance,
  LOG_DIR,
  merchants,
  type RelayerProcess,
  report,
  type SignedIntent,
  signIntents,
  spawnRelayer,
  sql,
  startHubChain,
  submitIntents,
  untilFinal,
  untilFinalInStore,
} from "./harness.js";

const INTENTS = 2_000;

/**
 * Two relayer instances, each with its own key, share one Postgres store: both accept intents
 * and both claim batches from the one queue (`FOR UPDATE SKIP LOCKED`). The same workload runs
 * first on one instance, then on two; each intent must settle exactly once either way.
 */
describe("fault: two relayer instances on one Postgres", FAULT_SUITE, () => {
  let chain: HubChain | undefined;
  let store: StoreLocation | undefined;
  const relayers: RelayerProcess[] = [];
  after(async () => {
    await Promise.all(relayers.map((r) => r.stop()));
    await chain?.stop();
    await store?.remove();
  });

  it(`settles ${INTENTS} intents exactly once on one instance, then ${INTENTS} on two, and measures both`, async () => {
    chain = await startHubChain();
    store = await storeLocation("postgres");
    const databaseUrl = store.options.databaseUrl as string;
    const deposit = parseEther("1");
    const payers = await fundPayers(chain, 80, deposit);
    // Two workloads of the same shape on disjoint payers (40 each, 50 nonces per payer).
    const workloads: SignedIntent[][] = [
      await signIntents(chain, { payers: payers.slice(0, 40), merchants: merchants(10), count: INTENTS }),
      await signIntents(chain, { payers: payers.slice(40), merchants: merchants(10), count: INTENTS }),
    ];
    const keys = [ANVIL_KEYS[2], ANVIL_KEYS[3]];
    const addresses = keys.map((k) => privateKeyToAccount(k).address);
    const before = await Promise.all(addresses.map((a) => hubBalance(chain as HubChain, a)));
    const start = async (i: number) => {
      const relayer = await spawnRelayer({
        rpcUrl: (chain as HubChain).url,
        hub: (chain as HubChain).hub,
        key: keys[i],
        store: (store as StoreLocation).flags,
        port: await freePort(),
        log: join(LOG_DIR, `scale-out-${i}.log`),
      });
      relayers.push(relayer);
      return relayer;
    };

    const run = async (intents: SignedIntent[], instances: RelayerProcess[]) => {
      const started = Date.now();
      const submitted = await submitIntents(
        instances.map((r) => r.url),
        intents,
        { concurrency: 64 },
      );
      expect(submitted.refused.size).to.equal(0);
      const { lastFinalAt } = await untilFinalInStore(databaseUrl, [...submitted.accepted.keys()]);
      const seconds = (lastFinalAt.getTime() - started) / 1_000;
      return {
        submitted,
        seconds,
        perSecond: intents.length / seconds,
        acceptPerSecond: intents.length / (submitted.elapsedMs / 1_000),
      };
    };

    const one = await run(workloads[0], [await start(0)]);
    const two = await run(workloads[1], [relayers[0], await start(1)]);

    const all = [...workloads[0], ...workloads[1]];
    const accepted = new Map([...one.submitted.accepted, ...two.submitted.accepted]);
    const statuses = await untilFinal(relayers[0].url, accepted.keys());
    const result = await audit({
      chain,
      intents: all,
      accepted,
      statuses,
      deposit,
      relayers: addresses.map((address, i) => ({ address, before: before[i] })),
    });

    // Who settled what in the two-instance run, and how much each settled of what the other accepted.
    const rows = await sql<{ sender: string; intents: string }>(
      databaseUrl,
      `SELECT b.sender, count(*) AS intents FROM payment_intents p JOIN batches b ON b.id = p.batch_id
       WHERE p.status = 'settled' AND p.digest = ANY($1::text[]) GROUP BY b.sender`,
      [workloads[1].map((i) => i.digest.toLowerCase())],
    );
    const bySender = new Map(rows.map((r) => [r.sender, Number(r.intents)]));
    const settledBy = addresses.map((a) => bySender.get(a.toLowerCase()) ?? 0);
    const crossed = await sql<{ n: string }>(
      databaseUrl,
      `SELECT count(*) AS n FROM payment_intents p JOIN batches b ON b.id = p.batch_id
       JOIN unnest($1::text[], $2::text[]) AS x(digest, acceptedBy) ON x.digest = p.digest
       WHERE p.status = 'settled' AND b.sender <> x.acceptedBy`,
      [
        workloads[1].map((i) => i.digest.toLowerCase()),
        workloads[1].map((i) => addresses[two.submitted.accepted.get(i.digest as Hex) ?? 0].toLowerCase()),
      ],
    );

    const figure = (r: typeof one) =>
      `${r.perSecond.toFixed(0)}/s end to end (accepting ${r.acceptPerSecond.toFixed(0)}/s)`;
    report({
      scenario: `scale-out: 1 then 2 instances, ${INTENTS} intents each (postgres)`,
      ...result,
      notes: `one instance ${figure(one)}; two instances ${figure(two)}; settled by instance A/B ${settledBy.join("/")}, ${crossed[0].n} of them accepted by the other instance`,
    });
    // No request was refused for a store failure (two instances' writes used to deadlock).
    expect(one.submitted.retried.store_unavailable ?? 0).to.equal(0);
    expect(two.submitted.retried.store_unavailable ?? 0).to.equal(0);
    expect(result.problems).to.deep.equal([]);
    expect(result.accepted).to.equal(2 * INTENTS);
    expect(result.settled).to.equal(2 * INTENTS);
    expect(result.lost).to.equal(0);
    expect(result.duplicated).to.equal(0);
    // Both instances took part in settling (each with its own key).
    expect(settledBy[0]).to.be.greaterThan(0);
    expect(settledBy[1]).to.be.greaterThan(0);
    expect(settledBy[0] + settledBy[1]).to.equal(INTENTS);
  });
});
