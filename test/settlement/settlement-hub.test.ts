import { describe, it } from "node:test";
import { expect } from "chai";
import { network } from "hardhat";
import { type Hex, maxUint256, parseEther, parseEventLogs, zeroAddress } from "viem";
import { FailureReason, hashPayment, type Payment, payment, readDomain, signPayment } from "./helpers.js";

const DELAY = 3_600n;
const UNIT = 1_000_000n;
const MAX_128 = 2n ** 128n - 1n;
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

/** The same ECDSA signature with `s` flipped to the upper half of the curve order (malleated). */
function malleate(signature: Hex): Hex {
  const r = signature.slice(2, 66);
  const s = BigInt(`0x${signature.slice(66, 130)}`);
  const v = Number.parseInt(signature.slice(130, 132), 16);
  return `0x${r}${(SECP256K1_N - s).toString(16).padStart(64, "0")}${(v === 27 ? 28 : 27).toString(16)}`;
}

describe("SettlementHub", async () => {
  const { viem, networkHelpers } = await network.create();
  const [deployer, relayer, owner, alice, bob, carol] = await viem.getWalletClients();
  const publicClient = await viem.getPublicClient();
  const { time } = networkHelpers;

  async function deployHubWithDelay(delay: bigint) {
    const token = await viem.deployContract("TestToken", ["USD Coin", "USDC", 6]);
    const hub = await viem.deployContract("SettlementHub", [owner.account.address, delay]);
    for (const wallet of [alice, bob, carol]) {
      await token.write.mint([wallet.account.address, 1_000_000n * UNIT]);
      await token.write.approve([hub.address, maxUint256], { account: wallet.account });
    }
    await hub.write.deposit([token.address, 1_000n * UNIT], { account: alice.account });
    const domain = await readDomain(hub);
    const validBefore = BigInt(await time.latest()) + 86_400n;
    /** An intent from alice to bob of 100 tokens with a fee of 1, valid for a day. */
    const intent = (fields: Partial<Payment> = {}) =>
      payment({
        from: alice.account.address,
        to: bob.account.address,
        token: token.address,
        amount: 100n * UNIT,
        fee: UNIT,
        validBefore,
        ...fields,
      });
    return { hub, token, domain, validBefore, intent };
  }

  // loadFixture needs one stable function per fixture.
  const deployHub = () => deployHubWithDelay(DELAY);
  const deployHubWithoutDelay = () => deployHubWithDelay(0n);

  type Hub = Awaited<ReturnType<typeof deployHub>>["hub"];

  /** `PaymentSettled` / `PaymentFailed` of a transaction, in order, as [digest, reason]. */
  async function outcomes(hub: Hub, hash: Hex): Promise<[Hex, number][]> {
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    return parseEventLogs({ abi: hub.abi, logs: receipt.logs, eventName: ["PaymentSettled", "PaymentFailed"] }).map(
      (log) => [log.args.digest, log.eventName === "PaymentFailed" ? log.args.reason : FailureReason.None],
    );
  }

  describe("deployment", () => {
    it("exposes its EIP-712 domain (ERC-5267), owner and withdrawal delay", async () => {
      const { hub } = await networkHelpers.loadFixture(deployHub);
      const [fields, name, version, chainId, verifyingContract, salt, extensions] = await hub.read.eip712Domain();
      expect(fields).to.equal("0x0f");
      expect(name).to.equal("settlekit SettlementHub");
      expect(version).to.equal("1");
      expect(chainId).to.equal(BigInt(await publicClient.getChainId()));
      expect(verifyingContract.toLowerCase()).to.equal(hub.address.toLowerCase());
      expect(salt).to.equal(`0x${"00".repeat(32)}`);
      expect(extensions).to.deep.equal([]);
      expect((await hub.read.owner()).toLowerCase()).to.equal(owner.account.address.toLowerCase());
      expect(await hub.read.withdrawalDelay()).to.equal(DELAY);
    });

    it("reverts when the withdrawal delay exceeds 30 days", async () => {
      const thirtyDays = 30n * 86_400n;
      const hub = await viem.deployContract("SettlementHub", [owner.account.address, thirtyDays]);
      expect(await hub.read.withdrawalDelay()).to.equal(thirtyDays);
      await viem.assertions.revertWithCustomErrorWithArgs(
        viem.deployContract("SettlementHub", [owner.account.address, thirtyDays + 1n]),
        hub,
        "SettlementHubWithdrawalDelayTooLong",
        [thirtyDays + 1n, thirtyDays],
      );
    });

    it("computes the same payment digest as viem's hashTypedData", async () => {
      const { hub, domain, intent } = await networkHelpers.loadFixture(deployHub);
      const p = intent({
        nonce: 2n ** 255n + 7n,
        validAfter: 2n ** 64n - 2n,
        validBefore: 2n ** 64n - 1n,
        ref: `0x${"ab".repeat(32)}`,
      });
      expect(await hub.read.paymentDigest([p])).to.equal(hashPayment(domain, p));
      expect(await hub.read.paymentDigest([intent()])).to.equal(hashPayment(domain, intent()));
    });
  });

  describe("deposits", () => {
    it("credits a native deposit to the caller", async () => {
      const { hub } = await networkHelpers.loadFixture(deployHub);
      const amount = parseEther("2");
      await viem.assertions.emitWithArgs(
        hub.write.deposit([zeroAddress, amount], { account: bob.account, value: amount }),
        hub,
        "Deposited",
        [bob.account.address, zeroAddress, bob.account.address, amount],
      );
      expect(await hub.read.balanceOf([bob.account.address, zeroAddress])).to.equal(amount);
      expect(await publicClient.getBalance({ address: hub.address })).to.equal(amount);
    });

    it("credits an ERC-20 deposit to the caller, adding to its balance", async () => {
      const { hub, token } = await networkHelpers.loadFixture(deployHub);
      await viem.assertions.emitWithArgs(
        hub.write.deposit([token.address, 5n * UNIT], { account: alice.account }),
        hub,
        "Deposited",
        [alice.account.address, token.address, alice.account.address, 5n * UNIT],
      );
      expect(await hub.read.balanceOf([alice.account.address, token.address])).to.equal(1_005n * UNIT);
      expect(await token.read.balanceOf([hub.address])).to.equal(1_005n * UNIT);
    });

    it("credits a deposit paid by the caller to another account with depositFor", async () => {
      const { hub, token } = await networkHelpers.loadFixture(deployHub);
      await viem.assertions.emitWithArgs(
        hub.write.depositFor([carol.account.address, token.address, 7n * UNIT], { account: bob.account }),
        hub,
        "Deposited",
        [carol.account.address, token.address, bob.account.address, 7n * UNIT],
      );
      expect(await hub.read.balanceOf([carol.account.address, token.address])).to.equal(7n * UNIT);
      expect(await hub.read.balanceOf([bob.account.address, token.address])).to.equal(0n);
      expect(await token.read.balanceOf([bob.account.address])).to.equal(1_000_000n * UNIT - 7n * UNIT);
    });

    it("credits what arrived of a fee-on-transfer token", async () => {
      const { hub } = await networkHelpers.loadFixture(deployHub);
      const fot = await viem.deployContract("FeeOnTransferToken", [100n]);
      await fot.write.mint([bob.account.address, 1_000n]);
      await fot.write.approve([hub.address, 1_000n], { account: bob.account });
      await viem.assertions.emitWithArgs(
        hub.write.deposit([fot.address, 1_000n], { account: bob.account }),
        hub,
        "Deposited",
        [bob.account.address, fot.address, bob.account.address, 990n],
      );
      expect(await hub.read.balanceOf([bob.account.address, fot.address])).to.equal(990n);
      expect(await fot.read.balanceOf([hub.address])).to.equal(990n);
    });

    it("reverts a native deposit whose msg.value differs from the amount", async () => {
      const { hub } = await networkHelpers.loadFixture(deployHub);
      await viem.assertions.revertWithCustomErrorWithArgs(
        hub.write.deposit([zeroAddress, parseEther("1")], { account: bob.account, value: parseEther("0.5") }),
        hub,
        "PayoutsWrongValue",
        [parseEther("1"), parseEther("0.5")],
      );
    });

    it("reverts an ERC-20 deposit that sends native value", async () => {
      const { hub, token } = await networkHelpers.loadFixture(deployHub);
      await viem.assertions.revertWithCustomErrorWithArgs(
        hub.write.depositFor([bob.account.address, token.address, UNIT], { account: alice.account, value: 1n }),
        hub,
        "PayoutsWrongValue",
        [0n, 1n],
      );
    });

    it("reverts a zero deposit", async () => {
      const { hub, token } = await networkHelpers.loadFixture(deployHub);
      await viem.assertions.revertWithCustomError(
        hub.write.deposit([token.address, 0n], { account: alice.account }),
        hub,
        "SettlementHubZeroAmount",
      );
    });

    it("reverts a deposit above 128 bits, and one that would take the balance above 128 bits", async () => {
      const { hub } = await networkHelpers.loadFixture(deployHub);
      const big = await viem.deployContract("TestToken", ["Big", "BIG", 18]);
      await big.write.mint([bob.account.address, 2n ** 130n]);
      await big.write.approve([hub.address, maxUint256], { account: bob.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        hub.write.deposit([big.address, MAX_128 + 1n], { account: bob.account }),
        hub,
        "SettlementHubAmountTooLarge",
        [MAX_128 + 1n],
      );
      await hub.write.deposit([big.address, MAX_128], { account: bob.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        hub.write.deposit([big.address, 1n], { account: bob.account }),
        hub,
        "SettlementHubBalanceTooLarge",
        [bob.account.address, big.address, MAX_128 + 1n],
      );
      expect(await hub.read.balanceOf([bob.account.address, big.address])).to.equal(MAX_128);
    });

    it("reverts depositFor the zero address or the hub itself", async () => {
      const { hub, token } = await networkHelpers.loadFixture(deployHub);
      for (const account of [zeroAddress, hub.address]) {
        await viem.assertions.revertWithCustomErrorWithArgs(
          hub.write.depositFor([account, token.address, UNIT], { account: alice.account }),
          hub,
          "SettlementHubInvalidRecipient",
          [account],
        );
      }
    });
  });

  describe("settle", () => {
    it("moves the amount to the payee, the fee to the submitter, uses the nonce and emits PaymentSettled", async () => {
      const { hub, token, domain, intent } = await networkHelpers.loadFixture(deployHub);
      const p = intent({ nonce: 42n });
      const signature = await signPayment(alice, domain, p);
      await viem.assertions.emitWithArgs(
        hub.write.settle([p, signature], { account: relayer.account }),
        hub,
        "PaymentSettled",
        [hashPayment(domain, p)],
      );
      expect(await hub.read.balanceOf([alice.account.address, token.address])).to.equal(899n * UNIT);
      expect(await hub.read.balanceOf([bob.account.address, token.address])).to.equal(100n * UNIT);
      expect(await hub.read.balanceOf([relayer.account.address, token.address])).to.equal(UNIT);
      expect(await hub.read.nonceUsed([alice.account.address, 42n])).to.equal(true);
      expect(await hub.read.nonceUsed([alice.account.address, 43n])).to.equal(false);
      // An internal move: the hub's token holdings do not change.
      expect(await token.read.balanceOf([hub.address])).to.equal(1_000n * UNIT);
    });

    it("pays the fee to whoever submits the intent", async () => {
      const { hub, token, domain, intent } = await networkHelpers.loadFixture(deployHub);
      const p = intent();
      await hub.write.settle([p, await signPayment(alice, domain, p)], { account: carol.account });
      expect(await hub.read.balanceOf([carol.account.address, token.address])).to.equal(UNIT);
      expect(await hub.read.balanceOf([relayer.account.address, token.address])).to.equal(0n);
    });

    it("settles an intent whose payer is its own submitter, and a payment to oneself moves only the fee", async () => {
      const { hub, token, domain, intent } = await networkHelpers.loadFixture(deployHub);
      const toSelf = intent({ to: alice.account.address });
      await hub.write.settle([toSelf, await signPayment(alice, domain, toSelf)], { account: relayer.account });
      expect(await hub.read.balanceOf([alice.account.address, token.address])).to.equal(999n * UNIT);
      expect(await hub.read.balanceOf([relayer.account.address, token.address])).to.equal(UNIT);

      const submittedByPayer = intent({ nonce: 1n });
      await hub.write.settle([submittedByPayer, await signPayment(alice, domain, submittedByPayer)], {
        account: alice.account,
      });
      expect(await hub.read.balanceOf([alice.account.address, token.address])).to.equal(899n * UNIT);
      expect(await hub.read.balanceOf([bob.account.address, token.address])).to.equal(100n * UNIT);
    });

    it("settles an intent of native currency with no fee", async () => {
      const { hub, domain, intent } = await networkHelpers.loadFixture(deployHub);
      await hub.write.deposit([zeroAddress, parseEther("1")], { account: alice.account, value: parseEther("1") });
      const p = intent({ token: zeroAddress, amount: parseEther("0.25"), fee: 0n });
      await hub.write.settle([p, await signPayment(alice, domain, p)], { account: relayer.account });
      expect(await hub.read.balanceOf([alice.account.address, zeroAddress])).to.equal(parseEther("0.75"));
      expect(await hub.read.balanceOf([bob.account.address, zeroAddress])).to.equal(parseEther("0.25"));
      expect(await hub.read.balanceOf([relayer.account.address, zeroAddress])).to.equal(0n);
    });

    it("settles strictly inside the validity window", async () => {
      const { hub, token, domain, intent } = await networkHelpers.loadFixture(deployHub);
      const start = BigInt(await time.latest()) + 100n;
      const p = intent({ validAfter: start, validBefore: start + 2n });
      await time.setNextBlockTimestamp(start + 1n);
      await hub.write.settle([p, await signPayment(alice, domain, p)], { account: relayer.account });
      expect(await hub.read.balanceOf([bob.account.address, token.address])).to.equal(100n * UNIT);
    });

    it("reverts when the payee is the zero address or the hub itself", async () => {
      const { hub, domain, intent } = await networkHelpers.loadFixture(deployHub);
      for (const to of [zeroAddress, hub.address]) {
        const p = intent({ to });
        await viem.assertions.revertWithCustomErrorWithArgs(
          hub.write.settle([p, await signPayment(alice, domain, p)], { account: relayer.account }),
          hub,
          "SettlementHubInvalidRecipient",
          [to],
        );
      }
    });

    it("reverts at or before validAfter", async () => {
      const { hub, domain, intent } = await networkHelpers.loadFixture(deployHub);
      const validAfter = BigInt(await time.latest()) + 100n;
      const p = intent({ validAfter });
      await time.setNextBlockTimestamp(validAfter);
      await viem.assertions.revertWithCustomErrorWithArgs(
        hub.write.settle([p, await signPayment(alice, domain, p)], { account: relayer.account }),
        hub,
        "SettlementHubNotYetValid",
        [validAfter, validAfter],
      );
    });

    it("reverts at or after validBefore", async () => {
      const { hub, domain, intent } = await networkHelpers.loadFixture(deployHub);
      const validBefore = BigInt(await time.latest()) + 100n;
      const p = intent({ validBefore });
      await time.setNextBlockTimestamp(validBefore);
      await viem.assertions.revertWithCustomErrorWithArgs(
        hub.write.settle([p, await signPayment(alice, domain, p)], { account: relayer.account }),
        hub,
        "SettlementHubExpired",
        [validBefore, validBefore],
      );
    });

    it("reverts when someone other than the payer signed", async () => {
      const { hub, domain, intent } = await networkHelpers.loadFixture(deployHub);
      const p = intent();
      await viem.assertions.revertWithCustomErrorWithArgs(
        hub.write.settle([p, await signPayment(bob, domain, p)], { account: relayer.account }),
        hub,
        "SettlementHubInvalidSignature",
        [alice.account.address, hashPayment(domain, p)],
      );
    });

    it("reverts when a signed field was altered", async () => {
      const { hub, domain, intent } = await networkHelpers.loadFixture(deployHub);
      const signed = intent();
      const signature = await signPayment(alice, domain, signed);
      for (const altered of [
        { ...signed, amount: signed.amount + 1n },
        { ...signed, fee: signed.fee + 1n },
        { ...signed, to: carol.account.address },
        { ...signed, ref: `0x${"01".repeat(32)}` as Hex },
      ]) {
        await viem.assertions.revertWithCustomErrorWithArgs(
          hub.write.settle([altered, signature], { account: relayer.account }),
          hub,
          "SettlementHubInvalidSignature",
          [alice.account.address, hashPayment(domain, altered)],
        );
      }
    });

    it("reverts a malleable (high-s) signature that ecrecover alone would accept", async () => {
      const { hub, domain, intent } = await networkHelpers.loadFixture(deployHub);
      const p = intent();
      await viem.assertions.revertWithCustomErrorWithArgs(
        hub.write.settle([p, malleate(await signPayment(alice, domain, p))], { account: relayer.account }),
        hub,
        "SettlementHubInvalidSignature",
        [alice.account.address, hashPayment(domain, p)],
      );
    });

    it("reverts signatures made for another chain id or another hub", async () => {
      const { hub, domain, intent } = await networkHelpers.loadFixture(deployHub);
      const otherHub = await viem.deployContract("SettlementHub", [owner.account.address, DELAY]);
      const p = intent();
      for (const foreign of [
        { ...domain, chainId: 1 },
        { ...domain, verifyingContract: otherHub.address },
      ]) {
        await viem.assertions.revertWithCustomErrorWithArgs(
          hub.write.settle([p, await signPayment(alice, foreign, p)], { account: relayer.account }),
          hub,
          "SettlementHubInvalidSignature",
          [alice.account.address, hashPayment(domain, p)],
        );
      }
    });

    it("reverts a replay of a settled intent", async () => {
      const { hub, domain, intent } = await networkHelpers.loadFixture(deployHub);
      const p = intent({ nonce: 300n });
      const signature = await signPayment(alice, domain, p);
      await hub.write.settle([p, signature], { account: relayer.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        hub.write.settle([p, signature], { account: carol.account }),
        hub,
        "SettlementHubNonceUsed",
        [alice.account.address, 300n],
      );
    });

    it("reverts when the payer cannot cover the amount plus the fee", async () => {
      const { hub, token, domain, intent } = await networkHelpers.loadFixture(deployHub);
      const p = intent({ amount: 1_000n * UNIT, fee: 1n });
      await viem.assertions.revertWithCustomErrorWithArgs(
        hub.write.settle([p, await signPayment(alice, domain, p)], { account: relayer.account }),
        hub,
        "SettlementHubInsufficientBalance",
        [alice.account.address, token.address, 1_000n * UNIT, 1_000n * UNIT, 1n],
      );
      const huge = intent({ amount: maxUint256, fee: maxUint256 });
      await viem.assertions.revertWithCustomErrorWithArgs(
        hub.write.settle([huge, await signPayment(alice, domain, huge)], { account: relayer.account }),
        hub,
        "SettlementHubInsufficientBalance",
        [alice.account.address, token.address, 1_000n * UNIT, maxUint256, maxUint256],
      );
    });

    it("reverts when a credit would take the payee's or the submitter's balance above 128 bits", async () => {
      const { hub, domain, intent } = await networkHelpers.loadFixture(deployHub);
      const big = await viem.deployContract("TestToken", ["Big", "BIG", 18]);
      for (const wallet of [alice, bob]) {
        await big.write.mint([wallet.account.address, MAX_128]);
        await big.write.approve([hub.address, maxUint256], { account: wallet.account });
      }
      await hub.write.deposit([big.address, 10n], { account: alice.account });
      await hub.write.deposit([big.address, MAX_128], { account: bob.account });
      const toBob = intent({ token: big.address, amount: 1n, fee: 0n });
      await viem.assertions.revertWithCustomErrorWithArgs(
        hub.write.settle([toBob, await signPayment(alice, domain, toBob)], { account: relayer.account }),
        hub,
        "SettlementHubBalanceTooLarge",
        [bob.account.address, big.address, MAX_128 + 1n],
      );
      // Bob submits an intent paying him a fee on top of his full balance.
      const feeToBob = intent({ token: big.address, to: carol.account.address, amount: 1n, fee: 1n, nonce: 1n });
      await viem.assertions.revertWithCustomErrorWithArgs(
        hub.write.settle([feeToBob, await signPayment(alice, domain, feeToBob)], { account: bob.account }),
        hub,
        "SettlementHubBalanceTooLarge",
        [bob.account.address, big.address, MAX_128 + 1n],
      );
      expect(await hub.read.balanceOf([alice.account.address, big.address])).to.equal(10n);
      expect(await hub.read.nonceUsed([alice.account.address, 0n])).to.equal(false);
    });
  });

  describe("settleBatch", () => {
    it("settles exactly the valid intents of a mixed batch and reports each failure's reason", async () => {
      const { hub, token, domain, intent } = await networkHelpers.loadFixture(deployHub);
      const otherHub = await viem.deployContract("SettlementHub", [owner.account.address, DELAY]);
      await hub.write.deposit([token.address, 10n * UNIT], { account: carol.account });
      const now = BigInt(await time.latest());
      const at = now + 10n; // the batch's block timestamp

      const valid1 = intent({ nonce: 1n, amount: 10n * UNIT });
      const badSignature = intent({ nonce: 2n });
      const reused = intent({ nonce: 1n, amount: 20n * UNIT }); // nonce 1 again, in the same batch
      const expired = intent({ nonce: 3n, validBefore: at });
      const notYetValid = intent({ nonce: 4n, validAfter: at });
      const shortBalance = intent({ from: carol.account.address, nonce: 5n, amount: 10n * UNIT, fee: 1n });
      const otherChain = intent({ nonce: 6n });
      const otherHubIntent = intent({ nonce: 7n });
      const toZero = intent({ nonce: 8n, to: zeroAddress });
      const valid2 = intent({ from: carol.account.address, to: alice.account.address, nonce: 9n, amount: 4n * UNIT });
      const valid3 = intent({ nonce: 10n, to: carol.account.address, amount: 0n, fee: 2n * UNIT });

      const batch = [
        [valid1, signPayment(alice, domain, valid1)],
        [badSignature, signPayment(bob, domain, badSignature)],
        [reused, signPayment(alice, domain, reused)],
        [expired, signPayment(alice, domain, expired)],
        [notYetValid, signPayment(alice, domain, notYetValid)],
        [shortBalance, signPayment(carol, domain, shortBalance)],
        [otherChain, signPayment(alice, { ...domain, chainId: 1 }, otherChain)],
        [otherHubIntent, signPayment(alice, { ...domain, verifyingContract: otherHub.address }, otherHubIntent)],
        [toZero, signPayment(alice, domain, toZero)],
        [valid2, signPayment(carol, domain, valid2)],
        [valid3, signPayment(alice, domain, valid3)],
      ] as const;
      const payments = batch.map(([p]) => p);
      const signatures = await Promise.all(batch.map(([, s]) => s));

      await time.setNextBlockTimestamp(at);
      const hash = await hub.write.settleBatch([payments, signatures], { account: relayer.account });
      expect(await outcomes(hub, hash)).to.deep.equal([
        [hashPayment(domain, valid1), FailureReason.None],
        [hashPayment(domain, badSignature), FailureReason.BadSignature],
        [hashPayment(domain, reused), FailureReason.NonceUsed],
        [hashPayment(domain, expired), FailureReason.Expired],
        [hashPayment(domain, notYetValid), FailureReason.NotYetValid],
        [hashPayment(domain, shortBalance), FailureReason.InsufficientBalance],
        [hashPayment(domain, otherChain), FailureReason.BadSignature],
        [hashPayment(domain, otherHubIntent), FailureReason.BadSignature],
        [hashPayment(domain, toZero), FailureReason.InvalidRecipient],
        [hashPayment(domain, valid2), FailureReason.None],
        [hashPayment(domain, valid3), FailureReason.None],
      ]);

      // alice: 1000 - (10 + 1) + 4 - (0 + 2); carol: 10 - (4 + 1) + 0; bob: 10; relayer: 1 + 1 + 2.
      expect(await hub.read.balanceOf([alice.account.address, token.address])).to.equal(991n * UNIT);
      expect(await hub.read.balanceOf([carol.account.address, token.address])).to.equal(5n * UNIT);
      expect(await hub.read.balanceOf([bob.account.address, token.address])).to.equal(10n * UNIT);
      expect(await hub.read.balanceOf([relayer.account.address, token.address])).to.equal(4n * UNIT);
      for (const [nonce, used] of [
        [1n, true],
        [2n, false],
        [3n, false],
        [4n, false],
        [6n, false],
        [7n, false],
        [8n, false],
        [10n, true],
      ] as const) {
        expect(await hub.read.nonceUsed([alice.account.address, nonce]), `alice nonce ${nonce}`).to.equal(used);
      }
      expect(await hub.read.nonceUsed([carol.account.address, 5n])).to.equal(false);
      expect(await hub.read.nonceUsed([carol.account.address, 9n])).to.equal(true);
    });

    it("returns the number of intents settled", async () => {
      const { hub, domain, intent } = await networkHelpers.loadFixture(deployHub);
      const ps = [
        intent({ nonce: 1n }),
        intent({ nonce: 1n }),
        intent({ nonce: 2n }),
        intent({ nonce: 3n, to: zeroAddress }),
      ];
      const signatures = await Promise.all(ps.map((p) => signPayment(alice, domain, p)));
      const { result } = await hub.simulate.settleBatch([ps, signatures], { account: relayer.account.address });
      expect(result).to.equal(2n);
      const empty = await hub.simulate.settleBatch([[], []], { account: relayer.account.address });
      expect(empty.result).to.equal(0n);
    });

    it("leaves a failed intent's nonce unused, so it settles once the payer can cover it", async () => {
      const { hub, token, domain, intent } = await networkHelpers.loadFixture(deployHub);
      const p = intent({ from: carol.account.address, nonce: 77n, amount: 5n * UNIT, fee: 0n });
      const signature = await signPayment(carol, domain, p);
      const first = await hub.write.settleBatch([[p], [signature]], { account: relayer.account });
      expect(await outcomes(hub, first)).to.deep.equal([[hashPayment(domain, p), FailureReason.InsufficientBalance]]);
      expect(await hub.read.nonceUsed([carol.account.address, 77n])).to.equal(false);

      await hub.write.deposit([token.address, 5n * UNIT], { account: carol.account });
      const second = await hub.write.settleBatch([[p], [signature]], { account: relayer.account });
      expect(await outcomes(hub, second)).to.deep.equal([[hashPayment(domain, p), FailureReason.None]]);
      expect(await hub.read.balanceOf([bob.account.address, token.address])).to.equal(5n * UNIT);
    });

    it("spends a payer's balance intent after intent: the one that no longer fits fails", async () => {
      const { hub, token, domain, intent } = await networkHelpers.loadFixture(deployHub);
      const ps = [0n, 1n, 2n].map((nonce) => intent({ nonce, amount: 400n * UNIT, fee: 0n }));
      const signatures = await Promise.all(ps.map((p) => signPayment(alice, domain, p)));
      const hash = await hub.write.settleBatch([ps, signatures], { account: relayer.account });
      expect((await outcomes(hub, hash)).map(([, reason]) => reason)).to.deep.equal([
        FailureReason.None,
        FailureReason.None,
        FailureReason.InsufficientBalance,
      ]);
      expect(await hub.read.balanceOf([alice.account.address, token.address])).to.equal(200n * UNIT);
    });

    it("credits the fees of a batch mixing tokens to the submitter in each token", async () => {
      const { hub, token, domain, intent } = await networkHelpers.loadFixture(deployHub);
      await hub.write.deposit([zeroAddress, parseEther("1")], { account: alice.account, value: parseEther("1") });
      const ps = [
        intent({ nonce: 1n }),
        intent({ nonce: 2n, token: zeroAddress, amount: 1_000n, fee: 7n }),
        intent({ nonce: 3n, token: zeroAddress, amount: 1_000n, fee: 0n }),
        intent({ nonce: 4n, fee: 3n * UNIT }),
        intent({ nonce: 5n, token: zeroAddress, amount: 1_000n, fee: 5n }),
      ];
      const signatures = await Promise.all(ps.map((p) => signPayment(alice, domain, p)));
      await hub.write.settleBatch([ps, signatures], { account: relayer.account });
      expect(await hub.read.balanceOf([relayer.account.address, token.address])).to.equal(4n * UNIT);
      expect(await hub.read.balanceOf([relayer.account.address, zeroAddress])).to.equal(12n);
      expect(await hub.read.balanceOf([bob.account.address, zeroAddress])).to.equal(3_000n);
      expect(await hub.read.balanceOf([alice.account.address, zeroAddress])).to.equal(parseEther("1") - 3_012n);
    });

    it("reports BalanceTooLarge for a credit above 128 bits and reverts when the submitter's fees would overflow", async () => {
      const { hub, domain, intent } = await networkHelpers.loadFixture(deployHub);
      const big = await viem.deployContract("TestToken", ["Big", "BIG", 18]);
      for (const wallet of [alice, bob]) {
        await big.write.mint([wallet.account.address, MAX_128]);
        await big.write.approve([hub.address, maxUint256], { account: wallet.account });
      }
      await hub.write.deposit([big.address, 10n], { account: alice.account });
      await hub.write.deposit([big.address, MAX_128], { account: bob.account });
      const toBob = intent({ token: big.address, amount: 1n, fee: 0n });
      const hash = await hub.write.settleBatch([[toBob], [await signPayment(alice, domain, toBob)]], {
        account: relayer.account,
      });
      expect(await outcomes(hub, hash)).to.deep.equal([[hashPayment(domain, toBob), FailureReason.BalanceTooLarge]]);

      const feeToBob = intent({ token: big.address, to: carol.account.address, amount: 1n, fee: 1n });
      await viem.assertions.revertWithCustomErrorWithArgs(
        hub.write.settleBatch([[feeToBob], [await signPayment(alice, domain, feeToBob)]], { account: bob.account }),
        hub,
        "SettlementHubBalanceTooLarge",
        [bob.account.address, big.address, MAX_128 + 1n],
      );
      expect(await hub.read.balanceOf([alice.account.address, big.address])).to.equal(10n);
    });

    it("reverts when the numbers of intents and signatures differ", async () => {
      const { hub, domain, intent } = await networkHelpers.loadFixture(deployHub);
      const p = intent();
      const signature = await signPayment(alice, domain, p);
      await viem.assertions.revertWithCustomErrorWithArgs(
        hub.write.settleBatch([[p, p], [signature]], { account: relayer.account }),
        hub,
        "SettlementHubLengthMismatch",
        [2n, 1n],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        hub.write.settleBatch([[], [signature]], { account: relayer.account }),
        hub,
        "SettlementHubLengthMismatch",
        [0n, 1n],
      );
    });
  });

  describe("ERC-1271 wallets", () => {
    async function deployWithWallet() {
      const fixture = await deployHub();
      const wallet = await viem.deployContract("ERC1271Wallet", [alice.account.address]);
      await fixture.hub.write.depositFor([wallet.address, fixture.token.address, 50n * UNIT], {
        account: alice.account,
      });
      return { ...fixture, wallet };
    }

    it("settles an intent of a contract wallet signed by its owner, until the wallet revokes", async () => {
      const { hub, token, domain, intent, wallet } = await networkHelpers.loadFixture(deployWithWallet);
      const first = intent({ from: wallet.address, amount: 10n * UNIT });
      await hub.write.settle([first, await signPayment(alice, domain, first)], { account: relayer.account });
      expect(await hub.read.balanceOf([wallet.address, token.address])).to.equal(39n * UNIT);
      expect(await hub.read.balanceOf([bob.account.address, token.address])).to.equal(10n * UNIT);

      const second = intent({ from: wallet.address, amount: 10n * UNIT, nonce: 1n });
      const signature = await signPayment(alice, domain, second);
      await wallet.write.setRevoked([true], { account: alice.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        hub.write.settle([second, signature], { account: relayer.account }),
        hub,
        "SettlementHubInvalidSignature",
        [wallet.address, hashPayment(domain, second)],
      );
      const hash = await hub.write.settleBatch([[second], [signature]], { account: relayer.account });
      expect(await outcomes(hub, hash)).to.deep.equal([[hashPayment(domain, second), FailureReason.BadSignature]]);
      expect(await hub.read.balanceOf([wallet.address, token.address])).to.equal(39n * UNIT);
    });

    it("rejects a contract wallet intent signed by someone other than its owner", async () => {
      const { hub, domain, intent, wallet } = await networkHelpers.loadFixture(deployWithWallet);
      const p = intent({ from: wallet.address, amount: UNIT });
      await viem.assertions.revertWithCustomErrorWithArgs(
        hub.write.settle([p, await signPayment(bob, domain, p)], { account: relayer.account }),
        hub,
        "SettlementHubInvalidSignature",
        [wallet.address, hashPayment(domain, p)],
      );
    });
  });

  describe("nonces", () => {
    it("invalidates the caller's nonces selected by a mask, so their intents never settle", async () => {
      const { hub, domain, intent } = await networkHelpers.loadFixture(deployHub);
      const wordPos = 3n;
      const mask = (1n << 5n) | (1n << 200n);
      await viem.assertions.emitWithArgs(
        hub.write.invalidateNonces([wordPos, mask], { account: alice.account }),
        hub,
        "NoncesInvalidated",
        [alice.account.address, wordPos, mask],
      );
      expect(await hub.read.nonceUsed([alice.account.address, wordPos * 256n + 5n])).to.equal(true);
      expect(await hub.read.nonceUsed([alice.account.address, wordPos * 256n + 200n])).to.equal(true);
      expect(await hub.read.nonceUsed([alice.account.address, wordPos * 256n + 6n])).to.equal(false);
      expect(await hub.read.nonceUsed([bob.account.address, wordPos * 256n + 5n])).to.equal(false);

      const p = intent({ nonce: wordPos * 256n + 5n });
      await viem.assertions.revertWithCustomErrorWithArgs(
        hub.write.settle([p, await signPayment(alice, domain, p)], { account: relayer.account }),
        hub,
        "SettlementHubNonceUsed",
        [alice.account.address, wordPos * 256n + 5n],
      );
    });
  });

  describe("withdrawals", () => {
    it("records a request that becomes available after the delay", async () => {
      const { hub, token } = await networkHelpers.loadFixture(deployHub);
      const requestedAt = BigInt(await time.latest()) + 1n;
      await time.setNextBlockTimestamp(requestedAt);
      const availableAt = requestedAt + DELAY;
      await viem.assertions.emitWithArgs(
        hub.write.requestWithdrawal([token.address, 300n * UNIT], { account: alice.account }),
        hub,
        "WithdrawalRequested",
        [alice.account.address, token.address, 300n * UNIT, availableAt],
      );
      expect(await hub.read.getWithdrawalRequest([alice.account.address, token.address])).to.deep.equal({
        amount: 300n * UNIT,
        availableAt,
      });
    });

    it("reverts a withdrawal before the delay has passed, and pays at availableAt", async () => {
      const { hub, token } = await networkHelpers.loadFixture(deployHub);
      await hub.write.requestWithdrawal([token.address, 300n * UNIT], { account: alice.account });
      const { availableAt } = await hub.read.getWithdrawalRequest([alice.account.address, token.address]);
      await time.setNextBlockTimestamp(availableAt - 1n);
      await viem.assertions.revertWithCustomErrorWithArgs(
        hub.write.withdraw([token.address, alice.account.address], { account: alice.account }),
        hub,
        "SettlementHubWithdrawalNotReady",
        [alice.account.address, token.address, availableAt],
      );

      await time.setNextBlockTimestamp(availableAt);
      const before = await token.read.balanceOf([carol.account.address]);
      await viem.assertions.emitWithArgs(
        hub.write.withdraw([token.address, carol.account.address], { account: alice.account }),
        hub,
        "Withdrawn",
        [alice.account.address, token.address, carol.account.address, 300n * UNIT],
      );
      expect(await token.read.balanceOf([carol.account.address])).to.equal(before + 300n * UNIT);
      expect(await hub.read.balanceOf([alice.account.address, token.address])).to.equal(700n * UNIT);
      expect(await hub.read.getWithdrawalRequest([alice.account.address, token.address])).to.deep.equal({
        amount: 0n,
        availableAt: 0n,
      });
    });

    it("reverts a withdrawal without a pending request", async () => {
      const { hub, token } = await networkHelpers.loadFixture(deployHub);
      await viem.assertions.revertWithCustomErrorWithArgs(
        hub.write.withdraw([token.address, alice.account.address], { account: alice.account }),
        hub,
        "SettlementHubNoWithdrawalRequest",
        [alice.account.address, token.address],
      );
    });

    it("keeps requested funds spendable by intents during the delay and then pays what is left", async () => {
      const { hub, token, domain, intent } = await networkHelpers.loadFixture(deployHub);
      await hub.write.requestWithdrawal([token.address, 1_000n * UNIT], { account: alice.account });
      const p = intent({ amount: 600n * UNIT, fee: 0n });
      await hub.write.settle([p, await signPayment(alice, domain, p)], { account: relayer.account });
      expect(await hub.read.balanceOf([bob.account.address, token.address])).to.equal(600n * UNIT);

      await time.increase(Number(DELAY));
      const { result } = await hub.simulate.withdraw([token.address, alice.account.address], {
        account: alice.account.address,
      });
      expect(result).to.equal(400n * UNIT);
      await hub.write.withdraw([token.address, alice.account.address], { account: alice.account });
      expect(await hub.read.balanceOf([alice.account.address, token.address])).to.equal(0n);
      expect(await token.read.balanceOf([hub.address])).to.equal(600n * UNIT);
    });

    it("replaces an earlier request and restarts the delay", async () => {
      const { hub, token } = await networkHelpers.loadFixture(deployHub);
      await hub.write.requestWithdrawal([token.address, 100n * UNIT], { account: alice.account });
      await time.increase(Number(DELAY) - 10);
      await hub.write.requestWithdrawal([token.address, 50n * UNIT], { account: alice.account });
      const request = await hub.read.getWithdrawalRequest([alice.account.address, token.address]);
      expect(request).to.deep.equal({ amount: 50n * UNIT, availableAt: BigInt(await time.latest()) + DELAY });

      await time.increase(20);
      await viem.assertions.revertWithCustomErrorWithArgs(
        hub.write.withdraw([token.address, alice.account.address], { account: alice.account }),
        hub,
        "SettlementHubWithdrawalNotReady",
        [alice.account.address, token.address, request.availableAt],
      );
      await time.increaseTo(request.availableAt);
      await hub.write.withdraw([token.address, alice.account.address], { account: alice.account });
      expect(await hub.read.balanceOf([alice.account.address, token.address])).to.equal(950n * UNIT);
    });

    it("cancels a pending request with a zero amount, and reverts a cancel without one", async () => {
      const { hub, token } = await networkHelpers.loadFixture(deployHub);
      await hub.write.requestWithdrawal([token.address, 100n * UNIT], { account: alice.account });
      await viem.assertions.emitWithArgs(
        hub.write.requestWithdrawal([token.address, 0n], { account: alice.account }),
        hub,
        "WithdrawalCancelled",
        [alice.account.address, token.address],
      );
      expect((await hub.read.getWithdrawalRequest([alice.account.address, token.address])).amount).to.equal(0n);
      await viem.assertions.revertWithCustomErrorWithArgs(
        hub.write.requestWithdrawal([token.address, 0n], { account: alice.account }),
        hub,
        "SettlementHubNoWithdrawalRequest",
        [alice.account.address, token.address],
      );
    });

    it("reverts a request above 128 bits", async () => {
      const { hub, token } = await networkHelpers.loadFixture(deployHub);
      await viem.assertions.revertWithCustomErrorWithArgs(
        hub.write.requestWithdrawal([token.address, MAX_128 + 1n], { account: alice.account }),
        hub,
        "SettlementHubAmountTooLarge",
        [MAX_128 + 1n],
      );
      await hub.write.requestWithdrawal([token.address, MAX_128], { account: alice.account });
      await time.increase(Number(DELAY));
      await hub.write.withdraw([token.address, alice.account.address], { account: alice.account });
      expect(await hub.read.balanceOf([alice.account.address, token.address])).to.equal(0n);
    });

    it("withdraws at once when the delay is zero", async () => {
      const { hub } = await networkHelpers.loadFixture(deployHubWithoutDelay);
      expect(await hub.read.withdrawalDelay()).to.equal(0n);
      await hub.write.deposit([zeroAddress, parseEther("1")], { account: bob.account, value: parseEther("1") });
      await hub.write.requestWithdrawal([zeroAddress, parseEther("0.4")], { account: bob.account });
      await viem.assertions.balancesHaveChanged(
        hub.write.withdraw([zeroAddress, carol.account.address], { account: bob.account }),
        [{ address: carol.account.address, amount: parseEther("0.4") }],
      );
      expect(await hub.read.balanceOf([bob.account.address, zeroAddress])).to.equal(parseEther("0.6"));
      expect(await publicClient.getBalance({ address: hub.address })).to.equal(parseEther("0.6"));
    });

    it("reverts when the recipient cannot receive, leaving the request pending", async () => {
      const { hub } = await networkHelpers.loadFixture(deployHubWithoutDelay);
      const receiver = await viem.deployContract("RevertingReceiver");
      await hub.write.deposit([zeroAddress, parseEther("1")], { account: bob.account, value: parseEther("1") });
      await hub.write.requestWithdrawal([zeroAddress, parseEther("1")], { account: bob.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        hub.write.withdraw([zeroAddress, receiver.address], { account: bob.account }),
        hub,
        "PayoutsNativeTransferFailed",
        [receiver.address, parseEther("1")],
      );
      expect((await hub.read.getWithdrawalRequest([bob.account.address, zeroAddress])).amount).to.equal(
        parseEther("1"),
      );
      expect(await hub.read.balanceOf([bob.account.address, zeroAddress])).to.equal(parseEther("1"));

      await receiver.write.setAccepting([true]);
      await hub.write.withdraw([zeroAddress, receiver.address], { account: bob.account });
      expect(await publicClient.getBalance({ address: receiver.address })).to.equal(parseEther("1"));
    });

    it("reverts a token withdrawal to a blocklisted recipient, leaving the request pending", async () => {
      const { hub } = await networkHelpers.loadFixture(deployHubWithoutDelay);
      const blocklist = await viem.deployContract("BlocklistToken");
      await blocklist.write.mint([bob.account.address, 100n]);
      await blocklist.write.approve([hub.address, 100n], { account: bob.account });
      await hub.write.deposit([blocklist.address, 100n], { account: bob.account });
      await hub.write.requestWithdrawal([blocklist.address, 100n], { account: bob.account });
      await blocklist.write.setBlocked([carol.account.address, true]);
      await viem.assertions.revertWithCustomErrorWithArgs(
        hub.write.withdraw([blocklist.address, carol.account.address], { account: bob.account }),
        blocklist,
        "Blocked",
        [carol.account.address],
      );
      expect((await hub.read.getWithdrawalRequest([bob.account.address, blocklist.address])).amount).to.equal(100n);
    });

    it("reverts a withdrawal to the zero address or the hub itself", async () => {
      const { hub, token } = await networkHelpers.loadFixture(deployHubWithoutDelay);
      await hub.write.requestWithdrawal([token.address, UNIT], { account: alice.account });
      for (const to of [zeroAddress, hub.address]) {
        await viem.assertions.revertWithCustomErrorWithArgs(
          hub.write.withdraw([token.address, to], { account: alice.account }),
          hub,
          "SettlementHubInvalidRecipient",
          [to],
        );
      }
    });

    it("clears the request and sends nothing when the balance is zero", async () => {
      const { hub, token } = await networkHelpers.loadFixture(deployHubWithoutDelay);
      await hub.write.requestWithdrawal([token.address, UNIT], { account: carol.account });
      await viem.assertions.emitWithArgs(
        hub.write.withdraw([token.address, carol.account.address], { account: carol.account }),
        hub,
        "Withdrawn",
        [carol.account.address, token.address, carol.account.address, 0n],
      );
      expect((await hub.read.getWithdrawalRequest([carol.account.address, token.address])).amount).to.equal(0n);
      expect(await token.read.balanceOf([carol.account.address])).to.equal(1_000_000n * UNIT);
    });
  });

  describe("pausing", () => {
    it("blocks deposits only; settlement and withdrawals keep working; unpausing restores deposits", async () => {
      const { hub, token, domain, intent } = await networkHelpers.loadFixture(deployHubWithoutDelay);
      await viem.assertions.emit(hub.write.pause({ account: owner.account }), hub, "Paused");
      await viem.assertions.revertWithCustomError(
        hub.write.deposit([token.address, UNIT], { account: alice.account }),
        hub,
        "EnforcedPause",
      );
      await viem.assertions.revertWithCustomError(
        hub.write.depositFor([bob.account.address, zeroAddress, 1n], { account: alice.account, value: 1n }),
        hub,
        "EnforcedPause",
      );

      const p = intent();
      await hub.write.settle([p, await signPayment(alice, domain, p)], { account: relayer.account });
      const q = intent({ nonce: 1n });
      await hub.write.settleBatch([[q], [await signPayment(alice, domain, q)]], { account: relayer.account });
      await hub.write.requestWithdrawal([token.address, 100n * UNIT], { account: alice.account });
      await hub.write.withdraw([token.address, alice.account.address], { account: alice.account });
      await hub.write.invalidateNonces([0n, 1n << 9n], { account: alice.account });
      expect(await hub.read.balanceOf([alice.account.address, token.address])).to.equal(698n * UNIT);
      expect(await hub.read.balanceOf([bob.account.address, token.address])).to.equal(200n * UNIT);

      await viem.assertions.emit(hub.write.unpause({ account: owner.account }), hub, "Unpaused");
      await hub.write.deposit([token.address, UNIT], { account: alice.account });
      expect(await hub.read.balanceOf([alice.account.address, token.address])).to.equal(699n * UNIT);
    });

    it("lets only the owner pause and unpause", async () => {
      const { hub } = await networkHelpers.loadFixture(deployHub);
      await viem.assertions.revertWithCustomErrorWithArgs(
        hub.write.pause({ account: relayer.account }),
        hub,
        "OwnableUnauthorizedAccount",
        [relayer.account.address],
      );
      await hub.write.pause({ account: owner.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        hub.write.unpause({ account: deployer.account }),
        hub,
        "OwnableUnauthorizedAccount",
        [deployer.account.address],
      );
      expect(await hub.read.paused()).to.equal(true);
    });

    it("reverts when pausing twice, unpausing while running, or for anyone but the owner", async () => {
      const { hub } = await networkHelpers.loadFixture(deployHub);
      await viem.assertions.revertWithCustomError(hub.write.unpause({ account: owner.account }), hub, "ExpectedPause");
      await viem.assertions.revertWithCustomErrorWithArgs(
        hub.write.unpause({ account: relayer.account }),
        hub,
        "OwnableUnauthorizedAccount",
        [relayer.account.address],
      );
      expect(await hub.read.paused()).to.equal(false);
      await hub.write.pause({ account: owner.account });
      await viem.assertions.revertWithCustomError(hub.write.pause({ account: owner.account }), hub, "EnforcedPause");
      await viem.assertions.revertWithCustomErrorWithArgs(
        hub.write.pause({ account: relayer.account }),
        hub,
        "OwnableUnauthorizedAccount",
        [relayer.account.address],
      );
      expect(await hub.read.paused()).to.equal(true);
    });
  });
});
