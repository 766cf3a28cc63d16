import { describe } from "node:test";
import { expect } from "chai";
import { network } from "hardhat";
import { type Address, getAddress, type Hex, zeroAddress } from "viem";
import { payment } from "../settlement/helpers.js";
import { scenario, writeScenarioRowsAfterSuite } from "./report.js";
import { DAY, deployWorld, feeOn, type Party, WITHDRAWAL_DELAY, type World } from "./world.js";

const AREA = "Hostile tokens";

/** A token the matrix runs against, and what it imitates. */
interface TokenCase {
  name: string;
  deploy: (w: World) => Promise<Address>;
  /** One whole token in its smallest units. */
  unit: bigint;
  /** The token's own transfer fee in basis points (fee-on-transfer tokens). */
  fotBps?: bigint;
}

const PARTIES: Party[] = ["alice", "bob", "carol", "dave", "feeRecipient", "relayer", "arbiter"];

/**
 * Every hostile token against every contract's entry (create / deposit / open) and payout paths.
 *
 * The lifecycle scenarios run a full life in each contract — entry, partial payouts in every
 * direction, a dispute or close, an expiry, the fee and owed withdrawals — with an honest bystander
 * (carol pays dave) beside the party under test. They assert conservation after every step, that
 * every party ends with exactly what the rules give it (net of the token's own transfer fee), and
 * that the contract ends holding nothing of the token. The targeted scenarios then use each
 * token's hostile behaviour: blocklisted payees, a blocklisted or paused contract, transfers that
 * return false, return-data bombs, zero-amount reverts.
 */
describe("Security: hostile tokens", async () => {
  writeScenarioRowsAfterSuite();
  const connection = await network.create();
  const { viem, networkHelpers } = connection;
  const { time } = networkHelpers;

  const cases: TokenCase[] = [
    { name: "native currency (baseline)", deploy: async () => zeroAddress, unit: 10n ** 18n },
    {
      name: "2-decimal token",
      deploy: async () => (await viem.deployContract("TestToken", ["Two", "TWO", 2])).address,
      unit: 100n,
    },
    {
      name: "24-decimal token",
      deploy: async () => (await viem.deployContract("TestToken", ["TwentyFour", "T24", 24])).address,
      unit: 10n ** 24n,
    },
    {
      name: "fee-on-transfer token (1% burnt per transfer)",
      deploy: async () => (await viem.deployContract("FeeOnTransferToken", [100n])).address,
      unit: 10n ** 18n,
      fotBps: 100n,
    },
    {
      name: "no-return-value token (USDT-style)",
      deploy: async () => (await viem.deployContract("NoReturnToken")).address,
      unit: 10n ** 6n,
    },
    {
      name: "returns-false token (transfers succeeding)",
      deploy: async () => (await viem.deployContract("ReturnsFalseToken")).address,
      unit: 10n ** 18n,
    },
    {
      name: "blocklist and pausable token (nobody blocked)",
      deploy: async () => (await viem.deployContract("BlocklistToken")).address,
      unit: 10n ** 6n,
    },
    {
      name: "ERC-777-style callback token (no hooks registered)",
      deploy: async () => (await viem.deployContract("CallbackToken")).address,
      unit: 10n ** 18n,
    },
    {
      name: "token reverting on zero-amount transfers",
      deploy: async () => (await viem.deployContract("ZeroTransferRevertToken")).address,
      unit: 10n ** 18n,
    },
    {
      name: "approve-zero-first token",
      deploy: async () => (await viem.deployContract("ApproveZeroFirstToken")).address,
      unit: 10n ** 18n,
    },
    {
      name: "return-data bomb token (500 kB returned by transfer)",
      deploy: async () => (await viem.deployContract("HugeReturnToken")).address,
      unit: 10n ** 18n,
    },
    {
      name: "max-supply token (balances near 2^256-1)",
      deploy: async () => (await viem.deployContract("MaxSupplyToken")).address,
      unit: 10n ** 18n,
    },
  ];

  /** Tracks what each party sent and received, net of the gas it paid (native currency). */
  function ledger(w: World, token: Address) {
    const gas: Partial<Record<Party, bigint>> = {};
    const start: Partial<Record<Party, bigint>> = {};
    return {
      async open() {
        for (const p of PARTIES) start[p] = await w.balanceOf(token, w.address(p));
      },
      /** Sends a transaction as `party`, charging its gas to it. */
      async as(party: Party, send: () => Promise<Hex>) {
        const receipt = await w.publicClient.waitForTransactionReceipt({ hash: await send() });
        expect(receipt.status).to.equal("success");
        if (token === zeroAddress) gas[party] = (gas[party] ?? 0n) + receipt.gasUsed * receipt.effectiveGasPrice;
        return receipt;
      },
      async delta(party: Party) {
        return (await w.balanceOf(token, w.address(party))) - (start[party] ?? 0n) + (gas[party] ?? 0n);
      },
    };
  }

  async function world(tc: TokenCase) {
    const w = await deployWorld(connection);
    const token = await tc.deploy(w);
    if (token !== zeroAddress) {
      for (const p of ["alice", "carol"] as const) await w.fund(token, p, 10_000n * tc.unit);
    }
    return { w, token };
  }

  // loadFixture needs one stable, named function per fixture.
  const fixtures = new Map(cases.map((tc) => [tc.name, { [tc.name]: () => world(tc) }[tc.name]]));

  for (const tc of cases) {
    const fot = (x: bigint) => (x * (tc.fotBps ?? 0n)) / 10_000n;
    const arrive = (x: bigint) => x - fot(x);
    const A = 1_000n * tc.unit;
    const load = () => networkHelpers.loadFixture(fixtures.get(tc.name) as () => ReturnType<typeof world>);

    scenario(
      AREA,
      "Escrow",
      `${tc.name}: create, release, refund, dispute + resolve, expiry and fee withdrawal`,
      "conservation after every step; each party ends with exactly its due (net of the token's own fee); the bystander's escrow expires to its payee; the escrow ends empty",
      async () => {
        const { w, token } = await load();
        const L = ledger(w, token);
        await L.open();
        const value = token === zeroAddress ? A : 0n;
        const terms = await w.escrowTerms({ token, amount: A, arbiter: w.address("arbiter") });
        await L.as("alice", () => w.escrow.write.create([terms], { account: w.wallets.alice.account, value }));
        w.escrowIds.add(1n);
        const held = arrive(A);
        expect(await w.escrow.read.remaining([1n]), "the escrow holds what arrived").to.equal(held);
        const now = BigInt(await time.latest());
        const bystanderTerms = await w.escrowTerms({
          token,
          amount: A,
          payee: w.address("dave"),
          onExpiry: 1,
          deadline: now + DAY,
        });
        await L.as("carol", () => w.escrow.write.create([bystanderTerms], { account: w.wallets.carol.account, value }));
        w.escrowIds.add(2n);
        await w.expectConservation(token);

        const r1 = held / 4n;
        await L.as("alice", () => w.escrow.write.release([1n, r1], { account: w.wallets.alice.account }));
        await w.expectConservation(token);
        const r2 = held / 4n;
        await L.as("bob", () => w.escrow.write.refund([1n, r2], { account: w.wallets.bob.account }));
        await w.expectConservation(token);
        await L.as("alice", () => w.escrow.write.dispute([1n], { account: w.wallets.alice.account }));
        const rest = held - r1 - r2;
        const toPayee = rest / 3n;
        await L.as("arbiter", () => w.escrow.write.resolve([1n, toPayee], { account: w.wallets.arbiter.account }));
        await w.expectConservation(token);

        await time.increase(DAY + 1n);
        await L.as("relayer", () => w.escrow.write.settleExpired([2n], { account: w.wallets.relayer.account }));
        await w.expectConservation(token);
        const fees = feeOn(r1) + feeOn(toPayee) + feeOn(held);
        expect(await w.escrow.read.owed([w.address("feeRecipient"), token])).to.equal(fees);
        await L.as("feeRecipient", () => w.escrow.write.withdraw([token], { account: w.wallets.feeRecipient.account }));
        await w.expectConservation(token);

        expect(await L.delta("alice"), "alice: paid A, got the refund and the payer's share").to.equal(
          -A + arrive(r2) + arrive(rest - toPayee),
        );
        expect(await L.delta("bob"), "bob: the release and the payee's share, less fees").to.equal(
          arrive(r1 - feeOn(r1)) + arrive(toPayee - feeOn(toPayee)),
        );
        expect(await L.delta("carol"), "carol: paid A").to.equal(-A);
        expect(await L.delta("dave"), "dave (bystander): the expired escrow, less the fee").to.equal(
          arrive(held - feeOn(held)),
        );
        expect(await L.delta("feeRecipient"), "the fee recipient: every fee").to.equal(arrive(fees));
        expect(await w.balanceOf(token, w.escrow.address), "the escrow ends empty").to.equal(0n);
      },
    );

    scenario(
      AREA,
      "SettlementHub",
      `${tc.name}: deposit, depositFor, settle with a relayer fee, withdrawals`,
      "conservation after every step; each party withdraws exactly its hub balance (net of the token's own fee); the hub ends empty",
      async () => {
        const { w, token } = await load();
        const L = ledger(w, token);
        await L.open();
        const value = token === zeroAddress ? A : 0n;
        await L.as("alice", () => w.hub.write.deposit([token, A], { account: w.wallets.alice.account, value }));
        await L.as("carol", () =>
          w.hub.write.depositFor([w.address("dave"), token, A], { account: w.wallets.carol.account, value }),
        );
        const held = arrive(A);
        expect(await w.hub.read.balanceOf([w.address("alice"), token])).to.equal(held);
        await w.expectConservation(token);

        const amount = held / 2n;
        const fee = held / 100n;
        const intent = payment({
          from: w.address("alice"),
          to: w.address("bob"),
          token,
          amount,
          fee,
          validBefore: BigInt(await time.latest()) + DAY,
        });
        const signature = await w.signIntent("alice", intent);
        await L.as("relayer", () => w.hub.write.settle([intent, signature], { account: w.wallets.relayer.account }));
        await w.expectConservation(token);

        const exits: [Party, bigint][] = [
          ["bob", amount],
          ["relayer", fee],
          ["dave", held],
          ["alice", held - amount - fee],
        ];
        for (const [party, due] of exits) {
          await L.as(party, () => w.hub.write.requestWithdrawal([token, due], { account: w.wallets[party].account }));
        }
        await time.increase(WITHDRAWAL_DELAY);
        for (const [party, due] of exits) {
          await L.as(party, () =>
            w.hub.write.withdraw([token, w.address(party)], { account: w.wallets[party].account }),
          );
          expect(await w.hub.read.balanceOf([w.address(party), token])).to.equal(0n);
          await w.expectConservation(token);
          const paid = party === "alice" ? -A + arrive(due) : arrive(due);
          expect(await L.delta(party), `${party} withdraws its balance`).to.equal(paid);
        }
        expect(await L.delta("carol")).to.equal(-A);
        expect(await w.balanceOf(token, w.hub.address), "the hub ends empty").to.equal(0n);
      },
    );

    scenario(
      AREA,
      "PaymentChannels",
      `${tc.name}: open, claim, topUp, close; requestClose, claim during the challenge, finalizeClose`,
      "conservation after every step; payees get exactly the claimed increases and payers the rest (net of the token's own fee); the contract ends empty",
      async () => {
        const { w, token } = await load();
        const L = ledger(w, token);
        await L.open();
        const value = token === zeroAddress ? A : 0n;
        const open = async (payer: Party, payee: Party) => {
          const salt = `0x${"11".repeat(32)}` as Hex;
          const id = await w.channels.read.channelIdOf([w.address(payer), w.address(payee), token, salt]);
          await L.as(payer, () =>
            w.channels.write.open([w.address(payee), token, zeroAddress, A, salt], {
              account: w.wallets[payer].account,
              value,
            }),
          );
          w.channelIds.add(id);
          return id;
        };
        const main = await open("alice", "bob");
        const bystander = await open("carol", "dave");
        const held = arrive(A);
        expect((await w.channels.read.getChannel([main])).deposit).to.equal(held);
        await w.expectConservation(token);

        const v1 = held / 3n;
        const first = await w.signVoucher("alice", main, v1);
        await L.as("relayer", () => w.channels.write.claim([main, v1, first], { account: w.wallets.relayer.account }));
        await w.expectConservation(token);
        await L.as("alice", () => w.channels.write.topUp([main, A], { account: w.wallets.alice.account, value }));
        const deposit = 2n * held;
        const v2 = deposit - held / 2n;
        const closing = await w.signVoucher("alice", main, v2);
        await L.as("bob", () => w.channels.write.close([main, v2, closing], { account: w.wallets.bob.account }));
        await w.expectConservation(token);

        await L.as("carol", () => w.channels.write.requestClose([bystander], { account: w.wallets.carol.account }));
        const v3 = held / 5n;
        const daveVoucher = await w.signVoucher("carol", bystander, v3);
        await L.as("dave", () =>
          w.channels.write.claim([bystander, v3, daveVoucher], { account: w.wallets.dave.account }),
        );
        await time.increase(3_600n);
        await L.as("relayer", () =>
          w.channels.write.finalizeClose([bystander], { account: w.wallets.relayer.account }),
        );
        await w.expectConservation(token);

        expect(await L.delta("bob"), "bob: both claims").to.equal(arrive(v1) + arrive(v2 - v1));
        expect(await L.delta("alice"), "alice: paid 2A, refunded the rest").to.equal(-2n * A + arrive(deposit - v2));
        expect(await L.delta("dave"), "dave (bystander): his claim").to.equal(arrive(v3));
        expect(await L.delta("carol"), "carol: paid A, refunded the rest").to.equal(-A + arrive(held - v3));
        expect(await w.balanceOf(token, w.channels.address), "the contract ends empty").to.equal(0n);
      },
    );
  }

  // ------------------------------------------------------------------ targeted hostile behaviour

  async function blocklistWorld() {
    const w = await deployWorld(connection);
    const token = await viem.deployContract("BlocklistToken");
    for (const p of ["alice", "carol"] as const) await w.fund(token.address, p, 10_000n);
    return { w, token };
  }

  const blockModes = [
    {
      label: "the payee is blocklisted (USDC-style)",
      apply: (t: Awaited<ReturnType<typeof blocklistWorld>>["token"], w: World) =>
        t.write.setBlocked([w.address("bob"), true]),
      undo: (t: Awaited<ReturnType<typeof blocklistWorld>>["token"], w: World) =>
        t.write.setBlocked([w.address("bob"), false]),
      contractBlocked: false,
      error: (w: World) => ["Blocked", [getAddress(w.address("bob"))]] as const,
    },
    {
      label: "the contract itself is blocklisted",
      apply: (t: Awaited<ReturnType<typeof blocklistWorld>>["token"], w: World, c: Address = w.escrow.address) =>
        t.write.setBlocked([c, true]),
      undo: (t: Awaited<ReturnType<typeof blocklistWorld>>["token"], w: World, c: Address = w.escrow.address) =>
        t.write.setBlocked([c, false]),
      contractBlocked: true,
      error: (_w: World, c: Address) => ["Blocked", [getAddress(c)]] as const,
    },
    {
      label: "the token is paused",
      apply: (t: Awaited<ReturnType<typeof blocklistWorld>>["token"]) => t.write.setPaused([true]),
      undo: (t: Awaited<ReturnType<typeof blocklistWorld>>["token"]) => t.write.setPaused([false]),
      contractBlocked: true,
      error: () => ["TokenPaused", []] as const,
    },
  ];

  for (const mode of blockModes) {
    scenario(
      AREA,
      "Escrow",
      `blocklist token — ${mode.label}: releases and refunds defer to owed, nobody's exit is blocked`,
      "release/refund/settleExpired complete and credit owed; create is refused while the contract cannot receive; conservation; after unblocking every owed balance withdraws in full; the bystander is made whole",
      async () => {
        const { w, token } = await networkHelpers.loadFixture(blocklistWorld);
        const t = token.address;
        await w.createEscrow(await w.escrowTerms({ token: t, amount: 1_000n }));
        const now = BigInt(await time.latest());
        await w.createEscrow(
          await w.escrowTerms({ token: t, amount: 1_000n, payee: w.address("dave"), deadline: now + DAY }),
          "carol",
        );
        await mode.apply(token, w, w.escrow.address);
        if (mode.contractBlocked) {
          const terms = await w.escrowTerms({ token: t, amount: 1n });
          const [name, args] = mode.error(w, w.escrow.address);
          await viem.assertions.revertWithCustomErrorWithArgs(
            w.escrow.write.create([terms], { account: w.wallets.alice.account }),
            token,
            name,
            [...args],
          );
        }
        await w.escrow.write.release([1n, 400n], { account: w.wallets.alice.account });
        await w.escrow.write.refund([1n, 100n], { account: w.wallets.bob.account });
        await time.increase(DAY + 1n);
        await w.escrow.write.settleExpired([2n], { account: w.wallets.relayer.account });
        await w.expectConservation(t);
        expect(await w.escrow.read.owed([w.address("bob"), t])).to.equal(400n - feeOn(400n));
        if (mode.contractBlocked) {
          expect(await w.escrow.read.owed([w.address("alice"), t])).to.equal(100n);
          expect(await w.escrow.read.owed([w.address("carol"), t])).to.equal(1_000n);
        }
        await mode.undo(token, w, w.escrow.address);
        for (const p of ["alice", "bob", "carol", "feeRecipient"] as const) {
          const due = await w.escrow.read.owed([w.address(p), t]);
          if (due === 0n) continue;
          const before = await token.read.balanceOf([w.address(p)]);
          await w.escrow.write.withdraw([t], { account: w.wallets[p].account });
          expect(await token.read.balanceOf([w.address(p)])).to.equal(before + due);
        }
        expect(await token.read.balanceOf([w.address("carol")]), "the bystander got her escrow back").to.equal(10_000n);
        await w.expectConservation(t);
        expect(await token.read.balanceOf([w.escrow.address])).to.equal(500n);
      },
    );

    scenario(
      AREA,
      "SettlementHub",
      `blocklist token — ${mode.label}: settlement continues, a withdrawal that cannot be paid reverts and stays pending`,
      "intents settle (internal moves); withdraw to a blocked destination reverts leaving the request pending; deposits are refused while the hub cannot receive; after unblocking everyone withdraws in full; conservation",
      async () => {
        const { w, token } = await networkHelpers.loadFixture(blocklistWorld);
        const t = token.address;
        await w.hub.write.deposit([t, 1_000n], { account: w.wallets.alice.account });
        await w.hub.write.deposit([t, 1_000n], { account: w.wallets.carol.account });
        await mode.apply(token, w, w.hub.address);
        if (mode.contractBlocked) {
          const [name, args] = mode.error(w, w.hub.address);
          await viem.assertions.revertWithCustomErrorWithArgs(
            w.hub.write.deposit([t, 1n], { account: w.wallets.alice.account }),
            token,
            name,
            [...args],
          );
        }
        const intent = payment({
          from: w.address("alice"),
          to: w.address("bob"),
          token: t,
          amount: 600n,
          validBefore: BigInt(await time.latest()) + DAY,
        });
        await w.hub.write.settle([intent, await w.signIntent("alice", intent)], { account: w.wallets.relayer.account });
        await w.hub.write.requestWithdrawal([t, 600n], { account: w.wallets.bob.account });
        await w.hub.write.requestWithdrawal([t, 1_000n], { account: w.wallets.carol.account });
        await time.increase(WITHDRAWAL_DELAY);
        const [name, args] = mode.error(w, w.hub.address);
        await viem.assertions.revertWithCustomErrorWithArgs(
          w.hub.write.withdraw([t, w.address("bob")], { account: w.wallets.bob.account }),
          token,
          name,
          [...args],
        );
        expect((await w.hub.read.getWithdrawalRequest([w.address("bob"), t])).amount, "still pending").to.equal(600n);
        if (!mode.contractBlocked) {
          const before = await token.read.balanceOf([w.address("carol")]);
          await w.hub.write.withdraw([t, w.address("carol")], { account: w.wallets.carol.account });
          expect(await token.read.balanceOf([w.address("carol")]), "the bystander is unaffected").to.equal(
            before + 1_000n,
          );
        }
        await w.expectConservation(t);
        await mode.undo(token, w, w.hub.address);
        await w.hub.write.withdraw([t, w.address("bob")], { account: w.wallets.bob.account });
        expect(await token.read.balanceOf([w.address("bob")])).to.equal(600n);
        if (mode.contractBlocked) {
          await w.hub.write.withdraw([t, w.address("carol")], { account: w.wallets.carol.account });
        }
        expect(await token.read.balanceOf([w.address("carol")])).to.equal(10_000n);
        await w.expectConservation(t);
        expect(await token.read.balanceOf([w.hub.address])).to.equal(400n);
      },
    );

    scenario(
      AREA,
      "PaymentChannels",
      `blocklist token — ${mode.label}: claims and refunds defer to owed, nobody's exit is blocked`,
      "claim/close/finalizeClose complete and credit owed; open is refused while the contract cannot receive; after unblocking every owed balance withdraws in full; conservation",
      async () => {
        const { w, token } = await networkHelpers.loadFixture(blocklistWorld);
        const t = token.address;
        const main = await w.openChannel({ token: t, amount: 1_000n });
        const bystander = await w.openChannel({ token: t, amount: 1_000n, payee: w.address("dave") }, "carol");
        await mode.apply(token, w, w.channels.address);
        if (mode.contractBlocked) {
          const [name, args] = mode.error(w, w.channels.address);
          await viem.assertions.revertWithCustomErrorWithArgs(
            w.channels.write.open([w.address("bob"), t, zeroAddress, 1n, `0x${"22".repeat(32)}`], {
              account: w.wallets.alice.account,
            }),
            token,
            name,
            [...args],
          );
        }
        await w.channels.write.claim([main, 300n, await w.signVoucher("alice", main, 300n)], {
          account: w.wallets.relayer.account,
        });
        await w.channels.write.close([main, 500n, await w.signVoucher("alice", main, 500n)], {
          account: w.wallets.bob.account,
        });
        await w.channels.write.requestClose([bystander], { account: w.wallets.carol.account });
        await time.increase(3_600n);
        await w.channels.write.finalizeClose([bystander], { account: w.wallets.relayer.account });
        await w.expectConservation(t);
        expect(await w.channels.read.owed([w.address("bob"), t])).to.equal(500n);
        await mode.undo(token, w, w.channels.address);
        for (const p of ["alice", "bob", "carol"] as const) {
          const due = await w.channels.read.owed([w.address(p), t]);
          if (due === 0n) continue;
          await w.channels.write.withdraw([t], { account: w.wallets[p].account });
        }
        expect(await token.read.balanceOf([w.address("bob")])).to.equal(500n);
        expect(await token.read.balanceOf([w.address("alice")])).to.equal(10_000n - 500n);
        expect(await token.read.balanceOf([w.address("carol")]), "the bystander got her deposit back").to.equal(
          10_000n,
        );
        await w.expectConservation(t);
        expect(await token.read.balanceOf([w.channels.address])).to.equal(0n);
      },
    );
  }

  async function returnsFalseWorld() {
    const w = await deployWorld(connection);
    const token = await viem.deployContract("ReturnsFalseToken");
    for (const p of ["alice", "carol"] as const) await w.fund(token.address, p, 10_000n);
    const escrowId = await w.createEscrow(await w.escrowTerms({ token: token.address, amount: 1_000n }));
    const channelId = await w.openChannel({ token: token.address, amount: 1_000n });
    await w.hub.write.deposit([token.address, 1_000n], { account: w.wallets.alice.account });
    await token.write.setFailTransfers([true]);
    return { w, token, escrowId, channelId };
  }

  scenario(
    AREA,
    "Escrow, SettlementHub, PaymentChannels",
    "returns-false token failing every transfer: entries are refused, payouts defer to owed, withdrawals revert until it works again",
    "create/deposit/open revert with SafeERC20FailedOperation; release and claim credit owed; owed and hub withdrawals revert and stay owed/pending; once transfers work everything withdraws in full; conservation",
    async () => {
      const { w, token, escrowId, channelId } = await networkHelpers.loadFixture(returnsFalseWorld);
      const t = token.address;
      const terms = await w.escrowTerms({ token: t, amount: 1n });
      await viem.assertions.revertWithCustomErrorWithArgs(
        w.escrow.write.create([terms], { account: w.wallets.alice.account }),
        w.escrow,
        "SafeERC20FailedOperation",
        [getAddress(t)],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        w.hub.write.deposit([t, 1n], { account: w.wallets.alice.account }),
        w.hub,
        "SafeERC20FailedOperation",
        [getAddress(t)],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        w.channels.write.open([w.address("bob"), t, zeroAddress, 1n, `0x${"33".repeat(32)}`], {
          account: w.wallets.alice.account,
        }),
        w.channels,
        "SafeERC20FailedOperation",
        [getAddress(t)],
      );
      await w.escrow.write.release([escrowId, 1_000n], { account: w.wallets.alice.account });
      await w.channels.write.claim([channelId, 700n, await w.signVoucher("alice", channelId, 700n)], {
        account: w.wallets.relayer.account,
      });
      const net = 1_000n - feeOn(1_000n);
      expect(await w.escrow.read.owed([w.address("bob"), t])).to.equal(net);
      expect(await w.channels.read.owed([w.address("bob"), t])).to.equal(700n);
      await w.expectConservation(t);
      await viem.assertions.revertWithCustomErrorWithArgs(
        w.escrow.write.withdraw([t], { account: w.wallets.bob.account }),
        w.escrow,
        "SafeERC20FailedOperation",
        [getAddress(t)],
      );
      await w.hub.write.requestWithdrawal([t, 1_000n], { account: w.wallets.alice.account });
      await time.increase(WITHDRAWAL_DELAY);
      await viem.assertions.revertWithCustomErrorWithArgs(
        w.hub.write.withdraw([t, w.address("alice")], { account: w.wallets.alice.account }),
        w.hub,
        "SafeERC20FailedOperation",
        [getAddress(t)],
      );
      expect(await w.escrow.read.owed([w.address("bob"), t]), "still owed").to.equal(net);
      await token.write.setFailTransfers([false]);
      await w.escrow.write.withdraw([t], { account: w.wallets.bob.account });
      await w.channels.write.withdraw([t], { account: w.wallets.bob.account });
      await w.hub.write.withdraw([t, w.address("alice")], { account: w.wallets.alice.account });
      expect(await token.read.balanceOf([w.address("bob")])).to.equal(net + 700n);
      expect(await token.read.balanceOf([w.address("alice")])).to.equal(10_000n - 2_000n);
      await w.expectConservation(t);
    },
  );

  async function hugeReturnWorld() {
    const w = await deployWorld(connection);
    const token = await viem.deployContract("HugeReturnToken");
    await w.fund(token.address, "alice", 10_000n);
    return { w, token };
  }

  scenario(
    AREA,
    "Escrow, PaymentChannels",
    "return-data bomb token: payouts read at most 32 bytes of the 500 kB returned",
    "release and claim push the payout (nothing deferred) and cost at most 150,000 gas more than a plain transfer of the token (which itself pays ~520,000 gas to return 500 kB); copying the blob would add as much again; conservation",
    async () => {
      const { w, token } = await networkHelpers.loadFixture(hugeReturnWorld);
      const t = token.address;
      const id = await w.createEscrow(await w.escrowTerms({ token: t, amount: 1_000n }));
      const channelId = await w.openChannel({ token: t, amount: 1_000n });
      const release = await w.publicClient.waitForTransactionReceipt({
        hash: await w.escrow.write.release([id, 1_000n], { account: w.wallets.alice.account }),
      });
      const claim = await w.publicClient.waitForTransactionReceipt({
        hash: await w.channels.write.claim([channelId, 1_000n, await w.signVoucher("alice", channelId, 1_000n)], {
          account: w.wallets.relayer.account,
        }),
      });
      // The token's own memory expansion to return 500 kB is paid in any transfer of it.
      const plain = await w.publicClient.waitForTransactionReceipt({
        hash: await token.write.transfer([w.address("carol"), 1n], { account: w.wallets.alice.account }),
      });
      expect(release.gasUsed < plain.gasUsed + 150_000n, `release ${release.gasUsed} vs ${plain.gasUsed}`).to.equal(
        true,
      );
      expect(claim.gasUsed < plain.gasUsed + 150_000n, `claim ${claim.gasUsed} vs ${plain.gasUsed}`).to.equal(true);
      expect(await token.read.balanceOf([w.address("bob")])).to.equal(1_000n - feeOn(1_000n) + 1_000n);
      expect(await w.escrow.read.owed([w.address("bob"), t])).to.equal(0n);
      await w.expectConservation(t);
    },
  );

  async function zeroRevertWorld() {
    const w = await deployWorld(connection);
    const token = await viem.deployContract("ZeroTransferRevertToken");
    await w.fund(token.address, "alice", 10_000n);
    return { w, token };
  }

  scenario(
    AREA,
    "Escrow, SettlementHub, PaymentChannels",
    "token reverting on zero-amount transfers: no path ever makes a zero transfer",
    "resolve with nothing to the payee and with nothing to the payer, close with nothing more to claim or refund, and a hub withdrawal of a spent balance all succeed; conservation",
    async () => {
      const { w, token } = await networkHelpers.loadFixture(zeroRevertWorld);
      const t = token.address;
      const arbiter = w.address("arbiter");
      for (const toPayee of [0n, 1_000n]) {
        const id = await w.createEscrow(await w.escrowTerms({ token: t, amount: 1_000n, arbiter }));
        await w.escrow.write.dispute([id], { account: w.wallets.alice.account });
        await w.escrow.write.resolve([id, toPayee], { account: w.wallets.arbiter.account });
        expect(await w.escrow.read.remaining([id])).to.equal(0n);
      }
      const channelId = await w.openChannel({ token: t, amount: 1_000n });
      await w.channels.write.claim([channelId, 1_000n, await w.signVoucher("alice", channelId, 1_000n)], {
        account: w.wallets.relayer.account,
      });
      await w.channels.write.close([channelId, 1_000n, "0x"], { account: w.wallets.bob.account });
      expect((await w.channels.read.getChannel([channelId])).status).to.equal(3);

      await w.hub.write.deposit([t, 500n], { account: w.wallets.alice.account });
      await w.hub.write.requestWithdrawal([t, 500n], { account: w.wallets.alice.account });
      const intent = payment({
        from: w.address("alice"),
        to: w.address("bob"),
        token: t,
        amount: 500n,
        validBefore: BigInt(await time.latest()) + DAY,
      });
      await w.hub.write.settle([intent, await w.signIntent("alice", intent)], { account: w.wallets.relayer.account });
      await time.increase(WITHDRAWAL_DELAY);
      await w.hub.write.withdraw([t, w.address("alice")], { account: w.wallets.alice.account });
      expect((await w.hub.read.getWithdrawalRequest([w.address("alice"), t])).amount).to.equal(0n);
      await w.expectConservation(t);
    },
  );
});
