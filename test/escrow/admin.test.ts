import { describe, it } from "node:test";
import { expect } from "chai";
import { network } from "hardhat";
import { getAddress, zeroAddress } from "viem";
import { deployEscrow, FEE_BPS, RESOLUTION_TIMEOUT } from "./fixtures.js";

/** Construction and administration: the fee (capped), the fee recipient, pausing and ownership. */
describe("Escrow: administration", async () => {
  const connection = await network.create();
  const { viem, networkHelpers } = connection;
  const deploy = () => deployEscrow(connection);
  const [owner, recipient] = await viem.getWalletClients();

  describe("constructor", () => {
    it("stores the owner, fee, fee recipient and resolution timeout, and announces the fee settings", async () => {
      const { escrow, owner, feeRecipient } = await networkHelpers.loadFixture(deploy);
      expect(await escrow.read.owner()).to.equal(getAddress(owner.account.address));
      expect(await escrow.read.feeBps()).to.equal(FEE_BPS);
      expect(await escrow.read.feeRecipient()).to.equal(getAddress(feeRecipient.account.address));
      expect(await escrow.read.resolutionTimeout()).to.equal(RESOLUTION_TIMEOUT);
      expect(await escrow.read.MAX_FEE_BPS()).to.equal(500);
      expect(await escrow.read.MAX_RESOLUTION_TIMEOUT()).to.equal(365n * 24n * 3600n);
      expect(await escrow.read.paused()).to.equal(false);
      const [feeEvent] = await escrow.getEvents.FeeUpdated({ fromBlock: 0n });
      expect(feeEvent.args).to.deep.equal({ previousFeeBps: 0, newFeeBps: FEE_BPS });
      const [recipientEvent] = await escrow.getEvents.FeeRecipientUpdated({}, { fromBlock: 0n });
      expect(recipientEvent.args.newRecipient).to.equal(getAddress(feeRecipient.account.address));
    });

    it("reverts on a fee above the cap", async () => {
      const { escrow } = await networkHelpers.loadFixture(deploy);
      await viem.assertions.revertWithCustomErrorWithArgs(
        viem.deployContract("Escrow", [owner.account.address, recipient.account.address, 501, RESOLUTION_TIMEOUT]),
        escrow,
        "EscrowFeeTooHigh",
        [501, 500],
      );
    });

    it("reverts on a zero fee recipient", async () => {
      const { escrow } = await networkHelpers.loadFixture(deploy);
      await viem.assertions.revertWithCustomErrorWithArgs(
        viem.deployContract("Escrow", [owner.account.address, zeroAddress, FEE_BPS, RESOLUTION_TIMEOUT]),
        escrow,
        "EscrowInvalidFeeRecipient",
        [zeroAddress],
      );
    });

    it("reverts on a zero owner", async () => {
      const { escrow } = await networkHelpers.loadFixture(deploy);
      await viem.assertions.revertWithCustomErrorWithArgs(
        viem.deployContract("Escrow", [zeroAddress, recipient.account.address, FEE_BPS, RESOLUTION_TIMEOUT]),
        escrow,
        "OwnableInvalidOwner",
        [zeroAddress],
      );
    });

    it("reverts on a resolution timeout of zero or above a year", async () => {
      const { escrow } = await networkHelpers.loadFixture(deploy);
      const year = 365n * 24n * 3600n;
      for (const timeout of [0n, year + 1n]) {
        await viem.assertions.revertWithCustomErrorWithArgs(
          viem.deployContract("Escrow", [owner.account.address, recipient.account.address, FEE_BPS, timeout]),
          escrow,
          "EscrowInvalidResolutionTimeout",
          [timeout, year],
        );
      }
      const longest = await viem.deployContract("Escrow", [owner.account.address, recipient.account.address, 0, year]);
      expect(await longest.read.resolutionTimeout()).to.equal(year);
    });
  });

  describe("setFee", () => {
    it("lets the owner set the fee up to the 5% cap", async () => {
      const { escrow, owner } = await networkHelpers.loadFixture(deploy);
      await viem.assertions.emitWithArgs(escrow.write.setFee([500], { account: owner.account }), escrow, "FeeUpdated", [
        FEE_BPS,
        500,
      ]);
      expect(await escrow.read.feeBps()).to.equal(500);
      await escrow.write.setFee([0], { account: owner.account });
      expect(await escrow.read.feeBps()).to.equal(0);
    });

    it("reverts above the cap", async () => {
      const { escrow, owner } = await networkHelpers.loadFixture(deploy);
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.setFee([501], { account: owner.account }),
        escrow,
        "EscrowFeeTooHigh",
        [501, 500],
      );
    });

    it("reverts for anyone but the owner", async () => {
      const { escrow, stranger } = await networkHelpers.loadFixture(deploy);
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.setFee([10], { account: stranger.account }),
        escrow,
        "OwnableUnauthorizedAccount",
        [getAddress(stranger.account.address)],
      );
    });

    it("charges no fee on escrows created at a zero rate", async () => {
      const { escrow, token, owner, payer, payee, feeRecipient, amount, open } =
        await networkHelpers.loadFixture(deploy);
      await escrow.write.setFee([0], { account: owner.account });
      const id = await open();
      await escrow.write.release([id, amount], { account: payer.account });
      expect(await token.read.balanceOf([payee.account.address])).to.equal(amount);
      expect(await escrow.read.owed([feeRecipient.account.address, token.address])).to.equal(0n);
    });
  });

  describe("setFeeRecipient", () => {
    it("sends future fees to the new recipient; fees already accrued stay with the old one", async () => {
      const { escrow, token, owner, payer, feeRecipient, stranger, amount, open } =
        await networkHelpers.loadFixture(deploy);
      const id = await open();
      await escrow.write.release([id, amount / 2n], { account: payer.account });
      await viem.assertions.emitWithArgs(
        escrow.write.setFeeRecipient([stranger.account.address], { account: owner.account }),
        escrow,
        "FeeRecipientUpdated",
        [getAddress(feeRecipient.account.address), getAddress(stranger.account.address)],
      );
      expect(await escrow.read.feeRecipient()).to.equal(getAddress(stranger.account.address));
      await escrow.write.release([id, amount / 2n], { account: payer.account });
      expect(await escrow.read.owed([feeRecipient.account.address, token.address])).to.equal(
        ((amount / 2n) * 5n) / 1000n,
      );
      expect(await escrow.read.owed([stranger.account.address, token.address])).to.equal(((amount / 2n) * 5n) / 1000n);
    });

    it("reverts on the zero address and for anyone but the owner", async () => {
      const { escrow, owner, stranger } = await networkHelpers.loadFixture(deploy);
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.setFeeRecipient([zeroAddress], { account: owner.account }),
        escrow,
        "EscrowInvalidFeeRecipient",
        [zeroAddress],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.setFeeRecipient([stranger.account.address], { account: stranger.account }),
        escrow,
        "OwnableUnauthorizedAccount",
        [getAddress(stranger.account.address)],
      );
    });
  });

  describe("pause and unpause", () => {
    it("lets the owner pause and unpause, emitting Paused and Unpaused", async () => {
      const { escrow, owner } = await networkHelpers.loadFixture(deploy);
      await viem.assertions.emitWithArgs(escrow.write.pause({ account: owner.account }), escrow, "Paused", [
        getAddress(owner.account.address),
      ]);
      expect(await escrow.read.paused()).to.equal(true);
      await viem.assertions.emitWithArgs(escrow.write.unpause({ account: owner.account }), escrow, "Unpaused", [
        getAddress(owner.account.address),
      ]);
      expect(await escrow.read.paused()).to.equal(false);
    });

    it("reverts when pausing twice, unpausing while running, or for anyone but the owner", async () => {
      const { escrow, owner, stranger } = await networkHelpers.loadFixture(deploy);
      await viem.assertions.revertWithCustomError(
        escrow.write.unpause({ account: owner.account }),
        escrow,
        "ExpectedPause",
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.pause({ account: stranger.account }),
        escrow,
        "OwnableUnauthorizedAccount",
        [getAddress(stranger.account.address)],
      );
      await escrow.write.pause({ account: owner.account });
      await viem.assertions.revertWithCustomError(
        escrow.write.pause({ account: owner.account }),
        escrow,
        "EnforcedPause",
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.unpause({ account: stranger.account }),
        escrow,
        "OwnableUnauthorizedAccount",
        [getAddress(stranger.account.address)],
      );
    });

    it("never pauses exits: dispute, resolve, expiry and withdrawal work while paused", async () => {
      const { escrow, token, owner, payer, arbiter, relayer, feeRecipient, amount, deadline, open } =
        await networkHelpers.loadFixture(deploy);
      const disputed = await open({ arbiter: arbiter.account.address });
      const expiring = await open();
      await escrow.write.pause({ account: owner.account });
      await escrow.write.dispute([disputed], { account: payer.account });
      await escrow.write.resolve([disputed, amount], { account: arbiter.account });
      await networkHelpers.time.increaseTo(deadline + 1n);
      await escrow.write.settleExpired([expiring], { account: relayer.account });
      await escrow.write.withdraw([token.address], { account: feeRecipient.account });
      expect(await escrow.read.remaining([disputed])).to.equal(0n);
      expect(await escrow.read.remaining([expiring])).to.equal(0n);
      expect(await token.read.balanceOf([escrow.address])).to.equal(0n);
    });
  });

  describe("ownership", () => {
    it("transfers in two steps: the new owner must accept", async () => {
      const { escrow, owner, stranger } = await networkHelpers.loadFixture(deploy);
      await escrow.write.transferOwnership([stranger.account.address], { account: owner.account });
      expect(await escrow.read.owner()).to.equal(getAddress(owner.account.address));
      expect(await escrow.read.pendingOwner()).to.equal(getAddress(stranger.account.address));
      await escrow.write.acceptOwnership({ account: stranger.account });
      expect(await escrow.read.owner()).to.equal(getAddress(stranger.account.address));
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.setFee([1], { account: owner.account }),
        escrow,
        "OwnableUnauthorizedAccount",
        [getAddress(owner.account.address)],
      );
    });
  });
});
