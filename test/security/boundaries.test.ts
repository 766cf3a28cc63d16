import { describe } from "node:test";
import { expect } from "chai";
import { network } from "hardhat";
import { getAddress, type Hex, maxUint256, zeroAddress } from "viem";
import { FailureReason, payment } from "../settlement/helpers.js";
import { scenario, writeScenarioRowsAfterSuite } from "./report.js";
import { CHALLENGE_PERIOD, DAY, deployWorld, feeOn, MAX_128, WITHDRAWAL_DELAY } from "./world.js";

const AREA = "Overflow and boundaries";
const MAX_FEE_BPS = 500;
/** The largest timestamp the in-process network (EDR) can mine: it keeps block times in an i64. */
const EDR_MAX_TIMESTAMP = 2n ** 63n - 1n;
const MAX_64 = 2n ** 64n - 1n;

/**
 * Amounts at and around the 128-bit storage limit and `type(uint256).max` (MaxSupplyToken, whose
 * balances go up to 2^256-1), fee arithmetic at the fee cap, cumulative vouchers at the top of the
 * range, and timestamps far in the future (fresh networks moved forward with `time.increaseTo`).
 * Every amount that does not fit is refused with the contract's clear error — never truncated,
 * never wrapped — and every accepted one is conserved exactly.
 */
describe("Security: overflow and boundaries", async () => {
  writeScenarioRowsAfterSuite();
  const connection = await network.create();
  const { viem, networkHelpers } = connection;
  const { time } = networkHelpers;

  async function maxWorld() {
    const w = await deployWorld(connection);
    const token = await viem.deployContract("MaxSupplyToken");
    const t = token.address;
    for (const p of ["alice", "carol"] as const) await w.fund(t, p, maxUint256);
    for (const p of ["alice", "carol"] as const) {
      for (const spender of [w.escrow.address, w.hub.address, w.channels.address]) {
        await token.write.approve([spender, maxUint256], { account: w.wallets[p].account });
      }
    }
    return { w, token, t };
  }

  scenario(
    AREA,
    "Escrow",
    "amounts at and beyond 2^128: 2^128-1 is escrowed, 2^128 and 2^256-1 are refused",
    "create(2^128-1) holds exactly 2^128-1; create(2^128) and create(2^256-1) revert EscrowAmountTooLarge(amount) before any transfer; a releaseWithSig for a cumulative 2^256-1 pays only what remains; conservation",
    async () => {
      const { w, t } = await networkHelpers.loadFixture(maxWorld);
      for (const amount of [MAX_128 + 1n, maxUint256]) {
        await viem.assertions.revertWithCustomErrorWithArgs(
          w.escrow.write.create([await w.escrowTerms({ token: t, amount })], { account: w.wallets.alice.account }),
          w.escrow,
          "EscrowAmountTooLarge",
          [amount],
        );
      }
      const id = await w.createEscrow(await w.escrowTerms({ token: t, amount: MAX_128 }));
      expect(await w.escrow.read.remaining([id])).to.equal(MAX_128);
      const deadline = BigInt(await time.latest()) + DAY;
      const signature = await w.signReleaseAs("alice", { id, releasedTotal: maxUint256, deadline });
      await w.escrow.write.releaseWithSig([id, maxUint256, deadline, signature], {
        account: w.wallets.relayer.account,
      });
      const e = await w.escrow.read.getEscrow([id]);
      expect(e.remaining).to.equal(0n);
      expect(e.released).to.equal(MAX_128);
      expect(await w.escrow.read.owed([w.address("feeRecipient"), t])).to.equal(feeOn(MAX_128));
      await w.expectConservation(t);
    },
  );

  scenario(
    AREA,
    "Escrow",
    "fee math at the bounds: fee cap 500 bps on 2^128-1 through release, resolve and an expiry that releases",
    "setFee(501) reverts EscrowFeeTooHigh(501, 500); at 500 bps each payout splits into exactly floor(amount * 500 / 10,000) owed to the fee recipient and the rest to the payee, without overflow; the fee rate stays fixed per escrow after setFee(0); conservation",
    async () => {
      const { w, t } = await networkHelpers.loadFixture(maxWorld);
      await viem.assertions.revertWithCustomErrorWithArgs(
        w.escrow.write.setFee([MAX_FEE_BPS + 1], { account: w.wallets.owner.account }),
        w.escrow,
        "EscrowFeeTooHigh",
        [MAX_FEE_BPS + 1, MAX_FEE_BPS],
      );
      await w.escrow.write.setFee([MAX_FEE_BPS], { account: w.wallets.owner.account });
      const arbiter = w.address("arbiter");
      const now = BigInt(await time.latest());
      const released = await w.createEscrow(await w.escrowTerms({ token: t, amount: MAX_128 }));
      const resolved = await w.createEscrow(await w.escrowTerms({ token: t, amount: MAX_128, arbiter }), "carol");
      // The fee rate is fixed into an escrow at creation: lowering it now changes nothing for these.
      const expiring = await w.createEscrow(
        await w.escrowTerms({ token: t, amount: MAX_128, payee: w.address("dave"), onExpiry: 1, deadline: now + DAY }),
        "carol",
      );
      await w.escrow.write.setFee([0], { account: w.wallets.owner.account });
      const fee = (MAX_128 * BigInt(MAX_FEE_BPS)) / 10_000n;
      await w.escrow.write.release([released, MAX_128], { account: w.wallets.alice.account });
      await w.escrow.write.dispute([resolved], { account: w.wallets.carol.account });
      await w.escrow.write.resolve([resolved, MAX_128], { account: w.wallets.arbiter.account });
      await time.increase(DAY + 1n);
      await w.escrow.write.settleExpired([expiring], { account: w.wallets.relayer.account });
      expect(await w.escrow.read.owed([w.address("feeRecipient"), t])).to.equal(3n * fee);
      expect(await w.balanceOf(t, w.address("bob"))).to.equal(2n * (MAX_128 - fee));
      expect(await w.balanceOf(t, w.address("dave"))).to.equal(MAX_128 - fee);
      await w.expectConservation(t);
      await w.escrow.write.withdraw([t], { account: w.wallets.feeRecipient.account });
      expect(await w.balanceOf(t, w.address("feeRecipient"))).to.equal(3n * fee);
      await w.expectConservation(t);
    },
  );

  scenario(
    AREA,
    "SettlementHub",
    "balances at the 128-bit limit: deposits, credits from intents and relayer fees that would exceed it",
    "deposit(2^128) reverts SettlementHubAmountTooLarge; a deposit taking a balance to 2^128 reverts SettlementHubBalanceTooLarge(account, token, 2^128); an intent crediting past the limit reverts BalanceTooLarge in settle and fails with reason BalanceTooLarge in settleBatch; a fee of 2^256-1 is InsufficientBalance (no overflow in amount + fee); a relayer fee credit past the limit reverts; nothing changes on failure; conservation",
    async () => {
      const { w, t } = await networkHelpers.loadFixture(maxWorld);
      const alice = w.address("alice");
      const carol = w.address("carol");
      await viem.assertions.revertWithCustomErrorWithArgs(
        w.hub.write.deposit([t, MAX_128 + 1n], { account: w.wallets.alice.account }),
        w.hub,
        "SettlementHubAmountTooLarge",
        [MAX_128 + 1n],
      );
      await w.hub.write.deposit([t, MAX_128], { account: w.wallets.alice.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        w.hub.write.deposit([t, 1n], { account: w.wallets.alice.account }),
        w.hub,
        "SettlementHubBalanceTooLarge",
        [getAddress(alice), getAddress(t), MAX_128 + 1n],
      );
      await w.hub.write.deposit([t, 10n], { account: w.wallets.carol.account });
      // carol pays alice, whose balance is already at the limit.
      const validBefore = BigInt(await time.latest()) + DAY;
      const toFull = payment({ from: carol, to: alice, token: t, amount: 1n, validBefore });
      const toFullSig = await w.signIntent("carol", toFull);
      await viem.assertions.revertWithCustomErrorWithArgs(
        w.hub.write.settle([toFull, toFullSig], { account: w.wallets.relayer.account }),
        w.hub,
        "SettlementHubBalanceTooLarge",
        [getAddress(alice), getAddress(t), MAX_128 + 1n],
      );
      await viem.assertions.emitWithArgs(
        w.hub.write.settleBatch([[toFull], [toFullSig]], { account: w.wallets.relayer.account }),
        w.hub,
        "PaymentFailed",
        [await w.hub.read.paymentDigest([toFull]), FailureReason.BalanceTooLarge],
      );
      expect(await w.hub.read.nonceUsed([carol, 0n]), "a failed intent keeps its nonce").to.equal(false);
      const hugeFee = payment({
        from: alice,
        to: carol,
        token: t,
        amount: 1n,
        fee: maxUint256,
        nonce: 1n,
        validBefore,
      });
      await viem.assertions.revertWithCustomErrorWithArgs(
        w.hub.write.settle([hugeFee, await w.signIntent("alice", hugeFee)], { account: w.wallets.relayer.account }),
        w.hub,
        "SettlementHubInsufficientBalance",
        [getAddress(alice), getAddress(t), MAX_128, 1n, maxUint256],
      );
      // A relayer whose own balance sits at the limit cannot be credited a fee beyond it.
      const full = payment({
        from: alice,
        to: w.address("relayer"),
        token: t,
        amount: MAX_128 - 5n,
        nonce: 2n,
        validBefore,
      });
      await w.hub.write.settle([full, await w.signIntent("alice", full)], { account: w.wallets.relayer.account });
      const feeIntent = payment({ from: carol, to: alice, token: t, amount: 1n, fee: 6n, nonce: 3n, validBefore });
      await viem.assertions.revertWithCustomErrorWithArgs(
        w.hub.write.settle([feeIntent, await w.signIntent("carol", feeIntent)], { account: w.wallets.relayer.account }),
        w.hub,
        "SettlementHubBalanceTooLarge",
        [getAddress(w.address("relayer")), getAddress(t), MAX_128 + 1n],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        w.hub.write.requestWithdrawal([t, MAX_128 + 1n], { account: w.wallets.alice.account }),
        w.hub,
        "SettlementHubAmountTooLarge",
        [MAX_128 + 1n],
      );
      await w.expectConservation(t);
      await w.hub.write.requestWithdrawal([t, MAX_128], { account: w.wallets.relayer.account });
      await time.increase(WITHDRAWAL_DELAY);
      await w.hub.write.withdraw([t, w.address("relayer")], { account: w.wallets.relayer.account });
      expect(await w.balanceOf(t, w.address("relayer"))).to.equal(MAX_128 - 5n);
      await w.expectConservation(t);
    },
  );

  scenario(
    AREA,
    "PaymentChannels",
    "deposits and cumulative vouchers at the 128-bit limit",
    "open(2^128) and a top-up past 2^128-1 revert PaymentChannelsAmountTooLarge(value); vouchers for 2^128 and 2^256-1 revert PaymentChannelsAmountExceedsDeposit (in claimBatch: reason AmountExceedsDeposit) and close refuses them; a voucher for exactly 2^128-1 pays it all; conservation",
    async () => {
      const { w, t } = await networkHelpers.loadFixture(maxWorld);
      const salt = `0x${"66".repeat(32)}` as Hex;
      await viem.assertions.revertWithCustomErrorWithArgs(
        w.channels.write.open([w.address("bob"), t, zeroAddress, MAX_128 + 1n, salt], {
          account: w.wallets.alice.account,
        }),
        w.channels,
        "PaymentChannelsAmountTooLarge",
        [MAX_128 + 1n],
      );
      const id = await w.openChannel({ token: t, amount: MAX_128 - 1n });
      await viem.assertions.revertWithCustomErrorWithArgs(
        w.channels.write.topUp([id, 2n], { account: w.wallets.alice.account }),
        w.channels,
        "PaymentChannelsAmountTooLarge",
        [MAX_128 + 1n],
      );
      await w.channels.write.topUp([id, 1n], { account: w.wallets.alice.account });
      for (const cumulative of [MAX_128 + 1n, maxUint256]) {
        const signature = await w.signVoucher("alice", id, cumulative);
        await viem.assertions.revertWithCustomErrorWithArgs(
          w.channels.write.claim([id, cumulative, signature], { account: w.wallets.relayer.account }),
          w.channels,
          "PaymentChannelsAmountExceedsDeposit",
          [id, cumulative, MAX_128],
        );
        await viem.assertions.emitWithArgs(
          w.channels.write.claimBatch([[{ channelId: id, cumulativeAmount: cumulative, signature }]], {
            account: w.wallets.relayer.account,
          }),
          w.channels,
          "ChannelClaimFailed",
          [id, 2],
        );
        await viem.assertions.revertWithCustomErrorWithArgs(
          w.channels.write.close([id, cumulative, signature], { account: w.wallets.bob.account }),
          w.channels,
          "PaymentChannelsAmountExceedsDeposit",
          [id, cumulative, MAX_128],
        );
      }
      await w.channels.write.claim([id, MAX_128 - 1n, await w.signVoucher("alice", id, MAX_128 - 1n)], {
        account: w.wallets.relayer.account,
      });
      await w.channels.write.close([id, MAX_128, await w.signVoucher("alice", id, MAX_128)], {
        account: w.wallets.bob.account,
      });
      expect(await w.balanceOf(t, w.address("bob"))).to.equal(MAX_128);
      await w.expectConservation(t);
      expect(await w.balanceOf(t, w.channels.address)).to.equal(0n);
    },
  );

  // ------------------------------------------------------------------ timestamps far in the future

  /** A fresh chain moved to `timestamp` (time only moves forward, so each scenario gets its own network). */
  async function farFuture(timestamp: bigint) {
    const fresh = await network.create();
    const w = await deployWorld(fresh);
    await fresh.networkHelpers.time.increaseTo(timestamp);
    // Assertions that wait for receipts must use this network's clients.
    return { w, time: fresh.networkHelpers.time, assertions: fresh.viem.assertions };
  }

  scenario(
    AREA,
    "Escrow",
    `timestamps near the limit: a deadline of type(uint64).max at block time 2^63-1000 (EDR's ceiling is 2^63-1)`,
    "create accepts deadline 2^64-1; dispute records the block time; settleExpired reverts EscrowNotExpired with max(deadline, disputedAt + timeout) computed without overflow; the parties can still release and refund (no escrow stuck); conservation",
    async () => {
      const { w, assertions } = await farFuture(EDR_MAX_TIMESTAMP - 1_000n);
      const id = await w.createEscrow(
        await w.escrowTerms({ token: zeroAddress, amount: 1_000n, arbiter: w.address("arbiter"), deadline: MAX_64 }),
      );
      await w.escrow.write.dispute([id], { account: w.wallets.bob.account });
      const disputedAt = (await w.escrow.read.getEscrow([id])).disputedAt;
      expect(disputedAt > EDR_MAX_TIMESTAMP - 1_000n).to.equal(true);
      await assertions.revertWithCustomErrorWithArgs(
        w.escrow.write.settleExpired([id], { account: w.wallets.relayer.account }),
        w.escrow,
        "EscrowNotExpired",
        [id, MAX_64],
      );
      await w.escrow.write.release([id, 400n], { account: w.wallets.alice.account });
      await w.escrow.write.refund([id, 600n], { account: w.wallets.bob.account });
      expect(await w.escrow.read.remaining([id])).to.equal(0n);
      await w.expectConservation(zeroAddress);
    },
  );

  scenario(
    AREA,
    "SettlementHub",
    "timestamps near the limit: intents valid until type(uint64).max and a withdrawal requested at block time 2^63-100,000",
    "an intent with validBefore 2^64-1 settles, one with validAfter 2^64-2 is NotYetValid; requestWithdrawal stores availableAt = now + delay and withdraw pays after the delay; conservation",
    async () => {
      // Leaves room for the withdrawal delay below EDR's ceiling.
      const { w, time: t, assertions } = await farFuture(EDR_MAX_TIMESTAMP - 100_000n);
      await w.hub.write.deposit([zeroAddress, 1_000n], { account: w.wallets.alice.account, value: 1_000n });
      const open = payment({
        from: w.address("alice"),
        to: w.address("bob"),
        token: zeroAddress,
        amount: 100n,
        validBefore: MAX_64,
      });
      await w.hub.write.settle([open, await w.signIntent("alice", open)], { account: w.wallets.relayer.account });
      const later = { ...open, nonce: 1n, validAfter: MAX_64 - 1n };
      await assertions.emitWithArgs(
        w.hub.write.settleBatch([[later], [await w.signIntent("alice", later)]], {
          account: w.wallets.relayer.account,
        }),
        w.hub,
        "PaymentFailed",
        [await w.hub.read.paymentDigest([later]), FailureReason.NotYetValid],
      );
      await w.hub.write.requestWithdrawal([zeroAddress, 900n], { account: w.wallets.alice.account });
      const request = await w.hub.read.getWithdrawalRequest([w.address("alice"), zeroAddress]);
      // Block times this large are beyond a JS number's precision: read them as bigint.
      const requestedAt = (await w.publicClient.getBlock()).timestamp;
      expect(request.availableAt).to.equal(requestedAt + WITHDRAWAL_DELAY);
      await t.increaseTo(requestedAt + WITHDRAWAL_DELAY);
      await w.hub.write.withdraw([zeroAddress, w.address("carol")], { account: w.wallets.alice.account });
      expect(await w.hub.read.balanceOf([w.address("alice"), zeroAddress])).to.equal(0n);
      await w.expectConservation(zeroAddress);
    },
  );

  scenario(
    AREA,
    "PaymentChannels",
    "timestamps beyond 2^48: a close requested at block time 2^48 + 10 must stay a pending close",
    "after requestClose the channel reads Closing with closeRequestedAt = the block time, the payee can still claim, and finalizeClose refunds the rest after the challenge period; conservation",
    async () => {
      const { w, time: t } = await farFuture(2n ** 48n + 10n);
      const id = await w.openChannel({ token: zeroAddress, amount: 1_000n });
      await w.channels.write.requestClose([id], { account: w.wallets.alice.account });
      const requestedAt = BigInt(await t.latest());
      const channel = await w.channels.read.getChannel([id]);
      expect(channel.status, "after requestClose the status must be Closing (2)").to.equal(2);
      expect(channel.closeRequestedAt).to.equal(requestedAt);
      await w.channels.write.claim([id, 300n, await w.signVoucher("alice", id, 300n)], {
        account: w.wallets.relayer.account,
      });
      await t.increase(CHALLENGE_PERIOD);
      await w.channels.write.finalizeClose([id], { account: w.wallets.relayer.account });
      expect(await w.balanceOf(zeroAddress, w.channels.address), "nothing stays locked").to.equal(0n);
      await w.expectConservation(zeroAddress);
    },
  );

  scenario(
    AREA,
    "PaymentChannels",
    "timestamps below 2^48: a channel opened and its close requested at block time 2^48 - 2 hours",
    "requestClose at 2^48 - 2 h stores the time exactly; the challenge period ends past 2^48 and finalizeClose refunds the rest; conservation",
    async () => {
      const { w, time: t } = await farFuture(2n ** 48n - 7_200n);
      const id = await w.openChannel({ token: zeroAddress, amount: 1_000n });
      await w.channels.write.requestClose([id], { account: w.wallets.alice.account });
      expect((await w.channels.read.getChannel([id])).status).to.equal(2);
      await t.increaseTo(2n ** 48n + 1n);
      await w.channels.write.finalizeClose([id], { account: w.wallets.relayer.account });
      expect((await w.channels.read.getChannel([id])).status).to.equal(3);
      expect(await w.balanceOf(zeroAddress, w.channels.address)).to.equal(0n);
      await w.expectConservation(zeroAddress);
    },
  );
});
