import { describe, it } from "node:test";
import { expect } from "chai";
import fc from "fast-check";
import { encodeFunctionData, getAddress, type Hex, parseEther, RpcRequestError, zeroAddress } from "viem";
import {
  createNonceManager,
  createSettlementClient,
  decodeContractError,
  hashPayment,
  type Payment,
  SETTLEMENT_HUB_DOMAIN_NAME,
  type SettlekitContractError,
  SettlekitMissingWalletClientError,
  SettlekitTransactionError,
  settlementHubAbi,
  verifyPayment,
} from "../../src/client/index.js";
import * as arb from "./arbitraries.js";
import { connect, expectContractError, firstLogs, localWallet, methodNames, tracked } from "./helpers.js";

const WITHDRAWAL_DELAY = 3_600n;
/** `ISettlementHub.FailureReason`. */
const NonceUsed = 5;

describe("createSettlementClient", async () => {
  const { connection, publicClient, wallets, chainId } = await connect();
  const { viem, networkHelpers } = connection;
  const [owner, relayer, merchant, newOwner] = wallets;
  const [ownerAddress, relayerAddress, merchantAddress, newOwnerAddress] = wallets.map((w) =>
    getAddress(w.account.address),
  );
  const payerWallet = await localWallet(
    connection,
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
  );
  const walletOwner = await localWallet(
    connection,
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
  );
  const payer = payerWallet.account.address;
  const deployed = await viem.deployContract("SettlementHub", [ownerAddress, WITHDRAWAL_DELAY]);
  const token = await viem.deployContract("TestToken", ["Test", "TST", 18]);
  const domain = { chainId, verifyingContract: getAddress(deployed.address) };

  const called = new Set<string>();
  const clientFor = (walletClient?: typeof owner | typeof payerWallet) =>
    tracked(createSettlementClient({ publicClient, walletClient, address: deployed.address }), called);
  const hub = {
    owner: clientFor(owner),
    payer: clientFor(payerWallet),
    relayer: clientFor(relayer),
    merchant: clientFor(merchant),
    newOwner: clientFor(newOwner),
    readOnly: clientFor(),
  };

  async function draft(overrides: Partial<Payment> = {}): Promise<Payment> {
    const now = BigInt(await networkHelpers.time.latest());
    return {
      from: payer,
      to: merchantAddress,
      token: zeroAddress,
      amount: parseEther("1"),
      fee: parseEther("0.01"),
      nonce: 0n,
      validAfter: 0n,
      validBefore: now + 3_600n,
      ref: `0x${"00".repeat(31)}01`,
      ...overrides,
    };
  }

  it("binds to the hub's EIP-712 domain, as eip712Domain() reports it", async () => {
    const [, name, version, onChainId, verifyingContract] = await hub.readOnly.eip712Domain();
    expect({ name, version }).to.deep.equal({ name: SETTLEMENT_HUB_DOMAIN_NAME, version: "1" });
    expect(await hub.readOnly.getDomain()).to.deep.equal({
      chainId: Number(onChainId),
      verifyingContract,
    });
  });

  it("deposits native currency and tokens, for oneself and for another account", async () => {
    const { event } = await hub.payer.depositAndWait([zeroAddress, parseEther("100")], { value: parseEther("100") });
    expect(event.eventName).to.equal("Deposited");
    expect(event.args).to.deep.equal({
      account: payer,
      token: zeroAddress,
      depositor: payer,
      amount: parseEther("100"),
    });

    await token.write.mint([relayerAddress, parseEther("5")]);
    await token.write.approve([deployed.address, parseEther("5")], { account: relayer.account });
    const hash = await hub.relayer.depositFor([payer, token.address, parseEther("5")]);
    expect((await publicClient.waitForTransactionReceipt({ hash })).status).to.equal("success");
    const deposited = await hub.readOnly.getEvents.Deposited({ account: payer, token: token.address });
    expect(deposited.map((log) => log.args.depositor)).to.deep.equal([relayerAddress]);

    const { event: forEvent } = await hub.relayer.depositForAndWait([payer, zeroAddress, 1n], { value: 1n });
    expect(forEvent.args.depositor).to.equal(relayerAddress);
    expect(await hub.readOnly.balanceOf([payer, zeroAddress])).to.equal(parseEther("100") + 1n);
    expect(await hub.readOnly.balanceOf([payer, token.address])).to.equal(parseEther("5"));
  });

  it("signs with the bound helper, settles through the relayer, and pays amount and fee", async () => {
    const nonces = hub.payer.createNonceManager(payer);
    const payment = await draft({ nonce: await nonces.next() });
    expect(payment.nonce).to.equal(0n);
    const signature = await hub.payer.signPayment(payment);
    expect(await hub.merchant.verifyPayment(payment, signature)).to.equal(true);
    expect(await hub.readOnly.hashPayment(payment)).to.equal(hashPayment({ domain, payment }));

    const { event, events } = await hub.relayer.settleAndWait([payment, signature]);
    expect(event.args.digest).to.equal(hashPayment({ domain, payment }));
    expect(events.map((log) => log.eventName)).to.deep.equal(["PaymentSettled"]);
    expect(await hub.readOnly.balanceOf([merchantAddress, zeroAddress])).to.equal(payment.amount);
    expect(await hub.readOnly.balanceOf([relayerAddress, zeroAddress])).to.equal(payment.fee);
    expect(await hub.readOnly.nonceUsed([payer, 0n])).to.equal(true);
    // A new manager for the payer learns from the hub that nonce 0 is gone.
    expect(await hub.payer.createNonceManager(payer).next()).to.equal(1n);
  });

  it("throws the hub's typed error, with its arguments, when a payment is replayed", async () => {
    const payment = await draft({ nonce: 0n });
    const signature = await hub.payer.signPayment(payment);
    const error = await expectContractError(hub.relayer.settle([payment, signature]), "SettlementHubNonceUsed", [
      payer,
      0n,
    ]);
    expect(error.functionName).to.equal("settle");
    if (!hub.readOnly.isError(error, "SettlementHubNonceUsed")) expect.fail("not narrowed");
    const [nonceOwner, nonce] = error.args;
    expect({ nonceOwner, nonce }).to.deep.equal({ nonceOwner: payer, nonce: 0n });
  });

  it("settles a batch, reporting each intent's outcome through typed events", async () => {
    const fresh = await draft({ nonce: 1n, amount: 5n, fee: 0n });
    const replay = await draft({ nonce: 0n });
    const signatures = [await hub.payer.signPayment(fresh), await hub.payer.signPayment(replay)];
    const { events } = await hub.relayer.settleBatchAndWait([[fresh, replay], signatures]);
    expect(events.map((log) => log.eventName)).to.deep.equal(["PaymentSettled", "PaymentFailed"]);
    const failed = events[1];
    if (failed?.eventName !== "PaymentFailed") expect.fail("expected PaymentFailed");
    expect(failed.args).to.deep.equal({ digest: hashPayment({ domain, payment: replay }), reason: NonceUsed });

    const next = await draft({ nonce: 2n, amount: 1n, fee: 0n });
    const hash = await hub.relayer.settleBatch([[next], [await hub.payer.signPayment(next)]]);
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    expect(hub.readOnly.decodeEvents(receipt.logs).map((log) => log.eventName)).to.deep.equal(["PaymentSettled"]);
  });

  it("invalidates nonces, which the nonce manager then skips", async () => {
    const { event } = await hub.payer.invalidateNoncesAndWait([0n, 0b11000n]); // nonces 3 and 4
    expect(event.args).to.deep.equal({ owner: payer, wordPos: 0n, mask: 0b11000n });
    await hub.payer.invalidateNonces([0n, 1n << 5n]).then((hash) => publicClient.waitForTransactionReceipt({ hash }));
    const nonces = hub.payer.createNonceManager(payer);
    expect([await nonces.next(), await nonces.next()]).to.deep.equal([6n, 7n]);
    // The standalone manager reads the same bitmap through a public client.
    const standalone = createNonceManager({ owner: payer, publicClient, hub: deployed.address });
    expect([await standalone.next(), await standalone.next()]).to.deep.equal([6n, 7n]);
    // Nonces of intents the relayer accepted and has not settled are skipped too.
    const afterReload = hub.payer.createNonceManager(payer, { reserved: [6n, 8n] });
    expect([await afterReload.next(), await afterReload.next()]).to.deep.equal([7n, 9n]);
  });

  it("accepts a smart-wallet payer through ERC-1271, off-chain and on-chain", async () => {
    const wallet = await viem.deployContract("ERC1271Wallet", [walletOwner.account.address]);
    await hub.relayer.depositForAndWait([wallet.address, zeroAddress, parseEther("1")], { value: parseEther("1") });
    const payment = await draft({ from: wallet.address, amount: parseEther("0.5"), fee: 0n });
    // The wallet's owner signs for the wallet.
    const signature = await hub.readOnly.signPayment(payment, { account: walletOwner.account });
    expect(await verifyPayment({ domain, payment, signature })).to.equal(false); // no chain: EOA check only
    expect(await hub.merchant.verifyPayment(payment, signature)).to.equal(true);
    await hub.relayer.settleAndWait([payment, signature]);
    expect(await hub.readOnly.balanceOf([wallet.address, zeroAddress])).to.equal(parseEther("0.5"));

    const revoke = encodeFunctionData({ abi: wallet.abi, functionName: "setRevoked", args: [true] });
    await walletOwner.sendTransaction({ to: wallet.address, data: revoke });
    expect(await hub.merchant.verifyPayment({ ...payment, nonce: 1n }, signature)).to.equal(false);

    // A node that answers the wallet call with an error of its own has said nothing about the
    // signature: the error reaches the caller, who may ask again, instead of a false "invalid".
    const troubled = {
      ...publicClient,
      call: async () => {
        throw new RpcRequestError({
          body: {},
          error: { code: -32603, message: "header not found" },
          url: "http://127.0.0.1:8545",
        });
      },
    } as typeof publicClient;
    const error = await verifyPayment({ domain, payment, signature, publicClient: troubled }).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(RpcRequestError);
  });

  it("requests, refuses early, cancels and completes withdrawals", async () => {
    const requested = await hub.merchant.requestWithdrawalAndWait([zeroAddress, parseEther("0.4")]);
    if (requested.event.eventName !== "WithdrawalRequested") expect.fail("expected WithdrawalRequested");
    const { availableAt } = requested.event.args;
    expect(await hub.readOnly.getWithdrawalRequest([merchantAddress, zeroAddress])).to.deep.equal({
      amount: parseEther("0.4"),
      availableAt,
    });
    await expectContractError(
      hub.merchant.withdraw([zeroAddress, merchantAddress]),
      "SettlementHubWithdrawalNotReady",
      [merchantAddress, zeroAddress, availableAt],
    );
    const cancelled = await hub.merchant.requestWithdrawalAndWait([zeroAddress, 0n]);
    expect(cancelled.event.eventName).to.equal("WithdrawalCancelled");

    await hub.merchant.requestWithdrawal([zeroAddress, parseEther("0.4")]);
    await networkHelpers.time.increase(WITHDRAWAL_DELAY);
    expect(await hub.readOnly.withdrawalDelay()).to.equal(WITHDRAWAL_DELAY);
    const before = await publicClient.getBalance({ address: newOwnerAddress });
    const { event } = await hub.merchant.withdrawAndWait([zeroAddress, newOwnerAddress]);
    expect(event.args.amount).to.equal(parseEther("0.4"));
    expect(await publicClient.getBalance({ address: newOwnerAddress })).to.equal(before + parseEther("0.4"));

    await hub.merchant.requestWithdrawal([zeroAddress, 1n]);
    await networkHelpers.time.increase(WITHDRAWAL_DELAY);
    const hash = await hub.merchant.withdraw([zeroAddress, merchantAddress]);
    expect((await publicClient.waitForTransactionReceipt({ hash })).status).to.equal("success");
  });

  it("pauses deposits and hands over ownership in two steps", async () => {
    expect(await hub.readOnly.MAX_WITHDRAWAL_DELAY()).to.equal(30n * 24n * 3_600n);
    await hub.owner.pauseAndWait();
    expect(await hub.readOnly.paused()).to.equal(true);
    await expectContractError(hub.payer.deposit([zeroAddress, 1n], { value: 1n }), "EnforcedPause", []);
    await hub.owner.unpauseAndWait();
    await hub.owner.pause().then((hash) => publicClient.waitForTransactionReceipt({ hash }));
    await hub.owner.unpause().then((hash) => publicClient.waitForTransactionReceipt({ hash }));
    expect(await hub.readOnly.paused()).to.equal(false);

    await hub.owner.transferOwnershipAndWait([newOwnerAddress]);
    expect(await hub.readOnly.pendingOwner()).to.equal(newOwnerAddress);
    const { event } = await hub.newOwner.acceptOwnershipAndWait();
    expect(event.args).to.deep.equal({ previousOwner: ownerAddress, newOwner: newOwnerAddress });
    await hub.newOwner
      .transferOwnership([ownerAddress])
      .then((hash) => publicClient.waitForTransactionReceipt({ hash }));
    await hub.owner.acceptOwnership().then((hash) => publicClient.waitForTransactionReceipt({ hash }));
    expect(await hub.readOnly.owner()).to.equal(ownerAddress);
    await expectContractError(hub.newOwner.renounceOwnership(), "OwnableUnauthorizedAccount", [newOwnerAddress]);
  });

  it("watches and filters typed events", async () => {
    const filter = await hub.readOnly.createEventFilter.Deposited({ account: merchantAddress });
    const watched = firstLogs<{ args: { amount?: bigint } }>((onLogs) =>
      hub.readOnly.watchEvent.Deposited({ account: merchantAddress }, { onLogs }),
    );
    await hub.merchant.depositAndWait([zeroAddress, 7n], { value: 7n });
    expect((await watched).map((log) => log.args.amount)).to.deep.equal([7n]);
    const changes = await publicClient.getFilterChanges({ filter });
    expect(changes.map((log) => log.args.amount)).to.deep.equal([7n]);
  });

  it("refuses to write or sign without a wallet, and reports a transaction that reverts on chain", async () => {
    await hub.readOnly.deposit([zeroAddress, 1n], { value: 1n }).then(
      () => expect.fail("wrote without a wallet"),
      (error) =>
        expect(error).to.be.instanceOf(SettlekitMissingWalletClientError).with.property("functionName", "deposit"),
    );
    await hub.readOnly.signPayment(await draft()).then(
      () => expect.fail("signed without an account"),
      (error) => expect(error).to.be.instanceOf(SettlekitMissingWalletClientError),
    );
    // Both simulations pass against the latest block; mined together, the replay reverts.
    const payment = await draft({ nonce: 900n, amount: 1n, fee: 0n });
    const signature = await hub.payer.signPayment(payment);
    await connection.provider.request({ method: "evm_setAutomine", params: [false] });
    try {
      await hub.relayer.settle([payment, signature]);
      const replay = hub.merchant.settleAndWait([payment, signature], { gas: 200_000n });
      const sent = await publicClient.getTransactionCount({ address: merchantAddress, blockTag: "pending" });
      while ((await publicClient.getTransactionCount({ address: merchantAddress, blockTag: "pending" })) === sent) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await connection.provider.request({ method: "evm_mine", params: [] });
      const error = await replay.then(
        () => expect.fail("the replay was mined successfully"),
        (e: unknown) => e,
      );
      expect(error).to.be.instanceOf(SettlekitTransactionError);
      expect((error as SettlekitTransactionError).name).to.equal("SettlekitTransactionError");
      expect((error as SettlekitTransactionError).receipt.status).to.equal("reverted");
    } finally {
      await connection.provider.request({ method: "evm_setAutomine", params: [true] });
    }
  });

  describe("parity with the contract (property-based)", () => {
    it("hashes every payment exactly as paymentDigest()", async () => {
      await fc.assert(
        fc.asyncProperty(arb.payment, async (payment) => {
          expect(await hub.readOnly.paymentDigest([payment])).to.equal(hashPayment({ domain, payment }));
        }),
        { numRuns: 200 },
      );
    });

    it("signs payments the hub accepts, and rejects any tampered field on- and off-chain", async () => {
      const fields = ["from", "to", "token", "amount", "fee", "nonce", "validAfter", "validBefore", "ref"] as const;
      const now = BigInt(await networkHelpers.time.latest());
      const payments = fc.record({
        from: fc.constant(payer),
        to: arb.address,
        token: fc.constant(zeroAddress),
        amount: fc.bigInt({ min: 0n, max: parseEther("1") }),
        fee: fc.bigInt({ min: 0n, max: parseEther("0.01") }),
        nonce: fc.bigInt({ min: 1n << 64n, max: (1n << 256n) - 1n }),
        validAfter: fc.bigInt({ min: 1n, max: now - 1n }),
        validBefore: fc.bigInt({ min: now + 3_600n, max: 1n << 63n }),
        ref: arb.bytes32,
      });
      const settle = (payment: Payment, signature: Hex) =>
        publicClient
          .simulateContract({
            abi: settlementHubAbi,
            address: deployed.address,
            functionName: "settle",
            args: [payment, signature],
            account: relayer.account,
          })
          .catch((error: unknown) => {
            throw decodeContractError({ error, functionName: "settle" }) ?? error;
          });
      await fc.assert(
        fc.asyncProperty(payments, fc.constantFrom(...fields), fc.nat(), async (payment, field, seed) => {
          const signature = await hub.payer.signPayment(payment);
          await settle(payment, signature); // accepted: the simulation does not revert
          expect(await verifyPayment({ domain, payment, signature })).to.equal(true);

          // Time fields move within the valid window, so the signature is what fails.
          const changed =
            field === "validAfter"
              ? { ...payment, validAfter: payment.validAfter - 1n }
              : field === "validBefore"
                ? { ...payment, validBefore: payment.validBefore + 1n }
                : arb.tampered(payment, field, seed);
          expect(await verifyPayment({ domain, payment: changed, signature })).to.equal(false);
          const error = await settle(changed, signature).then(
            () => expect.fail(`accepted a payment with ${field} tampered`),
            (e: SettlekitContractError) => e,
          );
          expect(error.errorName).to.equal("SettlementHubInvalidSignature");
          expect(error.args).to.deep.equal([changed.from, hashPayment({ domain, payment: changed })]);
        }),
        { numRuns: 200 },
      );
    });
  });

  it("renounces ownership for good", async () => {
    const { event } = await hub.owner.renounceOwnershipAndWait();
    expect(event.args).to.deep.equal({ previousOwner: ownerAddress, newOwner: zeroAddress });
    expect(await hub.readOnly.owner()).to.equal(zeroAddress);
  });

  it("exercised every method of the client", () => {
    const expected = [
      ...methodNames(settlementHubAbi),
      "getDomain",
      "hashPayment",
      "signPayment",
      "verifyPayment",
      "createNonceManager",
      "decodeEvents",
      "isError",
    ];
    expect(expected.filter((name) => !called.has(name))).to.deep.equal([]);
  });
});
