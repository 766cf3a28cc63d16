import { describe, it } from "node:test";
import { expect } from "chai";
import { Wallet, ZeroAddress } from "ethers";
import { network } from "hardhat";
import { type Address, type Hex, parseEther } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { hashPayment, type Payment, signPayment } from "../../src/client/index.js";
import { SettlementHub__factory, type SettlementHubTypes } from "../../src/ethers/index.js";

/** A team on ethers v6: TypeChain bindings for the contract, settlekit's signing helpers for intents. */
describe("settlekit/ethers (TypeChain bindings)", async () => {
  const { ethers } = await network.create();
  const [deployer, relayer, merchant] = await ethers.getSigners();
  if (!deployer || !relayer || !merchant) throw new Error("expected three signers");
  const payerKey: Hex = "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6";
  const payer = new Wallet(payerKey, ethers.provider);
  await deployer.sendTransaction({ to: payer.address, value: parseEther("10") });

  it("deploys, writes and reads SettlementHub through the typed bindings", async () => {
    const hub = await new SettlementHub__factory(deployer).deploy(deployer.address, 0n);
    await hub.waitForDeployment();
    const address = (await hub.getAddress()) as Address;
    expect(await hub.withdrawalDelay()).to.equal(0n);

    await (await hub.connect(payer).deposit(ZeroAddress, parseEther("2"), { value: parseEther("2") })).wait();
    expect(await hub.balanceOf(payer.address, ZeroAddress)).to.equal(parseEther("2"));

    const { chainId } = await ethers.provider.getNetwork();
    const domain = { chainId: Number(chainId), verifyingContract: address };
    const block = await ethers.provider.getBlock("latest");
    const payment: Payment = {
      from: payer.address as Address,
      to: merchant.address as Address,
      token: ZeroAddress as Address,
      amount: parseEther("1"),
      fee: 0n,
      nonce: 0n,
      validAfter: 0n,
      validBefore: BigInt((block?.timestamp ?? 0) + 3_600),
      ref: `0x${"00".repeat(32)}`,
    };
    const signature = await signPayment({ account: privateKeyToAccount(payerKey), domain, payment });
    const typed: SettlementHubTypes.PaymentStruct = payment;
    expect(await hub.paymentDigest(typed)).to.equal(hashPayment({ domain, payment }));

    const receipt = await (await hub.connect(relayer).settle(typed, signature)).wait();
    const settled = await hub.queryFilter(hub.filters.PaymentSettled(), receipt?.blockNumber, receipt?.blockNumber);
    expect(settled.map((log) => log.args.digest)).to.deep.equal([hashPayment({ domain, payment })]);
    expect(await hub.balanceOf(merchant.address, ZeroAddress)).to.equal(parseEther("1"));
  });
});
