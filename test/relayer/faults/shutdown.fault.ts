import { describe } from "node:test";
import { expect } from "chai";
import {
  auditWhenFinal,
  emptySubmitResult,
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

const INTENTS = 2_000;

/**
 * SIGTERM while intents pour in: the relayer must refuse new work with a clear code, persist
 * every intent it answered 202 for, and exit on its own; whatever was still in flight settles
 * after the next start.
 */
describe("fault: SIGTERM during load", FAULT_SUITE, () => {
  const world = scenarioWorld();

  scenario("persists everything it accepted before exiting, and settles all of it after a restart", async () => {
    const { chain: hubChain, store, address, deposit, payers } = await world.start({ payers: 20 });
    const databaseUrl = store.options.databaseUrl as string;
    const intents = await signIntents(hubChain, { payers, merchants: merchants(10), count: INTENTS });
    const before = await hubBalance(hubChain, address);
    const options = await world.relayerOptions({ log: "shutdown.log" });
    let relayer = await spawnRelayer(options);

    const live = emptySubmitResult();
    const load = submitIntents([relayer.url], intents, { ratePerSecond: 250, concurrency: 32, into: live });
    await sleep(3_000);
    const signalled = Date.now();
    const exit = await relayer.stop();
    const exitMs = Date.now() - signalled;

    // Every 202 answer came from the process that just exited: each must be in the store.
    const acceptedAtExit = [...live.accepted.keys()];
    const rows = await sql<{ status: string; n: string }>(
      databaseUrl,
      "SELECT status, count(*) AS n FROM payment_intents WHERE digest = ANY($1::text[]) GROUP BY status",
      [acceptedAtExit.map((d) => d.toLowerCase())],
    );
    const byStatus = Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
    const persisted = rows.reduce((n, r) => n + Number(r.n), 0);
    const [{ pending }] = await sql<{ pending: string }>(
      databaseUrl,
      "SELECT count(*) AS pending FROM batches WHERE status = 'pending'",
    );

    relayer = await spawnRelayer(options);
    const submitted = await load;
    const result = await auditWhenFinal({
      store,
      url: relayer.url,
      chain: hubChain,
      intents,
      accepted: submitted.accepted,
      deposit,
      relayers: [{ address, before }],
    });
    report({
      scenario: `graceful shutdown: SIGTERM under load, ${INTENTS} intents (postgres)`,
      ...result,
      notes: `exited ${exit.code === 0 ? "with code 0" : `with ${exit.code ?? exit.signal}`} ${exitMs} ms after SIGTERM; ${acceptedAtExit.length} accepted by then, all ${persisted} in the store (${JSON.stringify(byStatus)}), ${pending} transactions left pending; refusals while stopping ${JSON.stringify(submitted.retried)}`,
    });
    expect(exit).to.deep.equal({ code: 0, signal: null });
    expect(acceptedAtExit.length).to.be.greaterThan(0);
    expect(persisted).to.equal(acceptedAtExit.length);
    expect(submitted.refused.size, JSON.stringify([...submitted.refused.values()])).to.equal(0);
    expectAllSettledOnce(result, INTENTS);
  });
});
