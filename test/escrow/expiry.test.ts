import { describe, it } from "node:test";
import { expect } from "chai";
import { network } from "hardhat";
import { parseEventLogs } from "viem";
import { DAY, deployEscrow, feeOn, RESOLUTION_TIMEOUT, RefundPayer, ReleasePayee, State } from "./fixtures.js";

/** Expiry: `settleExpired` and `settleExpiredBatch`, callable by anyone once an escrow is due. */
describe("Escrow: expiry", async () => {
  const connection = await network.create();
  const { viem, networkHelpers } = connection;
  const deploy = () => deployEscrow(connection);

  describe("settleExpired", () => {
    it("refunds the payer when the expiry action says RefundPayer", async () => {
      const { escrow, token, payer, relayer, feeRecipient, amount, deadline, open } =
        await networkHelpers.loadFixture(deploy);
      const id = await open({ onExpiry: RefundPayer });
      await escrow.write.release([id, amount / 4n], { account: payer.account });
      const before = await token.read.balanceOf([payer.account.address]);
      await networkHelpers.time.setNextBlockTimestamp(deadline + 1n);
      await viem.assertions.emitWithArgs(
        escrow.write.settleExpired([id], { account: relayer.account }),
        escrow,
        "EscrowExpired",
        [id, RefundPayer, (amount * 3n) / 4n, 0n],
      );
      expect(await token.read.balanceOf([payer.account.address])).to.equal(before + (amount * 3n) / 4n);
      expect(await escrow.read.owed([feeRecipient.account.address, token.address])).to.equal(feeOn(amount / 4n));
      const stored = await escrow.read.getEscrow([id]);
      expect(stored.state).to.equal(State.Closed);
      expect(stored.released).to.equal(amount / 4n);
    });

    it("releases to the payee, less the fee, when the expiry action says ReleasePayee", async () => {
      const { escrow, token, payee, relayer, feeRecipient, amount, deadline, open } =
        await networkHelpers.loadFixture(deploy);
      const id = await open({ onExpiry: ReleasePayee });
      await networkHelpers.time.setNextBlockTimestamp(deadline + 1n);
      const fee = feeOn(amount);
      await viem.assertions.emitWithArgs(
        escrow.write.settleExpired([id], { account: relayer.account }),
        escrow,
        "EscrowExpired",
        [id, ReleasePayee, amount, fee],
      );
      expect(await token.read.balanceOf([payee.account.address])).to.equal(amount - fee);
      expect(await escrow.read.owed([feeRecipient.account.address, token.address])).to.equal(fee);
      expect((await escrow.read.getEscrow([id])).released).to.equal(amount);
    });

    it("reverts at the deadline itself, naming when it becomes settleable", async () => {
      const { escrow, relayer, deadline, open } = await networkHelpers.loadFixture(deploy);
      const id = await open();
      await networkHelpers.time.setNextBlockTimestamp(deadline);
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.settleExpired([id], { account: relayer.account }),
        escrow,
        "EscrowNotExpired",
        [id, deadline],
      );
    });

    it("reverts for a closed and for an unknown escrow", async () => {
      const { escrow, payee, relayer, amount, deadline, open } = await networkHelpers.loadFixture(deploy);
      const id = await open();
      await escrow.write.refund([id, amount], { account: payee.account });
      await networkHelpers.time.increaseTo(deadline + 1n);
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.settleExpired([id], { account: relayer.account }),
        escrow,
        "EscrowClosed",
        [id],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.settleExpired([id + 1n], { account: relayer.account }),
        escrow,
        "EscrowNotFound",
        [id + 1n],
      );
    });

    it("settles only once", async () => {
      const { escrow, relayer, deadline, open } = await networkHelpers.loadFixture(deploy);
      const id = await open();
      await networkHelpers.time.increaseTo(deadline + 1n);
      await escrow.write.settleExpired([id], { account: relayer.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.settleExpired([id], { account: relayer.account }),
        escrow,
        "EscrowClosed",
        [id],
      );
    });
  });

  describe("settleExpiredBatch", () => {
    it("settles the due escrows of a mixed batch, skips the rest and never reverts for one id", async () => {
      const { escrow, token, publicClient, payer, payee, arbiter, relayer, amount, deadline, open } =
        await networkHelpers.loadFixture(deploy);
      const refundDue = await open({ onExpiry: RefundPayer });
      const releaseDue = await open({ onExpiry: ReleasePayee });
      const notYet = await open({ deadline: deadline + 10n * DAY });
      const disputed = await open({ arbiter: arbiter.account.address });
      const closed = await open();
      const disputedLongAgo = await open({ arbiter: arbiter.account.address });
      await escrow.write.dispute([disputedLongAgo], { account: payer.account });
      await escrow.write.refund([closed, amount], { account: payee.account });
      await networkHelpers.time.increaseTo(deadline - DAY + 1n);
      // Disputed a day before the deadline: frozen until a week after.
      await escrow.write.dispute([disputed], { account: payee.account });
      await networkHelpers.time.increaseTo(deadline + 1n);

      const ids = [refundDue, 999n, notYet, releaseDue, disputed, closed, disputedLongAgo, refundDue];
      const { result } = await escrow.simulate.settleExpiredBatch([ids], { account: relayer.account.address });
      expect(result).to.equal(3n);
      const payerBefore = await token.read.balanceOf([payer.account.address]);
      const hash = await escrow.write.settleExpiredBatch([ids], { account: relayer.account });
      const receipt = await publicClient.waitForTransactionReceipt({ hash });
      const expired = parseEventLogs({ abi: escrow.abi, logs: receipt.logs, eventName: "EscrowExpired" });
      expect(expired.map((log) => log.args.id)).to.deep.equal([refundDue, releaseDue, disputedLongAgo]);

      expect(await token.read.balanceOf([payer.account.address])).to.equal(payerBefore + 2n * amount);
      expect(await token.read.balanceOf([payee.account.address])).to.equal(amount - feeOn(amount));
      for (const id of [refundDue, releaseDue, disputedLongAgo]) {
        expect((await escrow.read.getEscrow([id])).state).to.equal(State.Closed);
      }
      expect(await escrow.read.remaining([notYet])).to.equal(amount);
      expect(await escrow.read.remaining([disputed])).to.equal(amount);

      // Later runs pick up what was skipped once it is due.
      const { disputedAt } = await escrow.read.getEscrow([disputed]);
      await networkHelpers.time.increaseTo(disputedAt + RESOLUTION_TIMEOUT + 1n);
      const { result: later } = await escrow.simulate.settleExpiredBatch([ids], { account: relayer.account.address });
      expect(later).to.equal(1n);
      await networkHelpers.time.increaseTo(deadline + 10n * DAY + 1n);
      await escrow.write.settleExpiredBatch([ids], { account: relayer.account });
      expect(await escrow.read.remaining([notYet])).to.equal(0n);
      expect(await escrow.read.remaining([disputed])).to.equal(0n);
    });

    it("returns zero and changes nothing for an empty batch or one with nothing due", async () => {
      const { escrow, token, relayer, amount, open } = await networkHelpers.loadFixture(deploy);
      const id = await open();
      const { result: empty } = await escrow.simulate.settleExpiredBatch([[]], { account: relayer.account.address });
      expect(empty).to.equal(0n);
      const { result } = await escrow.simulate.settleExpiredBatch([[id, 0n, 12n]], {
        account: relayer.account.address,
      });
      expect(result).to.equal(0n);
      await escrow.write.settleExpiredBatch([[id, 0n, 12n]], { account: relayer.account });
      expect(await escrow.read.remaining([id])).to.equal(amount);
      expect(await token.read.balanceOf([escrow.address])).to.equal(amount);
    });
  });
});
