import { describe, it } from "node:test";
import { expect } from "chai";
import { network } from "hardhat";
import { encodeAbiParameters, hashTypedData, keccak256, maxUint128, zeroAddress } from "viem";
import {
  CHALLENGE_PERIOD,
  DEPOSIT,
  deployChannels,
  localAccount,
  openChannel,
  Status,
  salt,
  sessionKey,
  signVoucher,
  VOUCHER_TYPES,
  voucherDomain,
} from "./helpers.js";

/** Deployment, views, `open`, `topUp` and the admin surface (pause blocks only `open`). */
describe("PaymentChannels: deployment, open, topUp, admin", async () => {
  const { viem, networkHelpers } = await network.create();
  const publicClient = await viem.getPublicClient();
  const fixture = () => deployChannels(viem);

  describe("deployment and views", () => {
    it("stores the owner and the challenge period, and reports the EIP-712 domain (ERC-5267)", async () => {
      const { channels, owner } = await networkHelpers.loadFixture(fixture);
      expect((await channels.read.owner()).toLowerCase()).to.equal(owner.account.address.toLowerCase());
      expect(await channels.read.challengePeriod()).to.equal(CHALLENGE_PERIOD);
      const [fields, name, version, chainId, verifyingContract] = await channels.read.eip712Domain();
      expect(fields).to.equal("0x0f");
      expect(name).to.equal("settlekit PaymentChannels");
      expect(version).to.equal("1");
      expect(chainId).to.equal(BigInt(await publicClient.getChainId()));
      expect(verifyingContract.toLowerCase()).to.equal(channels.address.toLowerCase());
    });

    it("rejects a zero challenge period at deployment", async () => {
      const { channels, owner } = await networkHelpers.loadFixture(fixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        viem.deployContract("PaymentChannels", [owner.account.address, 0n]),
        channels,
        "PaymentChannelsInvalidChallengePeriod",
        [0n],
      );
    });

    it("rejects the zero address as owner", async () => {
      const { channels } = await networkHelpers.loadFixture(fixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        viem.deployContract("PaymentChannels", [zeroAddress, CHALLENGE_PERIOD]),
        channels,
        "OwnableInvalidOwner",
        [zeroAddress],
      );
    });

    it("derives channel ids as keccak256(abi.encode(payer, payee, token, salt))", async () => {
      const { channels, payer, payee, token } = await networkHelpers.loadFixture(fixture);
      const expected = keccak256(
        encodeAbiParameters(
          [{ type: "address" }, { type: "address" }, { type: "address" }, { type: "bytes32" }],
          [payer.account.address, payee.account.address, token.address, salt(7)],
        ),
      );
      expect(
        await channels.read.channelIdOf([payer.account.address, payee.account.address, token.address, salt(7)]),
      ).to.equal(expected);
    });

    it("computes the same voucher digest as viem's hashTypedData", async () => {
      const { channels } = await networkHelpers.loadFixture(fixture);
      const domain = await voucherDomain(channels);
      const channelId = salt(0xabc);
      const expected = hashTypedData({
        domain,
        types: VOUCHER_TYPES,
        primaryType: "Voucher",
        message: { channelId, cumulativeAmount: 12_345n },
      });
      expect(await channels.read.voucherDigest([channelId, 12_345n])).to.equal(expected);
    });

    it("shows an id that was never opened as all zero with status None", async () => {
      const { channels } = await networkHelpers.loadFixture(fixture);
      const channel = await channels.read.getChannel([salt(1)]);
      expect(channel).to.deep.equal({
        payer: zeroAddress,
        payee: zeroAddress,
        token: zeroAddress,
        signer: zeroAddress,
        deposit: 0n,
        claimed: 0n,
        closeRequestedAt: 0n,
        status: Status.None,
      });
    });
  });

  describe("open", () => {
    it("opens a native channel, holds the deposit and emits ChannelOpened with the payer as signer", async () => {
      const { channels, payer, payee } = await networkHelpers.loadFixture(fixture);
      const id = await channels.read.channelIdOf([payer.account.address, payee.account.address, zeroAddress, salt(1)]);
      await viem.assertions.emitWithArgs(
        channels.write.open([payee.account.address, zeroAddress, zeroAddress, DEPOSIT, salt(1)], {
          account: payer.account,
          value: DEPOSIT,
        }),
        channels,
        "ChannelOpened",
        [id, payer.account.address, payee.account.address, zeroAddress, payer.account.address, DEPOSIT],
      );
      expect(await publicClient.getBalance({ address: channels.address })).to.equal(DEPOSIT);
      const channel = await channels.read.getChannel([id]);
      expect(channel.payer.toLowerCase()).to.equal(payer.account.address.toLowerCase());
      expect(channel.payee.toLowerCase()).to.equal(payee.account.address.toLowerCase());
      expect(channel.token).to.equal(zeroAddress);
      expect(channel.signer.toLowerCase()).to.equal(payer.account.address.toLowerCase());
      expect(channel.deposit).to.equal(DEPOSIT);
      expect(channel.claimed).to.equal(0n);
      expect(channel.closeRequestedAt).to.equal(0n);
      expect(channel.status).to.equal(Status.Open);
    });

    it("opens an ERC-20 channel, pulling the deposit, and returns the id", async () => {
      const { channels, token, payer, payee } = await networkHelpers.loadFixture(fixture);
      const id = await channels.read.channelIdOf([
        payer.account.address,
        payee.account.address,
        token.address,
        salt(1),
      ]);
      const { result } = await channels.simulate.open(
        [payee.account.address, token.address, zeroAddress, DEPOSIT, salt(1)],
        { account: payer.account.address },
      );
      expect(result).to.equal(id);
      const before = await token.read.balanceOf([payer.account.address]);
      await channels.write.open([payee.account.address, token.address, zeroAddress, DEPOSIT, salt(1)], {
        account: payer.account,
      });
      expect(await token.read.balanceOf([channels.address])).to.equal(DEPOSIT);
      expect(await token.read.balanceOf([payer.account.address])).to.equal(before - DEPOSIT);
      const channel = await channels.read.getChannel([id]);
      expect(channel.token.toLowerCase()).to.equal(token.address.toLowerCase());
      expect(channel.deposit).to.equal(DEPOSIT);
    });

    it("records a delegated session key as the signer", async () => {
      const { channels, token, payer, payee } = await networkHelpers.loadFixture(fixture);
      const key = sessionKey("session");
      await viem.assertions.emitWithArgs(
        channels.write.open([payee.account.address, token.address, key.address, DEPOSIT, salt(1)], {
          account: payer.account,
        }),
        channels,
        "ChannelOpened",
        [
          await channels.read.channelIdOf([payer.account.address, payee.account.address, token.address, salt(1)]),
          payer.account.address,
          payee.account.address,
          token.address,
          key.address,
          DEPOSIT,
        ],
      );
      const id = await channels.read.channelIdOf([
        payer.account.address,
        payee.account.address,
        token.address,
        salt(1),
      ]);
      expect((await channels.read.getChannel([id])).signer).to.equal(key.address);
    });

    it("treats the payer named as signer like no delegation", async () => {
      const { channels, token, payer, payee } = await networkHelpers.loadFixture(fixture);
      const id = await openChannel(channels, {
        payer,
        payee: payee.account.address,
        token: token.address,
        amount: DEPOSIT,
        salt: salt(1),
        signer: payer.account.address,
      });
      expect((await channels.read.getChannel([id])).signer.toLowerCase()).to.equal(payer.account.address.toLowerCase());
    });

    it("credits what arrived from a fee-on-transfer token", async () => {
      const { channels, payer, payee } = await networkHelpers.loadFixture(fixture);
      const fot = await viem.deployContract("FeeOnTransferToken", [100n]); // 1%
      await fot.write.mint([payer.account.address, DEPOSIT]);
      await fot.write.approve([channels.address, DEPOSIT], { account: payer.account });
      const id = await channels.read.channelIdOf([payer.account.address, payee.account.address, fot.address, salt(1)]);
      const received = (DEPOSIT * 99n) / 100n;
      await viem.assertions.emitWithArgs(
        channels.write.open([payee.account.address, fot.address, zeroAddress, DEPOSIT, salt(1)], {
          account: payer.account,
        }),
        channels,
        "ChannelOpened",
        [id, payer.account.address, payee.account.address, fot.address, payer.account.address, received],
      );
      expect((await channels.read.getChannel([id])).deposit).to.equal(received);
      expect(await fot.read.balanceOf([channels.address])).to.equal(received);
    });

    it("lets two payers use the same payee, token and salt: the ids differ", async () => {
      const { channels, token, payer, payer2, payee } = await networkHelpers.loadFixture(fixture);
      const common = { payee: payee.account.address, token: token.address, amount: DEPOSIT, salt: salt(1) };
      const first = await openChannel(channels, { ...common, payer });
      const second = await openChannel(channels, { ...common, payer: payer2 });
      expect(first).to.not.equal(second);
      expect((await channels.read.getChannel([second])).status).to.equal(Status.Open);
    });

    it("reverts for the zero payee and for the contract itself as payee", async () => {
      const { channels, payer } = await networkHelpers.loadFixture(fixture);
      for (const bad of [zeroAddress, channels.address]) {
        await viem.assertions.revertWithCustomErrorWithArgs(
          channels.write.open([bad, zeroAddress, zeroAddress, DEPOSIT, salt(1)], {
            account: payer.account,
            value: DEPOSIT,
          }),
          channels,
          "PaymentChannelsInvalidPayee",
          [bad],
        );
      }
    });

    it("reverts for a zero amount", async () => {
      const { channels, payer, payee } = await networkHelpers.loadFixture(fixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        channels.write.open([payee.account.address, zeroAddress, zeroAddress, 0n, salt(1)], { account: payer.account }),
        channels,
        "PaymentChannelsZeroAmount",
        [],
      );
    });

    it("reverts when the native value differs from the amount, or value comes with an ERC-20", async () => {
      const { channels, token, payer, payee } = await networkHelpers.loadFixture(fixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        channels.write.open([payee.account.address, zeroAddress, zeroAddress, DEPOSIT, salt(1)], {
          account: payer.account,
          value: DEPOSIT - 1n,
        }),
        channels,
        "PayoutsWrongValue",
        [DEPOSIT, DEPOSIT - 1n],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        channels.write.open([payee.account.address, token.address, zeroAddress, DEPOSIT, salt(1)], {
          account: payer.account,
          value: 1n,
        }),
        channels,
        "PayoutsWrongValue",
        [0n, 1n],
      );
    });

    it("reverts when the deposit does not fit in 128 bits", async () => {
      const { channels, token, payer, payee } = await networkHelpers.loadFixture(fixture);
      const huge = maxUint128 + 1n;
      await token.write.mint([payer.account.address, huge]);
      await token.write.approve([channels.address, huge], { account: payer.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        channels.write.open([payee.account.address, token.address, zeroAddress, huge, salt(1)], {
          account: payer.account,
        }),
        channels,
        "PaymentChannelsAmountTooLarge",
        [huge],
      );
    });

    it("reverts when the id is already open", async () => {
      const { channels, token, payer, payee } = await networkHelpers.loadFixture(fixture);
      const args = { payer, payee: payee.account.address, token: token.address, amount: DEPOSIT, salt: salt(1) };
      const id = await openChannel(channels, args);
      await viem.assertions.revertWithCustomErrorWithArgs(
        openChannel(channels, args),
        channels,
        "PaymentChannelsChannelExists",
        [id, Status.Open],
      );
    });

    it("never reopens a closed id, even after a full close", async () => {
      const { channels, token, payer, payee } = await networkHelpers.loadFixture(fixture);
      const args = { payer, payee: payee.account.address, token: token.address, amount: DEPOSIT, salt: salt(1) };
      const id = await openChannel(channels, args);
      await channels.write.close([id, 0n, "0x"], { account: payee.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        openChannel(channels, args),
        channels,
        "PaymentChannelsChannelExists",
        [id, Status.Closed],
      );
    });
  });

  describe("topUp", () => {
    async function openFixture() {
      const base = await deployChannels(viem);
      const { channels, token, payer, payee } = base;
      const id = await openChannel(channels, {
        payer,
        payee: payee.account.address,
        token: token.address,
        amount: DEPOSIT,
        salt: salt(1),
      });
      return { ...base, id };
    }

    it("adds to the deposit and emits ChannelToppedUp", async () => {
      const { channels, token, payer, id } = await networkHelpers.loadFixture(openFixture);
      await viem.assertions.emitWithArgs(
        channels.write.topUp([id, 5n], { account: payer.account }),
        channels,
        "ChannelToppedUp",
        [id, 5n, DEPOSIT + 5n],
      );
      expect((await channels.read.getChannel([id])).deposit).to.equal(DEPOSIT + 5n);
      expect(await token.read.balanceOf([channels.address])).to.equal(DEPOSIT + 5n);
    });

    it("tops up a native channel", async () => {
      const { channels, payer, payee } = await networkHelpers.loadFixture(openFixture);
      const id = await openChannel(channels, {
        payer,
        payee: payee.account.address,
        token: zeroAddress,
        amount: DEPOSIT,
        salt: salt(2),
      });
      await channels.write.topUp([id, DEPOSIT], { account: payer.account, value: DEPOSIT });
      expect((await channels.read.getChannel([id])).deposit).to.equal(DEPOSIT * 2n);
      expect(await publicClient.getBalance({ address: channels.address })).to.equal(DEPOSIT * 2n);
    });

    it("credits what arrived from a fee-on-transfer token", async () => {
      const { channels, payer, payee } = await networkHelpers.loadFixture(openFixture);
      const fot = await viem.deployContract("FeeOnTransferToken", [500n]); // 5%
      await fot.write.mint([payer.account.address, DEPOSIT * 2n]);
      await fot.write.approve([channels.address, DEPOSIT * 2n], { account: payer.account });
      const id = await openChannel(channels, {
        payer,
        payee: payee.account.address,
        token: fot.address,
        amount: DEPOSIT,
        salt: salt(2),
      });
      const net = (DEPOSIT * 95n) / 100n;
      await viem.assertions.emitWithArgs(
        channels.write.topUp([id, DEPOSIT], { account: payer.account }),
        channels,
        "ChannelToppedUp",
        [id, net, net * 2n],
      );
      expect(await fot.read.balanceOf([channels.address])).to.equal(net * 2n);
    });

    it("cancels a pending close request", async () => {
      const { channels, payer, id } = await networkHelpers.loadFixture(openFixture);
      await channels.write.requestClose([id], { account: payer.account });
      expect((await channels.read.getChannel([id])).status).to.equal(Status.Closing);
      await viem.assertions.emitWithArgs(
        channels.write.topUp([id, 1n], { account: payer.account }),
        channels,
        "ChannelCloseCancelled",
        [id],
      );
      const channel = await channels.read.getChannel([id]);
      expect(channel.status).to.equal(Status.Open);
      expect(channel.closeRequestedAt).to.equal(0n);
      await networkHelpers.time.increase(CHALLENGE_PERIOD);
      await viem.assertions.revertWithCustomErrorWithArgs(
        channels.write.finalizeClose([id]),
        channels,
        "PaymentChannelsCloseNotRequested",
        [id],
      );
    });

    it("reverts when the caller is not the payer", async () => {
      const { channels, token, payee, id } = await networkHelpers.loadFixture(openFixture);
      await token.write.mint([payee.account.address, 1n]);
      await token.write.approve([channels.address, 1n], { account: payee.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        channels.write.topUp([id, 1n], { account: payee.account }),
        channels,
        "PaymentChannelsNotPayer",
        [id, payee.account.address],
      );
    });

    it("reverts for an unknown or a closed channel", async () => {
      const { channels, payer, payee, id } = await networkHelpers.loadFixture(openFixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        channels.write.topUp([salt(99), 1n], { account: payer.account }),
        channels,
        "PaymentChannelsChannelNotOpen",
        [salt(99), Status.None],
      );
      await channels.write.close([id, 0n, "0x"], { account: payee.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        channels.write.topUp([id, 1n], { account: payer.account }),
        channels,
        "PaymentChannelsChannelNotOpen",
        [id, Status.Closed],
      );
    });

    it("reverts for a zero amount and for native value with an ERC-20", async () => {
      const { channels, payer, id } = await networkHelpers.loadFixture(openFixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        channels.write.topUp([id, 0n], { account: payer.account }),
        channels,
        "PaymentChannelsZeroAmount",
        [],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        channels.write.topUp([id, 1n], { account: payer.account, value: 1n }),
        channels,
        "PayoutsWrongValue",
        [0n, 1n],
      );
    });

    it("reverts when the new deposit would not fit in 128 bits", async () => {
      const { channels, token, payer, id } = await networkHelpers.loadFixture(openFixture);
      const extra = maxUint128 - DEPOSIT + 1n;
      await token.write.mint([payer.account.address, extra]);
      await token.write.approve([channels.address, extra], { account: payer.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        channels.write.topUp([id, extra], { account: payer.account }),
        channels,
        "PaymentChannelsAmountTooLarge",
        [maxUint128 + 1n],
      );
    });
  });

  describe("admin: pause blocks only open", () => {
    it("lets only the owner pause and unpause", async () => {
      const { channels, owner, stranger } = await networkHelpers.loadFixture(fixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        channels.write.pause({ account: stranger.account }),
        channels,
        "OwnableUnauthorizedAccount",
        [stranger.account.address],
      );
      await viem.assertions.emitWithArgs(channels.write.pause({ account: owner.account }), channels, "Paused", [
        owner.account.address,
      ]);
      expect(await channels.read.paused()).to.equal(true);
      await viem.assertions.revertWithCustomErrorWithArgs(
        channels.write.unpause({ account: stranger.account }),
        channels,
        "OwnableUnauthorizedAccount",
        [stranger.account.address],
      );
      await channels.write.unpause({ account: owner.account });
      expect(await channels.read.paused()).to.equal(false);
    });

    it("reverts when pausing twice, unpausing while running, or for anyone but the owner", async () => {
      const { channels, owner, stranger } = await networkHelpers.loadFixture(fixture);
      await viem.assertions.revertWithCustomError(
        channels.write.unpause({ account: owner.account }),
        channels,
        "ExpectedPause",
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        channels.write.unpause({ account: stranger.account }),
        channels,
        "OwnableUnauthorizedAccount",
        [stranger.account.address],
      );
      expect(await channels.read.paused()).to.equal(false);
      await channels.write.pause({ account: owner.account });
      await viem.assertions.revertWithCustomError(
        channels.write.pause({ account: owner.account }),
        channels,
        "EnforcedPause",
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        channels.write.pause({ account: stranger.account }),
        channels,
        "OwnableUnauthorizedAccount",
        [stranger.account.address],
      );
      expect(await channels.read.paused()).to.equal(true);
    });

    it("blocks open while paused and allows it again after unpause", async () => {
      const { channels, token, owner, payer, payee } = await networkHelpers.loadFixture(fixture);
      await channels.write.pause({ account: owner.account });
      const args = { payer, payee: payee.account.address, token: token.address, amount: DEPOSIT, salt: salt(1) };
      await viem.assertions.revertWithCustomErrorWithArgs(openChannel(channels, args), channels, "EnforcedPause", []);
      await channels.write.unpause({ account: owner.account });
      const id = await openChannel(channels, args);
      expect((await channels.read.getChannel([id])).status).to.equal(Status.Open);
    });

    it("never pauses topUp, claim, requestClose, close, finalizeClose or withdraw", async () => {
      const { channels, token, owner, payer, payee } = await networkHelpers.loadFixture(fixture);
      const blocklist = await viem.deployContract("BlocklistToken");
      await blocklist.write.mint([payer.account.address, DEPOSIT]);
      await blocklist.write.approve([channels.address, DEPOSIT], { account: payer.account });
      const common = { payer, payee: payee.account.address, amount: DEPOSIT };
      const a = await openChannel(channels, { ...common, token: token.address, salt: salt(1) });
      const b = await openChannel(channels, { ...common, token: token.address, salt: salt(2) });
      const c = await openChannel(channels, { ...common, token: blocklist.address, salt: salt(3) });
      await channels.write.pause({ account: owner.account });

      await channels.write.topUp([a, 1n], { account: payer.account });
      const domain = await voucherDomain(channels);
      await channels.write.claim([a, 10n, await signVoucher(localAccount(1), domain, a, 10n)]);
      await channels.write.close([a, 10n, "0x"], { account: payee.account });
      await channels.write.requestClose([b], { account: payer.account });
      await networkHelpers.time.increase(CHALLENGE_PERIOD);
      await channels.write.finalizeClose([b]);
      // A deferred payout (payee blocked by the token) can still be withdrawn while paused.
      await blocklist.write.setBlocked([payee.account.address, true]);
      await channels.write.close([c, 7n, await signVoucher(localAccount(1), domain, c, 7n)], {
        account: payee.account,
      });
      await blocklist.write.setBlocked([payee.account.address, false]);
      await channels.write.withdraw([blocklist.address], { account: payee.account });

      expect((await channels.read.getChannel([a])).status).to.equal(Status.Closed);
      expect((await channels.read.getChannel([b])).status).to.equal(Status.Closed);
      expect(await blocklist.read.balanceOf([payee.account.address])).to.equal(7n);
      expect(await channels.read.paused()).to.equal(true);
    });

    it("transfers ownership in two steps", async () => {
      const { channels, owner, stranger } = await networkHelpers.loadFixture(fixture);
      await channels.write.transferOwnership([stranger.account.address], { account: owner.account });
      expect((await channels.read.owner()).toLowerCase()).to.equal(owner.account.address.toLowerCase());
      await channels.write.acceptOwnership({ account: stranger.account });
      expect((await channels.read.owner()).toLowerCase()).to.equal(stranger.account.address.toLowerCase());
      await channels.write.pause({ account: stranger.account });
      expect(await channels.read.paused()).to.equal(true);
    });
  });
});
