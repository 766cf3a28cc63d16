import { describe, it } from "node:test";
import { expect } from "chai";
import { zeroAddress } from "viem";
import { HubReader } from "../../src/relayer/chain/hub-reader.js";
import type { HubPort, HubStateQuery } from "../../src/relayer/chain/ports.js";
import { randomAddress } from "./helpers/fixtures.js";

const NO_REQUEST = { amount: 0n, availableAt: 0n };

/** A hub whose balances the test sets, counting `readState` calls. */
function hub(balances: Map<string, bigint>) {
  const port = {
    calls: 0,
    async readState(query: HubStateQuery) {
      port.calls++;
      return {
        balances: query.balances.map((b) => balances.get(b.account.toLowerCase()) ?? 0n),
        withdrawals: query.balances.map(() => NO_REQUEST),
        noncesUsed: query.nonces.map(() => false),
      };
    },
  };
  return port;
}

describe("hub reader", () => {
  it("stamps a balance with the head known when it was read, and a cached one with its read's", async () => {
    const payer = randomAddress();
    const balances = new Map([[payer.toLowerCase(), 500n]]);
    const port = hub(balances);
    let head = 7n;
    let now = 0;
    const reader = new HubReader(port as unknown as HubPort, {
      balanceTtlMs: 1_000,
      headBlock: () => head,
      nowMs: () => now,
    });
    expect(await reader.balanceOf(payer, zeroAddress)).to.deep.equal({
      value: 500n,
      block: 7n,
      withdrawal: NO_REQUEST,
    });
    // Served from the cache: the value and the block of the read that produced it.
    head = 9n;
    balances.set(payer.toLowerCase(), 100n);
    expect(await reader.balanceOf(payer, zeroAddress)).to.deep.equal({
      value: 500n,
      block: 7n,
      withdrawal: NO_REQUEST,
    });
    expect(port.calls).to.equal(1);
    // Dropped when the relayer learns it changed, or once stale: read again, at the new head.
    reader.invalidate(payer, zeroAddress);
    expect(await reader.balanceOf(payer, zeroAddress)).to.deep.equal({
      value: 100n,
      block: 9n,
      withdrawal: NO_REQUEST,
    });
    head = 12n;
    now += 1_000;
    expect(await reader.balanceOf(payer, zeroAddress)).to.deep.equal({
      value: 100n,
      block: 12n,
      withdrawal: NO_REQUEST,
    });
    expect(port.calls).to.equal(3);
  });
});
