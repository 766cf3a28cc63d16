import { describe, it } from "node:test";
import { expect } from "chai";
import { network } from "hardhat";
import type { Hex } from "viem";
import {
  concatHex,
  encodeFunctionData,
  getAddress,
  hashTypedData,
  numberToHex,
  parseSignature,
  zeroAddress,
} from "viem";
import { DAY, deployEscrow, feeOn, State, signRelease } from "./fixtures.js";

const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

/** Moving funds out of an escrow by the parties: `release`, `refund` and `releaseWithSig`. */
describe("Escrow: release and refund", async () => {
  const connection = await network.create();
  const { viem, networkHelpers } = connection;
  const deploy = () => deployEscrow(connection);

  describe("release", () => {
    it("pays the payee and the fee recipient on release", async () => {
      const { escrow, token, payer, payee, feeRecipient, amount, open } = await networkHelpers.loadFixture(deploy);
      const id = await open();
      const fee = feeOn(amount);
      await viem.assertions.emitWithArgs(
        escrow.write.release([id, amount], { account: payer.account }),
        escrow,
        "EscrowReleased",
        [id, amount, fee],
      );
      expect(await token.read.balanceOf([payee.account.address])).to.equal(amount - fee);
      expect(await escrow.read.owed([feeRecipient.account.address, token.address])).to.equal(fee);
      expect(await token.read.balanceOf([escrow.address])).to.equal(fee);
      const stored = await escrow.read.getEscrow([id]);
      expect(stored.remaining).to.equal(0n);
      expect(stored.released).to.equal(amount);
      expect(stored.state).to.equal(State.Closed);
    });

    it("lets the fee recipient withdraw accrued fees", async () => {
      const { escrow, token, payer, feeRecipient, amount, open } = await networkHelpers.loadFixture(deploy);
      await escrow.write.release([await open(), amount], { account: payer.account });
      const fee = feeOn(amount);
      await viem.assertions.emitWithArgs(
        escrow.write.withdraw([token.address], { account: feeRecipient.account }),
        escrow,
        "OwedWithdrawn",
        [getAddress(feeRecipient.account.address), getAddress(token.address), fee],
      );
      expect(await token.read.balanceOf([feeRecipient.account.address])).to.equal(fee);
      expect(await escrow.read.owed([feeRecipient.account.address, token.address])).to.equal(0n);
    });

    it("pays partial releases that sum to the amount, each with its exact fee", async () => {
      const { escrow, token, payer, payee, feeRecipient, amount, open } = await networkHelpers.loadFixture(deploy);
      const id = await open();
      const parts = [1n, amount / 3n, amount / 5n + 7n];
      parts.push(amount - parts.reduce((a, b) => a + b, 0n));
      let fees = 0n;
      for (const part of parts) {
        await escrow.write.release([id, part], { account: payer.account });
        fees += feeOn(part);
      }
      expect(await escrow.read.remaining([id])).to.equal(0n);
      expect((await escrow.read.getEscrow([id])).released).to.equal(amount);
      expect(await token.read.balanceOf([payee.account.address])).to.equal(amount - fees);
      expect(await escrow.read.owed([feeRecipient.account.address, token.address])).to.equal(fees);
    });

    it("releases native currency", async () => {
      const { escrow, payer, payee, feeRecipient, amount, open } = await networkHelpers.loadFixture(deploy);
      const id = await open({ token: zeroAddress }, payer, amount);
      const fee = feeOn(amount);
      await viem.assertions.balancesHaveChanged(escrow.write.release([id, amount], { account: payer.account }), [
        { address: payee.account.address, amount: amount - fee },
        { address: escrow.address, amount: -(amount - fee) },
      ]);
      expect(await escrow.read.owed([feeRecipient.account.address, zeroAddress])).to.equal(fee);
    });

    it("reverts when the caller is not the payer", async () => {
      const { escrow, payee, amount, open } = await networkHelpers.loadFixture(deploy);
      const id = await open();
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.release([id, amount], { account: payee.account }),
        escrow,
        "EscrowNotPayer",
        [id, getAddress(payee.account.address)],
      );
    });

    it("reverts for an unknown escrow", async () => {
      const { escrow, payer } = await networkHelpers.loadFixture(deploy);
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.release([9n, 1n], { account: payer.account }),
        escrow,
        "EscrowNotFound",
        [9n],
      );
    });

    it("reverts on a zero amount", async () => {
      const { escrow, payer, open } = await networkHelpers.loadFixture(deploy);
      const id = await open();
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.release([id, 0n], { account: payer.account }),
        escrow,
        "EscrowZeroAmount",
        [],
      );
    });

    it("reverts when the amount exceeds what remains", async () => {
      const { escrow, payer, amount, open } = await networkHelpers.loadFixture(deploy);
      const id = await open();
      await escrow.write.release([id, amount / 2n], { account: payer.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.release([id, amount / 2n + 1n], { account: payer.account }),
        escrow,
        "EscrowAmountExceedsRemaining",
        [id, amount / 2n + 1n, amount / 2n],
      );
    });

    it("reverts once the escrow is closed", async () => {
      const { escrow, payer, amount, open } = await networkHelpers.loadFixture(deploy);
      const id = await open();
      await escrow.write.release([id, amount], { account: payer.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.release([id, 1n], { account: payer.account }),
        escrow,
        "EscrowClosed",
        [id],
      );
    });

    it("still works after the deadline, before anyone settles", async () => {
      const { escrow, payer, amount, deadline, open } = await networkHelpers.loadFixture(deploy);
      const id = await open();
      await networkHelpers.time.increaseTo(deadline + DAY);
      await escrow.write.release([id, amount], { account: payer.account });
      expect(await escrow.read.remaining([id])).to.equal(0n);
    });
  });

  describe("refund", () => {
    it("returns funds to the payer without a fee", async () => {
      const { escrow, token, payer, payee, feeRecipient, amount, open } = await networkHelpers.loadFixture(deploy);
      const id = await open();
      const before = await token.read.balanceOf([payer.account.address]);
      await viem.assertions.emitWithArgs(
        escrow.write.refund([id, amount], { account: payee.account }),
        escrow,
        "EscrowRefunded",
        [id, amount],
      );
      expect(await token.read.balanceOf([payer.account.address])).to.equal(before + amount);
      expect(await escrow.read.owed([feeRecipient.account.address, token.address])).to.equal(0n);
      const stored = await escrow.read.getEscrow([id]);
      expect(stored.released).to.equal(0n);
      expect(stored.state).to.equal(State.Closed);
    });

    it("mixes releases and refunds down to zero, never paying more than was locked", async () => {
      const { escrow, token, payer, payee, feeRecipient, amount, open } = await networkHelpers.loadFixture(deploy);
      const id = await open();
      const payerBefore = await token.read.balanceOf([payer.account.address]);
      await escrow.write.release([id, amount / 4n], { account: payer.account });
      await escrow.write.refund([id, amount / 4n], { account: payee.account });
      await escrow.write.release([id, amount / 8n], { account: payer.account });
      const rest = amount - amount / 4n - amount / 4n - amount / 8n;
      await escrow.write.refund([id, rest], { account: payee.account });
      const released = amount / 4n + amount / 8n;
      const fees = feeOn(amount / 4n) + feeOn(amount / 8n);
      expect(await escrow.read.remaining([id])).to.equal(0n);
      expect((await escrow.read.getEscrow([id])).released).to.equal(released);
      expect(await token.read.balanceOf([payee.account.address])).to.equal(released - fees);
      expect(await token.read.balanceOf([payer.account.address])).to.equal(payerBefore + amount - released);
      expect(await escrow.read.owed([feeRecipient.account.address, token.address])).to.equal(fees);
      expect(await token.read.balanceOf([escrow.address])).to.equal(fees);
    });

    it("reverts when the caller is not the payee", async () => {
      const { escrow, payer, amount, open } = await networkHelpers.loadFixture(deploy);
      const id = await open();
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.refund([id, amount], { account: payer.account }),
        escrow,
        "EscrowNotPayee",
        [id, getAddress(payer.account.address)],
      );
    });

    it("reverts for an unknown escrow, a zero amount, too much and a closed escrow", async () => {
      const { escrow, payee, amount, open } = await networkHelpers.loadFixture(deploy);
      const asPayee = { account: payee.account };
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.refund([5n, 1n], asPayee),
        escrow,
        "EscrowNotFound",
        [5n],
      );
      const id = await open();
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.refund([id, 0n], asPayee),
        escrow,
        "EscrowZeroAmount",
        [],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.refund([id, amount + 1n], asPayee),
        escrow,
        "EscrowAmountExceedsRemaining",
        [id, amount + 1n, amount],
      );
      await escrow.write.refund([id, amount], asPayee);
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.refund([id, 1n], asPayee),
        escrow,
        "EscrowClosed",
        [id],
      );
    });
  });

  describe("releaseWithSig", () => {
    async function signed(f: Awaited<ReturnType<typeof deploy>>, id: bigint, releasedTotal: bigint, deadline?: bigint) {
      const sigDeadline = deadline ?? f.deadline;
      return {
        sigDeadline,
        signature: await signRelease(f.payer, f.escrow.address, f.chainId, {
          id,
          releasedTotal,
          deadline: sigDeadline,
        }),
      };
    }

    it("hashes the Release type exactly as an off-chain client does", async () => {
      const { escrow, chainId } = await networkHelpers.loadFixture(deploy);
      const message = { id: 3n, releasedTotal: 12345n, deadline: 99n };
      const expected = hashTypedData({
        domain: { name: "settlekit Escrow", version: "1", chainId, verifyingContract: escrow.address },
        types: {
          Release: [
            { name: "id", type: "uint256" },
            { name: "releasedTotal", type: "uint256" },
            { name: "deadline", type: "uint256" },
          ],
        },
        primaryType: "Release",
        message,
      });
      expect(await escrow.read.releaseDigest([3n, 12345n, 99n])).to.equal(expected);
      const [, name, version, domainChainId, verifyingContract] = await escrow.read.eip712Domain();
      expect([name, version, domainChainId, verifyingContract]).to.deep.equal([
        "settlekit Escrow",
        "1",
        BigInt(chainId),
        getAddress(escrow.address),
      ]);
    });

    it("pays the payee on the payer's signature submitted by anyone", async () => {
      const f = await networkHelpers.loadFixture(deploy);
      const { escrow, token, payee, relayer, amount, open } = f;
      const id = await open();
      const { sigDeadline, signature } = await signed(f, id, amount / 2n);
      await viem.assertions.emitWithArgs(
        escrow.write.releaseWithSig([id, amount / 2n, sigDeadline, signature], { account: relayer.account }),
        escrow,
        "EscrowReleased",
        [id, amount / 2n, feeOn(amount / 2n)],
      );
      expect(await token.read.balanceOf([payee.account.address])).to.equal(amount / 2n - feeOn(amount / 2n));
      expect((await escrow.read.getEscrow([id])).released).to.equal(amount / 2n);
    });

    it("never pays twice: the same signature again reverts with EscrowNothingToRelease", async () => {
      const f = await networkHelpers.loadFixture(deploy);
      const { escrow, token, payee, relayer, amount, open } = f;
      const id = await open();
      const { sigDeadline, signature } = await signed(f, id, amount / 2n);
      await escrow.write.releaseWithSig([id, amount / 2n, sigDeadline, signature], { account: relayer.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.releaseWithSig([id, amount / 2n, sigDeadline, signature], { account: payee.account }),
        escrow,
        "EscrowNothingToRelease",
        [id, amount / 2n, amount / 2n],
      );
      expect(await token.read.balanceOf([payee.account.address])).to.equal(amount / 2n - feeOn(amount / 2n));
    });

    it("pays only the difference for signatures submitted out of order", async () => {
      const f = await networkHelpers.loadFixture(deploy);
      const { escrow, token, payee, relayer, amount, open } = f;
      const id = await open();
      const first = await signed(f, id, amount / 4n);
      const second = await signed(f, id, (amount * 3n) / 4n);
      // The later authorisation lands first and pays 3/4; the earlier one is then worthless.
      await escrow.write.releaseWithSig([id, (amount * 3n) / 4n, second.sigDeadline, second.signature], {
        account: relayer.account,
      });
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.releaseWithSig([id, amount / 4n, first.sigDeadline, first.signature], {
          account: relayer.account,
        }),
        escrow,
        "EscrowNothingToRelease",
        [id, amount / 4n, (amount * 3n) / 4n],
      );
      expect((await escrow.read.getEscrow([id])).released).to.equal((amount * 3n) / 4n);
      expect(await token.read.balanceOf([payee.account.address])).to.equal(
        (amount * 3n) / 4n - feeOn((amount * 3n) / 4n),
      );
    });

    it("counts direct releases toward the signed total", async () => {
      const f = await networkHelpers.loadFixture(deploy);
      const { escrow, payer, relayer, amount, open } = f;
      const id = await open();
      await escrow.write.release([id, amount / 4n], { account: payer.account });
      const { sigDeadline, signature } = await signed(f, id, amount / 2n);
      await viem.assertions.emitWithArgs(
        escrow.write.releaseWithSig([id, amount / 2n, sigDeadline, signature], { account: relayer.account }),
        escrow,
        "EscrowReleased",
        [id, amount / 4n, feeOn(amount / 4n)],
      );
    });

    it("caps the payment at what remains after refunds", async () => {
      const f = await networkHelpers.loadFixture(deploy);
      const { escrow, payee, relayer, amount, open } = f;
      const id = await open();
      await escrow.write.refund([id, (amount * 3n) / 4n], { account: payee.account });
      const { sigDeadline, signature } = await signed(f, id, amount);
      await viem.assertions.emitWithArgs(
        escrow.write.releaseWithSig([id, amount, sigDeadline, signature], { account: relayer.account }),
        escrow,
        "EscrowReleased",
        [id, amount / 4n, feeOn(amount / 4n)],
      );
      expect(await escrow.read.remaining([id])).to.equal(0n);
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.releaseWithSig([id, amount, sigDeadline, signature], { account: relayer.account }),
        escrow,
        "EscrowClosed",
        [id],
      );
    });

    it("rejects an expired signature", async () => {
      const f = await networkHelpers.loadFixture(deploy);
      const { escrow, relayer, amount, open } = f;
      const id = await open();
      // From the chain's time now: the fixture's `now` can be well behind it after a restore.
      const now = BigInt(await networkHelpers.time.latest());
      const { sigDeadline, signature } = await signed(f, id, amount, now + 100n);
      await networkHelpers.time.increaseTo(sigDeadline + 1n);
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.releaseWithSig([id, amount, sigDeadline, signature], { account: relayer.account }),
        escrow,
        "EscrowSignatureExpired",
        [id, sigDeadline],
      );
    });

    it("accepts a signature in the very second of its deadline", async () => {
      const f = await networkHelpers.loadFixture(deploy);
      const { escrow, relayer, amount, open } = f;
      const id = await open();
      const now = BigInt(await networkHelpers.time.latest());
      const { sigDeadline, signature } = await signed(f, id, amount, now + 100n);
      await networkHelpers.time.setNextBlockTimestamp(sigDeadline);
      await escrow.write.releaseWithSig([id, amount, sigDeadline, signature], { account: relayer.account });
      expect(await escrow.read.remaining([id])).to.equal(0n);
    });

    it("rejects a signature by anyone but the payer", async () => {
      const f = await networkHelpers.loadFixture(deploy);
      const { escrow, payer, payee, relayer, amount, deadline, chainId, open } = f;
      const id = await open();
      const signature = await signRelease(payee, escrow.address, chainId, { id, releasedTotal: amount, deadline });
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.releaseWithSig([id, amount, deadline, signature], { account: relayer.account }),
        escrow,
        "EscrowInvalidSignature",
        [id, getAddress(payer.account.address)],
      );
    });

    it("rejects a signature for other terms (id, total or deadline changed)", async () => {
      const f = await networkHelpers.loadFixture(deploy);
      const { escrow, payer, relayer, amount, open } = f;
      const id = await open();
      await open();
      const { sigDeadline, signature } = await signed(f, id, amount / 2n);
      const attempts: [bigint, bigint, bigint][] = [
        [id + 1n, amount / 2n, sigDeadline],
        [id, amount, sigDeadline],
        [id, amount / 2n, sigDeadline + 1n],
      ];
      for (const [attemptId, total, dl] of attempts) {
        await viem.assertions.revertWithCustomErrorWithArgs(
          escrow.write.releaseWithSig([attemptId, total, dl, signature], { account: relayer.account }),
          escrow,
          "EscrowInvalidSignature",
          [attemptId, getAddress(payer.account.address)],
        );
      }
    });

    it("rejects the malleable (high-s) twin of a valid signature", async () => {
      const f = await networkHelpers.loadFixture(deploy);
      const { escrow, payer, relayer, amount, open } = f;
      const id = await open();
      const { sigDeadline, signature } = await signed(f, id, amount);
      const { r, s, yParity } = parseSignature(signature);
      const twin: Hex = concatHex([
        r,
        numberToHex(SECP256K1_N - BigInt(s), { size: 32 }),
        yParity === 0 ? "0x1c" : "0x1b",
      ]);
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.releaseWithSig([id, amount, sigDeadline, twin], { account: relayer.account }),
        escrow,
        "EscrowInvalidSignature",
        [id, getAddress(payer.account.address)],
      );
      await escrow.write.releaseWithSig([id, amount, sigDeadline, signature], { account: relayer.account });
      expect(await escrow.read.remaining([id])).to.equal(0n);
    });

    it("reverts for an unknown escrow", async () => {
      const f = await networkHelpers.loadFixture(deploy);
      const { escrow, relayer, amount } = f;
      const { sigDeadline, signature } = await signed(f, 77n, amount);
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.releaseWithSig([77n, amount, sigDeadline, signature], { account: relayer.account }),
        escrow,
        "EscrowNotFound",
        [77n],
      );
    });

    it("accepts an ERC-1271 smart-wallet payer, and refuses once the wallet revokes", async () => {
      const f = await networkHelpers.loadFixture(deploy);
      const { escrow, token, payer, payee, relayer, amount, deadline, chainId } = f;
      const wallet = await viem.deployContract("ERC1271Wallet", [payer.account.address]);
      await token.write.mint([wallet.address, amount]);
      const approve = encodeFunctionData({ abi: token.abi, functionName: "approve", args: [escrow.address, amount] });
      await wallet.write.execute([token.address, 0n, approve], { account: payer.account });
      const create = encodeFunctionData({
        abi: escrow.abi,
        functionName: "create",
        args: [
          {
            payee: payee.account.address,
            arbiter: zeroAddress,
            token: token.address,
            amount,
            deadline,
            onExpiry: 0,
            ref: `0x${"00".repeat(32)}`,
          },
        ],
      });
      await wallet.write.execute([escrow.address, 0n, create], { account: payer.account });
      expect((await escrow.read.getEscrow([1n])).payer).to.equal(getAddress(wallet.address));

      // The wallet's owner signs; the wallet vouches for it through ERC-1271.
      const half = await signRelease(payer, escrow.address, chainId, { id: 1n, releasedTotal: amount / 2n, deadline });
      await escrow.write.releaseWithSig([1n, amount / 2n, deadline, half], { account: relayer.account });
      expect(await token.read.balanceOf([payee.account.address])).to.equal(amount / 2n - feeOn(amount / 2n));

      await wallet.write.setRevoked([true], { account: payer.account });
      const all = await signRelease(payer, escrow.address, chainId, { id: 1n, releasedTotal: amount, deadline });
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.releaseWithSig([1n, amount, deadline, all], { account: relayer.account }),
        escrow,
        "EscrowInvalidSignature",
        [1n, getAddress(wallet.address)],
      );
    });
  });
});
