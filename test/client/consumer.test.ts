// A consumer's view of the package: imports by package name, resolved through package.json
// `exports` to the build in dist/ (tsc type-checks this file like any consumer's against its
// declarations; the runner executes it). package.test.ts installs the packed package instead.
import { join, resolve } from "node:path";
import { describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { expect } from "chai";
import { createChannelClient, hashVoucher, paymentChannelsAbi, type Voucher } from "settlekit";
import { PaymentChannels__factory, type PaymentChannelsTypes } from "settlekit/ethers";
import { z } from "zod/v4";
import * as source from "../../src/client/index.js";

const ROOT = resolve(import.meta.dirname, "..", "..");

describe("package entries", () => {
  it("resolves `settlekit` to the client library's build, which hashes as its sources do", () => {
    expect(import.meta.resolve("settlekit")).to.equal(
      pathToFileURL(join(ROOT, "dist", "src", "client", "index.js")).href,
    );
    expect(createChannelClient).to.be.a("function").with.property("name", "createChannelClient");
    const voucher: Voucher = { channelId: `0x${"11".repeat(32)}`, cumulativeAmount: 1n };
    const domain = { chainId: 1, verifyingContract: "0x5FbDB2315678afecb367f032d93F642f64180aa3" } as const;
    expect(hashVoucher({ domain, voucher })).to.equal(source.hashVoucher({ domain, voucher }));
  });

  it("leaves zod's global registry to the dApp: its own `Payment` schema id does not collide", () => {
    // The client's schemas (shared with the relayer's API) document themselves in a registry of
    // their own; two copies of them are loaded here already (the build and the sources).
    expect(() => z.object({ amount: z.bigint() }).meta({ id: "Payment" })).not.to.throw();
    expect(() => z.object({ id: z.string() }).meta({ id: "Voucher" })).not.to.throw();
  });

  it("resolves `settlekit/ethers` to TypeChain bindings of the same ABI", () => {
    expect(PaymentChannels__factory.abi).to.deep.equal(paymentChannelsAbi);
    const claim: PaymentChannelsTypes.ClaimStruct = {
      channelId: `0x${"11".repeat(32)}`,
      cumulativeAmount: 1n,
      signature: "0x",
    };
    expect(PaymentChannels__factory.createInterface().encodeFunctionData("claimBatch", [[claim]])).to.match(/^0x/);
  });
});
