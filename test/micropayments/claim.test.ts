import { describe, it } from "node:test";
import { expect } from "chai";
import { network } from "hardhat";
import {
  concat,
  domainSeparator,
  encodeAbiParameters,
  encodeFunctionData,
  type Hex,
  hashTypedData,
  keccak256,
  parseSignature,
  serializeSignature,
  toHex,
  zeroAddress,
} from "viem";
import { hashVoucher, settlekitTypes } from "../../src/client/index.js";
import {
  DEPOSIT,
  deployChannels,
  localAccount,
  openChannel,
  Reason,
  Status,
  salt,
  sessionKey,
  signVoucher,
  VOUCHER_TYPES,
  voucherDomain,
} from "./helpers.js";

const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

/** `claim` and `claimBatch`: who may sign, what a voucher is worth, and where the money goes. */
describe("PaymentChannels: claim and claimBatch", async () => {
  const { viem, networkHelpers } = await network.create();
  const publicClient = await viem.getPublicClient();
  const payerKey = localAccount(1);

  async function openFixture() {
    const base = await deployChannels(viem);
    const { channels, token, payer, payee } = base;
    const id = await openChannel(channels, {
      payer,
      payee: payee.account.address,
      token: token.address,
      amount: DEPOSIT,
      salt: salt(1),
    });
    const domain = await voucherDomain(channels);
    return { ...base, id, domain };
  }

  describe("claim", () => {
    it("pays the payee the increase, whoever submits, and emits ChannelClaimed", async () => {
      const { channels, token, payee, stranger, id, domain } = await networkHelpers.loadFixture(openFixture);
      const signature = await signVoucher(payerKey, domain, id, 300n);
      await viem.assertions.emitWithArgs(
        channels.write.claim([id, 300n, signature], { account: stranger.account }),
        channels,
        "ChannelClaimed",
        [id, 300n, 300n],
      );
      expect(await token.read.balanceOf([payee.account.address])).to.equal(300n);
      expect(await token.read.balanceOf([stranger.account.address])).to.equal(0n);
      expect((await channels.read.getChannel([id])).claimed).to.equal(300n);

      await viem.assertions.emitWithArgs(
        channels.write.claim([id, 1_000n, await signVoucher(payerKey, domain, id, 1_000n)], {
          account: stranger.account,
        }),
        channels,
        "ChannelClaimed",
        [id, 1_000n, 700n],
      );
      expect(await token.read.balanceOf([payee.account.address])).to.equal(1_000n);
      expect(await token.read.balanceOf([channels.address])).to.equal(DEPOSIT - 1_000n);
    });

    it("pays a native payee", async () => {
      const { channels, payer, payee, domain } = await networkHelpers.loadFixture(openFixture);
      const id = await openChannel(channels, {
        payer,
        payee: payee.account.address,
        token: zeroAddress,
        amount: DEPOSIT,
        salt: salt(2),
      });
      const before = await publicClient.getBalance({ address: payee.account.address });
      await channels.write.claim([id, DEPOSIT / 4n, await signVoucher(payerKey, domain, id, DEPOSIT / 4n)]);
      expect(await publicClient.getBalance({ address: payee.account.address })).to.equal(before + DEPOSIT / 4n);
    });

    it("makes older and equal vouchers worthless once a later one is claimed", async () => {
      const { channels, id, domain } = await networkHelpers.loadFixture(openFixture);
      const older = await signVoucher(payerKey, domain, id, 100n);
      const latest = await signVoucher(payerKey, domain, id, 200n);
      await channels.write.claim([id, 200n, latest]);
      await viem.assertions.revertWithCustomErrorWithArgs(
        channels.write.claim([id, 100n, older]),
        channels,
        "PaymentChannelsNothingToClaim",
        [id, 100n, 200n],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        channels.write.claim([id, 200n, latest]),
        channels,
        "PaymentChannelsNothingToClaim",
        [id, 200n, 200n],
      );
    });

    it("rejects a voucher above the deposit whole, and accepts it after a top-up", async () => {
      const { channels, token, payer, payee, id, domain } = await networkHelpers.loadFixture(openFixture);
      const tooMuch = DEPOSIT + 1n;
      const signature = await signVoucher(payerKey, domain, id, tooMuch);
      await viem.assertions.revertWithCustomErrorWithArgs(
        channels.write.claim([id, tooMuch, signature]),
        channels,
        "PaymentChannelsAmountExceedsDeposit",
        [id, tooMuch, DEPOSIT],
      );
      expect(await token.read.balanceOf([payee.account.address])).to.equal(0n);
      await channels.write.topUp([id, 1n], { account: payer.account });
      await channels.write.claim([id, tooMuch, signature]);
      expect(await token.read.balanceOf([payee.account.address])).to.equal(tooMuch);
    });

    it("rejects a voucher not signed by the channel's signer", async () => {
      const { channels, payer, id, domain } = await networkHelpers.loadFixture(openFixture);
      const signature = await signVoucher(localAccount(3), domain, id, 100n);
      await viem.assertions.revertWithCustomErrorWithArgs(
        channels.write.claim([id, 100n, signature]),
        channels,
        "PaymentChannelsInvalidSignature",
        [id, payer.account.address],
      );
    });

    it("rejects a malformed or malleable (high-s) signature", async () => {
      const { channels, payer, id, domain } = await networkHelpers.loadFixture(openFixture);
      const good = parseSignature(await signVoucher(payerKey, domain, id, 100n));
      const flipped = serializeSignature({
        r: good.r,
        s: `0x${(SECP256K1_N - BigInt(good.s)).toString(16).padStart(64, "0")}` as Hex,
        yParity: good.yParity === 0 ? 1 : 0,
      });
      for (const bad of [flipped, "0x" as Hex, `${serializeSignature(good)}00` as Hex]) {
        await viem.assertions.revertWithCustomErrorWithArgs(
          channels.write.claim([id, 100n, bad]),
          channels,
          "PaymentChannelsInvalidSignature",
          [id, payer.account.address],
        );
      }
      await channels.write.claim([id, 100n, serializeSignature(good)]);
      expect((await channels.read.getChannel([id])).claimed).to.equal(100n);
    });

    it("rejects a voucher for another channel of the same payer and payee", async () => {
      const { channels, token, payer, payee, id, domain } = await networkHelpers.loadFixture(openFixture);
      const other = await openChannel(channels, {
        payer,
        payee: payee.account.address,
        token: token.address,
        amount: DEPOSIT,
        salt: salt(2),
      });
      const forOther = await signVoucher(payerKey, domain, other, 100n);
      await viem.assertions.revertWithCustomErrorWithArgs(
        channels.write.claim([id, 100n, forOther]),
        channels,
        "PaymentChannelsInvalidSignature",
        [id, payer.account.address],
      );
    });

    it("rejects a voucher signed for another contract or another chain", async () => {
      const { channels, owner, payer, id, domain } = await networkHelpers.loadFixture(openFixture);
      const twin = await viem.deployContract("PaymentChannels", [owner.account.address, 60n]);
      const otherContract = await signVoucher(payerKey, await voucherDomain(twin), id, 100n);
      const otherChain = await signVoucher(payerKey, { ...domain, chainId: domain.chainId + 1 }, id, 100n);
      for (const signature of [otherContract, otherChain]) {
        await viem.assertions.revertWithCustomErrorWithArgs(
          channels.write.claim([id, 100n, signature]),
          channels,
          "PaymentChannelsInvalidSignature",
          [id, payer.account.address],
        );
      }
    });

    it("accepts vouchers from a delegated session key and rejects the payer's own", async () => {
      const { channels, token, payer, payee, domain } = await networkHelpers.loadFixture(openFixture);
      const key = sessionKey("claim session");
      const id = await openChannel(channels, {
        payer,
        payee: payee.account.address,
        token: token.address,
        amount: DEPOSIT,
        salt: salt(2),
        signer: key.address,
      });
      await viem.assertions.revertWithCustomErrorWithArgs(
        channels.write.claim([id, 100n, await signVoucher(payerKey, domain, id, 100n)]),
        channels,
        "PaymentChannelsInvalidSignature",
        [id, key.address],
      );
      await channels.write.claim([id, 100n, await signVoucher(key, domain, id, 100n)]);
      expect(await token.read.balanceOf([payee.account.address])).to.equal(100n);
    });

    it("accepts an ERC-1271 smart-wallet payer's vouchers, and rejects them once it revokes", async () => {
      const { channels, payee, payer2, domain } = await networkHelpers.loadFixture(openFixture);
      const wallet = await viem.deployContract("ERC1271Wallet", [payer2.account.address]);
      await payer2.sendTransaction({ to: wallet.address, value: DEPOSIT });
      const id = await channels.read.channelIdOf([wallet.address, payee.account.address, zeroAddress, salt(5)]);
      const openCall = encodeFunctionData({
        abi: channels.abi,
        functionName: "open",
        args: [payee.account.address, zeroAddress, zeroAddress, DEPOSIT, salt(5)],
      });
      await wallet.write.execute([channels.address, DEPOSIT, openCall], { account: payer2.account });
      expect((await channels.read.getChannel([id])).signer.toLowerCase()).to.equal(wallet.address.toLowerCase());

      // The wallet's owner signs; the contract asks the wallet (ERC-1271).
      const ownerKey = localAccount(4);
      await channels.write.claim([id, 10n, await signVoucher(ownerKey, domain, id, 10n)]);
      expect((await channels.read.getChannel([id])).claimed).to.equal(10n);

      await wallet.write.setRevoked([true], { account: payer2.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        channels.write.claim([id, 20n, await signVoucher(ownerKey, domain, id, 20n)]),
        channels,
        "PaymentChannelsInvalidSignature",
        [id, wallet.address],
      );
    });

    it("accepts an ERC-1271 wallet as delegated signer", async () => {
      const { channels, token, payer, payee, payer2, domain } = await networkHelpers.loadFixture(openFixture);
      const wallet = await viem.deployContract("ERC1271Wallet", [payer2.account.address]);
      const id = await openChannel(channels, {
        payer,
        payee: payee.account.address,
        token: token.address,
        amount: DEPOSIT,
        salt: salt(2),
        signer: wallet.address,
      });
      await channels.write.claim([id, 42n, await signVoucher(localAccount(4), domain, id, 42n)]);
      expect(await token.read.balanceOf([payee.account.address])).to.equal(42n);
    });

    it("reverts for an unknown channel and for a closed one", async () => {
      const { channels, payee, id, domain } = await networkHelpers.loadFixture(openFixture);
      const unknown = salt(77);
      await viem.assertions.revertWithCustomErrorWithArgs(
        channels.write.claim([unknown, 1n, await signVoucher(payerKey, domain, unknown, 1n)]),
        channels,
        "PaymentChannelsChannelNotOpen",
        [unknown, Status.None],
      );
      await channels.write.close([id, 0n, "0x"], { account: payee.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        channels.write.claim([id, 1n, await signVoucher(payerKey, domain, id, 1n)]),
        channels,
        "PaymentChannelsChannelNotOpen",
        [id, Status.Closed],
      );
    });

    it("defers the payout of a payee the token blocks, who withdraws it later", async () => {
      const { channels, payer, payee, domain } = await networkHelpers.loadFixture(openFixture);
      const blocklist = await viem.deployContract("BlocklistToken");
      await blocklist.write.mint([payer.account.address, DEPOSIT]);
      await blocklist.write.approve([channels.address, DEPOSIT], { account: payer.account });
      const id = await openChannel(channels, {
        payer,
        payee: payee.account.address,
        token: blocklist.address,
        amount: DEPOSIT,
        salt: salt(2),
      });
      await blocklist.write.setBlocked([payee.account.address, true]);
      await viem.assertions.emitWithArgs(
        channels.write.claim([id, 50n, await signVoucher(payerKey, domain, id, 50n)]),
        channels,
        "PayoutDeferred",
        [payee.account.address, blocklist.address, 50n],
      );
      expect(await channels.read.owed([payee.account.address, blocklist.address])).to.equal(50n);
      expect((await channels.read.getChannel([id])).claimed).to.equal(50n);

      await blocklist.write.setBlocked([payee.account.address, false]);
      await viem.assertions.emitWithArgs(
        channels.write.withdraw([blocklist.address], { account: payee.account }),
        channels,
        "OwedWithdrawn",
        [payee.account.address, blocklist.address, 50n],
      );
      expect(await blocklist.read.balanceOf([payee.account.address])).to.equal(50n);
      expect(await channels.read.owed([payee.account.address, blocklist.address])).to.equal(0n);
    });

    it("defers native payouts to a payee contract that refuses them", async () => {
      const { channels, payer, domain } = await networkHelpers.loadFixture(openFixture);
      const receiver = await viem.deployContract("RevertingReceiver");
      const id = await openChannel(channels, {
        payer,
        payee: receiver.address,
        token: zeroAddress,
        amount: DEPOSIT,
        salt: salt(2),
      });
      await channels.write.claim([id, 60n, await signVoucher(payerKey, domain, id, 60n)]);
      expect(await channels.read.owed([receiver.address, zeroAddress])).to.equal(60n);
      await receiver.write.setAccepting([true]);
      await receiver.write.execute([
        channels.address,
        encodeFunctionData({ abi: channels.abi, functionName: "withdraw", args: [zeroAddress] }),
      ]);
      expect(await publicClient.getBalance({ address: receiver.address })).to.equal(60n);
    });

    it("reverts withdraw when nothing is owed", async () => {
      const { channels, payee } = await networkHelpers.loadFixture(openFixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        channels.write.withdraw([zeroAddress], { account: payee.account }),
        channels,
        "PayoutsNothingOwed",
        [payee.account.address, zeroAddress],
      );
    });
  });

  describe("claimBatch", () => {
    /** One payee, eight channels from two payers, in the token; a ninth channel in native currency. */
    async function batchFixture() {
      const base = await openFixture();
      const { channels, token, payer, payer2, payee } = base;
      const ids: Hex[] = [base.id];
      for (let i = 2; i <= 8; i++) {
        ids.push(
          await openChannel(channels, {
            payer: i % 2 === 0 ? payer2 : payer,
            payee: payee.account.address,
            token: token.address,
            amount: DEPOSIT,
            salt: salt(i),
          }),
        );
      }
      return { ...base, ids };
    }

    /** ids[k] was opened by payer2 (account 4) for odd k, by payer (account 1) for even k. */
    const keyFor = (index: number) => (index % 2 === 1 ? localAccount(4) : localAccount(1));

    it("claims the valid vouchers across many channels, skips the invalid ones with a reason", async () => {
      const { channels, token, payee, stranger, ids, domain } = await networkHelpers.loadFixture(batchFixture);
      // Channel 3 has claimed 500 already, channel 5 is closed.
      await channels.write.claim([ids[3], 500n, await signVoucher(keyFor(3), domain, ids[3], 500n)]);
      await channels.write.close([ids[5], 0n, "0x"], { account: payee.account });
      const payeeBefore = await token.read.balanceOf([payee.account.address]);

      const sign = (i: number, amount: bigint) => signVoucher(keyFor(i), domain, ids[i], amount);
      const claims = [
        { channelId: ids[0], cumulativeAmount: 100n, signature: await sign(0, 100n) },
        { channelId: ids[1], cumulativeAmount: 200n, signature: await sign(1, 200n) },
        // signed by the wrong key
        {
          channelId: ids[2],
          cumulativeAmount: 300n,
          signature: await signVoucher(localAccount(3), domain, ids[2], 300n),
        },
        // stale: 500 already claimed
        { channelId: ids[3], cumulativeAmount: 400n, signature: await sign(3, 400n) },
        // above the deposit
        { channelId: ids[4], cumulativeAmount: DEPOSIT + 1n, signature: await sign(4, DEPOSIT + 1n) },
        // closed
        { channelId: ids[5], cumulativeAmount: 10n, signature: await sign(5, 10n) },
        { channelId: ids[6], cumulativeAmount: 600n, signature: await sign(6, 600n) },
        { channelId: ids[7], cumulativeAmount: 700n, signature: await sign(7, 700n) },
        // unknown channel
        { channelId: salt(999), cumulativeAmount: 1n, signature: "0x" as Hex },
      ];
      const { result } = await channels.simulate.claimBatch([claims], { account: stranger.account.address });
      expect(result).to.equal(4n);

      const hash = await channels.write.claimBatch([claims], { account: stranger.account });
      const receipt = await publicClient.waitForTransactionReceipt({ hash });
      const failed = (await channels.getEvents.ChannelClaimFailed({}, { blockHash: receipt.blockHash })).map((e) => [
        e.args.channelId,
        e.args.reason,
      ]);
      expect(failed).to.deep.equal([
        [ids[2], Reason.InvalidSignature],
        [ids[3], Reason.AmountNotAboveClaimed],
        [ids[4], Reason.AmountExceedsDeposit],
        [ids[5], Reason.ChannelNotOpen],
        [salt(999), Reason.ChannelNotOpen],
      ]);
      const claimed = (await channels.getEvents.ChannelClaimed({}, { blockHash: receipt.blockHash })).map(
        (e) => e.args.channelId,
      );
      expect(claimed).to.deep.equal([ids[0], ids[1], ids[6], ids[7]]);

      expect(await token.read.balanceOf([payee.account.address])).to.equal(payeeBefore + 100n + 200n + 600n + 700n);
      expect((await channels.read.getChannel([ids[3]])).claimed).to.equal(500n);
      expect((await channels.read.getChannel([ids[2]])).claimed).to.equal(0n);
      expect((await channels.read.getChannel([ids[7]])).claimed).to.equal(700n);
    });

    it("pays each payee in its own token when a batch mixes payees and tokens", async () => {
      const { channels, token, payer, payee, stranger, ids, domain } = await networkHelpers.loadFixture(batchFixture);
      const otherPayee = stranger.account.address;
      const native = await openChannel(channels, {
        payer,
        payee: payee.account.address,
        token: zeroAddress,
        amount: DEPOSIT,
        salt: salt(50),
      });
      const toOther = await openChannel(channels, {
        payer,
        payee: otherPayee,
        token: token.address,
        amount: DEPOSIT,
        salt: salt(51),
      });
      const nativeBefore = await publicClient.getBalance({ address: payee.account.address });
      const claims = [
        { channelId: ids[0], cumulativeAmount: 10n, signature: await signVoucher(payerKey, domain, ids[0], 10n) },
        { channelId: native, cumulativeAmount: 20n, signature: await signVoucher(payerKey, domain, native, 20n) },
        { channelId: toOther, cumulativeAmount: 30n, signature: await signVoucher(payerKey, domain, toOther, 30n) },
        { channelId: ids[1], cumulativeAmount: 40n, signature: await signVoucher(keyFor(1), domain, ids[1], 40n) },
      ];
      // Sent by a third account so that the payee's native balance moves only by what it is paid.
      const [, , , , , sender] = await viem.getWalletClients();
      await channels.write.claimBatch([claims], { account: sender.account });
      expect(await token.read.balanceOf([payee.account.address])).to.equal(50n);
      expect(await token.read.balanceOf([otherPayee])).to.equal(30n);
      expect(await publicClient.getBalance({ address: payee.account.address })).to.equal(nativeBefore + 20n);
    });

    it("returns zero and changes nothing for an empty batch or one where every claim fails", async () => {
      const { channels, token, payee, ids, domain } = await networkHelpers.loadFixture(batchFixture);
      const { result: empty } = await channels.simulate.claimBatch([[]]);
      expect(empty).to.equal(0n);
      const bad = [
        { channelId: ids[0], cumulativeAmount: 5n, signature: await signVoucher(localAccount(3), domain, ids[0], 5n) },
      ];
      const { result } = await channels.simulate.claimBatch([bad]);
      expect(result).to.equal(0n);
      await viem.assertions.emitWithArgs(channels.write.claimBatch([bad]), channels, "ChannelClaimFailed", [
        ids[0],
        Reason.InvalidSignature,
      ]);
      expect(await token.read.balanceOf([payee.account.address])).to.equal(0n);
    });

    it("claims the same channel twice in one batch only while the amount grows", async () => {
      const { channels, token, payee, ids, domain } = await networkHelpers.loadFixture(batchFixture);
      const sign = (amount: bigint) => signVoucher(payerKey, domain, ids[0], amount);
      const claims = [
        { channelId: ids[0], cumulativeAmount: 100n, signature: await sign(100n) },
        { channelId: ids[0], cumulativeAmount: 150n, signature: await sign(150n) },
        { channelId: ids[0], cumulativeAmount: 150n, signature: await sign(150n) },
      ];
      const { result } = await channels.simulate.claimBatch([claims]);
      expect(result).to.equal(2n);
      await channels.write.claimBatch([claims]);
      expect(await token.read.balanceOf([payee.account.address])).to.equal(150n);
      expect((await channels.read.getChannel([ids[0]])).claimed).to.equal(150n);
    });
  });

  it("uses the EIP-712 Voucher type exactly as DESIGN.md specifies, in the contract and the shipped client", async () => {
    // DESIGN §5 (the binding specification, outside this repository), verbatim.
    const designType = "Voucher(bytes32 channelId,uint256 cumulativeAmount)";
    /** EIP-712 `encodeType` of a struct that references no other struct. */
    const encodeType = (name: string, fields: readonly { name: string; type: string }[]) =>
      `${name}(${fields.map((f) => `${f.type} ${f.name}`).join(",")})`;
    // What integrators sign with (the shipped client's types), and what these tests sign with.
    expect(encodeType("Voucher", settlekitTypes.Voucher), "the shipped client's settlekitTypes.Voucher").to.equal(
      designType,
    );
    expect(encodeType("Voucher", VOUCHER_TYPES.Voucher), "the test helper's VOUCHER_TYPES").to.equal(designType);

    // The contract's type hash is private: its digest view must be the EIP-712 digest built from
    // keccak256(designType) in the domain the contract reports.
    const { channels, id } = await networkHelpers.loadFixture(openFixture);
    const domain = await voucherDomain(channels);
    const cumulativeAmount = 123_456_789n;
    const structHash = keccak256(
      encodeAbiParameters(
        [{ type: "bytes32" }, { type: "bytes32" }, { type: "uint256" }],
        [keccak256(toHex(designType)), id, cumulativeAmount],
      ),
    );
    const expected = keccak256(concat(["0x1901", domainSeparator({ domain }), structHash]));
    expect(await channels.read.voucherDigest([id, cumulativeAmount]), "the contract's voucher digest").to.equal(
      expected,
    );
    // The shipped client hashes (and so signs) the same digest.
    expect(hashVoucher({ domain, voucher: { channelId: id, cumulativeAmount } }), "the client's hashVoucher").to.equal(
      expected,
    );
    expect(
      hashTypedData({
        domain,
        types: settlekitTypes,
        primaryType: "Voucher",
        message: { channelId: id, cumulativeAmount },
      }),
      "viem's hashTypedData over settlekitTypes",
    ).to.equal(expected);
  });
});
