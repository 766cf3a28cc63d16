import { describe, it } from "node:test";
import { expect } from "chai";
import { network } from "hardhat";
import { type Address, type Hex, maxUint256, zeroAddress } from "viem";
import { checkGasSnapshot } from "../helpers/gas.js";
import {
  CHALLENGE_PERIOD,
  DEPOSIT,
  deployChannels,
  localAccount,
  salt,
  signVoucher,
  voucherDomain,
} from "./helpers.js";

/**
 * Full-transaction gas of every PaymentChannels operation, from receipts, with an ERC-20 that
 * the contract, the payer and the payee already hold (never the contract's first channel of that
 * token), recorded in gas/PaymentChannels.json against the targets.
 */
describe("PaymentChannels gas", async () => {
  const { viem, networkHelpers } = await network.create();
  const publicClient = await viem.getPublicClient();

  async function gasOf(hash: Hex): Promise<bigint> {
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    expect(receipt.status).to.equal("success");
    return receipt.gasUsed;
  }

  const fixture = () => deployChannels(viem);

  it("records open, topUp, claim, claimBatch, close, requestClose, finalizeClose and amortized gas", async () => {
    const { channels, token, payer, payer2, payee } = await networkHelpers.loadFixture(fixture);
    const payerKey = localAccount(1);
    const domain = await voucherDomain(channels);
    const tokenAddress = token.address;
    const payeeAddress = payee.account.address;
    // Warm state: the contract already holds the token and the payee already has a balance.
    await token.write.mint([payeeAddress, 1n]);
    let nextSalt = 1;

    async function open(signer: Address = zeroAddress): Promise<{ id: Hex; gas: bigint }> {
      const s = salt(nextSalt++);
      const id = await channels.read.channelIdOf([payer.account.address, payeeAddress, tokenAddress, s]);
      const gas = await gasOf(
        await channels.write.open([payeeAddress, tokenAddress, signer, DEPOSIT, s], { account: payer.account }),
      );
      return { id, gas };
    }

    await open(); // the contract's first channel of this token: not measured
    const opened = await open();
    const openedWithSessionKey = await open(localAccount(9).address);

    // The same open from a payer whose allowance is unlimited (the token then skips the allowance write).
    await token.write.approve([channels.address, maxUint256], { account: payer2.account });
    const unlimitedSalt = salt(nextSalt++);
    const openUnlimitedAllowance = await gasOf(
      await channels.write.open([payeeAddress, tokenAddress, zeroAddress, DEPOSIT, unlimitedSalt], {
        account: payer2.account,
      }),
    );

    const topUp = await gasOf(await channels.write.topUp([opened.id, DEPOSIT], { account: payer.account }));

    const claimSig = await signVoucher(payerKey, domain, opened.id, 1_000n);
    const claim = await gasOf(await channels.write.claim([opened.id, 1_000n, claimSig], { account: payee.account }));
    const claimAgainSig = await signVoucher(payerKey, domain, opened.id, 2_000n);
    const claimAgain = await gasOf(
      await channels.write.claim([opened.id, 2_000n, claimAgainSig], { account: payee.account }),
    );

    // claimBatch marginal per channel: one payee, many channels; (batch of 11 - batch of 1) / 10.
    const batchIds: Hex[] = [];
    for (let i = 0; i < 12; i++) batchIds.push((await open()).id);
    const claimsFor = (ids: Hex[]) =>
      Promise.all(
        ids.map(async (channelId) => ({
          channelId,
          cumulativeAmount: 5_000n,
          signature: await signVoucher(payerKey, domain, channelId, 5_000n),
        })),
      );
    const batchOf1 = await gasOf(
      await channels.write.claimBatch([await claimsFor(batchIds.slice(0, 1))], { account: payee.account }),
    );
    const batchOf11 = await gasOf(
      await channels.write.claimBatch([await claimsFor(batchIds.slice(1, 12))], { account: payee.account }),
    );
    expect((await channels.read.getChannel([batchIds[11]])).claimed).to.equal(5_000n);
    const batchMarginal = (batchOf11 - batchOf1) / 10n;

    const closing = await open();
    const closeSig = await signVoucher(payerKey, domain, closing.id, 7_000n);
    const close = await gasOf(await channels.write.close([closing.id, 7_000n, closeSig], { account: payee.account }));

    const requested = await open();
    const requestClose = await gasOf(await channels.write.requestClose([requested.id], { account: payer.account }));
    await networkHelpers.time.increase(CHALLENGE_PERIOD);
    const finalizeClose = await gasOf(await channels.write.finalizeClose([requested.id], { account: payee.account }));

    // Amortized: open + one close with the latest of N vouchers (each paying 1 unit more), all
    // N signed off-chain; only the last goes on-chain.
    async function amortized(vouchers: number): Promise<bigint> {
      const channel = await open();
      let latest: Hex = "0x";
      for (let n = 1; n <= vouchers; n++) latest = await signVoucher(payerKey, domain, channel.id, BigInt(n));
      const closeGas = await gasOf(
        await channels.write.close([channel.id, BigInt(vouchers), latest], { account: payee.account }),
      );
      const state = await channels.read.getChannel([channel.id]);
      expect(state.claimed).to.equal(BigInt(vouchers));
      return (channel.gas + closeGas + BigInt(vouchers) / 2n) / BigInt(vouchers);
    }

    checkGasSnapshot("PaymentChannels", {
      open: {
        gas: opened.gas,
        target: 120_000,
        note: "ERC-20, payer signs vouchers, finite allowance (decremented by transferFrom)",
      },
      openUnlimitedAllowance: {
        gas: openUnlimitedAllowance,
        target: 120_000,
        note: "ERC-20, payer signs vouchers, unlimited allowance (no allowance write)",
      },
      openWithSessionKey: { gas: openedWithSessionKey.gas, note: "ERC-20, delegated signer: one more slot" },
      topUp: { gas: topUp },
      claim: { gas: claim, target: 58_000, note: "first claim on the channel, anyone submitting" },
      claimAgain: { gas: claimAgain, note: "a later claim on the same channel" },
      claimBatchOf1: { gas: batchOf1 },
      claimBatchMarginal: { gas: batchMarginal, target: 25_000, note: "per channel, one payee, (11 - 1) / 10" },
      close: { gas: close, target: 70_000, note: "payee, final voucher, refund to payer" },
      requestClose: { gas: requestClose },
      finalizeClose: { gas: finalizeClose },
      amortizedPerMicropayment1: { gas: await amortized(1), note: "(open + close) / 1 voucher" },
      amortizedPerMicropayment100: { gas: await amortized(100), note: "(open + close) / 100 vouchers" },
      amortizedPerMicropayment10000: {
        gas: await amortized(10_000),
        target: 20,
        note: "(open + close) / 10,000 vouchers",
      },
    });
  });
});
