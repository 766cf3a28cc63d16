import { describe, it } from "node:test";
import { expect } from "chai";
import { network } from "hardhat";
import { encodeFunctionData, parseEther, zeroAddress } from "viem";

/**
 * Payout with fallback: a payout reaches its recipient or is owed to it, whatever the
 * recipient or the token does, and what is owed can be pulled later.
 */
describe("Payouts", async () => {
  const { viem, networkHelpers } = await network.create();
  const [, alice] = await viem.getWalletClients();
  const publicClient = await viem.getPublicClient();
  const amount = parseEther("1");

  async function deployHarness() {
    const payouts = await viem.deployContract("PayoutsHarness");
    await networkHelpers.setBalance(payouts.address, amount * 10n);
    return { payouts };
  }

  it("pushes native currency to an EOA", async () => {
    const { payouts } = await networkHelpers.loadFixture(deployHarness);
    const before = await publicClient.getBalance({ address: alice.account.address });
    await payouts.write.pay([zeroAddress, alice.account.address, amount]);
    expect(await publicClient.getBalance({ address: alice.account.address })).to.equal(before + amount);
    expect(await payouts.read.owed([alice.account.address, zeroAddress])).to.equal(0n);
    expect(await payouts.getEvents.PayoutDeferred()).to.have.length(0);
  });

  it("defers native currency to a contract that reverts on receive, which pulls it later", async () => {
    const { payouts } = await networkHelpers.loadFixture(deployHarness);
    const receiver = await viem.deployContract("RevertingReceiver");
    await viem.assertions.emitWithArgs(
      payouts.write.pay([zeroAddress, receiver.address, amount]),
      payouts,
      "PayoutDeferred",
      [receiver.address, zeroAddress, amount],
    );
    expect(await payouts.read.owed([receiver.address, zeroAddress])).to.equal(amount);

    const pull = encodeFunctionData({ abi: payouts.abi, functionName: "withdraw", args: [zeroAddress] });
    // Still refusing: the pull reverts and the balance stays owed.
    await viem.assertions.revertWithCustomErrorWithArgs(
      receiver.write.execute([payouts.address, pull]),
      payouts,
      "PayoutsNativeTransferFailed",
      [receiver.address, amount],
    );
    expect(await payouts.read.owed([receiver.address, zeroAddress])).to.equal(amount);

    await receiver.write.setAccepting([true]);
    await receiver.write.execute([payouts.address, pull]);
    expect(await publicClient.getBalance({ address: receiver.address })).to.equal(amount);
    expect(await payouts.read.owed([receiver.address, zeroAddress])).to.equal(0n);
  });

  it("gives a gas-burning recipient only the bounded stipend and defers its payout", async () => {
    const { payouts } = await networkHelpers.loadFixture(deployHarness);
    const burner = await viem.deployContract("GasBurner");
    const hash = await payouts.write.pay([zeroAddress, burner.address, amount], { gas: 5_000_000n });
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    expect(receipt.status).to.equal("success");
    expect(receipt.gasUsed < 100_000n, `gas used ${receipt.gasUsed}`).to.equal(true);
    expect(await payouts.read.owed([burner.address, zeroAddress])).to.equal(amount);
  });

  it("defers a token that returns false and pays it once the token works again", async () => {
    const { payouts } = await networkHelpers.loadFixture(deployHarness);
    const token = await viem.deployContract("ReturnsFalseToken");
    await token.write.mint([payouts.address, amount]);
    await token.write.setFailTransfers([true]);
    await payouts.write.pay([token.address, alice.account.address, amount]);
    expect(await payouts.read.owed([alice.account.address, token.address])).to.equal(amount);
    expect(await token.read.balanceOf([alice.account.address])).to.equal(0n);

    await token.write.setFailTransfers([false]);
    await viem.assertions.emitWithArgs(
      payouts.write.withdraw([token.address], { account: alice.account }),
      payouts,
      "OwedWithdrawn",
      [alice.account.address, token.address, amount],
    );
    expect(await token.read.balanceOf([alice.account.address])).to.equal(amount);
    expect(await payouts.read.owed([alice.account.address, token.address])).to.equal(0n);
  });

  it("pushes a token without return value (USDT-style)", async () => {
    const { payouts } = await networkHelpers.loadFixture(deployHarness);
    const token = await viem.deployContract("NoReturnToken");
    await token.write.mint([payouts.address, amount]);
    await payouts.write.pay([token.address, alice.account.address, amount]);
    expect(await token.read.balanceOf([alice.account.address])).to.equal(amount);
    expect(await payouts.read.owed([alice.account.address, token.address])).to.equal(0n);
  });

  it("pushes a token whose transfer returns a huge blob without copying it", async () => {
    const { payouts } = await networkHelpers.loadFixture(deployHarness);
    const token = await viem.deployContract("HugeReturnToken");
    await token.write.mint([payouts.address, amount]);
    const hash = await payouts.write.pay([token.address, alice.account.address, amount]);
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    // The token pays ~520k gas to expand its own memory to 500 kB; a caller copying that return
    // data would pay about as much again for its own memory (> 1M in all). Reading one word does not.
    expect(receipt.gasUsed < 800_000n, `gas used ${receipt.gasUsed}`).to.equal(true);
    expect(await token.read.balanceOf([alice.account.address])).to.equal(amount);
    expect(await payouts.read.owed([alice.account.address, token.address])).to.equal(0n);
  });

  it("defers a token without return value when its transfer reverts", async () => {
    const { payouts } = await networkHelpers.loadFixture(deployHarness);
    const token = await viem.deployContract("NoReturnToken");
    // The harness holds nothing, so the token's transfer reverts.
    await payouts.write.pay([token.address, alice.account.address, amount]);
    expect(await payouts.read.owed([alice.account.address, token.address])).to.equal(amount);
  });

  it("defers to a blocklisted recipient and pays after unblocking; a paused token defers too", async () => {
    const { payouts } = await networkHelpers.loadFixture(deployHarness);
    const token = await viem.deployContract("BlocklistToken");
    await token.write.mint([payouts.address, amount * 2n]);
    await token.write.setBlocked([alice.account.address, true]);
    await payouts.write.pay([token.address, alice.account.address, amount]);
    expect(await payouts.read.owed([alice.account.address, token.address])).to.equal(amount);

    // While still blocked the pull reverts, and the balance stays owed.
    await viem.assertions.revertWithCustomErrorWithArgs(
      payouts.write.withdraw([token.address], { account: alice.account }),
      token,
      "Blocked",
      [alice.account.address],
    );
    expect(await payouts.read.owed([alice.account.address, token.address])).to.equal(amount);

    await token.write.setBlocked([alice.account.address, false]);
    await token.write.setPaused([true]);
    await payouts.write.pay([token.address, alice.account.address, amount]);
    expect(await payouts.read.owed([alice.account.address, token.address])).to.equal(amount * 2n);

    await token.write.setPaused([false]);
    await payouts.write.withdraw([token.address], { account: alice.account });
    expect(await token.read.balanceOf([alice.account.address])).to.equal(amount * 2n);
  });

  it("refuses to withdraw when nothing is owed", async () => {
    const { payouts } = await networkHelpers.loadFixture(deployHarness);
    await viem.assertions.revertWithCustomErrorWithArgs(
      payouts.write.withdraw([zeroAddress], { account: alice.account }),
      payouts,
      "PayoutsNothingOwed",
      [alice.account.address, zeroAddress],
    );
  });

  it("collects what actually arrived from a fee-on-transfer token", async () => {
    const { payouts } = await networkHelpers.loadFixture(deployHarness);
    const token = await viem.deployContract("FeeOnTransferToken", [100n]); // 1%
    await token.write.mint([alice.account.address, amount]);
    await token.write.approve([payouts.address, amount], { account: alice.account });
    const { result } = await payouts.simulate.collect([token.address, amount], { account: alice.account.address });
    expect(result).to.equal((amount * 99n) / 100n);
  });

  it("checks msg.value against the amount", async () => {
    const { payouts } = await networkHelpers.loadFixture(deployHarness);
    const token = await viem.deployContract("TestToken", ["Test", "TST", 18]);
    await viem.assertions.revertWithCustomErrorWithArgs(
      payouts.write.collect([zeroAddress, amount], { value: amount - 1n }),
      payouts,
      "PayoutsWrongValue",
      [amount, amount - 1n],
    );
    await viem.assertions.revertWithCustomErrorWithArgs(
      payouts.write.collect([token.address, amount], { value: 1n }),
      payouts,
      "PayoutsWrongValue",
      [0n, 1n],
    );
  });
});
