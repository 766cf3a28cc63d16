import { describe, it } from "node:test";
import { expect } from "chai";
import { network } from "hardhat";
import { getAddress, keccak256, maxUint128, parseSignature, stringToHex, zeroAddress } from "viem";
import { DAY, deployEscrow, FEE_BPS, RefundPayer, ReleasePayee, State, terms } from "./fixtures.js";

/** Creating escrows: `create`, `createWithPermit`, what is stored and every way creation is refused. */
describe("Escrow: create", async () => {
  const connection = await network.create();
  const { viem, networkHelpers } = connection;
  const deploy = () => deployEscrow(connection);
  const ref = keccak256(stringToHex("order-7"));

  describe("create", () => {
    it("locks an ERC-20 amount, records every term and emits EscrowCreated", async () => {
      const { escrow, token, payer, payee, arbiter, amount, deadline } = await networkHelpers.loadFixture(deploy);
      const params = terms({
        payee: payee.account.address,
        arbiter: arbiter.account.address,
        token: token.address,
        amount,
        deadline,
        onExpiry: ReleasePayee,
        ref,
      });
      await viem.assertions.emitWithArgs(
        escrow.write.create([params], { account: payer.account }),
        escrow,
        "EscrowCreated",
        [
          1n,
          getAddress(payer.account.address),
          getAddress(payee.account.address),
          getAddress(arbiter.account.address),
          getAddress(token.address),
          amount,
          deadline,
          ReleasePayee,
          FEE_BPS,
          ref,
        ],
      );
      expect(await token.read.balanceOf([escrow.address])).to.equal(amount);
      expect(await escrow.read.getEscrow([1n])).to.deep.equal({
        payer: getAddress(payer.account.address),
        payee: getAddress(payee.account.address),
        arbiter: getAddress(arbiter.account.address),
        token: getAddress(token.address),
        remaining: amount,
        released: 0n,
        deadline,
        disputedAt: 0n,
        state: State.Active,
        feeBps: FEE_BPS,
        onExpiry: ReleasePayee,
      });
      expect(await escrow.read.remaining([1n])).to.equal(amount);
    });

    it("locks native currency sent as msg.value", async () => {
      const { escrow, payer, amount, open } = await networkHelpers.loadFixture(deploy);
      const id = await open({ token: zeroAddress }, payer, amount);
      const publicClient = await viem.getPublicClient();
      expect(await publicClient.getBalance({ address: escrow.address })).to.equal(amount);
      const stored = await escrow.read.getEscrow([id]);
      expect(stored.token).to.equal(zeroAddress);
      expect(stored.arbiter).to.equal(zeroAddress);
      expect(stored.remaining).to.equal(amount);
    });

    it("numbers escrows sequentially from 1, across tokens and payers", async () => {
      const { payee, stranger, token, escrow, amount, open } = await networkHelpers.loadFixture(deploy);
      expect(await open()).to.equal(1n);
      expect(await open({ token: zeroAddress }, stranger, amount)).to.equal(2n);
      await token.write.mint([payee.account.address, amount]);
      await token.write.approve([escrow.address, amount], { account: payee.account });
      expect(await open({ payee: stranger.account.address }, payee)).to.equal(3n);
    });

    it("reads an unknown id as all zero with state None", async () => {
      const { escrow } = await networkHelpers.loadFixture(deploy);
      const stored = await escrow.read.getEscrow([42n]);
      expect(stored.payer).to.equal(zeroAddress);
      expect(stored.state).to.equal(State.None);
      expect(await escrow.read.remaining([42n])).to.equal(0n);
    });

    it("credits a fee-on-transfer token with what actually arrived", async () => {
      const { escrow, payer, payee, amount, deadline } = await networkHelpers.loadFixture(deploy);
      const fot = await viem.deployContract("FeeOnTransferToken", [100n]); // 1%
      await fot.write.mint([payer.account.address, amount]);
      await fot.write.approve([escrow.address, amount], { account: payer.account });
      const arrived = amount - amount / 100n;
      await viem.assertions.emitWithArgs(
        escrow.write.create([terms({ payee: payee.account.address, token: fot.address, amount, deadline })], {
          account: payer.account,
        }),
        escrow,
        "EscrowCreated",
        [
          1n,
          getAddress(payer.account.address),
          getAddress(payee.account.address),
          zeroAddress,
          getAddress(fot.address),
          arrived,
          deadline,
          RefundPayer,
          FEE_BPS,
          terms({ payee: zeroAddress, amount: 0n, deadline: 0n }).ref,
        ],
      );
      expect(await escrow.read.remaining([1n])).to.equal(arrived);
      expect(await fot.read.balanceOf([escrow.address])).to.equal(arrived);
    });

    it("accepts the largest 128-bit amount", async () => {
      const { escrow, token, payer, open } = await networkHelpers.loadFixture(deploy);
      await token.write.mint([payer.account.address, maxUint128]);
      const id = await open({ amount: maxUint128 });
      expect(await escrow.read.remaining([id])).to.equal(maxUint128);
    });

    it("reverts when the payee is zero, the payer or the escrow contract", async () => {
      const { escrow, payer, open } = await networkHelpers.loadFixture(deploy);
      for (const bad of [zeroAddress, payer.account.address, escrow.address]) {
        await viem.assertions.revertWithCustomErrorWithArgs(open({ payee: bad }), escrow, "EscrowInvalidPayee", [
          getAddress(bad),
        ]);
      }
    });

    it("reverts when the arbiter is the payer or the payee", async () => {
      const { escrow, payer, payee, open } = await networkHelpers.loadFixture(deploy);
      for (const bad of [payer.account.address, payee.account.address]) {
        await viem.assertions.revertWithCustomErrorWithArgs(open({ arbiter: bad }), escrow, "EscrowInvalidArbiter", [
          getAddress(bad),
        ]);
      }
    });

    it("reverts on a zero amount", async () => {
      const { escrow, open } = await networkHelpers.loadFixture(deploy);
      await viem.assertions.revertWithCustomErrorWithArgs(open({ amount: 0n }), escrow, "EscrowZeroAmount", []);
    });

    it("reverts when nothing arrives (a token that takes everything as fee)", async () => {
      const { escrow, payer, payee, amount, deadline } = await networkHelpers.loadFixture(deploy);
      const fot = await viem.deployContract("FeeOnTransferToken", [10_000n]); // 100%
      await fot.write.mint([payer.account.address, amount]);
      await fot.write.approve([escrow.address, amount], { account: payer.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.create([terms({ payee: payee.account.address, token: fot.address, amount, deadline })], {
          account: payer.account,
        }),
        escrow,
        "EscrowZeroAmount",
        [],
      );
    });

    it("reverts with EscrowAmountTooLarge above 128 bits", async () => {
      const { escrow, open } = await networkHelpers.loadFixture(deploy);
      await viem.assertions.revertWithCustomErrorWithArgs(
        open({ amount: maxUint128 + 1n }),
        escrow,
        "EscrowAmountTooLarge",
        [maxUint128 + 1n],
      );
    });

    it("reverts when the deadline is not in the future", async () => {
      const { escrow, now, open } = await networkHelpers.loadFixture(deploy);
      const next = now + 1n; // the creating transaction's block time
      await networkHelpers.time.setNextBlockTimestamp(next);
      await viem.assertions.revertWithCustomErrorWithArgs(
        open({ deadline: next }),
        escrow,
        "EscrowDeadlineNotInFuture",
        [next, next],
      );
    });

    it("reverts when native msg.value differs from the amount, or value comes with an ERC-20", async () => {
      const { escrow, payer, amount, open } = await networkHelpers.loadFixture(deploy);
      await viem.assertions.revertWithCustomErrorWithArgs(
        open({ token: zeroAddress }, payer, amount - 1n),
        escrow,
        "PayoutsWrongValue",
        [amount, amount - 1n],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(open({}, payer, 1n), escrow, "PayoutsWrongValue", [0n, 1n]);
    });

    it("reverts when the payer has not approved enough", async () => {
      const { escrow, token, stranger, amount, open } = await networkHelpers.loadFixture(deploy);
      await token.write.mint([stranger.account.address, amount]);
      await viem.assertions.revertWithCustomErrorWithArgs(open({}, stranger), token, "ERC20InsufficientAllowance", [
        getAddress(escrow.address),
        0n,
        amount,
      ]);
    });

    it("fixes the fee rate at creation: a later change leaves existing escrows alone", async () => {
      const { escrow, owner, open } = await networkHelpers.loadFixture(deploy);
      const before = await open();
      await escrow.write.setFee([300], { account: owner.account });
      const after = await open();
      expect((await escrow.read.getEscrow([before])).feeBps).to.equal(FEE_BPS);
      expect((await escrow.read.getEscrow([after])).feeBps).to.equal(300);
    });
  });

  describe("createWithPermit", () => {
    async function permitFixture() {
      const f = await deploy();
      const { token, escrow, stranger, amount, chainId, deadline } = f;
      await token.write.mint([stranger.account.address, amount]);
      const permitDeadline = deadline;
      const nonce = await token.read.nonces([stranger.account.address]);
      const signature = await stranger.signTypedData({
        account: stranger.account,
        domain: { name: "Test", version: "1", chainId, verifyingContract: token.address },
        types: {
          Permit: [
            { name: "owner", type: "address" },
            { name: "spender", type: "address" },
            { name: "value", type: "uint256" },
            { name: "nonce", type: "uint256" },
            { name: "deadline", type: "uint256" },
          ],
        },
        primaryType: "Permit",
        message: {
          owner: stranger.account.address,
          spender: escrow.address,
          value: amount,
          nonce,
          deadline: permitDeadline,
        },
      });
      const { r, s, v } = parseSignature(signature);
      const params = terms({ payee: f.payee.account.address, token: token.address, amount, deadline });
      return { ...f, permitDeadline, r, s, v: Number(v), params };
    }

    it("approves with the permit and locks the amount in one transaction", async () => {
      const { escrow, token, stranger, amount, params, permitDeadline, v, r, s } =
        await networkHelpers.loadFixture(permitFixture);
      await viem.assertions.emit(
        escrow.write.createWithPermit([params, permitDeadline, v, r, s], { account: stranger.account }),
        escrow,
        "EscrowCreated",
      );
      expect(await token.read.balanceOf([escrow.address])).to.equal(amount);
      expect((await escrow.read.getEscrow([1n])).payer).to.equal(getAddress(stranger.account.address));
    });

    it("still succeeds when someone front-ran the permit", async () => {
      const { escrow, token, stranger, relayer, amount, params, permitDeadline, v, r, s } =
        await networkHelpers.loadFixture(permitFixture);
      await token.write.permit([stranger.account.address, escrow.address, amount, permitDeadline, v, r, s], {
        account: relayer.account,
      });
      await escrow.write.createWithPermit([params, permitDeadline, v, r, s], { account: stranger.account });
      expect(await escrow.read.remaining([1n])).to.equal(amount);
      expect(await token.read.balanceOf([escrow.address])).to.equal(amount);
    });

    it("reverts with the token's allowance error when the permit fails and no allowance exists", async () => {
      const { escrow, token, stranger, amount, params, permitDeadline, v, r, s } =
        await networkHelpers.loadFixture(permitFixture);
      // A permit for another spender's amount: invalid here, so the pull finds no allowance.
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.createWithPermit([{ ...params, amount: amount - 1n }, permitDeadline, v, r, s], {
          account: stranger.account,
        }),
        token,
        "ERC20InsufficientAllowance",
        [getAddress(escrow.address), 0n, amount - 1n],
      );
    });

    it("reverts for the native currency", async () => {
      const { escrow, stranger, params, permitDeadline, v, r, s } = await networkHelpers.loadFixture(permitFixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.createWithPermit([{ ...params, token: zeroAddress }, permitDeadline, v, r, s], {
          account: stranger.account,
        }),
        escrow,
        "EscrowPermitForNativeCurrency",
        [],
      );
    });

    it("applies the same term checks as create", async () => {
      const { escrow, stranger, params, permitDeadline, v, r, s } = await networkHelpers.loadFixture(permitFixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.createWithPermit([{ ...params, payee: stranger.account.address }, permitDeadline, v, r, s], {
          account: stranger.account,
        }),
        escrow,
        "EscrowInvalidPayee",
        [getAddress(stranger.account.address)],
      );
    });
  });

  describe("pause", () => {
    it("blocks create and createWithPermit while paused, and only them", async () => {
      const { escrow, owner, payer, payee, amount, open } = await networkHelpers.loadFixture(deploy);
      const id = await open();
      await escrow.write.pause({ account: owner.account });
      await viem.assertions.revertWithCustomError(open(), escrow, "EnforcedPause");
      await viem.assertions.revertWithCustomError(
        escrow.write.createWithPermit(
          [
            terms({ payee: payee.account.address, amount, deadline: 2n ** 40n }),
            0n,
            27,
            `0x${"00".repeat(32)}`,
            `0x${"00".repeat(32)}`,
          ],
          { account: payer.account },
        ),
        escrow,
        "EnforcedPause",
      );
      // Exits keep working while paused.
      await escrow.write.release([id, amount / 2n], { account: payer.account });
      await escrow.write.refund([id, amount / 2n], { account: payee.account });
      expect(await escrow.read.remaining([id])).to.equal(0n);

      await escrow.write.unpause({ account: owner.account });
      expect(await open({ deadline: BigInt(await networkHelpers.time.latest()) + DAY })).to.equal(id + 1n);
    });
  });
});
