import { describe, it } from "node:test";
import { expect } from "chai";
import { network } from "hardhat";
import type { Hex } from "viem";
import { keccak256, maxUint128, parseEther, stringToHex, zeroAddress } from "viem";
import { checkGasSnapshot } from "../helpers/gas.js";
import { DAY, FEE_BPS, RESOLUTION_TIMEOUT, ReleasePayee, signRelease, terms } from "./fixtures.js";

/**
 * Full-transaction gas of the Escrow hot paths, from receipts, in warm state: the contract
 * already holds the token (not its first escrow of it), the payee and payers already hold the
 * token, the fee recipient already has an owed balance, allowances are large and finite.
 * Fee 0.5%, escrows without an arbiter unless the operation needs one, with a non-zero `ref`.
 */
describe("Escrow gas", async () => {
  const { viem, networkHelpers } = await network.create();
  const publicClient = await viem.getPublicClient();
  const [owner, feeRecipient, payer, payee, arbiter, relayer, ...others] = await viem.getWalletClients();
  const chainId = await publicClient.getChainId();
  const amount = parseEther("100");
  const ref = keccak256(stringToHex("invoice-42"));

  async function gasOf(hash: Hex): Promise<bigint> {
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    expect(receipt.status).to.equal("success");
    return receipt.gasUsed;
  }

  it("records the gas of every operation in gas/Escrow.json", async () => {
    // A fixed clock: deadlines, and so calldata and signatures, are identical on every run. They
    // derive from this constant, not from the latest block, whose time also counts slow seconds.
    const now = 2_000_000_000n;
    await networkHelpers.time.increaseTo(now);
    const escrow = await viem.deployContract("Escrow", [
      owner.account.address,
      feeRecipient.account.address,
      FEE_BPS,
      RESOLUTION_TIMEOUT,
    ]);
    const token = await viem.deployContract("TestToken", ["Test", "TST", 18]);
    const payers = [payer, ...others.slice(0, 10)];
    for (const p of payers) {
      await token.write.mint([p.account.address, amount * 100n]);
      await token.write.approve([escrow.address, maxUint128], { account: p.account });
    }
    await token.write.mint([payee.account.address, 1n]);
    const base = terms({ payee: payee.account.address, token: token.address, amount, deadline: now + 30n * DAY, ref });
    const asPayer = { account: payer.account };

    // Warm-up: the contract's first escrow of the token, and a first fee accrual.
    await escrow.write.create([base], asPayer);
    await escrow.write.release([1n, amount], asPayer);

    const createErc20 = await gasOf(await escrow.write.create([base], asPayer)); // id 2
    const createNative = await gasOf(
      await escrow.write.create([{ ...base, token: zeroAddress }], { ...asPayer, value: amount }),
    ); // id 3
    const createWithArbiter = await gasOf(
      await escrow.write.create([{ ...base, arbiter: arbiter.account.address }], asPayer),
    ); // id 4

    const release = await gasOf(await escrow.write.release([2n, amount], asPayer));
    await escrow.write.create([base], asPayer); // id 5
    const releasePartial = await gasOf(await escrow.write.release([5n, amount / 4n], asPayer));
    const releaseNative = await gasOf(await escrow.write.release([3n, amount], asPayer));

    const deadline = now + 60n * DAY;
    const signature = await signRelease(payer, escrow.address, chainId, { id: 5n, releasedTotal: amount, deadline });
    const releaseWithSig = await gasOf(
      await escrow.write.releaseWithSig([5n, amount, deadline, signature], { account: relayer.account }),
    );

    await escrow.write.create([base], asPayer); // id 6
    const refund = await gasOf(await escrow.write.refund([6n, amount], { account: payee.account }));

    const dispute = await gasOf(await escrow.write.dispute([4n], asPayer));
    const resolve = await gasOf(await escrow.write.resolve([4n, amount / 2n], { account: arbiter.account }));

    // The same two operations on escrows created at a zero fee rate (no fee accrual to write).
    await escrow.write.setFee([0], { account: owner.account });
    const { result: noFeeA } = await escrow.simulate.create([base], { account: payer.account.address });
    await escrow.write.create([base], asPayer);
    await escrow.write.create([base], asPayer);
    await escrow.write.setFee([FEE_BPS], { account: owner.account });
    const releaseNoFee = await gasOf(await escrow.write.release([noFeeA, amount], asPayer));
    const noFeeSig = await signRelease(payer, escrow.address, chainId, {
      id: noFeeA + 1n,
      releasedTotal: amount,
      deadline,
    });
    const releaseWithSigNoFee = await gasOf(
      await escrow.write.releaseWithSig([noFeeA + 1n, amount, deadline, noFeeSig], { account: relayer.account }),
    );

    const expiringRefund = await escrow.simulate.create([base], { account: payer.account.address });
    await escrow.write.create([base], asPayer);
    const expiringRelease = expiringRefund.result + 1n;
    await escrow.write.create([{ ...base, onExpiry: ReleasePayee }], asPayer);
    // Batches: 1 and 11 escrows of distinct payers, refunded on expiry.
    const batchOf = async (count: number) => {
      const ids: bigint[] = [];
      for (const p of payers.slice(0, count)) {
        const { result } = await escrow.simulate.create([base], { account: p.account.address });
        await escrow.write.create([base], { account: p.account });
        ids.push(result);
      }
      return ids;
    };
    const single = await batchOf(1);
    const eleven = await batchOf(11);
    await networkHelpers.time.increase(31n * DAY);

    const settleExpired = await gasOf(
      await escrow.write.settleExpired([expiringRefund.result], { account: relayer.account }),
    );
    const settleExpiredRelease = await gasOf(
      await escrow.write.settleExpired([expiringRelease], { account: relayer.account }),
    );
    const batch1 = await gasOf(await escrow.write.settleExpiredBatch([single], { account: relayer.account }));
    const batch11 = await gasOf(await escrow.write.settleExpiredBatch([eleven], { account: relayer.account }));
    expect(await escrow.read.remaining([eleven[10]])).to.equal(0n);

    checkGasSnapshot("Escrow", {
      createErc20: { gas: createErc20, target: 140_000, note: "no arbiter; not the token's first escrow" },
      createNative: { gas: createNative, note: "no arbiter" },
      createErc20WithArbiter: { gas: createWithArbiter, note: "one more storage slot" },
      release: { gas: release, target: 55_000, note: "whole amount, ERC-20, fee 0.5%" },
      releasePartial: { gas: releasePartial, target: 55_000, note: "a quarter, ERC-20, fee 0.5%" },
      releaseNative: { gas: releaseNative, note: "whole amount, native, fee 0.5%" },
      releaseWithSig: { gas: releaseWithSig, target: 60_000, note: "EOA signature, submitted by a relayer" },
      releaseNoFee: { gas: releaseNoFee, target: 55_000, note: "whole amount, ERC-20, escrow created at fee 0" },
      releaseWithSigNoFee: { gas: releaseWithSigNoFee, target: 60_000, note: "EOA signature, escrow created at fee 0" },
      refund: { gas: refund, note: "whole amount, ERC-20" },
      dispute: { gas: dispute },
      resolve: { gas: resolve, note: "half to each side" },
      settleExpired: { gas: settleExpired, note: "refund to payer" },
      settleExpiredReleasePayee: { gas: settleExpiredRelease, note: "release to payee with fee" },
      settleExpiredBatchOne: { gas: batch1 },
      settleExpiredBatchMarginal: {
        gas: (batch11 - batch1) / 10n,
        target: 23_000,
        note: "per extra escrow, distinct payers refunded, batch of 11 minus batch of 1, over 10",
      },
    });
  });
});
