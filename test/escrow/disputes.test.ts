import { describe, it } from "node:test";
import { expect } from "chai";
import { network } from "hardhat";
import { getAddress, zeroAddress } from "viem";
import { DAY, deployEscrow, feeOn, RESOLUTION_TIMEOUT, RefundPayer, ReleasePayee, State } from "./fixtures.js";

/** Disputes: `dispute`, concessions during a dispute, the arbiter's `resolve` and its timeout. */
describe("Escrow: disputes", async () => {
  const connection = await network.create();
  const { viem, networkHelpers } = connection;
  const deploy = () => deployEscrow(connection);

  /** An escrow with an arbiter. */
  async function arbitrated() {
    const f = await deploy();
    const id = await f.open({ arbiter: f.arbiter.account.address });
    return { ...f, id };
  }

  describe("dispute", () => {
    it("lets the payer dispute, recording the time, and emits EscrowDisputed", async () => {
      const { escrow, payer, id } = await networkHelpers.loadFixture(arbitrated);
      await viem.assertions.emitWithArgs(
        escrow.write.dispute([id], { account: payer.account }),
        escrow,
        "EscrowDisputed",
        [id, getAddress(payer.account.address)],
      );
      const stored = await escrow.read.getEscrow([id]);
      expect(stored.state).to.equal(State.Disputed);
      expect(stored.disputedAt).to.equal(BigInt(await networkHelpers.time.latest()));
    });

    it("lets the payee dispute, up to the deadline's very second", async () => {
      const { escrow, payee, deadline, id } = await networkHelpers.loadFixture(arbitrated);
      await networkHelpers.time.setNextBlockTimestamp(deadline);
      await escrow.write.dispute([id], { account: payee.account });
      expect((await escrow.read.getEscrow([id])).disputedAt).to.equal(deadline);
    });

    it("reverts when the caller is neither payer nor payee (the arbiter included)", async () => {
      const { escrow, arbiter, stranger, id } = await networkHelpers.loadFixture(arbitrated);
      for (const caller of [arbiter, stranger]) {
        await viem.assertions.revertWithCustomErrorWithArgs(
          escrow.write.dispute([id], { account: caller.account }),
          escrow,
          "EscrowNotParty",
          [id, getAddress(caller.account.address)],
        );
      }
    });

    it("reverts without an arbiter", async () => {
      const { escrow, payer, open } = await networkHelpers.loadFixture(deploy);
      const id = await open();
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.dispute([id], { account: payer.account }),
        escrow,
        "EscrowNoArbiter",
        [id],
      );
    });

    it("reverts when already disputed", async () => {
      const { escrow, payer, payee, id } = await networkHelpers.loadFixture(arbitrated);
      await escrow.write.dispute([id], { account: payer.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.dispute([id], { account: payee.account }),
        escrow,
        "EscrowAlreadyDisputed",
        [id],
      );
    });

    it("reverts after the deadline", async () => {
      const { escrow, payer, deadline, id } = await networkHelpers.loadFixture(arbitrated);
      await networkHelpers.time.setNextBlockTimestamp(deadline + 1n);
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.dispute([id], { account: payer.account }),
        escrow,
        "EscrowDeadlinePassed",
        [id, deadline],
      );
    });

    it("reverts for a closed or unknown escrow", async () => {
      const { escrow, payer, amount, id } = await networkHelpers.loadFixture(arbitrated);
      await escrow.write.release([id, amount], { account: payer.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.dispute([id], { account: payer.account }),
        escrow,
        "EscrowClosed",
        [id],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.dispute([id + 1n], { account: payer.account }),
        escrow,
        "EscrowNotFound",
        [id + 1n],
      );
    });

    it("still lets the payer release and the payee refund during a dispute", async () => {
      const { escrow, token, payer, payee, amount, id } = await networkHelpers.loadFixture(arbitrated);
      await escrow.write.dispute([id], { account: payee.account });
      await escrow.write.release([id, amount / 4n], { account: payer.account });
      await escrow.write.refund([id, amount / 4n], { account: payee.account });
      expect(await escrow.read.remaining([id])).to.equal(amount / 2n);
      expect(await token.read.balanceOf([payee.account.address])).to.equal(amount / 4n - feeOn(amount / 4n));
      expect((await escrow.read.getEscrow([id])).state).to.equal(State.Disputed);
    });
  });

  describe("resolve", () => {
    it("splits what remains: the payee's part with the fee, the rest to the payer", async () => {
      const { escrow, token, payer, payee, arbiter, feeRecipient, amount, id } =
        await networkHelpers.loadFixture(arbitrated);
      await escrow.write.dispute([id], { account: payer.account });
      const payerBefore = await token.read.balanceOf([payer.account.address]);
      const toPayee = (amount * 3n) / 10n;
      const fee = feeOn(toPayee);
      await viem.assertions.emitWithArgs(
        escrow.write.resolve([id, toPayee], { account: arbiter.account }),
        escrow,
        "EscrowResolved",
        [id, toPayee, amount - toPayee, fee],
      );
      expect(await token.read.balanceOf([payee.account.address])).to.equal(toPayee - fee);
      expect(await token.read.balanceOf([payer.account.address])).to.equal(payerBefore + amount - toPayee);
      expect(await escrow.read.owed([feeRecipient.account.address, token.address])).to.equal(fee);
      const stored = await escrow.read.getEscrow([id]);
      expect(stored.remaining).to.equal(0n);
      expect(stored.released).to.equal(toPayee);
      expect(stored.state).to.equal(State.Closed);
    });

    it("can award everything to either side", async () => {
      const { escrow, token, payer, payee, arbiter, amount, open } = await networkHelpers.loadFixture(arbitrated);
      const a = await open({ arbiter: arbiter.account.address });
      const b = await open({ arbiter: arbiter.account.address });
      await escrow.write.dispute([a], { account: payer.account });
      await escrow.write.dispute([b], { account: payee.account });
      const payerBefore = await token.read.balanceOf([payer.account.address]);
      await escrow.write.resolve([a, amount], { account: arbiter.account });
      await escrow.write.resolve([b, 0n], { account: arbiter.account });
      expect(await token.read.balanceOf([payee.account.address])).to.equal(amount - feeOn(amount));
      expect(await token.read.balanceOf([payer.account.address])).to.equal(payerBefore + amount);
    });

    it("splits only what remains after concessions during the dispute", async () => {
      const { escrow, payer, payee, arbiter, amount, id } = await networkHelpers.loadFixture(arbitrated);
      await escrow.write.dispute([id], { account: payer.account });
      await escrow.write.release([id, amount / 2n], { account: payer.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.resolve([id, amount / 2n + 1n], { account: arbiter.account }),
        escrow,
        "EscrowAmountExceedsRemaining",
        [id, amount / 2n + 1n, amount / 2n],
      );
      await escrow.write.resolve([id, amount / 4n], { account: arbiter.account });
      expect((await escrow.read.getEscrow([id])).released).to.equal((amount * 3n) / 4n);
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.refund([id, 1n], { account: payee.account }),
        escrow,
        "EscrowClosed",
        [id],
      );
    });

    it("stays possible after the resolution timeout until someone settles", async () => {
      const { escrow, payer, arbiter, amount, deadline, id } = await networkHelpers.loadFixture(arbitrated);
      await escrow.write.dispute([id], { account: payer.account });
      await networkHelpers.time.increaseTo(deadline + RESOLUTION_TIMEOUT + DAY);
      await escrow.write.resolve([id, amount / 2n], { account: arbiter.account });
      expect(await escrow.read.remaining([id])).to.equal(0n);
    });

    it("reverts when the caller is not the arbiter", async () => {
      const { escrow, payer, id } = await networkHelpers.loadFixture(arbitrated);
      await escrow.write.dispute([id], { account: payer.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.resolve([id, 0n], { account: payer.account }),
        escrow,
        "EscrowNotArbiter",
        [id, getAddress(payer.account.address)],
      );
    });

    it("reverts when the escrow is not disputed", async () => {
      const { escrow, arbiter, id } = await networkHelpers.loadFixture(arbitrated);
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.resolve([id, 0n], { account: arbiter.account }),
        escrow,
        "EscrowNotDisputed",
        [id],
      );
    });

    it("reverts once closed, and for an unknown escrow", async () => {
      const { escrow, payer, arbiter, amount, id } = await networkHelpers.loadFixture(arbitrated);
      await escrow.write.dispute([id], { account: payer.account });
      await escrow.write.release([id, amount], { account: payer.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.resolve([id, 0n], { account: arbiter.account }),
        escrow,
        "EscrowClosed",
        [id],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.resolve([id + 1n, 0n], { account: arbiter.account }),
        escrow,
        "EscrowNotFound",
        [id + 1n],
      );
    });
  });

  describe("an arbiter who stays silent", () => {
    it("freezes the expiry action until the resolution timeout has passed", async () => {
      const { escrow, payer, relayer, deadline, id } = await networkHelpers.loadFixture(arbitrated);
      await networkHelpers.time.setNextBlockTimestamp(deadline - 10n);
      await escrow.write.dispute([id], { account: payer.account });
      const settleableAfter = deadline - 10n + RESOLUTION_TIMEOUT;
      await networkHelpers.time.setNextBlockTimestamp(settleableAfter);
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.settleExpired([id], { account: relayer.account }),
        escrow,
        "EscrowNotExpired",
        [id, settleableAfter],
      );
      await networkHelpers.time.setNextBlockTimestamp(settleableAfter + 1n);
      await escrow.write.settleExpired([id], { account: relayer.account });
      expect(await escrow.read.remaining([id])).to.equal(0n);
    });

    it("never brings expiry forward: an early dispute still waits for the deadline", async () => {
      const { escrow, payee, relayer, deadline, id } = await networkHelpers.loadFixture(arbitrated);
      await escrow.write.dispute([id], { account: payee.account });
      await networkHelpers.time.increaseTo(deadline - DAY); // the timeout has passed, the deadline not
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.settleExpired([id], { account: relayer.account }),
        escrow,
        "EscrowNotExpired",
        [id, deadline],
      );
    });

    it("applies the expiry action after the timeout: refund to the payer", async () => {
      const { escrow, token, payer, relayer, amount, deadline, id } = await networkHelpers.loadFixture(arbitrated);
      await networkHelpers.time.setNextBlockTimestamp(deadline);
      await escrow.write.dispute([id], { account: payer.account });
      await networkHelpers.time.increaseTo(deadline + RESOLUTION_TIMEOUT + 1n);
      const before = await token.read.balanceOf([payer.account.address]);
      await viem.assertions.emitWithArgs(
        escrow.write.settleExpired([id], { account: relayer.account }),
        escrow,
        "EscrowExpired",
        [id, RefundPayer, amount, 0n],
      );
      expect(await token.read.balanceOf([payer.account.address])).to.equal(before + amount);
    });

    it("applies the expiry action after the timeout: release to the payee", async () => {
      const { escrow, token, payer, payee, arbiter, relayer, amount, deadline, open } =
        await networkHelpers.loadFixture(deploy);
      const id = await open(
        { arbiter: arbiter.account.address, onExpiry: ReleasePayee, token: zeroAddress },
        payer,
        amount,
      );
      await escrow.write.dispute([id], { account: payer.account });
      await networkHelpers.time.increaseTo(deadline + RESOLUTION_TIMEOUT);
      await viem.assertions.balancesHaveChanged(escrow.write.settleExpired([id], { account: relayer.account }), [
        { address: payee.account.address, amount: amount - feeOn(amount) },
      ]);
      expect(await token.read.balanceOf([payee.account.address])).to.equal(0n);
      expect((await escrow.read.getEscrow([id])).released).to.equal(amount);
    });
  });
});
