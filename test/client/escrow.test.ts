import { describe, it } from "node:test";
import { expect } from "chai";
import fc from "fast-check";
import { getAddress, type Hex, parseEther, parseSignature, zeroAddress, zeroHash } from "viem";
import {
  createEscrowClient,
  decodeContractError,
  ESCROW_DOMAIN_NAME,
  escrowAbi,
  hashRelease,
  isContractError,
  type Release,
  type SettlekitContractError,
  signRelease,
  verifyRelease,
} from "../../src/client/index.js";
import * as arb from "./arbitraries.js";
import { connect, expectContractError, firstLogs, localWallet, methodNames, tracked } from "./helpers.js";

const FEE_BPS = 100; // 1%
const RESOLUTION_TIMEOUT = 7n * 86_400n;
/** `IEscrow.ExpiryAction`. */
const RefundPayer = 0;
const ReleasePayee = 1;
/** `IEscrow.EscrowState`. */
const State = { Active: 1, Disputed: 2, Closed: 3 } as const;

describe("createEscrowClient", async () => {
  const { connection, publicClient, wallets, chainId } = await connect();
  const { viem, networkHelpers } = connection;
  const [owner, feeRecipient, payee, arbiter, relayer, newOwner] = wallets;
  const [ownerAddress, feeRecipientAddress, payeeAddress, arbiterAddress, , newOwnerAddress] = wallets.map((w) =>
    getAddress(w.account.address),
  );
  const payerWallet = await localWallet(
    connection,
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
  );
  const payer = payerWallet.account.address;
  const deployed = await viem.deployContract("Escrow", [
    ownerAddress,
    feeRecipientAddress,
    FEE_BPS,
    RESOLUTION_TIMEOUT,
  ]);
  const token = await viem.deployContract("TestToken", ["Test", "TST", 18]);
  const blocklist = await viem.deployContract("BlocklistToken");
  const domain = { chainId, verifyingContract: getAddress(deployed.address) };

  const called = new Set<string>();
  const clientFor = (walletClient?: typeof owner | typeof payerWallet) =>
    tracked(createEscrowClient({ publicClient, walletClient, address: deployed.address }), called);
  const escrow = {
    owner: clientFor(owner),
    payer: clientFor(payerWallet),
    payee: clientFor(payee),
    arbiter: clientFor(arbiter),
    relayer: clientFor(relayer),
    fees: clientFor(feeRecipient),
    newOwner: clientFor(newOwner),
    readOnly: clientFor(),
  };

  async function terms(overrides: Partial<Parameters<typeof escrow.payer.create>[0][0]> = {}) {
    const now = BigInt(await networkHelpers.time.latest());
    return {
      payee: payeeAddress,
      arbiter: zeroAddress,
      token: zeroAddress,
      amount: 1_000n,
      deadline: now + 30n * 86_400n,
      onExpiry: RefundPayer,
      ref: zeroHash,
      ...overrides,
    };
  }

  /** Creates an escrow of native currency from the payer and returns its id. */
  async function open(overrides: Parameters<typeof terms>[0] = {}) {
    const params = await terms(overrides);
    const { event } = await escrow.payer.createAndWait([params], {
      value: params.token === zeroAddress ? params.amount : 0n,
    });
    return event.args.id as bigint;
  }

  it("binds to the Escrow's EIP-712 domain, as eip712Domain() reports it", async () => {
    const [, name, version, onChainId, verifyingContract] = await escrow.readOnly.eip712Domain();
    expect({ name, version }).to.deep.equal({ name: ESCROW_DOMAIN_NAME, version: "1" });
    expect(await escrow.readOnly.getDomain()).to.deep.equal({ chainId: Number(onChainId), verifyingContract });
  });

  it("creates escrows in native currency and, with a permit, in tokens", async () => {
    const params = await terms({ amount: 1_000n });
    const { event } = await escrow.payer.createAndWait([params], { value: 1_000n });
    expect(event.args).to.deep.include({ id: 1n, payer, payee: payeeAddress, amount: 1_000n, feeBps: FEE_BPS });
    const view = await escrow.readOnly.getEscrow([1n]);
    expect({ payer: view.payer, remaining: view.remaining, state: view.state }).to.deep.equal({
      payer,
      remaining: 1_000n,
      state: State.Active,
    });

    const hash = await escrow.payer.create([await terms({ amount: 5n })], { value: 5n });
    expect((await publicClient.waitForTransactionReceipt({ hash })).status).to.equal("success");

    // ERC-2612: the payer signs a permit instead of sending an approval transaction.
    await token.write.mint([payer, parseEther("10")]);
    const permitDeadline = BigInt(await networkHelpers.time.latest()) + 3_600n;
    const permit = async (value: bigint, nonce: bigint) =>
      parseSignature(
        await payerWallet.account.signTypedData({
          domain: { name: "Test", version: "1", chainId, verifyingContract: getAddress(token.address) },
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
          message: { owner: payer, spender: domain.verifyingContract, value, nonce, deadline: permitDeadline },
        }),
      );
    const first = await permit(parseEther("1"), 0n);
    const withPermit = await escrow.payer.createWithPermitAndWait([
      await terms({ token: token.address, amount: parseEther("1") }),
      permitDeadline,
      Number(first.v),
      first.r,
      first.s,
    ]);
    expect(withPermit.event.args.token).to.equal(getAddress(token.address));
    const second = await permit(parseEther("2"), 1n);
    await escrow.payer
      .createWithPermit([
        await terms({ token: token.address, amount: parseEther("2") }),
        permitDeadline,
        Number(second.v),
        second.r,
        second.s,
      ])
      .then((h) => publicClient.waitForTransactionReceipt({ hash: h }));
    expect(await token.read.balanceOf([deployed.address])).to.equal(parseEther("3"));
  });

  it("releases and refunds partially, charging the fee on what the payee receives", async () => {
    const id = await open({ amount: 10_000n });
    const { event } = await escrow.payer.releaseAndWait([id, 4_000n]);
    expect(event.args).to.deep.equal({ id, amount: 4_000n, fee: 40n });
    await escrow.payer.release([id, 1_000n]).then((hash) => publicClient.waitForTransactionReceipt({ hash }));
    const refunded = await escrow.payee.refundAndWait([id, 2_000n]);
    expect(refunded.event.args).to.deep.equal({ id, amount: 2_000n });
    await escrow.payee.refund([id, 1_000n]).then((hash) => publicClient.waitForTransactionReceipt({ hash }));
    expect(await escrow.readOnly.remaining([id])).to.equal(2_000n);
    expect(await escrow.readOnly.owed([feeRecipientAddress, zeroAddress])).to.equal(50n);
  });

  it("throws the Escrow's typed errors with their arguments", async () => {
    const id = await open();
    const error = await expectContractError(escrow.payee.release([id, 1n]), "EscrowNotPayer", [id, payeeAddress]);
    if (!isContractError(error, escrowAbi, "EscrowNotPayer")) expect.fail("not narrowed");
    expect(escrow.readOnly.isError(error, "EscrowNotPayer")).to.equal(true);
    expect(escrow.readOnly.isError(error, "EscrowNotPayee")).to.equal(false);
    const [escrowId, caller] = error.args;
    expect({ escrowId, caller }).to.deep.equal({ escrowId: id, caller: payeeAddress });
    expect(error.message).to.equal(`\`release\` reverted with EscrowNotPayer(${id}, "${payeeAddress}")`);
    await expectContractError(escrow.payer.release([id, 5_000n]), "EscrowAmountExceedsRemaining", [id, 5_000n, 1_000n]);
    await expectContractError(escrow.payer.release([999n, 1n]), "EscrowNotFound", [999n]);
  });

  it("releases with the payer's signature, submitted by anyone, never paying twice", async () => {
    const id = await open({ amount: 1_000n });
    const deadline = BigInt(await networkHelpers.time.latest()) + 3_600n;
    const release: Release = { id, releasedTotal: 600n, deadline };
    const signature = await escrow.payer.signRelease(release);
    expect(await escrow.payee.verifyRelease(release, payer, signature)).to.equal(true);
    expect(await escrow.readOnly.hashRelease(release)).to.equal(
      await escrow.readOnly.releaseDigest([id, 600n, deadline]),
    );

    const { event } = await escrow.relayer.releaseWithSigAndWait([id, 600n, deadline, signature]);
    expect(event.args).to.deep.equal({ id, amount: 600n, fee: 6n });
    await expectContractError(
      escrow.relayer.releaseWithSig([id, 600n, deadline, signature]),
      "EscrowNothingToRelease",
      [id, 600n, 600n],
    );
    const more = await escrow.payer.signRelease({ id, releasedTotal: 700n, deadline });
    await escrow.payee
      .releaseWithSig([id, 700n, deadline, more])
      .then((hash) => publicClient.waitForTransactionReceipt({ hash }));
    expect(await escrow.readOnly.remaining([id])).to.equal(300n);
  });

  it("disputes and resolves through the arbiter", async () => {
    const id = await open({ arbiter: arbiterAddress, amount: 1_000n });
    const { event } = await escrow.payee.disputeAndWait([id]);
    expect(event.args).to.deep.equal({ id, by: payeeAddress });
    const resolved = await escrow.arbiter.resolveAndWait([id, 700n]);
    expect(resolved.event.args).to.deep.equal({ id, toPayee: 700n, toPayer: 300n, fee: 7n });

    const other = await open({ arbiter: arbiterAddress, amount: 10n });
    await escrow.payer.dispute([other]).then((hash) => publicClient.waitForTransactionReceipt({ hash }));
    await escrow.arbiter.resolve([other, 0n]).then((hash) => publicClient.waitForTransactionReceipt({ hash }));
    expect((await escrow.readOnly.getEscrow([other])).state).to.equal(State.Closed);
    expect(await escrow.readOnly.resolutionTimeout()).to.equal(RESOLUTION_TIMEOUT);
  });

  it("settles expired escrows one by one and in batches, as their expiry action says", async () => {
    const now = BigInt(await networkHelpers.time.latest());
    const refundable = await open({ amount: 100n, deadline: now + 100n });
    const releasable = await open({ amount: 200n, deadline: now + 100n, onExpiry: ReleasePayee });
    const batched = [
      await open({ amount: 1n, deadline: now + 100n }),
      await open({ amount: 2n, deadline: now + 100n }),
    ];
    await expectContractError(escrow.relayer.settleExpired([refundable]), "EscrowNotExpired", [refundable, now + 100n]);
    await networkHelpers.time.increaseTo(now + 101n);

    const { event } = await escrow.relayer.settleExpiredAndWait([refundable]);
    expect(event.args).to.deep.equal({ id: refundable, action: RefundPayer, amount: 100n, fee: 0n });
    await escrow.relayer.settleExpired([releasable]).then((hash) => publicClient.waitForTransactionReceipt({ hash }));
    expect((await escrow.readOnly.getEscrow([releasable])).state).to.equal(State.Closed);

    const { events } = await escrow.relayer.settleExpiredBatchAndWait([[...batched, 999n]]);
    expect(events.map((log) => log.eventName)).to.deep.equal(["EscrowExpired", "EscrowExpired"]);
    const hash = await escrow.relayer.settleExpiredBatch([batched]);
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    expect(escrow.readOnly.decodeEvents(receipt.logs)).to.deep.equal([]);
  });

  it("defers a payout the payee cannot receive, which it withdraws later", async () => {
    await blocklist.write.mint([payer, 1_000n]);
    await blocklist.write.approve([deployed.address, 1_000n], { account: payerWallet.account });
    const id = await open({ token: blocklist.address, amount: 1_000n });
    await blocklist.write.setBlocked([payeeAddress, true]);
    const { events } = await escrow.payer.releaseAndWait([id, 500n]);
    expect(events.map((log) => log.eventName)).to.deep.equal(["EscrowReleased", "PayoutDeferred"]);
    await blocklist.write.setBlocked([payeeAddress, false]);
    const { event } = await escrow.payee.withdrawAndWait([blocklist.address]);
    expect(event.args).to.deep.equal({ account: payeeAddress, token: getAddress(blocklist.address), amount: 495n });

    await escrow.fees.withdraw([blocklist.address]).then((hash) => publicClient.waitForTransactionReceipt({ hash }));
    expect(await blocklist.read.balanceOf([feeRecipientAddress])).to.equal(5n);
  });

  it("lets the owner set the fee and its recipient, pause creation, and hand over ownership", async () => {
    expect(await escrow.readOnly.MAX_FEE_BPS()).to.equal(500);
    expect((await escrow.readOnly.MAX_RESOLUTION_TIMEOUT()) >= RESOLUTION_TIMEOUT).to.equal(true);
    const { event } = await escrow.owner.setFeeAndWait([200]);
    expect(event.args).to.deep.equal({ previousFeeBps: FEE_BPS, newFeeBps: 200 });
    await escrow.owner.setFee([FEE_BPS]).then((hash) => publicClient.waitForTransactionReceipt({ hash }));
    await expectContractError(escrow.owner.setFee([501]), "EscrowFeeTooHigh", [501, 500]);
    expect(await escrow.readOnly.feeBps()).to.equal(FEE_BPS);

    const changed = await escrow.owner.setFeeRecipientAndWait([newOwnerAddress]);
    expect(changed.event.args).to.deep.equal({ previousRecipient: feeRecipientAddress, newRecipient: newOwnerAddress });
    await escrow.owner
      .setFeeRecipient([feeRecipientAddress])
      .then((hash) => publicClient.waitForTransactionReceipt({ hash }));
    expect(await escrow.readOnly.feeRecipient()).to.equal(feeRecipientAddress);

    await escrow.owner.pauseAndWait();
    expect(await escrow.readOnly.paused()).to.equal(true);
    await expectContractError(escrow.payer.create([await terms()], { value: 1_000n }), "EnforcedPause", []);
    await escrow.owner.unpauseAndWait();
    await escrow.owner.pause().then((hash) => publicClient.waitForTransactionReceipt({ hash }));
    await escrow.owner.unpause().then((hash) => publicClient.waitForTransactionReceipt({ hash }));

    await escrow.owner.transferOwnershipAndWait([newOwnerAddress]);
    expect(await escrow.readOnly.pendingOwner()).to.equal(newOwnerAddress);
    await escrow.newOwner.acceptOwnershipAndWait();
    await escrow.newOwner
      .transferOwnership([ownerAddress])
      .then((hash) => publicClient.waitForTransactionReceipt({ hash }));
    await escrow.owner.acceptOwnership().then((hash) => publicClient.waitForTransactionReceipt({ hash }));
    expect(await escrow.readOnly.owner()).to.equal(ownerAddress);
  });

  it("watches and filters typed events", async () => {
    const filter = await escrow.readOnly.createEventFilter.EscrowCreated({ payee: payeeAddress });
    const watched = firstLogs<{ args: { amount?: bigint } }>((onLogs) =>
      escrow.readOnly.watchEvent.EscrowCreated({ payer }, { onLogs }),
    );
    const watchedId = await open({ amount: 77n });
    expect((await watched).map((log) => log.args.amount)).to.deep.equal([77n]);
    expect((await publicClient.getFilterChanges({ filter })).map((log) => log.args.amount)).to.deep.equal([77n]);

    // Two releases, one per block: the typed getEvents returns exactly them, decoded, within their
    // block range, and only the one whose indexed id it filters on from block 0.
    const otherId = await open({ amount: 1_000n });
    const first = await escrow.payer.releaseAndWait([watchedId, 77n]);
    const second = await escrow.payer.releaseAndWait([otherId, 600n]);
    const range = { fromBlock: first.receipt.blockNumber, toBlock: second.receipt.blockNumber };
    const released = await escrow.readOnly.getEvents.EscrowReleased({}, range);
    expect(released.map((log) => log.args)).to.deep.equal([
      { id: watchedId, amount: 77n, fee: 0n }, // 1% of 77, rounded down
      { id: otherId, amount: 600n, fee: 6n },
    ]);
    const ofOther = await escrow.readOnly.getEvents.EscrowReleased({ id: otherId }, { fromBlock: 0n });
    expect(ofOther.map((log) => log.args)).to.deep.equal([{ id: otherId, amount: 600n, fee: 6n }]);
  });

  describe("parity with the contract (property-based)", () => {
    it("hashes every release exactly as releaseDigest()", async () => {
      await fc.assert(
        fc.asyncProperty(arb.release, async (release) => {
          const onChain = await escrow.readOnly.releaseDigest([release.id, release.releasedTotal, release.deadline]);
          expect(onChain).to.equal(hashRelease({ domain, release }));
        }),
        { numRuns: 200 },
      );
    });

    it("signs releases the Escrow accepts, and rejects any tampered field on- and off-chain", async () => {
      const ids = [await open({ amount: parseEther("100") }), await open({ amount: parseEther("100") })];
      const now = BigInt(await networkHelpers.time.latest());
      const releaseWithSig = (release: Release, signature: Hex) =>
        publicClient
          .simulateContract({
            abi: escrowAbi,
            address: deployed.address,
            functionName: "releaseWithSig",
            args: [release.id, release.releasedTotal, release.deadline, signature],
            account: relayer.account,
          })
          .catch((error: unknown) => {
            throw decodeContractError({ error, functionName: "releaseWithSig" }) ?? error;
          });
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(0, 1),
          fc.bigInt({ min: 2n, max: (1n << 256n) - 2n }),
          fc.bigInt({ min: now + 3_600n, max: (1n << 256n) - 2n }),
          fc.constantFrom("id" as const, "releasedTotal" as const, "deadline" as const),
          fc.boolean(),
          async (which, releasedTotal, deadline, field, up) => {
            const release = { id: ids[which] as bigint, releasedTotal, deadline };
            const signature = await signRelease({ account: payerWallet.account, domain, release });
            await releaseWithSig(release, signature); // accepted: the simulation does not revert
            expect(await verifyRelease({ domain, release, signer: payer, signature })).to.equal(true);

            // The tampered release stays acceptable in itself (another escrow of the same payer,
            // a total above what was released, an unexpired deadline): the signature fails.
            const changed =
              field === "id"
                ? { ...release, id: ids[1 - which] as bigint }
                : { ...release, [field]: release[field] + (up ? 1n : -1n) };
            expect(await verifyRelease({ domain, release: changed, signer: payer, signature })).to.equal(false);
            const error = await releaseWithSig(changed, signature).then(
              () => expect.fail(`accepted a release with ${field} tampered`),
              (e: SettlekitContractError) => e,
            );
            expect(error.errorName).to.equal("EscrowInvalidSignature");
            expect(error.args).to.deep.equal([changed.id, payer]);
          },
        ),
        { numRuns: 200 },
      );
    });
  });

  it("renounces ownership for good", async () => {
    const { event } = await escrow.owner.renounceOwnershipAndWait();
    expect(event.args).to.deep.equal({ previousOwner: ownerAddress, newOwner: zeroAddress });
    await expectContractError(escrow.newOwner.renounceOwnership(), "OwnableUnauthorizedAccount", [newOwnerAddress]);
  });

  it("exercised every method of the client", () => {
    const expected = [
      ...methodNames(escrowAbi),
      "getDomain",
      "hashRelease",
      "signRelease",
      "verifyRelease",
      "decodeEvents",
      "isError",
    ];
    expect(expected.filter((name) => !called.has(name))).to.deep.equal([]);
  });
});
