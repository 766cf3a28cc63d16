import { describe } from "node:test";
import { expect } from "chai";
import { network } from "hardhat";
import { type Address, BaseError, encodeFunctionData, type Hex, parseEventLogs, zeroAddress, zeroHash } from "viem";
import { channelTargets, escrowTargets, hubTargets, type ReentryContext, type ReentryTarget } from "./attack-kit.js";
import { scenario, writeScenarioRowsAfterSuite } from "./report.js";
import { CHALLENGE_PERIOD, DAY, deployWorld, feeOn, WITHDRAWAL_DELAY, type World } from "./world.js";

const AREA = "Reentrancy";
const X = 10n ** 18n; // the attacked position
const B = 3n * 10n ** 18n; // the honest bystander's position

type Via = "native" | "hook";

/**
 * Every payout path of every settlekit contract, with a {ReentrancyAttacker} as the party paid,
 * re-entering every external state-changing function of that contract: from its native `receive`
 * (the 30,000-gas push) and from a CallbackToken hook (ERC-777-style, all gas). Each re-entrant
 * call must revert with `ReentrancyGuardReentrantCall` (owner-only Ownable2Step functions, which
 * are not guarded, with `OwnableUnauthorizedAccount`); the outer payout must still complete; the
 * contract must conserve funds; the attacker must end with exactly what it was owed; and an honest
 * bystander's position (carol pays dave) must still exit in full.
 */
describe("Security: reentrancy from receive and token hooks", async () => {
  writeScenarioRowsAfterSuite();
  const connection = await network.create();
  const { viem, networkHelpers } = connection;
  const { time } = networkHelpers;

  async function base() {
    const w = await deployWorld(connection);
    const attacker = await viem.deployContract("ReentrancyAttacker");
    const hook = await viem.deployContract("CallbackToken");
    await attacker.write.registerHook([hook.address]);
    w.accounts.add(attacker.address);
    for (const party of ["alice", "bob", "carol", "dave"] as const) await w.fund(hook.address, party, 100n * X);
    await hook.write.mint([attacker.address, 100n * X]);
    for (const spender of [w.escrow.address, w.hub.address, w.channels.address]) {
      const approve = encodeFunctionData({ abi: hook.abi, functionName: "approve", args: [spender, 100n * X] });
      await attacker.write.execute([hook.address, 0n, approve]);
    }
    // The honest bystanders' positions, in both currencies: carol pays dave.
    const bystander: Record<Via, { escrowId: bigint; channelId: Hex }> = {} as never;
    for (const via of ["native", "hook"] as const) {
      const token = via === "native" ? zeroAddress : hook.address;
      const escrowId = await w.createEscrow(
        await w.escrowTerms({ token, amount: B, payee: w.address("dave") }),
        "carol",
      );
      const channelId = await w.openChannel({ token, amount: B, payee: w.address("dave"), salt: 99n }, "carol");
      await w.hub.write.deposit([token, B], { account: w.wallets.carol.account, value: via === "native" ? B : 0n });
      bystander[via] = { escrowId, channelId };
    }
    return { w, attacker, hook, bystander };
  }

  type Env = Awaited<ReturnType<typeof base>>;

  /** A path under attack: sets up the position, then says how to trigger the payout and what the attacker is owed. */
  interface Path {
    name: string;
    /** The attacker pays in (create, deposit, open, top-up) rather than being paid. */
    entry?: true;
    vias: Via[];
    prepare(
      env: Env,
      token: Address,
    ): Promise<{ trigger: () => Promise<unknown>; gain: bigint; ctx: Partial<ReentryContext> }>;
  }

  /** The attacker's claim on value: its token balance + its owed balances + its hub balance. */
  async function holdings({ w, attacker }: Env, token: Address) {
    return (
      (await w.balanceOf(token, attacker.address)) +
      (await w.escrow.read.owed([attacker.address, token])) +
      (await w.channels.read.owed([attacker.address, token])) +
      (await w.hub.read.balanceOf([attacker.address, token]))
    );
  }

  /** Makes the attacker call `to` with `data` (mallory pays any value and the gas). */
  async function act({ w, attacker }: Env, to: Address, data: Hex, value = 0n) {
    return attacker.write.execute([to, value, data], { account: w.wallets.mallory.account, value });
  }

  async function createdEscrowId({ w }: Env, hash: Hex): Promise<bigint> {
    const receipt = await w.publicClient.waitForTransactionReceipt({ hash });
    const [log] = parseEventLogs({ abi: w.escrow.abi, logs: receipt.logs, eventName: "EscrowCreated" });
    w.escrowIds.add(log.args.id);
    return log.args.id;
  }

  /** The attacker, as payer, locks X in an escrow for bob. */
  async function attackerEscrow(env: Env, token: Address, fields: { arbiter?: Address } = {}) {
    const { w } = env;
    const terms = await w.escrowTerms({ token, amount: X, ...fields });
    const data = encodeFunctionData({ abi: w.escrow.abi, functionName: "create", args: [terms] });
    return createdEscrowId(env, await act(env, w.escrow.address, data, token === zeroAddress ? X : 0n));
  }

  /** The attacker, as payer, opens a channel of X to bob. */
  async function attackerChannel(env: Env, token: Address): Promise<Hex> {
    const { w, attacker } = env;
    const salt = zeroHash;
    const id = await w.channels.read.channelIdOf([attacker.address, w.address("bob"), token, salt]);
    const data = encodeFunctionData({
      abi: w.channels.abi,
      functionName: "open",
      args: [w.address("bob"), token, zeroAddress, X, salt],
    });
    await act(env, w.channels.address, data, token === zeroAddress ? X : 0n);
    w.channelIds.add(id);
    return id;
  }

  async function settleableEscrow({ w, attacker }: Env, token: Address) {
    // Deadlines a day ahead: a fixture restored later puts its next block as many seconds after
    // `latest()` as have passed since it was built, which can be minutes into a slow run.
    const now = BigInt(await time.latest());
    const terms = await w.escrowTerms({ token, amount: X, payee: attacker.address, onExpiry: 1, deadline: now + DAY });
    const id = await w.createEscrow(terms);
    await time.increase(DAY + 1n);
    return id;
  }

  const escrowPaths: Path[] = [
    {
      name: "release pays the attacking payee",
      vias: ["native", "hook"],
      async prepare(env, token) {
        const { w, attacker } = env;
        const id = await w.createEscrow(await w.escrowTerms({ token, amount: X, payee: attacker.address }));
        return {
          trigger: () => w.escrow.write.release([id, X], { account: w.wallets.alice.account }),
          gain: X - feeOn(X),
          ctx: { escrowId: id },
        };
      },
    },
    {
      name: "releaseWithSig (submitted by a relayer) pays the attacking payee",
      vias: ["native", "hook"],
      async prepare(env, token) {
        const { w, attacker } = env;
        const id = await w.createEscrow(await w.escrowTerms({ token, amount: X, payee: attacker.address }));
        const deadline = BigInt(await time.latest()) + DAY;
        const signature = await w.signReleaseAs("alice", { id, releasedTotal: X, deadline });
        return {
          trigger: () =>
            w.escrow.write.releaseWithSig([id, X, deadline, signature], { account: w.wallets.relayer.account }),
          gain: X - feeOn(X),
          ctx: { escrowId: id },
        };
      },
    },
    {
      name: "refund pays the attacking payer",
      vias: ["native", "hook"],
      async prepare(env, token) {
        const { w } = env;
        const id = await attackerEscrow(env, token);
        return {
          trigger: () => w.escrow.write.refund([id, X], { account: w.wallets.bob.account }),
          gain: X,
          ctx: { escrowId: id },
        };
      },
    },
    {
      name: "resolve pays the attacking payee, then the payer",
      vias: ["native", "hook"],
      async prepare(env, token) {
        const { w, attacker } = env;
        const terms = await w.escrowTerms({ token, amount: X, payee: attacker.address, arbiter: w.address("arbiter") });
        const id = await w.createEscrow(terms);
        await w.escrow.write.dispute([id], { account: w.wallets.alice.account });
        return {
          trigger: () => w.escrow.write.resolve([id, X / 2n], { account: w.wallets.arbiter.account }),
          gain: X / 2n - feeOn(X / 2n),
          ctx: { escrowId: id },
        };
      },
    },
    {
      name: "settleExpired releases to the attacking payee",
      vias: ["native", "hook"],
      async prepare(env, token) {
        const { w } = env;
        const id = await settleableEscrow(env, token);
        return {
          trigger: () => w.escrow.write.settleExpired([id], { account: w.wallets.relayer.account }),
          gain: X - feeOn(X),
          ctx: { escrowId: id },
        };
      },
    },
    {
      name: "settleExpiredBatch releases to the attacking payee",
      vias: ["native", "hook"],
      async prepare(env, token) {
        const { w } = env;
        const id = await settleableEscrow(env, token);
        return {
          trigger: () => w.escrow.write.settleExpiredBatch([[id, id]], { account: w.wallets.relayer.account }),
          gain: X - feeOn(X),
          ctx: { escrowId: id },
        };
      },
    },
    {
      name: "withdraw pays the attacker its owed balance",
      vias: ["native", "hook"],
      async prepare(env, token) {
        const { w, attacker } = env;
        const id = await w.createEscrow(await w.escrowTerms({ token, amount: X, payee: attacker.address }));
        await attacker.write.setRejecting([true]);
        await w.escrow.write.release([id, X], { account: w.wallets.alice.account });
        await attacker.write.setRejecting([false]);
        expect(await w.escrow.read.owed([attacker.address, token])).to.equal(X - feeOn(X));
        const data = encodeFunctionData({ abi: w.escrow.abi, functionName: "withdraw", args: [token] });
        return { trigger: () => act(env, w.escrow.address, data), gain: 0n, ctx: { escrowId: id } };
      },
    },
    {
      name: "create pulls the deposit from the attacker",
      entry: true,
      vias: ["hook"],
      async prepare(env, token) {
        const { w } = env;
        const terms = await w.escrowTerms({ token, amount: X });
        const data = encodeFunctionData({ abi: w.escrow.abi, functionName: "create", args: [terms] });
        return {
          trigger: async () => createdEscrowId(env, await act(env, w.escrow.address, data)),
          gain: -X,
          ctx: {},
        };
      },
    },
    {
      name: "createWithPermit pulls the deposit from the attacker",
      entry: true,
      vias: ["hook"],
      async prepare(env, token) {
        const { w } = env;
        const terms = await w.escrowTerms({ token, amount: X });
        const data = encodeFunctionData({
          abi: w.escrow.abi,
          functionName: "createWithPermit",
          args: [terms, 0n, 27, zeroHash, zeroHash],
        });
        return {
          trigger: async () => createdEscrowId(env, await act(env, w.escrow.address, data)),
          gain: -X,
          ctx: {},
        };
      },
    },
  ];

  const hubPaths: Path[] = [
    {
      name: "withdraw pays the attacker",
      vias: ["native", "hook"],
      async prepare(env, token) {
        const { w, attacker } = env;
        await w.hub.write.depositFor([attacker.address, token, X], {
          account: w.wallets.alice.account,
          value: token === zeroAddress ? X : 0n,
        });
        const request = encodeFunctionData({ abi: w.hub.abi, functionName: "requestWithdrawal", args: [token, X] });
        await act(env, w.hub.address, request);
        await time.increase(WITHDRAWAL_DELAY);
        const data = encodeFunctionData({ abi: w.hub.abi, functionName: "withdraw", args: [token, attacker.address] });
        return { trigger: () => act(env, w.hub.address, data), gain: 0n, ctx: {} };
      },
    },
    {
      name: "deposit pulls from the attacker",
      entry: true,
      vias: ["hook"],
      async prepare(env, token) {
        const { w } = env;
        const data = encodeFunctionData({ abi: w.hub.abi, functionName: "deposit", args: [token, X] });
        return { trigger: () => act(env, w.hub.address, data), gain: 0n, ctx: {} };
      },
    },
    {
      name: "depositFor pulls from the attacker",
      entry: true,
      vias: ["hook"],
      async prepare(env, token) {
        const { w, attacker } = env;
        const data = encodeFunctionData({
          abi: w.hub.abi,
          functionName: "depositFor",
          args: [attacker.address, token, X],
        });
        return { trigger: () => act(env, w.hub.address, data), gain: 0n, ctx: {} };
      },
    },
  ];

  /** A channel from alice to the attacker, and alice's voucher for X on it. */
  async function channelToAttacker(env: Env, token: Address) {
    const { w, attacker } = env;
    const id = await w.openChannel({ token, amount: 2n * X, payee: attacker.address });
    return { id, signature: await w.signVoucher("alice", id, X) };
  }

  const channelPaths: Path[] = [
    {
      name: "claim (submitted by a watchtower) pays the attacking payee",
      vias: ["native", "hook"],
      async prepare(env, token) {
        const { w } = env;
        const { id, signature } = await channelToAttacker(env, token);
        return {
          trigger: () => w.channels.write.claim([id, X, signature], { account: w.wallets.relayer.account }),
          gain: X,
          ctx: { channelId: id },
        };
      },
    },
    {
      name: "claimBatch pays the attacking payee and the honest payee in one batch",
      vias: ["native", "hook"],
      async prepare(env, token) {
        const { w, bystander } = env;
        const { id, signature } = await channelToAttacker(env, token);
        const honest = bystander[token === zeroAddress ? "native" : "hook"].channelId;
        const honestSignature = await w.signVoucher("carol", honest, 1n);
        const claims = [
          { channelId: id, cumulativeAmount: X, signature },
          { channelId: honest, cumulativeAmount: 1n, signature: honestSignature },
        ];
        return {
          trigger: () => w.channels.write.claimBatch([claims], { account: w.wallets.relayer.account }),
          gain: X,
          ctx: { channelId: id },
        };
      },
    },
    {
      name: "close pays the attacking payee its final claim",
      vias: ["native", "hook"],
      async prepare(env, token) {
        const { w } = env;
        const { id, signature } = await channelToAttacker(env, token);
        const data = encodeFunctionData({ abi: w.channels.abi, functionName: "close", args: [id, X, signature] });
        return { trigger: () => act(env, w.channels.address, data), gain: X, ctx: { channelId: id } };
      },
    },
    {
      name: "close by the payee refunds the attacking payer",
      vias: ["native", "hook"],
      async prepare(env, token) {
        const { w } = env;
        const id = await attackerChannel(env, token);
        return {
          trigger: () => w.channels.write.close([id, 0n, "0x"], { account: w.wallets.bob.account }),
          gain: X,
          ctx: { channelId: id },
        };
      },
    },
    {
      name: "finalizeClose refunds the attacking payer",
      vias: ["native", "hook"],
      async prepare(env, token) {
        const { w } = env;
        const id = await attackerChannel(env, token);
        const request = encodeFunctionData({ abi: w.channels.abi, functionName: "requestClose", args: [id] });
        await act(env, w.channels.address, request);
        await time.increase(CHALLENGE_PERIOD);
        return {
          trigger: () => w.channels.write.finalizeClose([id], { account: w.wallets.relayer.account }),
          gain: X,
          ctx: { channelId: id },
        };
      },
    },
    {
      name: "withdraw pays the attacker its owed balance",
      vias: ["native", "hook"],
      async prepare(env, token) {
        const { w, attacker } = env;
        const { id, signature } = await channelToAttacker(env, token);
        await attacker.write.setRejecting([true]);
        await w.channels.write.claim([id, X, signature], { account: w.wallets.relayer.account });
        await attacker.write.setRejecting([false]);
        expect(await w.channels.read.owed([attacker.address, token])).to.equal(X);
        const data = encodeFunctionData({ abi: w.channels.abi, functionName: "withdraw", args: [token] });
        return { trigger: () => act(env, w.channels.address, data), gain: 0n, ctx: { channelId: id } };
      },
    },
    {
      name: "open pulls the deposit from the attacker",
      entry: true,
      vias: ["hook"],
      async prepare(env, token) {
        const { w, attacker } = env;
        const salt = `0x${"07".repeat(32)}` as Hex;
        w.channelIds.add(await w.channels.read.channelIdOf([attacker.address, w.address("bob"), token, salt]));
        const data = encodeFunctionData({
          abi: w.channels.abi,
          functionName: "open",
          args: [w.address("bob"), token, zeroAddress, X, salt],
        });
        return { trigger: () => act(env, w.channels.address, data), gain: -X, ctx: {} };
      },
    },
    {
      name: "topUp pulls the deposit from the attacker",
      entry: true,
      vias: ["hook"],
      async prepare(env, token) {
        const { w } = env;
        const id = await attackerChannel(env, token);
        const data = encodeFunctionData({ abi: w.channels.abi, functionName: "topUp", args: [id, X] });
        return { trigger: () => act(env, w.channels.address, data), gain: -X, ctx: { channelId: id } };
      },
    },
  ];

  /** The honest bystander exits in full after the attack: carol's position pays dave. */
  async function bystanderExits(env: Env, contract: string, via: Via, token: Address) {
    const { w, bystander } = env;
    const dave = w.address("dave");
    const before = await w.balanceOf(token, dave);
    if (contract === "Escrow") {
      await w.escrow.write.release([bystander[via].escrowId, B], { account: w.wallets.carol.account });
      expect(await w.balanceOf(token, dave), "the bystander's escrow pays out in full").to.equal(before + B - feeOn(B));
    } else if (contract === "SettlementHub") {
      await w.hub.write.requestWithdrawal([token, B], { account: w.wallets.carol.account });
      await time.increase(WITHDRAWAL_DELAY);
      await w.hub.write.withdraw([token, dave], { account: w.wallets.carol.account });
      expect(await w.balanceOf(token, dave), "the bystander's hub balance withdraws in full").to.equal(before + B);
    } else {
      const id = bystander[via].channelId;
      const claimed = (await w.channels.read.getChannel([id])).claimed;
      await w.channels.write.claim([id, B, await w.signVoucher("carol", id, B)], {
        account: w.wallets.relayer.account,
      });
      expect(await w.balanceOf(token, dave), "the bystander's channel pays out in full").to.equal(before + B - claimed);
    }
  }

  /**
   * What a withdraw path tries to pay the attacker, read before the pull: its owed balance (Escrow,
   * PaymentChannels) or its hub balance (SettlementHub, whose request covers the whole balance).
   */
  async function dueOf({ w, attacker }: Env, contract: string, token: Address): Promise<bigint> {
    if (contract === "Escrow") return w.escrow.read.owed([attacker.address, token]);
    if (contract === "SettlementHub") return w.hub.read.balanceOf([attacker.address, token]);
    return w.channels.read.owed([attacker.address, token]);
  }

  /** The contract instance (for its ABI, which includes the Payouts library's errors). */
  function contractOf(w: World, contract: string) {
    if (contract === "Escrow") return w.escrow;
    if (contract === "SettlementHub") return w.hub;
    return w.channels;
  }

  /**
   * Asserts that `pull` was refused by the node as a contract revert carrying no revert data: what a
   * receiver's hook burning all its gas (INVALID) leaves once the token and SafeERC20 bubble it up.
   * An exception that is no viem error (a TypeError in the test), a failure the node did not report
   * as a revert, or a revert with data (a custom error such as `PayoutsNothingOwed`) fails it.
   */
  async function expectRevertWithoutData(pull: Promise<unknown>, message: string) {
    const error = await pull.then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error, `${message}: it reverted`).to.be.instanceOf(BaseError);
    const reverted = (error as BaseError).walk((cause) => (cause as Error).name === "ContractFunctionRevertedError") as
      | (BaseError & { raw?: Hex; data?: unknown })
      | null;
    expect(reverted?.name, `${message}: a contract revert reported by the node, not ${error}`).to.equal(
      "ContractFunctionRevertedError",
    );
    expect(reverted?.raw ?? "0x", `${message}: no revert data`).to.equal("0x");
    expect(reverted?.data, `${message}: no decoded error`).to.equal(undefined);
  }

  function liabilitiesOf(w: World, contract: string) {
    if (contract === "Escrow") return { holder: w.escrow.address, owes: w.escrowLiabilities };
    if (contract === "SettlementHub") return { holder: w.hub.address, owes: w.hubLiabilities };
    return { holder: w.channels.address, owes: w.channelLiabilities };
  }

  const RECEIVERS = "Hostile receivers";
  const modes = [
    { label: "reverts on receipt", refuses: true, set: (a: Env["attacker"]) => a.write.setRejecting([true]) },
    {
      label: "burns all the gas it is given",
      refuses: false,
      set: (a: Env["attacker"]) => a.write.setBurning([true]),
    },
  ];

  const suites: [string, Path[], (w: World, c: ReentryContext) => ReentryTarget[]][] = [
    ["Escrow", escrowPaths, escrowTargets],
    ["SettlementHub", hubPaths, hubTargets],
    ["PaymentChannels", channelPaths, channelTargets],
  ];

  for (const [contract, paths, targetsOf] of suites) {
    for (const path of paths) {
      for (const via of path.vias) {
        const from = via === "native" ? "native receive (30,000-gas push)" : "CallbackToken hook";
        scenario(
          AREA,
          contract,
          `${path.name}; re-entry from a ${from} into every external state-changing function`,
          "each re-entrant call reverts (ReentrancyGuardReentrantCall; owner-only functions OwnableUnauthorizedAccount); the payout completes; conservation; attacker gains exactly what it is owed; the bystander exits in full",
          async () => {
            const probe = await networkHelpers.loadFixture(base);
            const count = targetsOf(probe.w, {
              escrowId: 0n,
              channelId: zeroHash,
              token: zeroAddress,
              attacker: probe.attacker.address,
            }).length;
            for (let i = 0; i < count; i++) {
              const env = await networkHelpers.loadFixture(base);
              const { w, attacker } = env;
              const token = via === "native" ? zeroAddress : env.hook.address;
              const { trigger, gain, ctx } = await path.prepare(env, token);
              const target = targetsOf(w, {
                escrowId: ctx.escrowId ?? env.bystander[via].escrowId,
                channelId: ctx.channelId ?? env.bystander[via].channelId,
                token,
                attacker: attacker.address,
              })[i];
              const contractAddress = liabilitiesOf(w, contract).holder;
              await attacker.write.arm([contractAddress, target.data]);
              const held = await holdings(env, token);
              await trigger();
              const record = await attacker.read.record();
              expect(record.attempts > 0n, `${target.fn}: the attacker was paid and tried to re-enter`).to.equal(true);
              expect(record.successes, `${target.fn}: no re-entrant call succeeded`).to.equal(0n);
              expect(record.lastRevertSelector, `${target.fn}: the re-entrant call's revert`).to.equal(target.expected);
              const { holder, owes } = liabilitiesOf(w, contract);
              expect(await w.balanceOf(token, holder), `${target.fn}: conservation`).to.equal(await owes(token));
              expect((await holdings(env, token)) - held, `${target.fn}: the attacker's gain`).to.equal(gain);
              await attacker.write.disarm();
              await bystanderExits(env, contract, via, token);
              await w.expectConservation(token);
            }
          },
        );
      }
    }
  }

  // Every payout path again, with the party paid refusing the payment or burning all gas.
  for (const [contract, paths] of suites) {
    for (const path of paths.filter((p) => p.entry === undefined)) {
      for (const via of path.vias) {
        for (const mode of modes) {
          const pulled = path.name.startsWith("withdraw");
          const currency = via === "native" ? "in native currency" : "in an ERC-20 (CallbackToken hook)";
          scenario(
            RECEIVERS,
            contract,
            `${path.name}, ${currency}, to a receiver that ${mode.label}`,
            pulled
              ? `the pull reverts (the receiver chose to pull into itself) with ${
                  via === "native"
                    ? "PayoutsNativeTransferFailed(receiver, its due)"
                    : mode.refuses
                      ? "the receiver's ReentrancyAttackerRefused, bubbled up"
                      : "a revert without data (the hook's INVALID, bubbled up)"
                } and its balance stays owed; conservation; the bystander exits in full`
              : `the payout completes and is deferred to the receiver's owed balance (exactly its due, nothing pushed)${via === "native" ? "; the native push costs the caller at most the 30,000-gas stipend (transaction under 300,000 gas)" : ""}; conservation; the bystander exits in full`,
            async () => {
              const env = await networkHelpers.loadFixture(base);
              const { w, attacker } = env;
              const token = via === "native" ? zeroAddress : env.hook.address;
              const { trigger, gain } = await path.prepare(env, token);
              await mode.set(attacker);
              const wallet = await w.balanceOf(token, attacker.address);
              const held = await holdings(env, token);
              if (pulled) {
                const due = await dueOf(env, contract, token);
                expect(due > 0n, "the receiver is owed something to pull").to.equal(true);
                if (via === "native") {
                  // Refused, or with the forwarded gas burned (the 1/64 kept back pays for the revert),
                  // the transfer fails and the contract reverts with its own error naming both.
                  await viem.assertions.revertWithCustomErrorWithArgs(
                    trigger(),
                    contractOf(w, contract),
                    "PayoutsNativeTransferFailed",
                    [attacker.address, due],
                  );
                } else if (mode.refuses) {
                  // The token's hook reverts; the token and SafeERC20 bubble the receiver's own error.
                  await viem.assertions.revertWithCustomError(trigger(), attacker, "ReentrancyAttackerRefused");
                } else {
                  await expectRevertWithoutData(trigger(), "a pull into a receiver that burns all the gas");
                }
              } else {
                const receipt = await w.publicClient.waitForTransactionReceipt({ hash: (await trigger()) as Hex });
                expect(receipt.status).to.equal("success");
                if (via === "native") {
                  expect(receipt.gasUsed < 300_000n, `gas used ${receipt.gasUsed}`).to.equal(true);
                }
              }
              expect(await w.balanceOf(token, attacker.address), "nothing was pushed").to.equal(wallet);
              expect((await holdings(env, token)) - held, "the receiver's due, deferred").to.equal(gain);
              const { holder, owes } = liabilitiesOf(w, contract);
              expect(await w.balanceOf(token, holder), "conservation").to.equal(await owes(token));
              await attacker.write.setRejecting([false]);
              await attacker.write.setBurning([false]);
              await bystanderExits(env, contract, via, token);
              await w.expectConservation(token);
            },
          );
        }
      }
    }
  }
});
