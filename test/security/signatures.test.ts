import { describe } from "node:test";
import { expect } from "chai";
import { network } from "hardhat";
import { encodeFunctionData, getAddress, type Hex, parseSignature, zeroAddress } from "viem";
import { FailureReason, type Payment, payment } from "../settlement/helpers.js";
import { scenario, writeScenarioRowsAfterSuite } from "./report.js";
import { CHALLENGE_PERIOD, compact, DAY, deployWorld, malleate, type World } from "./world.js";

const AREA = "Signature attacks";
const X = 10n ** 18n;
const OTHER_CHAIN_ID = 1;

/**
 * Attacks on the three signed messages — Escrow's `Release`, SettlementHub's `Payment`,
 * PaymentChannels' `Voucher` — and on the ERC-2612 permit `createWithPermit` relies on. Each
 * rejected signature must revert with the contract's invalid-signature error carrying the values
 * that explain it, change nothing, and leave the genuine signature working.
 *
 * Decision on EIP-2098 compact (64-byte) signatures: OpenZeppelin v5 `ECDSA.tryRecover(bytes)`
 * (and `tryRecoverCalldata`, which the contracts use) accepts only 65-byte signatures and returns
 * `InvalidSignatureLength` for 64 bytes, so all three contracts reject compact signatures from EOAs;
 * a client must send the 65-byte form. The scenarios assert exactly that.
 */
describe("Security: signature attacks", async () => {
  writeScenarioRowsAfterSuite();
  const connection = await network.create();
  const { viem, networkHelpers } = connection;
  const { time } = networkHelpers;

  /** The world, plus alice's escrow for bob, alice's hub deposit and alice's channel to bob, all in native currency. */
  async function positions() {
    const w = await deployWorld(connection);
    const escrowId = await w.createEscrow(await w.escrowTerms({ token: zeroAddress, amount: X }));
    await w.hub.write.deposit([zeroAddress, X], { account: w.wallets.alice.account, value: X });
    const channelId = await w.openChannel({ token: zeroAddress, amount: X });
    const validBefore = BigInt(await time.latest()) + DAY;
    const intent = (fields: Partial<Payment> = {}) =>
      payment({
        from: w.address("alice"),
        to: w.address("bob"),
        token: zeroAddress,
        amount: X / 2n,
        fee: 1n,
        validBefore,
        ...fields,
      });
    const sigDeadline = validBefore;
    return { w, escrowId, channelId, intent, sigDeadline };
  }

  /** A second deployment of all three contracts on the same chain, with the same positions. */
  async function twoDeployments() {
    const a = await positions();
    const b = await positions();
    return { a, b };
  }

  type Env = Awaited<ReturnType<typeof positions>>;

  /** Asserts that each forged signature is rejected by all three contracts, and the genuine one still works. */
  async function expectRejectedEverywhere(
    env: Env,
    forge: {
      release: (genuine: Hex, w: World) => Promise<Hex>;
      intent: (genuine: Hex, w: World, p: Payment) => Promise<Hex>;
      voucher: (genuine: Hex, w: World) => Promise<Hex>;
    },
  ) {
    const { w, escrowId, channelId, intent, sigDeadline } = env;
    const release = await w.signReleaseAs("alice", { id: escrowId, releasedTotal: X, deadline: sigDeadline });
    await viem.assertions.revertWithCustomErrorWithArgs(
      w.escrow.write.releaseWithSig([escrowId, X, sigDeadline, await forge.release(release, w)], {
        account: w.wallets.relayer.account,
      }),
      w.escrow,
      "EscrowInvalidSignature",
      [escrowId, getAddress(w.address("alice"))],
    );
    const p = intent();
    const genuineIntent = await w.signIntent("alice", p);
    await viem.assertions.revertWithCustomErrorWithArgs(
      w.hub.write.settle([p, await forge.intent(genuineIntent, w, p)], { account: w.wallets.relayer.account }),
      w.hub,
      "SettlementHubInvalidSignature",
      [getAddress(w.address("alice")), await w.hub.read.paymentDigest([p])],
    );
    const voucher = await w.signVoucher("alice", channelId, X);
    await viem.assertions.revertWithCustomErrorWithArgs(
      w.channels.write.claim([channelId, X, await forge.voucher(voucher, w)], { account: w.wallets.relayer.account }),
      w.channels,
      "PaymentChannelsInvalidSignature",
      [channelId, getAddress(w.address("alice"))],
    );
    // Nothing moved, and the genuine signatures still work.
    expect(await w.escrow.read.remaining([escrowId])).to.equal(X);
    expect(await w.hub.read.nonceUsed([w.address("alice"), p.nonce])).to.equal(false);
    await w.escrow.write.releaseWithSig([escrowId, X, sigDeadline, release], { account: w.wallets.relayer.account });
    await w.hub.write.settle([p, genuineIntent], { account: w.wallets.relayer.account });
    await w.channels.write.claim([channelId, X, voucher], { account: w.wallets.relayer.account });
    expect(await w.escrow.read.remaining([escrowId])).to.equal(0n);
    expect(await w.hub.read.balanceOf([w.address("bob"), zeroAddress])).to.equal(X / 2n);
    expect((await w.channels.read.getChannel([channelId])).claimed).to.equal(X);
    await w.expectConservation(zeroAddress);
  }

  const ALL = "Escrow, SettlementHub, PaymentChannels";

  scenario(
    AREA,
    ALL,
    "replay on another chain id: messages signed for chain id 1 are submitted on this chain",
    "each contract rejects them with its invalid-signature error (domain bound to chainId); nothing moves; the genuine signatures still work",
    async () => {
      const env = await networkHelpers.loadFixture(positions);
      await expectRejectedEverywhere(env, {
        release: (_g, w) =>
          w.signReleaseAs(
            "alice",
            { id: env.escrowId, releasedTotal: X, deadline: env.sigDeadline },
            { chainId: OTHER_CHAIN_ID, verifyingContract: w.escrow.address },
          ),
        intent: (_g, w, p) => w.signIntent("alice", p, { ...w.hubDomain, chainId: OTHER_CHAIN_ID }),
        voucher: (_g, w) => w.signVoucher("alice", env.channelId, X, { ...w.channelDomain, chainId: OTHER_CHAIN_ID }),
      });
    },
  );

  scenario(
    AREA,
    ALL,
    "replay on another deployment: messages signed for deployment A are submitted to deployment B (same ids, same chain)",
    "B rejects them with its invalid-signature error (domain bound to the contract address) even though the escrow id, intent and channel id are identical; A accepts them",
    async () => {
      const { a, b } = await networkHelpers.loadFixture(twoDeployments);
      expect(b.channelId, "channel ids do not depend on the deployment").to.equal(a.channelId);
      expect(b.escrowId).to.equal(a.escrowId);
      await expectRejectedEverywhere(b, {
        release: () => a.w.signReleaseAs("alice", { id: a.escrowId, releasedTotal: X, deadline: a.sigDeadline }),
        intent: (_g, _w, p) => a.w.signIntent("alice", p),
        voucher: () => a.w.signVoucher("alice", a.channelId, X),
      });
    },
  );

  scenario(
    AREA,
    ALL,
    "malleable signatures: s' = n - s with v flipped (a valid ecrecover pair for the same signer)",
    "each contract rejects the high-s form with its invalid-signature error (OpenZeppelin ECDSA); the low-s original still works",
    async () => {
      const env = await networkHelpers.loadFixture(positions);
      await expectRejectedEverywhere(env, {
        release: async (g) => malleate(g),
        intent: async (g) => malleate(g),
        voucher: async (g) => malleate(g),
      });
    },
  );

  scenario(
    AREA,
    ALL,
    "compact EIP-2098 signatures (64 bytes) from an EOA",
    "rejected by all three contracts with their invalid-signature error, consistently with OpenZeppelin v5 ECDSA.tryRecover(bytes), which accepts only 65 bytes; the 65-byte form works",
    async () => {
      const env = await networkHelpers.loadFixture(positions);
      await expectRejectedEverywhere(env, {
        release: async (g) => compact(g),
        intent: async (g) => compact(g),
        voucher: async (g) => compact(g),
      });
    },
  );

  scenario(
    AREA,
    ALL,
    "wrong signer: bob signs what only alice may authorise",
    "each contract rejects it with its invalid-signature error naming alice; nothing moves",
    async () => {
      const env = await networkHelpers.loadFixture(positions);
      await expectRejectedEverywhere(env, {
        release: (_g, w) => w.signReleaseAs("bob", { id: env.escrowId, releasedTotal: X, deadline: env.sigDeadline }),
        intent: (_g, w, p) => w.signIntent("bob", p),
        voucher: (_g, w) => w.signVoucher("bob", env.channelId, X),
      });
    },
  );

  scenario(
    AREA,
    "PaymentChannels",
    "wrong signer with a delegated session key: the payer's own signature is not the channel signer's",
    "claim reverts with PaymentChannelsInvalidSignature naming the session key; the session key's voucher works and is worthless on another channel",
    async () => {
      const { w } = await networkHelpers.loadFixture(positions);
      const session = w.keys.mallory.address; // a key that only signs
      const salt = `0x${"44".repeat(32)}` as Hex;
      const id = await w.channels.read.channelIdOf([w.address("alice"), w.address("bob"), zeroAddress, salt]);
      await w.channels.write.open([w.address("bob"), zeroAddress, session, X, salt], {
        account: w.wallets.alice.account,
        value: X,
      });
      w.channelIds.add(id);
      await viem.assertions.revertWithCustomErrorWithArgs(
        w.channels.write.claim([id, X, await w.signVoucher("alice", id, X)], { account: w.wallets.relayer.account }),
        w.channels,
        "PaymentChannelsInvalidSignature",
        [id, getAddress(session)],
      );
      const other = [...w.channelIds][0];
      await viem.assertions.revertWithCustomErrorWithArgs(
        w.channels.write.claim([other, X, await w.signVoucher("mallory", other, X)], {
          account: w.wallets.relayer.account,
        }),
        w.channels,
        "PaymentChannelsInvalidSignature",
        [other, getAddress(w.address("alice"))],
      );
      await w.channels.write.claim([id, X, await w.signVoucher("mallory", id, X)], {
        account: w.wallets.relayer.account,
      });
      expect((await w.channels.read.getChannel([id])).claimed).to.equal(X);
      await w.expectConservation(zeroAddress);
    },
  );

  scenario(
    AREA,
    ALL,
    "reuse of a used authorisation: the same release, intent and voucher submitted twice; a nonce invalidated before use",
    "a repeated release reverts EscrowNothingToRelease; a used nonce reverts SettlementHubNonceUsed (and fails with NonceUsed in a batch); a repeated voucher reverts PaymentChannelsNothingToClaim; each paid exactly once",
    async () => {
      const { w, escrowId, channelId, intent, sigDeadline } = await networkHelpers.loadFixture(positions);
      const release = await w.signReleaseAs("alice", { id: escrowId, releasedTotal: X / 2n, deadline: sigDeadline });
      await w.escrow.write.releaseWithSig([escrowId, X / 2n, sigDeadline, release], {
        account: w.wallets.relayer.account,
      });
      await viem.assertions.revertWithCustomErrorWithArgs(
        w.escrow.write.releaseWithSig([escrowId, X / 2n, sigDeadline, release], { account: w.wallets.relayer.account }),
        w.escrow,
        "EscrowNothingToRelease",
        [escrowId, X / 2n, X / 2n],
      );
      expect(await w.escrow.read.remaining([escrowId])).to.equal(X / 2n);

      const p = intent();
      const signature = await w.signIntent("alice", p);
      await w.hub.write.settle([p, signature], { account: w.wallets.relayer.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        w.hub.write.settle([p, signature], { account: w.wallets.relayer.account }),
        w.hub,
        "SettlementHubNonceUsed",
        [getAddress(w.address("alice")), p.nonce],
      );
      await viem.assertions.emitWithArgs(
        w.hub.write.settleBatch([[p], [signature]], { account: w.wallets.relayer.account }),
        w.hub,
        "PaymentFailed",
        [await w.hub.read.paymentDigest([p]), FailureReason.NonceUsed],
      );
      expect(await w.hub.read.balanceOf([w.address("bob"), zeroAddress])).to.equal(X / 2n);
      const cancelled = intent({ nonce: 7n, amount: 1n });
      await w.hub.write.invalidateNonces([0n, 1n << 7n], { account: w.wallets.alice.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        w.hub.write.settle([cancelled, await w.signIntent("alice", cancelled)], { account: w.wallets.relayer.account }),
        w.hub,
        "SettlementHubNonceUsed",
        [getAddress(w.address("alice")), 7n],
      );

      const voucher = await w.signVoucher("alice", channelId, X / 3n);
      await w.channels.write.claim([channelId, X / 3n, voucher], { account: w.wallets.relayer.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        w.channels.write.claim([channelId, X / 3n, voucher], { account: w.wallets.relayer.account }),
        w.channels,
        "PaymentChannelsNothingToClaim",
        [channelId, X / 3n, X / 3n],
      );
      await w.expectConservation(zeroAddress);
    },
  );

  scenario(
    AREA,
    "Escrow, SettlementHub",
    "expired and not-yet-valid authorisations",
    "a release past its sigDeadline reverts EscrowSignatureExpired; an intent at or after validBefore reverts SettlementHubExpired and before or at validAfter SettlementHubNotYetValid (each with its values); a valid window settles",
    async () => {
      const { w, escrowId, intent } = await networkHelpers.loadFixture(positions);
      const now = BigInt(await time.latest());
      const deadline = now + 100n;
      const release = await w.signReleaseAs("alice", { id: escrowId, releasedTotal: X, deadline });
      const late = intent({ validBefore: now + 100n });
      const lateSig = await w.signIntent("alice", late);
      const early = intent({ nonce: 1n, validAfter: now + 1_000n, validBefore: now + 2_000n });
      const earlySig = await w.signIntent("alice", early);
      // Each block's timestamp is pinned: left to the node, it follows the wall clock when a step runs slow.
      await time.setNextBlockTimestamp(now + 1n);
      await viem.assertions.revertWithCustomErrorWithArgs(
        w.hub.write.settle([early, earlySig], { account: w.wallets.relayer.account }),
        w.hub,
        "SettlementHubNotYetValid",
        [now + 1_000n, now + 1n],
      );
      await time.increaseTo(now + 100n);
      await time.setNextBlockTimestamp(now + 101n);
      await viem.assertions.revertWithCustomErrorWithArgs(
        w.hub.write.settle([late, lateSig], { account: w.wallets.relayer.account }),
        w.hub,
        "SettlementHubExpired",
        [now + 100n, now + 101n],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        w.escrow.write.releaseWithSig([escrowId, X, deadline, release], { account: w.wallets.relayer.account }),
        w.escrow,
        "EscrowSignatureExpired",
        [escrowId, deadline],
      );
      await time.increaseTo(now + 1_000n);
      await w.hub.write.settle([early, earlySig], { account: w.wallets.relayer.account });
      expect(await w.hub.read.balanceOf([w.address("bob"), zeroAddress])).to.equal(X / 2n);
      expect(await w.escrow.read.remaining([escrowId])).to.equal(X);
      await w.expectConservation(zeroAddress);
    },
  );

  scenario(
    AREA,
    "PaymentChannels",
    "vouchers carry no expiry: a voucher submitted after the channel closed",
    "claim reverts PaymentChannelsChannelNotOpen(id, Closed) and the id can never be reopened (PaymentChannelsChannelExists), so old vouchers stay worthless",
    async () => {
      const { w, channelId } = await networkHelpers.loadFixture(positions);
      const voucher = await w.signVoucher("alice", channelId, X / 2n);
      await w.channels.write.requestClose([channelId], { account: w.wallets.alice.account });
      await time.increase(CHALLENGE_PERIOD);
      await w.channels.write.finalizeClose([channelId], { account: w.wallets.relayer.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        w.channels.write.claim([channelId, X / 2n, voucher], { account: w.wallets.relayer.account }),
        w.channels,
        "PaymentChannelsChannelNotOpen",
        [channelId, 3],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        w.channels.write.open([w.address("bob"), zeroAddress, zeroAddress, X, `0x${"00".repeat(31)}01`], {
          account: w.wallets.alice.account,
          value: X,
        }),
        w.channels,
        "PaymentChannelsChannelExists",
        [channelId, 3],
      );
      await w.expectConservation(zeroAddress);
    },
  );

  /** An ERC-1271 wallet owned by alice's key, as escrow payer, hub account and channel signer. */
  async function walletPositions() {
    const base = await positions();
    const { w } = base;
    const wallet = await viem.deployContract("ERC1271Wallet", [w.address("alice")]);
    w.accounts.add(wallet.address);
    const terms = await w.escrowTerms({ token: zeroAddress, amount: X });
    const create = encodeFunctionData({ abi: w.escrow.abi, functionName: "create", args: [terms] });
    await w.wallets.alice.sendTransaction({ account: w.wallets.alice.account, to: wallet.address, value: X });
    await wallet.write.execute([w.escrow.address, X, create], { account: w.wallets.alice.account });
    const walletEscrow = 2n;
    w.escrowIds.add(walletEscrow);
    await w.hub.write.depositFor([wallet.address, zeroAddress, X], { account: w.wallets.alice.account, value: X });
    const salt = `0x${"55".repeat(32)}` as Hex;
    const walletChannel = await w.channels.read.channelIdOf([w.address("alice"), w.address("bob"), zeroAddress, salt]);
    await w.channels.write.open([w.address("bob"), zeroAddress, wallet.address, X, salt], {
      account: w.wallets.alice.account,
      value: X,
    });
    w.channelIds.add(walletChannel);
    return { ...base, wallet, walletEscrow, walletChannel };
  }

  scenario(
    AREA,
    ALL,
    "ERC-1271 wallet that approves, then revokes: its signatures work until it revokes",
    "before revoking: release, settle and claim succeed; after setRevoked(true): releaseWithSig, settle and claim revert with the invalid-signature errors naming the wallet, settleBatch reports BadSignature; nothing moves after revocation",
    async () => {
      const { w, wallet, walletEscrow, walletChannel, sigDeadline } = await networkHelpers.loadFixture(walletPositions);
      // alice's key signs; the wallet (not alice) is the payer / account / channel signer.
      const sign = {
        release: (total: bigint) =>
          w.signReleaseAs("alice", { id: walletEscrow, releasedTotal: total, deadline: sigDeadline }),
        intent: (nonce: bigint) =>
          payment({
            from: wallet.address,
            to: w.address("bob"),
            token: zeroAddress,
            amount: X / 4n,
            nonce,
            validBefore: sigDeadline,
          }),
      };
      await w.escrow.write.releaseWithSig([walletEscrow, X / 4n, sigDeadline, await sign.release(X / 4n)], {
        account: w.wallets.relayer.account,
      });
      const first = sign.intent(0n);
      await w.hub.write.settle([first, await w.signIntent("alice", first)], { account: w.wallets.relayer.account });
      await w.channels.write.claim([walletChannel, X / 4n, await w.signVoucher("alice", walletChannel, X / 4n)], {
        account: w.wallets.relayer.account,
      });

      await wallet.write.setRevoked([true], { account: w.wallets.alice.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        w.escrow.write.releaseWithSig([walletEscrow, X / 2n, sigDeadline, await sign.release(X / 2n)], {
          account: w.wallets.relayer.account,
        }),
        w.escrow,
        "EscrowInvalidSignature",
        [walletEscrow, getAddress(wallet.address)],
      );
      const second = sign.intent(1n);
      const secondSig = await w.signIntent("alice", second);
      await viem.assertions.revertWithCustomErrorWithArgs(
        w.hub.write.settle([second, secondSig], { account: w.wallets.relayer.account }),
        w.hub,
        "SettlementHubInvalidSignature",
        [getAddress(wallet.address), await w.hub.read.paymentDigest([second])],
      );
      await viem.assertions.emitWithArgs(
        w.hub.write.settleBatch([[second], [secondSig]], { account: w.wallets.relayer.account }),
        w.hub,
        "PaymentFailed",
        [await w.hub.read.paymentDigest([second]), FailureReason.BadSignature],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        w.channels.write.claim([walletChannel, X / 2n, await w.signVoucher("alice", walletChannel, X / 2n)], {
          account: w.wallets.relayer.account,
        }),
        w.channels,
        "PaymentChannelsInvalidSignature",
        [walletChannel, getAddress(wallet.address)],
      );
      expect(await w.escrow.read.remaining([walletEscrow])).to.equal(X - X / 4n);
      expect(await w.hub.read.balanceOf([wallet.address, zeroAddress])).to.equal(X - X / 4n);
      expect((await w.channels.read.getChannel([walletChannel])).claimed).to.equal(X / 4n);
      expect(await w.hub.read.balanceOf([w.address("bob"), zeroAddress]), "only the approved intent paid bob").to.equal(
        X / 4n,
      );
      await w.expectConservation(zeroAddress);
    },
  );

  async function permitWorld() {
    const w = await deployWorld(connection);
    const token = await viem.deployContract("TestToken", ["Permit USD", "PUSD", 6]);
    await token.write.mint([w.address("alice"), X]);
    const deadline = BigInt(await time.latest()) + DAY;
    const signature = await w.wallets.alice.signTypedData({
      account: w.wallets.alice.account,
      domain: { name: "Permit USD", version: "1", chainId: w.chainId, verifyingContract: token.address },
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
      message: { owner: w.address("alice"), spender: w.escrow.address, value: X, nonce: 0n, deadline },
    });
    const { r, s, v } = parseSignature(signature);
    const terms = await w.escrowTerms({ token: token.address, amount: X });
    return { w, token, deadline, r, s, v: Number(v), terms };
  }

  scenario(
    AREA,
    "Escrow",
    "ERC-2612 permit front-run: mallory submits alice's permit before alice's createWithPermit lands",
    "createWithPermit still succeeds (the failed permit is ignored, the allowance is already there); the escrow holds the full amount for alice; mallory gains nothing and cannot spend the allowance (it is the escrow's); conservation",
    async () => {
      const { w, token, deadline, r, s, v, terms } = await networkHelpers.loadFixture(permitWorld);
      await token.write.permit([w.address("alice"), w.escrow.address, X, deadline, v, r, s], {
        account: w.wallets.mallory.account,
      });
      expect(await token.read.allowance([w.address("alice"), w.address("mallory")])).to.equal(0n);
      const { result: id } = await w.escrow.simulate.createWithPermit([terms, deadline, v, r, s], {
        account: w.address("alice"),
      });
      await w.escrow.write.createWithPermit([terms, deadline, v, r, s], { account: w.wallets.alice.account });
      w.escrowIds.add(id);
      const created = await w.escrow.read.getEscrow([id]);
      expect(getAddress(created.payer)).to.equal(getAddress(w.address("alice")));
      expect(created.remaining).to.equal(X);
      expect(await token.read.balanceOf([w.address("mallory")])).to.equal(0n);
      expect(await token.read.allowance([w.address("alice"), w.escrow.address])).to.equal(0n);
      await w.expectConservation(token.address);
    },
  );

  scenario(
    AREA,
    "Escrow",
    "ERC-2612 permit used by someone else's createWithPermit: mallory submits alice's permit inside her own escrow creation",
    "mallory's createWithPermit pulls from mallory, not alice (the permit is checked against msg.sender, so alice's signature fails and is ignored, and the escrow always pulls from msg.sender): it reverts with ERC20InsufficientAllowance(escrow, 0, amount); alice's tokens stay hers",
    async () => {
      const { w, token, deadline, r, s, v, terms } = await networkHelpers.loadFixture(permitWorld);
      await viem.assertions.revertWithCustomErrorWithArgs(
        w.escrow.write.createWithPermit([terms, deadline, v, r, s], { account: w.wallets.mallory.account }),
        token,
        "ERC20InsufficientAllowance",
        [getAddress(w.escrow.address), 0n, X],
      );
      expect(await token.read.balanceOf([w.address("alice")])).to.equal(X);
      await w.expectConservation(token.address);
    },
  );
});
