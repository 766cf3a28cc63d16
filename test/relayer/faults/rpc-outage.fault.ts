import { after, describe } from "node:test";
import { expect } from "chai";
import { createRelayerClient } from "../../../src/client/relayer.js";
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
  startProxy,
  submitIntents,
  type TcpProxy,
} from "./harness.js";

const INTENTS = 1_500;
const OUTAGE_MS = 10_000;

/**
 * The relayer reaches the node through a TCP proxy; 4 s into a paced run the proxy closes its
 * port and cuts every connection for 10 s (connections are refused), then opens again.
 */
describe("fault: the node unreachable for 10 s mid-run", FAULT_SUITE, () => {
  const world = scenarioWorld();
  let proxy: TcpProxy | undefined;
  after(async () => {
    await proxy?.close();
  });

  scenario("refuses with chain_unavailable while the node is away, then settles everything it accepted", async () => {
    const { chain, store, address, deposit, payers } = await world.start({ payers: 30 });
    proxy = await startProxy(chain.node.port);
    const intents = await signIntents(chain, { payers, merchants: merchants(10), count: INTENTS });
    const before = await hubBalance(chain, address);
    const relayer = await spawnRelayer(await world.relayerOptions({ log: "rpc-outage.log", rpcUrl: proxy.url }));

    const live = emptySubmitResult();
    const load = submitIntents([relayer.url], intents, { ratePerSecond: 100, concurrency: 16, into: live });
    await sleep(4_000);
    await proxy.pause();
    const acceptedBefore = live.accepted.size;
    const outageStarted = Date.now();
    await sleep(OUTAGE_MS / 2);
    const health = await createRelayerClient({ url: relayer.url }).health();
    await sleep(OUTAGE_MS - (Date.now() - outageStarted));
    const acceptedDuring = live.accepted.size - acceptedBefore;
    const refusedDuring = live.retried.chain_unavailable ?? 0;
    await proxy.resume();

    const submitted = await load;
    const result = await auditWhenFinal({
      store,
      url: relayer.url,
      chain,
      intents,
      accepted: submitted.accepted,
      deposit,
      relayers: [{ address, before }],
    });
    report({
      scenario: `rpc outage: node unreachable ${OUTAGE_MS / 1_000} s, ${INTENTS} intents (postgres)`,
      ...result,
      notes: `during the outage ${acceptedDuring} accepted (cached reads), ${refusedDuring} answers 503 chain_unavailable (retried by the client); health ${health.status} (chain ${health.checks.chain})`,
    });
    expect(relayer.alive()).to.equal(true);
    expect(health.status).to.equal("degraded");
    expect(health.checks.chain).to.equal("failing");
    // The only refusal clients saw is the clear, retryable one.
    expect(Object.keys(submitted.retried)).to.deep.equal(["chain_unavailable"]);
    expect(refusedDuring).to.be.greaterThan(0);
    expect(submitted.refused.size).to.equal(0);
    expectAllSettledOnce(result, INTENTS);
  });
});
