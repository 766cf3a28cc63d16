import { describe, it } from "node:test";
import { expect } from "chai";
import { network } from "hardhat";
import { type Address, type Hex, keccak256, maxUint128, parseEventLogs, toHex } from "viem";
import { SETTLE_GAS_PER_BATCH, SETTLE_GAS_PER_INTENT, settleGasBudget } from "../../src/relayer/jobs/batcher.js";
import { localAccount, type Payment, readDomain, signPayment } from "../settlement/helpers.js";

/**
 * The batcher sends a `settleBatch` of EOA-signed intents with `settleGasBudget(n)` as its gas
 * limit once one `eth_call` at that budget passes. The budget must cover intents at their most
 * expensive: the payer's first nonce in its bitmap word, the payee's first credit, the relayer's
 * first fee credit (every write from zero), calldata with no zero byte to spare (256-bit nonce,
 * random `ref`, amounts near 2^128).
 */
describe("settleBatch gas budget of the relayer", {
  // `hardhat test --coverage` instruments the contracts: their gas says nothing of the deployed ones.
  skip: process.env.HARDHAT_COVERAGE === "true" ? "gas is measured on uninstrumented contracts only" : false,
}, async () => {
  const { viem, networkHelpers } = await network.create();
  const [funder, owner] = await viem.getWalletClients();
  const publicClient = await viem.getPublicClient();
  const start = 2_000_000_000n;
  let round = 0;

  async function worstCaseBatch(count: number) {
    round++;
    // Rounds a day apart: the blocks of a round, however slow, never reach the next round's start.
    await networkHelpers.time.increaseTo(start + BigInt(round) * 86_400n);
    const hub = await viem.deployContract("SettlementHub", [owner.account.address, 3600n]);
    const token = await viem.deployContract("TestToken", ["USD Coin", "USDC", 6]);
    const deposit = maxUint128 / 4n;
    const payers = Array.from({ length: count }, (_, i) => localAccount(`budget payer ${round} ${i}`));
    await token.write.mint([funder.account.address, deposit * BigInt(count)]);
    await token.write.approve([hub.address, deposit * BigInt(count)]);
    for (const payer of payers) await hub.write.depositFor([payer.address, token.address, deposit]);
    const domain = await readDomain(hub);
    const payments: Payment[] = payers.map((payer, i) => ({
      from: payer.address,
      to: localAccount(`budget payee ${round} ${i}`).address as Address,
      token: token.address,
      amount: deposit - 1_000_000n - BigInt(i),
      fee: 999_999n,
      nonce: BigInt(keccak256(toHex(`nonce ${round} ${i}`))),
      validAfter: 0n,
      validBefore: 2n ** 64n - 1n,
      ref: keccak256(toHex(`ref ${round} ${i}`)),
    }));
    const signatures: Hex[] = await Promise.all(payments.map((p, i) => signPayment(payers[i], domain, p)));
    return { hub, payments, signatures, relayer: localAccount(`budget relayer ${round}`) };
  }

  async function settleWithBudget(count: number): Promise<bigint> {
    const { hub, payments, signatures, relayer } = await worstCaseBatch(count);
    await networkHelpers.setBalance(relayer.address, 10n ** 20n);
    const gas = settleGasBudget(count);
    const hash = await hub.write.settleBatch([payments, signatures], { account: relayer, gas });
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    expect(receipt.status).to.equal("success");
    const settled = parseEventLogs({ abi: hub.abi, eventName: "PaymentSettled", logs: receipt.logs });
    expect(settled).to.have.length(count);
    expect(receipt.gasUsed <= gas).to.equal(true);
    return receipt.gasUsed;
  }

  it("covers a batch of one and a batch of 100 intents whose every write is from zero", async () => {
    const one = await settleWithBudget(1);
    const hundred = await settleWithBudget(100);
    const perIntent = (hundred - one) / 99n;
    const perBatch = one - perIntent;
    expect(perIntent <= SETTLE_GAS_PER_INTENT).to.equal(true, `per intent ${perIntent}`);
    expect(perBatch <= SETTLE_GAS_PER_BATCH).to.equal(true, `per batch ${perBatch}`);
    console.log(`      worst-case settleBatch gas: ${perIntent} per intent, ${perBatch} per batch`);
  });
});
