import { describe } from "node:test";
import { expect } from "chai";
import { network } from "hardhat";
import { BaseError, ContractFunctionRevertedError, encodeFunctionData, getAddress, zeroAddress } from "viem";
import { scenario, writeScenarioRowsAfterSuite } from "./report.js";
import { deployWorld, feeOn, MAX_128 } from "./world.js";

const AREA = "Edge paths";

/**
 * Defensive checks that only a hostile environment reaches: a token that delivers more than was
 * asked (so the measured amount exceeds 128 bits), and a caller that starves a native push of gas
 * to force a payout into the owed ledger.
 */
describe("Security: edge paths", async () => {
  writeScenarioRowsAfterSuite();
  const connection = await network.create();
  const { viem, networkHelpers } = connection;

  async function base() {
    const w = await deployWorld(connection);
    const attacker = await viem.deployContract("ReentrancyAttacker");
    const hook = await viem.deployContract("CallbackToken");
    await attacker.write.registerHook([hook.address]);
    w.accounts.add(attacker.address);
    await hook.write.mint([attacker.address, 2n * MAX_128]);
    const approve = encodeFunctionData({ abi: hook.abi, functionName: "approve", args: [w.escrow.address, 1n] });
    await attacker.write.execute([hook.address, 0n, approve]);
    const burner = await viem.deployContract("GasBurner");
    w.accounts.add(burner.address);
    return { w, attacker, hook, burner };
  }

  scenario(
    AREA,
    "Escrow",
    "a token that delivers more than was asked: the payer's hook donates 2^128 to the escrow during create",
    "create measures what arrived (1 + 2^128), refuses it with EscrowAmountTooLarge(1 + 2^128) instead of truncating, and the whole creation reverts (no escrow, no tokens kept)",
    async () => {
      const { w, attacker, hook } = await networkHelpers.loadFixture(base);
      const donate = encodeFunctionData({
        abi: hook.abi,
        functionName: "transfer",
        args: [w.escrow.address, MAX_128 + 1n],
      });
      await attacker.write.arm([hook.address, donate]);
      const terms = await w.escrowTerms({ token: hook.address, amount: 1n });
      const create = encodeFunctionData({ abi: w.escrow.abi, functionName: "create", args: [terms] });
      await viem.assertions.revertWithCustomErrorWithArgs(
        attacker.write.execute([w.escrow.address, 0n, create]),
        w.escrow,
        "EscrowAmountTooLarge",
        [MAX_128 + 2n],
      );
      expect((await w.escrow.read.getEscrow([1n])).payer).to.equal(zeroAddress);
      expect(await hook.read.balanceOf([w.escrow.address])).to.equal(0n);
      await w.expectConservation(hook.address);
    },
  );

  scenario(
    AREA,
    "Escrow (Payouts library)",
    "a caller starving the native push of gas to force a payee into the owed ledger",
    "with a gas limit so low that the failed push leaves under 1/63 of the stipend, release reverts with PayoutsInsufficientGas and nothing changes; with enough gas the payout to the gas-burning payee is deferred as designed",
    async () => {
      const { w, burner } = await networkHelpers.loadFixture(base);
      const id = await w.createEscrow(
        await w.escrowTerms({ token: zeroAddress, amount: 1_000n, payee: burner.address }),
      );
      const alice = w.wallets.alice.account;
      // Under `--coverage` every statement pays for instrumentation, so the revert itself may run
      // out of gas in the starving window: the property checked then is that the starved release
      // reverts (never defers); without instrumentation it must be PayoutsInsufficientGas exactly.
      const instrumented = process.env.HARDHAT_COVERAGE === "true";
      let starving: bigint | undefined;
      let sawSuccess = false;
      // Every gas limit from the bottom up, in steps finer than the starving window (which under
      // instrumentation is only a few hundred gas wide), until the release first succeeds: every
      // higher limit defers the payout instead.
      for (let gas = 30_000n; gas <= 600_000n && starving === undefined && !sawSuccess; gas += 100n) {
        try {
          await w.escrow.simulate.release([id, 1_000n], { account: alice.address, gas });
          sawSuccess = true;
        } catch (error) {
          const revert =
            error instanceof BaseError ? error.walk((e) => e instanceof ContractFunctionRevertedError) : undefined;
          const name = revert instanceof ContractFunctionRevertedError ? revert.data?.errorName : undefined;
          if (name === "PayoutsInsufficientGas") starving = gas;
        }
      }
      if (instrumented && starving === undefined) {
        expect(sawSuccess, "the release succeeds with enough gas").to.equal(true);
      } else {
        expect(starving, "a gas limit that starves the push exists").to.not.equal(undefined);
        await viem.assertions.revertWithCustomError(
          w.escrow.write.release([id, 1_000n], { account: alice, gas: starving }),
          w.escrow,
          "PayoutsInsufficientGas",
        );
      }
      expect(await w.escrow.read.remaining([id])).to.equal(1_000n);
      expect(await w.escrow.read.owed([burner.address, zeroAddress])).to.equal(0n);
      await w.escrow.write.release([id, 1_000n], { account: alice });
      expect(await w.escrow.read.owed([getAddress(burner.address), zeroAddress])).to.equal(1_000n - feeOn(1_000n));
      await w.expectConservation(zeroAddress);
    },
  );
});
