import { describe } from "node:test";
import { expect } from "chai";
import type { TestBackend } from "../helpers/store.js";
import {
  auditWhenFinal,
  FAULT_SUITE,
  faultSeed,
  hubBalance,
  merchants,
  random,
  report,
  scenario,
  scenarioWorld,
  signIntents,
  sleep,
  spawnRelayer,
  submitIntents,
  untilReady,
} from "./harness.js";

const INTENTS = 5_000;
const KILLS = 10;

/**
 * The relayer process is killed with SIGKILL — no shutdown code runs — at random moments
 * (some during start-up, most while it accepts and settles), then restarted on the same store.
 * Run on both backends: on the embedded store (PGlite persisted to a directory) the database
 * itself dies with the process and must recover on reopen; on a Postgres server it survives,
 * and the server rolls back whatever transaction the dead process left open.
 */
describe("fault: kill -9 during a 5,000-intent run", FAULT_SUITE, () => {
  const world = scenarioWorld();

  for (const backend of ["pglite", "postgres"] as const satisfies readonly TestBackend[]) {
    scenario(
      `settles every accepted intent exactly once or fails it with a reason, after ${KILLS} kills (${backend})`,
      async () => {
        const seed = faultSeed();
        const rand = random(seed);
        const { chain, store, address, deposit, payers } = await world.start({ payers: 50, backend });
        const intents = await signIntents(chain, { payers, merchants: merchants(10), count: INTENTS });
        const before = await hubBalance(chain, address);
        const options = await world.relayerOptions({ log: `crash-${backend}.log` });

        let relayer = await spawnRelayer(options);
        const started = Date.now();
        const load = submitIntents([relayer.url], intents, {
          ratePerSecond: 150,
          concurrency: 16,
          deadlineMs: 400_000,
        });
        let failure: unknown;
        load.catch((error: unknown) => {
          failure = error;
        });
        const moments: string[] = [];
        let duringStartUp = 0;
        for (let k = 0; k < KILLS; k++) {
          // One kill in five lands during start-up (while the previous run's work is resumed); the
          // first run is already up, so the first kill never does.
          if (k > 0 && rand() < 0.2) {
            relayer = await spawnRelayer(options, false);
            const delay = 300 + Math.floor(rand() * 2_000);
            await sleep(delay);
            duringStartUp++;
            moments.push(`${delay} ms after spawn`);
          } else {
            if (k > 0) relayer = await spawnRelayer(options);
            const delay = 200 + Math.floor(rand() * 4_000);
            await sleep(delay);
            moments.push(`${delay} ms after ready`);
          }
          await relayer.kill();
          expect(failure).to.equal(undefined);
        }
        relayer = await spawnRelayer(options, false);
        await untilReady(relayer, options.log);
        const submitted = await load;
        const result = await auditWhenFinal({
          store,
          url: relayer.url,
          timeoutMs: 240_000,
          chain,
          intents,
          accepted: submitted.accepted,
          deposit,
          relayers: [{ address, before }],
        });
        const seconds = ((Date.now() - started) / 1_000).toFixed(0);
        report({
          scenario: `crash: ${KILLS}× kill -9, ${INTENTS} intents (${backend})`,
          ...result,
          notes: `seed ${seed}; ${duringStartUp} kills during start-up; retried requests ${JSON.stringify(submitted.retried)}; failures ${JSON.stringify(result.failureReasons)}; ${seconds} s`,
        });
        console.log(`      kill moments: ${moments.join(", ")}`);
        expect(submitted.refused.size, JSON.stringify([...submitted.refused.values()].slice(0, 5))).to.equal(0);
        expect(result.problems).to.deep.equal([]);
        expect(result.accepted).to.equal(INTENTS);
        expect(result.lost).to.equal(0);
        expect(result.duplicated).to.equal(0);
        expect(result.settled + result.failed).to.equal(INTENTS);
      },
    );
  }
});
