import { describe, it } from "node:test";
import { expect } from "chai";
import { network } from "hardhat";
import { type Address, type Hex, keccak256, parseEther, stringToHex, zeroAddress } from "viem";
import { checkGasSnapshot } from "../helpers/gas.js";
import { localAccount, type Payment, payment, readDomain, signPayment } from "./helpers.js";

/**
 * Gas of the SettlementHub's hot paths: full-transaction `gasUsed` from receipts on the in-process
 * network, committed in `gas/SettlementHub.json`.
 *
 * Measurement setup (the realistic steady state, not a first use):
 * - an ERC-20 with 6 decimals (USDC-like); amounts of about 1 token, a fee of 0.001 token;
 * - every payer already used nonce 0 of its bitmap word (the measured intents use nonce 1);
 * - every payee, the merchant and the relayer already hold a non-zero hub balance in the token;
 * - every intent carries a 32-byte `ref` (an invoice hash) and `validBefore` a day ahead; the
 *   chain's clock is set to a fixed time first, so calldata (and gas) does not vary between runs;
 * - marginal gas per intent = (gas of the batch of 100 - gas of the batch of 1) / 99.
 */
describe("SettlementHub gas", async () => {
  const { viem, networkHelpers } = await network.create();
  const [funder, relayer, owner] = await viem.getWalletClients();
  const publicClient = await viem.getPublicClient();
  const unit = 1_000_000n;
  const payers = Array.from({ length: 100 }, (_, i) => localAccount(`payer ${i}`));
  const payees = Array.from({ length: 100 }, (_, i) => localAccount(`payee ${i}`).address);
  const merchant = localAccount("merchant").address;
  const start = 2_000_000_000n;

  async function gasOf(hash: Hex): Promise<bigint> {
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    expect(receipt.status).to.equal("success");
    return receipt.gasUsed;
  }

  async function deployWarmHub() {
    await networkHelpers.time.increaseTo(start);
    const token = await viem.deployContract("TestToken", ["USD Coin", "USDC", 6]);
    const hub = await viem.deployContract("SettlementHub", [owner.account.address, 3600n]);
    await token.write.mint([funder.account.address, 1_000_000n * unit]);
    await token.write.approve([hub.address, 1_000_000n * unit]);
    for (const payer of payers) await hub.write.depositFor([payer.address, token.address, 1_000n * unit]);
    await hub.write.depositFor([merchant, token.address, unit]);
    await hub.write.deposit([token.address, 1_000n * unit]);
    await hub.write.deposit([zeroAddress, parseEther("1")], { value: parseEther("1") });

    // Warm-up: every payer uses nonce 0 paying its payee, so payers' nonce words, payees' and the
    // relayer's balances are all non-zero before anything is measured.
    const domain = await readDomain(hub);
    const warmUp = payers.map((payer, i) =>
      payment({
        from: payer.address,
        to: payees[i],
        token: token.address,
        amount: unit,
        fee: 1_000n,
        validBefore: start + 86_400n,
      }),
    );
    const signatures = await Promise.all(warmUp.map((p, i) => signPayment(payers[i], domain, p)));
    await hub.write.settleBatch([warmUp, signatures], { account: relayer.account });
    expect(await hub.read.balanceOf([relayer.account.address, token.address])).to.equal(100_000n);
    return { hub, token, domain, validBefore: start + 86_400n };
  }

  /** Signed intents with nonce 1 from the first `count` payers, to `payee(i)`. */
  async function intents(
    fixture: Awaited<ReturnType<typeof deployWarmHub>>,
    count: number,
    payee: (i: number) => Address,
  ): Promise<[Payment[], Hex[]]> {
    const ps = Array.from({ length: count }, (_, i) =>
      payment({
        from: payers[i].address,
        to: payee(i),
        token: fixture.token.address,
        amount: unit + BigInt(i),
        fee: 1_000n,
        nonce: 1n,
        validBefore: fixture.validBefore,
        ref: keccak256(stringToHex(`invoice ${i}`)),
      }),
    );
    return [ps, await Promise.all(ps.map((p, i) => signPayment(payers[i], fixture.domain, p)))];
  }

  async function batchGas(count: number, payee: (i: number) => Address): Promise<bigint> {
    const fixture = await networkHelpers.loadFixture(deployWarmHub);
    const [ps, signatures] = await intents(fixture, count, payee);
    const gas = await gasOf(await fixture.hub.write.settleBatch([ps, signatures], { account: relayer.account }));
    // Every intent settled: the measurement is of the success path.
    expect(await fixture.hub.read.balanceOf([relayer.account.address, fixture.token.address])).to.equal(
      100_000n + 1_000n * BigInt(count),
    );
    return gas;
  }

  it("records the gas of every hot path in gas/SettlementHub.json", async () => {
    const distinct = (i: number) => payees[i];
    const oneMerchant = () => merchant;
    const distinct1 = await batchGas(1, distinct);
    const distinct10 = await batchGas(10, distinct);
    const distinct100 = await batchGas(100, distinct);
    const merchant1 = await batchGas(1, oneMerchant);
    const merchant10 = await batchGas(10, oneMerchant);
    const merchant100 = await batchGas(100, oneMerchant);

    const fixture = await networkHelpers.loadFixture(deployWarmHub);
    const { hub, token } = fixture;
    const [[single], [signature]] = await intents(fixture, 1, distinct);
    const settle = await gasOf(await hub.write.settle([single, signature], { account: relayer.account }));
    const depositToken = await gasOf(await hub.write.deposit([token.address, unit]));
    const depositNative = await gasOf(
      await hub.write.deposit([zeroAddress, parseEther("1")], { value: parseEther("1") }),
    );
    const request = await gasOf(await hub.write.requestWithdrawal([token.address, unit]));
    await networkHelpers.time.increase(3600);
    const withdraw = await gasOf(await hub.write.withdraw([token.address, funder.account.address]));

    checkGasSnapshot("SettlementHub", {
      "deposit (ERC-20, existing balance)": { gas: depositToken },
      "deposit (native, existing balance)": { gas: depositNative },
      "settle (one intent)": { gas: settle },
      "settleBatch 1 (distinct payees)": { gas: distinct1 },
      "settleBatch 10 (distinct payees)": { gas: distinct10 },
      "settleBatch 100 (distinct payees)": { gas: distinct100 },
      "settleBatch marginal per intent (100 payers, 100 payees)": {
        gas: (distinct100 - distinct1) / 99n,
        target: 27_000,
        note: "(batch of 100 - batch of 1) / 99",
      },
      "settleBatch 1 (one merchant)": { gas: merchant1 },
      "settleBatch 10 (one merchant)": { gas: merchant10 },
      "settleBatch 100 (one merchant)": { gas: merchant100 },
      "settleBatch marginal per intent (100 payers, one merchant)": {
        gas: (merchant100 - merchant1) / 99n,
        target: 23_000,
        note: "(batch of 100 - batch of 1) / 99",
      },
      "requestWithdrawal (ERC-20)": { gas: request },
      "withdraw (ERC-20, existing recipient balance)": { gas: withdraw },
    });
  });
});
