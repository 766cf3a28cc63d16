import { describe, it } from "node:test";
import { expect } from "chai";
import fc from "fast-check";
import { getAddress, type Hex, parseEther, zeroAddress } from "viem";
import {
  channelIdOf,
  createChannelClient,
  decodeContractError,
  hashVoucher,
  PAYMENT_CHANNELS_DOMAIN_NAME,
  paymentChannelsAbi,
  type SettlekitContractError,
  signVoucher,
  type Voucher,
  verifyVoucher,
} from "../../src/client/index.js";
import * as arb from "./arbitraries.js";
import { connect, expectContractError, firstLogs, localWallet, methodNames, tracked } from "./helpers.js";

const CHALLENGE_PERIOD = 86_400n;
/** `IPaymentChannels.ChannelStatus`. */
const Status = { Open: 1, Closing: 2, Closed: 3 } as const;
/** `IPaymentChannels.ClaimFailureReason`. */
const AmountNotAboveClaimed = 1;

describe("createChannelClient", async () => {
  const { connection, publicClient, wallets, chainId } = await connect();
  const { viem, networkHelpers } = connection;
  const [owner, payee, watchtower, newOwner] = wallets;
  const [ownerAddress, payeeAddress, , newOwnerAddress] = wallets.map((w) => getAddress(w.account.address));
  const payerWallet = await localWallet(
    connection,
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
  );
  const sessionKey = await localWallet(
    connection,
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
  );
  const payer = payerWallet.account.address;
  const deployed = await viem.deployContract("PaymentChannels", [ownerAddress, CHALLENGE_PERIOD]);
  const blocklist = await viem.deployContract("BlocklistToken");
  const domain = { chainId, verifyingContract: getAddress(deployed.address) };
  const salt = (n: number): Hex => `0x${n.toString(16).padStart(64, "0")}`;

  const called = new Set<string>();
  const clientFor = (walletClient?: typeof owner | typeof payerWallet) =>
    tracked(createChannelClient({ publicClient, walletClient, address: deployed.address }), called);
  const channels = {
    owner: clientFor(owner),
    payer: clientFor(payerWallet),
    session: clientFor(sessionKey),
    payee: clientFor(payee),
    watchtower: clientFor(watchtower),
    newOwner: clientFor(newOwner),
    readOnly: clientFor(),
  };

  it("binds to the contract's EIP-712 domain, as eip712Domain() reports it", async () => {
    const [, name, version, onChainId, verifyingContract] = await channels.readOnly.eip712Domain();
    expect({ name, version }).to.deep.equal({ name: PAYMENT_CHANNELS_DOMAIN_NAME, version: "1" });
    expect(await channels.readOnly.getDomain()).to.deep.equal({ chainId: Number(onChainId), verifyingContract });
  });

  it("opens a channel at the id the client predicts, and tops it up", async () => {
    const id = channelIdOf({ payer, payee: payeeAddress, token: zeroAddress, salt: salt(1) });
    expect(await channels.readOnly.channelIdOf([payer, payeeAddress, zeroAddress, salt(1)])).to.equal(id);
    const { event } = await channels.payer.openAndWait([payeeAddress, zeroAddress, zeroAddress, 1_000n, salt(1)], {
      value: 1_000n,
    });
    expect(event.args).to.deep.equal({
      channelId: id,
      payer,
      payee: payeeAddress,
      token: zeroAddress,
      signer: payer,
      deposit: 1_000n,
    });
    const topped = await channels.payer.topUpAndWait([id, 500n], { value: 500n });
    expect(topped.event.args).to.deep.equal({ channelId: id, amount: 500n, deposit: 1_500n });
    await channels.payer
      .topUp([id, 500n], { value: 500n })
      .then((hash) => publicClient.waitForTransactionReceipt({ hash }));
    const channel = await channels.readOnly.getChannel([id]);
    expect({ deposit: channel.deposit, claimed: channel.claimed, status: channel.status }).to.deep.equal({
      deposit: 2_000n,
      claimed: 0n,
      status: Status.Open,
    });
  });

  it("lets a session key sign vouchers that the payee verifies off-chain and claims", async () => {
    const hash = await channels.payer.open([payeeAddress, zeroAddress, sessionKey.account.address, 1_000n, salt(2)], {
      value: 1_000n,
    });
    await publicClient.waitForTransactionReceipt({ hash });
    const channelId = channelIdOf({ payer, payee: payeeAddress, token: zeroAddress, salt: salt(2) });
    const { signer } = await channels.readOnly.getChannel([channelId]);
    expect(signer).to.equal(sessionKey.account.address);

    const vouchers: Voucher[] = [100n, 250n, 400n].map((cumulativeAmount) => ({ channelId, cumulativeAmount }));
    const signatures = await Promise.all(vouchers.map((voucher) => channels.session.signVoucher(voucher)));
    for (const [i, voucher] of vouchers.entries()) {
      expect(await channels.payee.verifyVoucher(voucher, signer, signatures[i] as Hex)).to.equal(true);
      expect(await channels.readOnly.hashVoucher(voucher)).to.equal(hashVoucher({ domain, voucher }));
    }
    // Only the latest voucher goes on-chain; a watchtower may submit it, the payee is paid.
    const before = await publicClient.getBalance({ address: payeeAddress });
    const { event } = await channels.watchtower.claimAndWait([channelId, 400n, signatures[2] as Hex]);
    expect(event.args).to.deep.equal({ channelId, cumulativeAmount: 400n, amount: 400n });
    expect(await publicClient.getBalance({ address: payeeAddress })).to.equal(before + 400n);

    await expectContractError(
      channels.watchtower.claim([channelId, 250n, signatures[1] as Hex]),
      "PaymentChannelsNothingToClaim",
      [channelId, 250n, 400n],
    );
    const later = await channels.session.signVoucher({ channelId, cumulativeAmount: 450n });
    await channels.watchtower
      .claim([channelId, 450n, later])
      .then((h) => publicClient.waitForTransactionReceipt({ hash: h }));
    expect((await channels.readOnly.getChannel([channelId])).claimed).to.equal(450n);
  });

  it("claims batches, skipping failures with typed events", async () => {
    const channelId = channelIdOf({ payer, payee: payeeAddress, token: zeroAddress, salt: salt(1) });
    const fresh = await channels.payer.signVoucher({ channelId, cumulativeAmount: 300n });
    const { events } = await channels.watchtower.claimBatchAndWait([
      [
        { channelId, cumulativeAmount: 300n, signature: fresh },
        { channelId, cumulativeAmount: 300n, signature: fresh },
      ],
    ]);
    expect(events.map((log) => log.eventName)).to.deep.equal(["ChannelClaimed", "ChannelClaimFailed"]);
    const failed = events[1];
    if (failed?.eventName !== "ChannelClaimFailed") expect.fail("expected ChannelClaimFailed");
    expect(failed.args).to.deep.equal({ channelId, reason: AmountNotAboveClaimed });

    const next = await channels.payer.signVoucher({ channelId, cumulativeAmount: 301n });
    const hash = await channels.watchtower.claimBatch([[{ channelId, cumulativeAmount: 301n, signature: next }]]);
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    expect(channels.readOnly.decodeEvents(receipt.logs).map((log) => log.eventName)).to.deep.equal(["ChannelClaimed"]);
  });

  it("closes at once for the payee, and after the challenge period for the payer", async () => {
    const channelId = channelIdOf({ payer, payee: payeeAddress, token: zeroAddress, salt: salt(1) });
    const signature = await channels.payer.signVoucher({ channelId, cumulativeAmount: 500n });
    await expectContractError(channels.payer.close([channelId, 500n, signature]), "PaymentChannelsNotPayee", [
      channelId,
      payer,
    ]);
    const { event } = await channels.payee.closeAndWait([channelId, 500n, signature]);
    expect(event.args).to.deep.equal({ channelId, claimed: 500n, refunded: 1_500n });
    expect((await channels.readOnly.getChannel([channelId])).status).to.equal(Status.Closed);

    await channels.payer.openAndWait([payeeAddress, zeroAddress, zeroAddress, 10n, salt(3)], { value: 10n });
    const third = channelIdOf({ payer, payee: payeeAddress, token: zeroAddress, salt: salt(3) });
    const requested = await channels.payer.requestCloseAndWait([third]);
    const closesAt = requested.event.args.closesAt as bigint;
    expect(closesAt - BigInt(await networkHelpers.time.latest())).to.equal(await channels.readOnly.challengePeriod());
    await expectContractError(channels.watchtower.finalizeClose([third]), "PaymentChannelsChallengePeriodActive", [
      third,
      closesAt,
    ]);
    await networkHelpers.time.increaseTo(closesAt);
    const finalized = await channels.watchtower.finalizeCloseAndWait([third]);
    expect(finalized.event.args).to.deep.equal({ channelId: third, claimed: 0n, refunded: 10n });

    await channels.payer.openAndWait([payeeAddress, zeroAddress, zeroAddress, 10n, salt(4)], { value: 10n });
    const fourth = channelIdOf({ payer, payee: payeeAddress, token: zeroAddress, salt: salt(4) });
    await channels.payer.requestClose([fourth]).then((hash) => publicClient.waitForTransactionReceipt({ hash }));
    await networkHelpers.time.increase(CHALLENGE_PERIOD);
    await channels.watchtower.finalizeClose([fourth]).then((hash) => publicClient.waitForTransactionReceipt({ hash }));
    expect((await channels.readOnly.getChannel([fourth])).status).to.equal(Status.Closed);
  });

  it("pays a blocked payee through its owed balance, which it withdraws later", async () => {
    await blocklist.write.mint([payer, 1_000n]);
    await blocklist.write.approve([deployed.address, 1_000n], { account: payerWallet.account });
    await channels.payer.openAndWait([payeeAddress, blocklist.address, zeroAddress, 1_000n, salt(5)]);
    const channelId = channelIdOf({ payer, payee: payeeAddress, token: blocklist.address, salt: salt(5) });
    await blocklist.write.setBlocked([payeeAddress, true]);
    const signature = await channels.payer.signVoucher({ channelId, cumulativeAmount: 600n });
    const { events } = await channels.watchtower.claimAndWait([channelId, 600n, signature]);
    expect(events.map((log) => log.eventName)).to.deep.equal(["ChannelClaimed", "PayoutDeferred"]);
    expect(await channels.readOnly.owed([payeeAddress, getAddress(blocklist.address)])).to.equal(600n);

    await blocklist.write.setBlocked([payeeAddress, false]);
    const { event } = await channels.payee.withdrawAndWait([blocklist.address]);
    expect(event.args).to.deep.equal({ account: payeeAddress, token: getAddress(blocklist.address), amount: 600n });
    await expectContractError(channels.payee.withdraw([blocklist.address]), "PayoutsNothingOwed", [
      payeeAddress,
      getAddress(blocklist.address),
    ]);
    // A second deferral, withdrawn with the hash-returning variant.
    await blocklist.write.setBlocked([payeeAddress, true]);
    const more = await channels.payer.signVoucher({ channelId, cumulativeAmount: 700n });
    await channels.watchtower.claimAndWait([channelId, 700n, more]);
    await blocklist.write.setBlocked([payeeAddress, false]);
    const hash = await channels.payee.withdraw([blocklist.address]);
    expect((await publicClient.waitForTransactionReceipt({ hash })).status).to.equal("success");
  });

  it("watches and filters typed events", async () => {
    const filter = await channels.readOnly.createEventFilter.ChannelOpened({ payer });
    const watched = firstLogs<{ args: { deposit?: bigint } }>((onLogs) =>
      channels.readOnly.watchEvent.ChannelOpened({ payer }, { onLogs }),
    );
    await channels.payer.openAndWait([payeeAddress, zeroAddress, zeroAddress, 9n, salt(6)], { value: 9n });
    expect((await watched).map((log) => log.args.deposit)).to.deep.equal([9n]);
    expect((await publicClient.getFilterChanges({ filter })).map((log) => log.args.deposit)).to.deep.equal([9n]);
    const opened = await channels.readOnly.getEvents.ChannelOpened({ payer }, { fromBlock: 0n });
    expect(opened.map((log) => log.args.deposit)).to.deep.equal([1_000n, 1_000n, 10n, 10n, 1_000n, 9n]);
  });

  it("pauses opening only, and hands over ownership in two steps", async () => {
    await channels.owner.pauseAndWait();
    expect(await channels.readOnly.paused()).to.equal(true);
    const error = await expectContractError(
      channels.payer.open([payeeAddress, zeroAddress, zeroAddress, 1n, salt(7)], { value: 1n }),
      "EnforcedPause",
      [],
    );
    expect(channels.readOnly.isError(error, "EnforcedPause")).to.equal(true);
    expect(channels.readOnly.isError(error, "PaymentChannelsZeroAmount")).to.equal(false);
    await channels.owner.unpauseAndWait();
    await channels.owner.pause().then((hash) => publicClient.waitForTransactionReceipt({ hash }));
    await channels.owner.unpause().then((hash) => publicClient.waitForTransactionReceipt({ hash }));

    await channels.owner.transferOwnershipAndWait([newOwnerAddress]);
    expect(await channels.readOnly.pendingOwner()).to.equal(newOwnerAddress);
    await channels.newOwner.acceptOwnershipAndWait();
    await channels.newOwner
      .transferOwnership([ownerAddress])
      .then((hash) => publicClient.waitForTransactionReceipt({ hash }));
    await channels.owner.acceptOwnership().then((hash) => publicClient.waitForTransactionReceipt({ hash }));
    expect(await channels.readOnly.owner()).to.equal(ownerAddress);
  });

  describe("parity with the contract (property-based)", () => {
    it("hashes every voucher exactly as voucherDigest()", async () => {
      await fc.assert(
        fc.asyncProperty(arb.voucher, async (voucher) => {
          const onChain = await channels.readOnly.voucherDigest([voucher.channelId, voucher.cumulativeAmount]);
          expect(onChain).to.equal(hashVoucher({ domain, voucher }));
        }),
        { numRuns: 200 },
      );
    });

    it("signs vouchers the contract accepts, and rejects any tampered field on- and off-chain", async () => {
      const deposit = parseEther("1000");
      const ids: Hex[] = [];
      for (const n of [10, 11]) {
        await channels.payer.openAndWait([payeeAddress, zeroAddress, zeroAddress, deposit, salt(n)], {
          value: deposit,
        });
        ids.push(channelIdOf({ payer, payee: payeeAddress, token: zeroAddress, salt: salt(n) }));
      }
      const claim = (voucher: Voucher, signature: Hex) =>
        publicClient
          .simulateContract({
            abi: paymentChannelsAbi,
            address: deployed.address,
            functionName: "claim",
            args: [voucher.channelId, voucher.cumulativeAmount, signature],
            account: watchtower.account,
          })
          .catch((error: unknown) => {
            throw decodeContractError({ error, functionName: "claim" }) ?? error;
          });
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(0, 1),
          fc.bigInt({ min: 2n, max: deposit - 1n }),
          fc.constantFrom("channelId" as const, "cumulativeAmount" as const),
          fc.boolean(),
          async (which, cumulativeAmount, field, up) => {
            const voucher = { channelId: ids[which] as Hex, cumulativeAmount };
            const signature = await signVoucher({ account: payerWallet.account, domain, voucher });
            await claim(voucher, signature); // accepted: the simulation does not revert
            expect(await verifyVoucher({ domain, voucher, signer: payer, signature })).to.equal(true);

            // The tampered voucher stays claimable in itself (an open channel of the same signer,
            // an amount within the deposit), so the signature is what fails.
            const changed =
              field === "channelId"
                ? { ...voucher, channelId: ids[1 - which] as Hex }
                : { ...voucher, cumulativeAmount: cumulativeAmount + (up ? 1n : -1n) };
            expect(await verifyVoucher({ domain, voucher: changed, signer: payer, signature })).to.equal(false);
            const error = await claim(changed, signature).then(
              () => expect.fail(`accepted a voucher with ${field} tampered`),
              (e: SettlekitContractError) => e,
            );
            expect(error.errorName).to.equal("PaymentChannelsInvalidSignature");
            expect(error.args).to.deep.equal([changed.channelId, payer]);
          },
        ),
        { numRuns: 200 },
      );
    });
  });

  it("renounces ownership for good", async () => {
    const { event } = await channels.owner.renounceOwnershipAndWait();
    expect(event.args).to.deep.equal({ previousOwner: ownerAddress, newOwner: zeroAddress });
    await channels.newOwner.renounceOwnership().then(
      () => expect.fail("a non-owner renounced"),
      (error: SettlekitContractError) => expect(error.errorName).to.equal("OwnableUnauthorizedAccount"),
    );
  });

  it("exercised every method of the client", () => {
    const expected = [
      ...methodNames(paymentChannelsAbi),
      "getDomain",
      "hashVoucher",
      "signVoucher",
      "verifyVoucher",
      "decodeEvents",
      "isError",
    ];
    expect(expected.filter((name) => !called.has(name))).to.deep.equal([]);
  });
});
