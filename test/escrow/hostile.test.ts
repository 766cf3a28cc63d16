import { describe, it } from "node:test";
import { expect } from "chai";
import { network } from "hardhat";
import { encodeFunctionData, getAddress, zeroAddress } from "viem";
import { deployEscrow, feeOn, RESOLUTION_TIMEOUT, ReleasePayee, terms } from "./fixtures.js";

/**
 * Hostile parties and tokens: a payee or payer that cannot receive never blocks a refund, a
 * resolution, an expiry or anyone else's escrow; what it cannot receive is owed and withdrawable.
 */
describe("Escrow: hostile recipients and tokens", async () => {
  const connection = await network.create();
  const { viem, networkHelpers } = connection;
  const deploy = () => deployEscrow(connection);

  /** The fixture plus a blocklist token held and approved by the payer. */
  async function withBlocklist() {
    const f = await deploy();
    const busd = await viem.deployContract("BlocklistToken");
    await busd.write.mint([f.payer.account.address, f.amount * 10n]);
    await busd.write.approve([f.escrow.address, f.amount * 10n], { account: f.payer.account });
    return { ...f, busd };
  }

  it("defers a native release to a payee that reverts on receive, which withdraws it later", async () => {
    const { escrow, payer, amount, open } = await networkHelpers.loadFixture(deploy);
    const receiver = await viem.deployContract("RevertingReceiver");
    const id = await open({ payee: receiver.address, token: zeroAddress }, payer, amount);
    const net = amount - feeOn(amount);
    await viem.assertions.emitWithArgs(
      escrow.write.release([id, amount], { account: payer.account }),
      escrow,
      "PayoutDeferred",
      [getAddress(receiver.address), zeroAddress, net],
    );
    expect(await escrow.read.owed([receiver.address, zeroAddress])).to.equal(net);

    const pull = encodeFunctionData({ abi: escrow.abi, functionName: "withdraw", args: [zeroAddress] });
    await viem.assertions.revertWithCustomErrorWithArgs(
      receiver.write.execute([escrow.address, pull]),
      escrow,
      "PayoutsNativeTransferFailed",
      [getAddress(receiver.address), net],
    );
    await receiver.write.setAccepting([true]);
    await viem.assertions.balancesHaveChanged(receiver.write.execute([escrow.address, pull]), [
      { address: receiver.address, amount: net },
    ]);
    expect(await escrow.read.owed([receiver.address, zeroAddress])).to.equal(0n);
  });

  it("gives a gas-burning payee only the bounded stipend and defers its payout", async () => {
    const { escrow, payer, publicClient, amount, open } = await networkHelpers.loadFixture(deploy);
    const burner = await viem.deployContract("GasBurner");
    const id = await open({ payee: burner.address, token: zeroAddress }, payer, amount);
    const hash = await escrow.write.release([id, amount], { account: payer.account, gas: 5_000_000n });
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    // A release (~70k) + the 30k stipend + a fresh owed slot (~22k): nowhere near the 5M offered.
    expect(receipt.gasUsed < 150_000n, `gas used ${receipt.gasUsed}`).to.equal(true);
    expect(await escrow.read.owed([burner.address, zeroAddress])).to.equal(amount - feeOn(amount));
  });

  it("refunds a payer even while the payee is blocklisted, and defers the blocked payee's release", async () => {
    const { escrow, busd, payer, payee, amount, open } = await networkHelpers.loadFixture(withBlocklist);
    const id = await open({ token: busd.address });
    await busd.write.setBlocked([payee.account.address, true]);
    const payerBefore = await busd.read.balanceOf([payer.account.address]);
    await escrow.write.refund([id, amount / 2n], { account: payee.account });
    expect(await busd.read.balanceOf([payer.account.address])).to.equal(payerBefore + amount / 2n);

    await escrow.write.release([id, amount / 2n], { account: payer.account });
    const net = amount / 2n - feeOn(amount / 2n);
    expect(await escrow.read.owed([payee.account.address, busd.address])).to.equal(net);
    await viem.assertions.revertWithCustomErrorWithArgs(
      escrow.write.withdraw([busd.address], { account: payee.account }),
      busd,
      "Blocked",
      [getAddress(payee.account.address)],
    );
    await busd.write.setBlocked([payee.account.address, false]);
    await escrow.write.withdraw([busd.address], { account: payee.account });
    expect(await busd.read.balanceOf([payee.account.address])).to.equal(net);
  });

  it("defers a refund to a blocklisted payer instead of blocking the payee", async () => {
    const { escrow, busd, payer, payee, amount, open } = await networkHelpers.loadFixture(withBlocklist);
    const id = await open({ token: busd.address });
    await busd.write.setBlocked([payer.account.address, true]);
    await viem.assertions.emitWithArgs(
      escrow.write.refund([id, amount], { account: payee.account }),
      escrow,
      "PayoutDeferred",
      [getAddress(payer.account.address), getAddress(busd.address), amount],
    );
    expect(await escrow.read.remaining([id])).to.equal(0n);
    expect(await escrow.read.owed([payer.account.address, busd.address])).to.equal(amount);
  });

  it("resolves a dispute with a blocklisted payee: the payer is paid, the payee's share is owed", async () => {
    const { escrow, busd, payer, payee, arbiter, feeRecipient, amount, open } =
      await networkHelpers.loadFixture(withBlocklist);
    const id = await open({ token: busd.address, arbiter: arbiter.account.address });
    await escrow.write.dispute([id], { account: payer.account });
    await busd.write.setBlocked([payee.account.address, true]);
    const payerBefore = await busd.read.balanceOf([payer.account.address]);
    await escrow.write.resolve([id, amount / 2n], { account: arbiter.account });
    expect(await busd.read.balanceOf([payer.account.address])).to.equal(payerBefore + amount / 2n);
    expect(await escrow.read.owed([payee.account.address, busd.address])).to.equal(amount / 2n - feeOn(amount / 2n));
    expect(await escrow.read.owed([feeRecipient.account.address, busd.address])).to.equal(feeOn(amount / 2n));
    expect(await busd.read.balanceOf([escrow.address])).to.equal(amount / 2n);
  });

  it("settles a batch where one payee is blocklisted without holding up the others", async () => {
    const { escrow, busd, payer, payee, stranger, relayer, amount, deadline, open } =
      await networkHelpers.loadFixture(withBlocklist);
    const blockedOne = await open({ token: busd.address, onExpiry: ReleasePayee });
    const fine = await open({ token: busd.address, onExpiry: ReleasePayee, payee: stranger.account.address });
    await busd.write.setBlocked([payee.account.address, true]);
    await networkHelpers.time.increaseTo(deadline + 1n);
    await escrow.write.settleExpiredBatch([[blockedOne, fine]], { account: relayer.account });
    const net = amount - feeOn(amount);
    expect(await busd.read.balanceOf([stranger.account.address])).to.equal(net);
    expect(await escrow.read.owed([payee.account.address, busd.address])).to.equal(net);
    expect(await escrow.read.remaining([blockedOne])).to.equal(0n);
    expect(await busd.read.balanceOf([payer.account.address])).to.equal(amount * 8n);
  });

  it("defers every payout while the token is paused, and pays once it resumes", async () => {
    const { escrow, busd, payer, payee, arbiter, relayer, amount, deadline, open } =
      await networkHelpers.loadFixture(withBlocklist);
    const id = await open({ token: busd.address, arbiter: arbiter.account.address });
    await escrow.write.dispute([id], { account: payee.account });
    await busd.write.setPaused([true]);
    await networkHelpers.time.increaseTo(deadline + RESOLUTION_TIMEOUT + 1n);
    await escrow.write.settleExpired([id], { account: relayer.account });
    expect(await escrow.read.owed([payer.account.address, busd.address])).to.equal(amount);
    await busd.write.setPaused([false]);
    const before = await busd.read.balanceOf([payer.account.address]);
    await escrow.write.withdraw([busd.address], { account: payer.account });
    expect(await busd.read.balanceOf([payer.account.address])).to.equal(before + amount);
  });

  it("keeps exact books with a fee-on-transfer token: what remains in the contract is the fees owed", async () => {
    const { escrow, payer, payee, feeRecipient, amount, deadline } = await networkHelpers.loadFixture(deploy);
    const fot = await viem.deployContract("FeeOnTransferToken", [100n]); // 1% per transfer
    await fot.write.mint([payer.account.address, amount]);
    await fot.write.approve([escrow.address, amount], { account: payer.account });
    const params = terms({ payee: payee.account.address, token: fot.address, amount, deadline });
    await escrow.write.create([params], { account: payer.account });
    const held = amount - amount / 100n;
    await escrow.write.release([1n, held / 3n], { account: payer.account });
    await escrow.write.refund([1n, held - held / 3n], { account: payee.account });
    const fees = feeOn(held / 3n);
    expect(await escrow.read.owed([feeRecipient.account.address, fot.address])).to.equal(fees);
    expect(await fot.read.balanceOf([escrow.address])).to.equal(fees);
    await escrow.write.withdraw([fot.address], { account: feeRecipient.account });
    expect(await fot.read.balanceOf([escrow.address])).to.equal(0n);
  });

  it("reverts a withdrawal when nothing is owed", async () => {
    const { escrow, token, stranger } = await networkHelpers.loadFixture(deploy);
    await viem.assertions.revertWithCustomErrorWithArgs(
      escrow.write.withdraw([token.address], { account: stranger.account }),
      escrow,
      "PayoutsNothingOwed",
      [getAddress(stranger.account.address), getAddress(token.address)],
    );
  });
});
