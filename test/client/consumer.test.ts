// A consumer's view of the package: imports by package name, resolved through package.json
// `exports` (tsc type-checks this file like any consumer's; the runner executes it).
import { describe, it } from "node:test";
import { expect } from "chai";
import { createChannelClient, hashVoucher, paymentChannelsAbi, type Voucher } from "settlekit";
import { PaymentChannels__factory, type PaymentChannelsTypes } from "settlekit/ethers";
import * as source from "../../src/client/index.js";

describe("package entries", () => {
  it("resolves `settlekit` to the client library", () => {
    expect(hashVoucher).to.equal(source.hashVoucher);
    expect(createChannelClient).to.equal(source.createChannelClient);
    const voucher: Voucher = { channelId: `0x${"11".repeat(32)}`, cumulativeAmount: 1n };
    const domain = { chainId: 1, verifyingContract: "0x5FbDB2315678afecb367f032d93F642f64180aa3" } as const;
    expect(hashVoucher({ domain, voucher })).to.match(/^0x[0-9a-f]{64}$/);
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
