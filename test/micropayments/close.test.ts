import { describe, it } from "node:test";
import { expect } from "chai";
import { network } from "hardhat";
import { type Hex, zeroAddress } from "viem";
import {
  CHALLENGE_PERIOD,
  DEPOSIT,
  deployChannels,
  localAccount,
  openChannel,
  Status,
  salt,
  signVoucher,
  voucherDomain,
} from "./helpers.js";

/** Ending a channel: the payee's `close`, and the payer's `requestClose` → `finalizeClose`. */
describe("PaymentChannels: close, requestClose, finalizeClose", async () => {
  const { viem, networkHelpers } = await network.create();
  const publicClient = await viem.getPublicClient();
  const payerKey = localAccount(1);

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
    const domain = await voucherDomain(channels);
    const payerBalance = await token.read.balanceOf([payer.account.address]);
    return { ...base, id, domain, payerBalance };
  }

  async function timestampOf(hash: Hex): Promise<bigint> {
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    return (await publicClient.getBlock({ blockNumber: receipt.blockNumber })).timestamp;
  }

  describe("close", () => {
    it("claims the final voucher, refunds the rest to the payer at once and emits ChannelClosed", async () => {
      const { channels, token, payer, payee, id, domain, payerBalance } = await networkHelpers.loadFixture(openFixture);
      const signature = await signVoucher(payerKey, domain, id, 4_000n);
      await viem.assertions.emitWithArgs(
        channels.write.close([id, 4_000n, signature], { account: payee.account }),
        channels,
        "ChannelClosed",
        [id, 4_000n, DEPOSIT - 4_000n],
      );
      expect(await token.read.balanceOf([payee.account.address])).to.equal(4_000n);
      expect(await token.read.balanceOf([payer.account.address])).to.equal(payerBalance + DEPOSIT - 4_000n);
      expect(await token.read.balanceOf([channels.address])).to.equal(0n);
      const channel = await channels.read.getChannel([id]);
      expect(channel.status).to.equal(Status.Closed);
      expect(channel.claimed).to.equal(4_000n);
      expect(channel.deposit).to.equal(DEPOSIT);
    });

    it("closes with what was already claimed without a new voucher (empty signature), taking nothing more", async () => {
      const { channels, token, payer, payee, id, domain, payerBalance } = await networkHelpers.loadFixture(openFixture);
      await channels.write.claim([id, 250n, await signVoucher(payerKey, domain, id, 250n)]);
      await viem.assertions.emitWithArgs(
        channels.write.close([id, 250n, "0x"], { account: payee.account }),
        channels,
        "ChannelClosed",
        [id, 250n, DEPOSIT - 250n],
      );
      expect(await token.read.balanceOf([payee.account.address])).to.equal(250n);
      expect(await token.read.balanceOf([payer.account.address])).to.equal(payerBalance + DEPOSIT - 250n);
    });

    it("refunds the whole deposit when the payee closes without any claim", async () => {
      const { channels, token, payer, payee, id, payerBalance } = await networkHelpers.loadFixture(openFixture);
      await channels.write.close([id, 0n, "0x"], { account: payee.account });
      expect(await token.read.balanceOf([payer.account.address])).to.equal(payerBalance + DEPOSIT);
      expect(await token.read.balanceOf([payee.account.address])).to.equal(0n);
    });

    it("pays the whole deposit to the payee when the final voucher is for all of it", async () => {
      const { channels, token, payer, payee, id, domain, payerBalance } = await networkHelpers.loadFixture(openFixture);
      await channels.write.close([id, DEPOSIT, await signVoucher(payerKey, domain, id, DEPOSIT)], {
        account: payee.account,
      });
      expect(await token.read.balanceOf([payee.account.address])).to.equal(DEPOSIT);
      expect(await token.read.balanceOf([payer.account.address])).to.equal(payerBalance);
    });

    it("closes a native channel, paying both parties", async () => {
      const { channels, payer, payee, domain } = await networkHelpers.loadFixture(openFixture);
      const id = await openChannel(channels, {
        payer,
        payee: payee.account.address,
        token: zeroAddress,
        amount: DEPOSIT,
        salt: salt(2),
      });
      const payerBefore = await publicClient.getBalance({ address: payer.account.address });
      const payeeBefore = await publicClient.getBalance({ address: payee.account.address });
      const amount = DEPOSIT / 3n;
      const hash = await channels.write.close([id, amount, await signVoucher(payerKey, domain, id, amount)], {
        account: payee.account,
      });
      const receipt = await publicClient.waitForTransactionReceipt({ hash });
      const fee = receipt.gasUsed * receipt.effectiveGasPrice;
      expect(await publicClient.getBalance({ address: payee.account.address })).to.equal(payeeBefore + amount - fee);
      expect(await publicClient.getBalance({ address: payer.account.address })).to.equal(
        payerBefore + DEPOSIT - amount,
      );
      expect(await publicClient.getBalance({ address: channels.address })).to.equal(0n);
    });

    it("is allowed while a close is requested", async () => {
      const { channels, token, payer, payee, id, domain } = await networkHelpers.loadFixture(openFixture);
      await channels.write.requestClose([id], { account: payer.account });
      await channels.write.close([id, 10n, await signVoucher(payerKey, domain, id, 10n)], { account: payee.account });
      expect((await channels.read.getChannel([id])).status).to.equal(Status.Closed);
      expect(await token.read.balanceOf([payee.account.address])).to.equal(10n);
    });

    it("reverts when the caller is not the payee", async () => {
      const { channels, payer, stranger, id } = await networkHelpers.loadFixture(openFixture);
      for (const caller of [payer, stranger]) {
        await viem.assertions.revertWithCustomErrorWithArgs(
          channels.write.close([id, 0n, "0x"], { account: caller.account }),
          channels,
          "PaymentChannelsNotPayee",
          [id, caller.account.address],
        );
      }
    });

    it("reverts below the claimed amount, above the deposit, and with a bad signature", async () => {
      const { channels, payee, payer, id, domain } = await networkHelpers.loadFixture(openFixture);
      await channels.write.claim([id, 100n, await signVoucher(payerKey, domain, id, 100n)]);
      await viem.assertions.revertWithCustomErrorWithArgs(
        channels.write.close([id, 99n, await signVoucher(payerKey, domain, id, 99n)], { account: payee.account }),
        channels,
        "PaymentChannelsAmountBelowClaimed",
        [id, 99n, 100n],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        channels.write.close([id, DEPOSIT + 1n, await signVoucher(payerKey, domain, id, DEPOSIT + 1n)], {
          account: payee.account,
        }),
        channels,
        "PaymentChannelsAmountExceedsDeposit",
        [id, DEPOSIT + 1n, DEPOSIT],
      );
      // Taking more than claimed always needs a valid voucher.
      for (const signature of ["0x" as Hex, await signVoucher(localAccount(2), domain, id, 101n)]) {
        await viem.assertions.revertWithCustomErrorWithArgs(
          channels.write.close([id, 101n, signature], { account: payee.account }),
          channels,
          "PaymentChannelsInvalidSignature",
          [id, payer.account.address],
        );
      }
    });

    it("reverts for an unknown and for a closed channel", async () => {
      const { channels, payee, id } = await networkHelpers.loadFixture(openFixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        channels.write.close([salt(42), 0n, "0x"], { account: payee.account }),
        channels,
        "PaymentChannelsChannelNotOpen",
        [salt(42), Status.None],
      );
      await channels.write.close([id, 0n, "0x"], { account: payee.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        channels.write.close([id, 0n, "0x"], { account: payee.account }),
        channels,
        "PaymentChannelsChannelNotOpen",
        [id, Status.Closed],
      );
    });

    it("still closes when the payer cannot receive: the refund is owed and withdrawn later", async () => {
      const { channels, payer, payee, domain } = await networkHelpers.loadFixture(openFixture);
      const blocklist = await viem.deployContract("BlocklistToken");
      await blocklist.write.mint([payer.account.address, DEPOSIT]);
      await blocklist.write.approve([channels.address, DEPOSIT], { account: payer.account });
      const id = await openChannel(channels, {
        payer,
        payee: payee.account.address,
        token: blocklist.address,
        amount: DEPOSIT,
        salt: salt(2),
      });
      await blocklist.write.setBlocked([payer.account.address, true]);
      await viem.assertions.emitWithArgs(
        channels.write.close([id, 30n, await signVoucher(payerKey, domain, id, 30n)], { account: payee.account }),
        channels,
        "PayoutDeferred",
        [payer.account.address, blocklist.address, DEPOSIT - 30n],
      );
      expect(await blocklist.read.balanceOf([payee.account.address])).to.equal(30n);
      expect(await channels.read.owed([payer.account.address, blocklist.address])).to.equal(DEPOSIT - 30n);
      await blocklist.write.setBlocked([payer.account.address, false]);
      await channels.write.withdraw([blocklist.address], { account: payer.account });
      expect(await blocklist.read.balanceOf([payer.account.address])).to.equal(DEPOSIT - 30n);
    });

    it("still closes when a paused token blocks both payouts: both are owed", async () => {
      const { channels, payer, payee, domain } = await networkHelpers.loadFixture(openFixture);
      const blocklist = await viem.deployContract("BlocklistToken");
      await blocklist.write.mint([payer.account.address, DEPOSIT]);
      await blocklist.write.approve([channels.address, DEPOSIT], { account: payer.account });
      const id = await openChannel(channels, {
        payer,
        payee: payee.account.address,
        token: blocklist.address,
        amount: DEPOSIT,
        salt: salt(2),
      });
      await blocklist.write.setPaused([true]);
      await channels.write.close([id, 30n, await signVoucher(payerKey, domain, id, 30n)], { account: payee.account });
      expect((await channels.read.getChannel([id])).status).to.equal(Status.Closed);
      expect(await channels.read.owed([payee.account.address, blocklist.address])).to.equal(30n);
      expect(await channels.read.owed([payer.account.address, blocklist.address])).to.equal(DEPOSIT - 30n);
    });

    it("defers a native refund to a payer contract that refuses it", async () => {
      const { channels, payee } = await networkHelpers.loadFixture(openFixture);
      const receiver = await viem.deployContract("RevertingReceiver");
      // The contract itself opens the channel (impersonated), then refuses the refund.
      await networkHelpers.impersonateAccount(receiver.address);
      await networkHelpers.setBalance(receiver.address, DEPOSIT * 2n);
      const asReceiver = await viem.getWalletClient(receiver.address);
      const id = await channels.read.channelIdOf([receiver.address, payee.account.address, zeroAddress, salt(9)]);
      await channels.write.open([payee.account.address, zeroAddress, zeroAddress, DEPOSIT, salt(9)], {
        account: asReceiver.account,
        value: DEPOSIT,
      });
      await networkHelpers.stopImpersonatingAccount(receiver.address);

      await channels.write.close([id, 0n, "0x"], { account: payee.account });
      expect(await channels.read.owed([receiver.address, zeroAddress])).to.equal(DEPOSIT);
      expect(await publicClient.getBalance({ address: channels.address })).to.equal(DEPOSIT);
    });
  });

  describe("requestClose and finalizeClose", () => {
    it("starts the challenge period and emits when it ends", async () => {
      const { channels, payer, id } = await networkHelpers.loadFixture(openFixture);
      const hash = await channels.write.requestClose([id], { account: payer.account });
      const requestedAt = await timestampOf(hash);
      await viem.assertions.emitWithArgs(Promise.resolve(hash), channels, "ChannelCloseRequested", [
        id,
        requestedAt + CHALLENGE_PERIOD,
      ]);
      const channel = await channels.read.getChannel([id]);
      expect(channel.status).to.equal(Status.Closing);
      expect(channel.closeRequestedAt).to.equal(requestedAt);
    });

    it("requestClose reverts for anyone but the payer, twice, or on an unknown or closed channel", async () => {
      const { channels, payer, payee, id } = await networkHelpers.loadFixture(openFixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        channels.write.requestClose([id], { account: payee.account }),
        channels,
        "PaymentChannelsNotPayer",
        [id, payee.account.address],
      );
      const requestedAt = await timestampOf(await channels.write.requestClose([id], { account: payer.account }));
      await viem.assertions.revertWithCustomErrorWithArgs(
        channels.write.requestClose([id], { account: payer.account }),
        channels,
        "PaymentChannelsCloseAlreadyRequested",
        [id, requestedAt],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        channels.write.requestClose([salt(42)], { account: payer.account }),
        channels,
        "PaymentChannelsChannelNotOpen",
        [salt(42), Status.None],
      );
      await channels.write.close([id, 0n, "0x"], { account: payee.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        channels.write.requestClose([id], { account: payer.account }),
        channels,
        "PaymentChannelsChannelNotOpen",
        [id, Status.Closed],
      );
    });

    it("finalizeClose reverts during the challenge period and succeeds for anyone once it has passed", async () => {
      const { channels, token, payer, stranger, id, payerBalance } = await networkHelpers.loadFixture(openFixture);
      const requestedAt = await timestampOf(await channels.write.requestClose([id], { account: payer.account }));
      const closesAt = requestedAt + CHALLENGE_PERIOD;
      await networkHelpers.time.setNextBlockTimestamp(closesAt - 1n);
      await viem.assertions.revertWithCustomErrorWithArgs(
        channels.write.finalizeClose([id], { account: stranger.account }),
        channels,
        "PaymentChannelsChallengePeriodActive",
        [id, closesAt],
      );
      await networkHelpers.time.setNextBlockTimestamp(closesAt);
      await viem.assertions.emitWithArgs(
        channels.write.finalizeClose([id], { account: stranger.account }),
        channels,
        "ChannelClosed",
        [id, 0n, DEPOSIT],
      );
      expect(await token.read.balanceOf([payer.account.address])).to.equal(payerBalance + DEPOSIT);
      const channel = await channels.read.getChannel([id]);
      expect(channel.status).to.equal(Status.Closed);
      expect(channel.closeRequestedAt).to.equal(requestedAt);
    });

    it("finalizeClose reverts on an open channel without a request, and on unknown or closed ones", async () => {
      const { channels, payer, id } = await networkHelpers.loadFixture(openFixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        channels.write.finalizeClose([id]),
        channels,
        "PaymentChannelsCloseNotRequested",
        [id],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        channels.write.finalizeClose([salt(42)]),
        channels,
        "PaymentChannelsChannelNotOpen",
        [salt(42), Status.None],
      );
      await channels.write.requestClose([id], { account: payer.account });
      await networkHelpers.time.increase(CHALLENGE_PERIOD);
      await channels.write.finalizeClose([id]);
      await viem.assertions.revertWithCustomErrorWithArgs(
        channels.write.finalizeClose([id]),
        channels,
        "PaymentChannelsChannelNotOpen",
        [id, Status.Closed],
      );
    });

    it("lets the payee claim after the period until someone finalizes; after that vouchers are worthless", async () => {
      const { channels, token, payer, payee, id, domain } = await networkHelpers.loadFixture(openFixture);
      await channels.write.requestClose([id], { account: payer.account });
      await networkHelpers.time.increase(CHALLENGE_PERIOD * 2n);
      await channels.write.claim([id, 5n, await signVoucher(payerKey, domain, id, 5n)]);
      await channels.write.finalizeClose([id]);
      await viem.assertions.revertWithCustomErrorWithArgs(
        channels.write.claim([id, 6n, await signVoucher(payerKey, domain, id, 6n)]),
        channels,
        "PaymentChannelsChannelNotOpen",
        [id, Status.Closed],
      );
      expect(await token.read.balanceOf([payee.account.address])).to.equal(5n);
    });
  });

  describe("lifecycles", () => {
    it("open → many off-chain vouchers → claim the latest → top-up → claim → close", async () => {
      const { channels, token, payer, payee, id, domain, payerBalance } = await networkHelpers.loadFixture(openFixture);
      // 200 micropayments of 0.1 token each, signed off-chain; none of them touches the chain.
      const unit = DEPOSIT / 1_000n;
      const vouchers: { amount: bigint; signature: Hex }[] = [];
      for (let n = 1n; n <= 200n; n++) {
        vouchers.push({ amount: n * unit, signature: await signVoucher(payerKey, domain, id, n * unit) });
      }
      const latest = vouchers[vouchers.length - 1];
      await channels.write.claim([id, latest.amount, latest.signature]);
      expect(await token.read.balanceOf([payee.account.address])).to.equal(200n * unit);
      for (const older of [vouchers[0], vouchers[150], latest]) {
        await viem.assertions.revertWithCustomErrorWithArgs(
          channels.write.claim([id, older.amount, older.signature]),
          channels,
          "PaymentChannelsNothingToClaim",
          [id, older.amount, latest.amount],
        );
      }

      // The payer tops up and keeps paying; the payee's next voucher goes beyond the first deposit.
      await channels.write.topUp([id, DEPOSIT], { account: payer.account });
      const beyond = DEPOSIT + 500n * unit;
      await channels.write.claim([id, beyond, await signVoucher(payerKey, domain, id, beyond)]);
      expect(await token.read.balanceOf([payee.account.address])).to.equal(beyond);

      const final = beyond + 10n * unit;
      await channels.write.close([id, final, await signVoucher(payerKey, domain, id, final)], {
        account: payee.account,
      });
      expect(await token.read.balanceOf([payee.account.address])).to.equal(final);
      expect(await token.read.balanceOf([payer.account.address])).to.equal(
        payerBalance - DEPOSIT + (2n * DEPOSIT - final),
      );
      expect(await token.read.balanceOf([channels.address])).to.equal(0n);
      expect((await channels.read.getChannel([id])).status).to.equal(Status.Closed);
    });

    it("open → requestClose → the payee claims during the challenge window → finalize refunds the rest", async () => {
      const { channels, token, payer, payee, stranger, id, domain, payerBalance } =
        await networkHelpers.loadFixture(openFixture);
      const owedToPayee = 7_777n;
      const voucher = await signVoucher(payerKey, domain, id, owedToPayee);
      await channels.write.requestClose([id], { account: payer.account });
      await networkHelpers.time.increase(CHALLENGE_PERIOD / 2n);
      // A watchtower submits the payee's latest voucher inside the window.
      await channels.write.claim([id, owedToPayee, voucher], { account: stranger.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        channels.write.finalizeClose([id]),
        channels,
        "PaymentChannelsChallengePeriodActive",
        [id, (await channels.read.getChannel([id])).closeRequestedAt + CHALLENGE_PERIOD],
      );
      await networkHelpers.time.increase(CHALLENGE_PERIOD / 2n);
      await viem.assertions.emitWithArgs(channels.write.finalizeClose([id]), channels, "ChannelClosed", [
        id,
        owedToPayee,
        DEPOSIT - owedToPayee,
      ]);
      expect(await token.read.balanceOf([payee.account.address])).to.equal(owedToPayee);
      expect(await token.read.balanceOf([payer.account.address])).to.equal(payerBalance + DEPOSIT - owedToPayee);
      expect(await token.read.balanceOf([channels.address])).to.equal(0n);
    });
  });
});
