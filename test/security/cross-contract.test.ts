import { describe } from "node:test";
import { expect } from "chai";
import { network } from "hardhat";
import { type Address, encodeFunctionData, type Hex, zeroAddress } from "viem";
import { payment } from "../settlement/helpers.js";
import { REENTRANT_CALL } from "./attack-kit.js";
import { scenario, writeScenarioRowsAfterSuite } from "./report.js";
import { DAY, deployWorld, feeOn, WITHDRAWAL_DELAY } from "./world.js";

const AREA = "Cross-contract paths";
const X = 10n ** 18n;
const CONSERVATION = "conservation in all three contracts after every step";

/**
 * A payout from one settlekit contract hands control to a {CrossContractAttacker}, which calls into
 * another settlekit contract from inside it. Each contract has its own guard and its own books, so
 * such calls are allowed, must keep every contract's funds conserved, and must never let a detour
 * through a second contract re-enter the first (its guard is still held).
 */
describe("Security: cross-contract paths", async () => {
  writeScenarioRowsAfterSuite();
  const connection = await network.create();
  const { viem, networkHelpers } = connection;
  const { time } = networkHelpers;

  async function base() {
    const w = await deployWorld(connection);
    const attacker = await viem.deployContract("CrossContractAttacker");
    const hook = await viem.deployContract("CallbackToken");
    await attacker.write.registerHook([hook.address]);
    w.accounts.add(attacker.address);
    for (const party of ["alice", "bob", "carol", "dave"] as const) await w.fund(hook.address, party, 100n * X);
    for (const spender of [w.escrow.address, w.hub.address, w.channels.address]) {
      const approve = encodeFunctionData({ abi: hook.abi, functionName: "approve", args: [spender, 100n * X] });
      await attacker.write.execute([hook.address, 0n, approve]);
    }
    return { w, attacker, hook };
  }
  type Env = Awaited<ReturnType<typeof base>>;

  async function enqueue({ attacker }: Env, target: Address, data: Hex, value = 0n) {
    await attacker.write.enqueue([target, value, data]);
  }

  /** The attacker's claim on value in `token`: wallet + owed balances + hub balance. */
  async function holdings({ w, attacker }: Env, token: Address) {
    return (
      (await w.balanceOf(token, attacker.address)) +
      (await w.escrow.read.owed([attacker.address, token])) +
      (await w.channels.read.owed([attacker.address, token])) +
      (await w.hub.read.balanceOf([attacker.address, token]))
    );
  }

  async function escrowToAttacker({ w, attacker }: Env, token: Address) {
    return w.createEscrow(await w.escrowTerms({ token, amount: X, payee: attacker.address }));
  }

  scenario(
    AREA,
    "Escrow → SettlementHub",
    "an escrow release deposits the payout into the hub from inside the payout",
    `the hub deposit succeeds and credits the attacker exactly the net release; ${CONSERVATION}`,
    async () => {
      const env = await networkHelpers.loadFixture(base);
      const { w, attacker, hook } = env;
      const id = await escrowToAttacker(env, hook.address);
      const net = X - feeOn(X);
      await enqueue(
        env,
        w.hub.address,
        encodeFunctionData({ abi: w.hub.abi, functionName: "deposit", args: [hook.address, net] }),
      );
      await w.escrow.write.release([id, X], { account: w.wallets.alice.account });
      const [outcome] = await attacker.read.outcomes();
      expect(outcome.succeeded).to.equal(true);
      expect(await w.hub.read.balanceOf([attacker.address, hook.address])).to.equal(net);
      expect(await w.balanceOf(hook.address, attacker.address)).to.equal(0n);
      await w.expectConservation(hook.address);
    },
  );

  scenario(
    AREA,
    "Escrow → SettlementHub",
    "an escrow release settles a third party's signed intent from inside the payout",
    `the intent settles once (carol pays the attacker), its nonce is spent; ${CONSERVATION}`,
    async () => {
      const env = await networkHelpers.loadFixture(base);
      const { w, attacker, hook } = env;
      await w.hub.write.deposit([hook.address, X], { account: w.wallets.carol.account });
      const intent = payment({
        from: w.address("carol"),
        to: attacker.address,
        token: hook.address,
        amount: X / 2n,
        fee: 1n,
        validBefore: BigInt(await time.latest()) + DAY,
      });
      const signature = await w.signIntent("carol", intent);
      const id = await escrowToAttacker(env, hook.address);
      await enqueue(
        env,
        w.hub.address,
        encodeFunctionData({ abi: w.hub.abi, functionName: "settle", args: [intent, signature] }),
      );
      await w.escrow.write.release([id, X], { account: w.wallets.alice.account });
      expect((await attacker.read.outcomes())[0].succeeded).to.equal(true);
      // The attacker submitted the intent, so it earned the fee as well.
      expect(await w.hub.read.balanceOf([attacker.address, hook.address])).to.equal(X / 2n + 1n);
      expect(await w.hub.read.balanceOf([w.address("carol"), hook.address])).to.equal(X - X / 2n - 1n);
      expect(await w.hub.read.nonceUsed([w.address("carol"), 0n])).to.equal(true);
      await w.expectConservation(hook.address);
    },
  );

  scenario(
    AREA,
    "Escrow → PaymentChannels",
    "an escrow release claims a third party's channel voucher from inside the payout",
    `the claim pays the channel's payee (dave), never the caller; ${CONSERVATION}`,
    async () => {
      const env = await networkHelpers.loadFixture(base);
      const { w, attacker, hook } = env;
      const channelId = await w.openChannel({ token: hook.address, amount: X, payee: w.address("dave") }, "carol");
      const voucher = await w.signVoucher("carol", channelId, X / 4n);
      const id = await escrowToAttacker(env, hook.address);
      await enqueue(
        env,
        w.channels.address,
        encodeFunctionData({ abi: w.channels.abi, functionName: "claim", args: [channelId, X / 4n, voucher] }),
      );
      const daveBefore = await w.balanceOf(hook.address, w.address("dave"));
      await w.escrow.write.release([id, X], { account: w.wallets.alice.account });
      expect((await attacker.read.outcomes())[0].succeeded).to.equal(true);
      expect(await w.balanceOf(hook.address, w.address("dave"))).to.equal(daveBefore + X / 4n);
      expect(await holdings(env, hook.address)).to.equal(X - feeOn(X));
      await w.expectConservation(hook.address);
    },
  );

  scenario(
    AREA,
    "PaymentChannels → SettlementHub → PaymentChannels",
    "a channel claim withdraws from the hub, whose payout tries to re-enter the channels contract",
    `the hub withdrawal succeeds; the nested call into PaymentChannels reverts with ReentrancyGuardReentrantCall (its guard is still held); ${CONSERVATION}`,
    async () => {
      const env = await networkHelpers.loadFixture(base);
      const { w, attacker, hook } = env;
      await w.hub.write.depositFor([attacker.address, hook.address, X], { account: w.wallets.alice.account });
      await attacker.write.execute([
        w.hub.address,
        0n,
        encodeFunctionData({ abi: w.hub.abi, functionName: "requestWithdrawal", args: [hook.address, X] }),
      ]);
      await time.increase(WITHDRAWAL_DELAY);
      const channelId = await w.openChannel({ token: hook.address, amount: 2n * X, payee: attacker.address });
      const voucher = await w.signVoucher("alice", channelId, X);
      await enqueue(
        env,
        w.hub.address,
        encodeFunctionData({ abi: w.hub.abi, functionName: "withdraw", args: [hook.address, attacker.address] }),
      );
      await enqueue(
        env,
        w.channels.address,
        encodeFunctionData({ abi: w.channels.abi, functionName: "claim", args: [channelId, 2n * X, voucher] }),
      );
      await w.channels.write.claim([channelId, X, voucher], { account: w.wallets.relayer.account });
      const [withdrawal, nested] = await attacker.read.outcomes();
      expect(withdrawal.succeeded, "the hub withdrawal inside the channel payout").to.equal(true);
      expect(nested.succeeded, "the nested re-entry into PaymentChannels").to.equal(false);
      expect(nested.revertSelector).to.equal(REENTRANT_CALL);
      expect(await w.balanceOf(hook.address, attacker.address)).to.equal(2n * X);
      expect((await w.channels.read.getChannel([channelId])).claimed).to.equal(X);
      await w.expectConservation(hook.address);
    },
  );

  scenario(
    AREA,
    "Escrow → PaymentChannels → Escrow",
    "an escrow release claims the attacker's own channel, whose payout tries to re-enter the escrow",
    `the channel claim succeeds; the nested escrow.withdraw reverts with ReentrancyGuardReentrantCall; ${CONSERVATION}`,
    async () => {
      const env = await networkHelpers.loadFixture(base);
      const { w, attacker, hook } = env;
      const channelId = await w.openChannel({ token: hook.address, amount: X, payee: attacker.address });
      const voucher = await w.signVoucher("alice", channelId, X);
      const id = await escrowToAttacker(env, hook.address);
      await enqueue(
        env,
        w.channels.address,
        encodeFunctionData({ abi: w.channels.abi, functionName: "claim", args: [channelId, X, voucher] }),
      );
      await enqueue(
        env,
        w.escrow.address,
        encodeFunctionData({ abi: w.escrow.abi, functionName: "withdraw", args: [hook.address] }),
      );
      await w.escrow.write.release([id, X], { account: w.wallets.alice.account });
      const [claim, nested] = await attacker.read.outcomes();
      expect(claim.succeeded).to.equal(true);
      expect(nested.succeeded).to.equal(false);
      expect(nested.revertSelector).to.equal(REENTRANT_CALL);
      expect(await holdings(env, hook.address)).to.equal(X - feeOn(X) + X);
      await w.expectConservation(hook.address);
    },
  );

  scenario(
    AREA,
    "Escrow → SettlementHub",
    "a native escrow release whose receiver needs more than the 30,000-gas stipend to deposit into the hub",
    `the push fails and the payout is deferred to owed (not lost, not blocking); the attacker's later withdraw runs the hub deposit with full gas; ${CONSERVATION}`,
    async () => {
      const env = await networkHelpers.loadFixture(base);
      const { w, attacker } = env;
      const id = await escrowToAttacker(env, zeroAddress);
      const net = X - feeOn(X);
      await enqueue(
        env,
        w.hub.address,
        encodeFunctionData({ abi: w.hub.abi, functionName: "deposit", args: [zeroAddress, net] }),
        net,
      );
      await w.escrow.write.release([id, X], { account: w.wallets.alice.account });
      expect(await attacker.read.started(), "the receive ran out of its stipend and reverted").to.equal(0n);
      expect(await w.escrow.read.owed([attacker.address, zeroAddress])).to.equal(net);
      await w.expectConservation(zeroAddress);
      await attacker.write.execute([
        w.escrow.address,
        0n,
        encodeFunctionData({ abi: w.escrow.abi, functionName: "withdraw", args: [zeroAddress] }),
      ]);
      expect((await attacker.read.outcomes())[0].succeeded).to.equal(true);
      expect(await w.hub.read.balanceOf([attacker.address, zeroAddress])).to.equal(net);
      expect(await holdings(env, zeroAddress)).to.equal(net);
      await w.expectConservation(zeroAddress);
    },
  );

  scenario(
    AREA,
    "SettlementHub → Escrow",
    "a hub withdrawal locks the withdrawn funds in a new escrow from inside the payout",
    `the escrow is created with the attacker as payer and the full amount; ${CONSERVATION}`,
    async () => {
      const env = await networkHelpers.loadFixture(base);
      const { w, attacker, hook } = env;
      await w.hub.write.depositFor([attacker.address, hook.address, X], { account: w.wallets.alice.account });
      await attacker.write.execute([
        w.hub.address,
        0n,
        encodeFunctionData({ abi: w.hub.abi, functionName: "requestWithdrawal", args: [hook.address, X] }),
      ]);
      await time.increase(WITHDRAWAL_DELAY);
      const terms = await w.escrowTerms({ token: hook.address, amount: X, payee: w.address("bob") });
      await enqueue(
        env,
        w.escrow.address,
        encodeFunctionData({ abi: w.escrow.abi, functionName: "create", args: [terms] }),
      );
      await attacker.write.execute([
        w.hub.address,
        0n,
        encodeFunctionData({ abi: w.hub.abi, functionName: "withdraw", args: [hook.address, attacker.address] }),
      ]);
      expect((await attacker.read.outcomes())[0].succeeded).to.equal(true);
      const created = await w.escrow.read.getEscrow([1n]);
      w.escrowIds.add(1n);
      expect(created.payer.toLowerCase()).to.equal(attacker.address.toLowerCase());
      expect(created.remaining).to.equal(X);
      await w.expectConservation(hook.address);
    },
  );
});
