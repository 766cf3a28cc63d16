// ERC-1271 checks off-chain ask the wallet as the verifying contract asks it on-chain: the
// eth_call is made from the hub's (Escrow's, PaymentChannels') address, so a wallet whose answer
// depends on `msg.sender` gives the same answer to the client as to the contract.
import { describe, it } from "node:test";
import { expect } from "chai";
import {
  type Address,
  encodeFunctionData,
  getAddress,
  type Hex,
  parseEther,
  parseEventLogs,
  zeroAddress,
  zeroHash,
} from "viem";
import {
  channelIdOf,
  createChannelClient,
  createEscrowClient,
  createSettlementClient,
  escrowAbi,
  hashPayment,
  type Payment,
  signPayment,
  signRelease,
  signVoucher,
  verifyPayment,
  verifyRelease,
  verifyVoucher,
} from "../../src/client/index.js";
import { clientVerifier } from "../../src/relayer/chain/client-adapters.js";
import { connect, expectContractError, localWallet } from "./helpers.js";

const WITHDRAWAL_DELAY = 3_600n;
const FEE_BPS = 100;
const RESOLUTION_TIMEOUT = 7n * 86_400n;
const CHALLENGE_PERIOD = 86_400n;
/** `IEscrow.ExpiryAction.RefundPayer`. */
const RefundPayer = 0;

describe("ERC-1271 verification calls the wallet from the verifying contract", async () => {
  const { connection, publicClient, wallets, chainId } = await connect();
  const { viem, networkHelpers } = connection;
  const [, relayer, merchant, stranger] = wallets;
  const [ownerAddress, , merchantAddress, strangerAddress] = wallets.map((w) => getAddress(w.account.address));
  /** `msg.sender` of an eth_call without `from` on Hardhat: the node's first account. */
  const defaultCaller = ownerAddress;
  // The EOA that owns every wallet below and signs for them.
  const walletOwner = await localWallet(
    connection,
    "0x48659039fd6d61e6122f01e23638874dab41ece41cec047ffd9694fa296eeac7",
  );
  const hubContract = await viem.deployContract("SettlementHub", [ownerAddress, WITHDRAWAL_DELAY]);
  const escrowContract = await viem.deployContract("Escrow", [ownerAddress, ownerAddress, FEE_BPS, RESOLUTION_TIMEOUT]);
  const channelsContract = await viem.deployContract("PaymentChannels", [ownerAddress, CHALLENGE_PERIOD]);
  const hubDomain = { chainId, verifyingContract: getAddress(hubContract.address) };
  const escrowDomain = { chainId, verifyingContract: getAddress(escrowContract.address) };
  const channelsDomain = { chainId, verifyingContract: getAddress(channelsContract.address) };

  const hub = createSettlementClient({ publicClient, walletClient: relayer, address: hubContract.address });
  const escrow = createEscrowClient({ publicClient, walletClient: relayer, address: escrowContract.address });
  const channels = createChannelClient({ publicClient, walletClient: merchant, address: channelsContract.address });

  /** A CallerBoundERC1271Wallet of `walletOwner` that approves its signatures only when `caller` asks. */
  async function walletBoundTo(caller: Address) {
    const wallet = await viem.deployContract("CallerBoundERC1271Wallet", [walletOwner.account.address, caller]);
    return { wallet, address: getAddress(wallet.address) };
  }

  /** Has the wallet's owner make `wallet` call `target` with `data` and `value` (from the wallet's balance). */
  async function execute(wallet: Address, target: Address, data: Hex, value = 0n) {
    const { abi } = await viem.getContractAt("CallerBoundERC1271Wallet", wallet);
    const hash = await walletOwner.writeContract({
      address: wallet,
      abi,
      functionName: "execute",
      args: [target, value, data],
    });
    return publicClient.waitForTransactionReceipt({ hash });
  }

  async function payment(from: Address, nonce: bigint): Promise<Payment> {
    const now = BigInt(await networkHelpers.time.latest());
    return {
      from,
      to: merchantAddress,
      token: zeroAddress,
      amount: parseEther("0.5"),
      fee: 0n,
      nonce,
      validAfter: 0n,
      validBefore: now + 3_600n,
      ref: zeroHash,
    };
  }

  it("the wallet answers by caller: rejecting an eth_call with no `from`, approving one from its caller", async () => {
    const { wallet, address } = await walletBoundTo(hubContract.address);
    const p = await payment(address, 0n);
    const digest = hashPayment({ domain: hubDomain, payment: p });
    const signature = await signPayment({ account: walletOwner.account, domain: hubDomain, payment: p });
    const ask = (account?: Address) =>
      publicClient.readContract({
        address,
        abi: wallet.abi,
        functionName: "isValidSignature",
        args: [digest, signature],
        ...(account ? { account } : {}),
      });
    expect(await ask()).to.equal("0xffffffff");
    expect(await ask(strangerAddress)).to.equal("0xffffffff");
    expect(await ask(hubDomain.verifyingContract)).to.equal("0x1626ba7e");
    // A wallet bound to the node's default sender approves the same eth_call with no `from`.
    const { address: bound } = await walletBoundTo(defaultCaller);
    const args = [digest, signature] as const;
    expect(
      await publicClient.readContract({ address: bound, abi: wallet.abi, functionName: "isValidSignature", args }),
    ).to.equal("0x1626ba7e");
  });

  it("verifyPayment accepts a payment from a wallet bound to the hub, and the hub settles it", async () => {
    const { address } = await walletBoundTo(hubContract.address);
    await hub.depositForAndWait([address, zeroAddress, parseEther("1")], { value: parseEther("1") });
    const p = await payment(address, 0n);
    const signature = await signPayment({ account: walletOwner.account, domain: hubDomain, payment: p });

    expect(await verifyPayment({ domain: hubDomain, payment: p, signature })).to.equal(false); // no chain: EOA only
    expect(await verifyPayment({ domain: hubDomain, payment: p, signature, publicClient })).to.equal(true);
    expect(await hub.verifyPayment(p, signature)).to.equal(true);
    // The relayer's verifier (the same helpers) admits it too.
    expect(await clientVerifier(publicClient).verifyPayment({ domain: hubDomain, payment: p, signature })).to.equal(
      true,
    );

    const { event } = await hub.settleAndWait([p, signature]);
    expect(event.eventName).to.equal("PaymentSettled");
    expect(await hub.balanceOf([address, zeroAddress])).to.equal(parseEther("0.5"));
    expect(await hub.balanceOf([merchantAddress, zeroAddress])).to.equal(parseEther("0.5"));
  });

  it("verifyPayment rejects a payment from a wallet bound to another caller, as the hub does", async () => {
    const { address } = await walletBoundTo(strangerAddress);
    await hub.depositForAndWait([address, zeroAddress, parseEther("1")], { value: parseEther("1") });
    const p = await payment(address, 0n);
    const signature = await signPayment({ account: walletOwner.account, domain: hubDomain, payment: p });

    expect(await verifyPayment({ domain: hubDomain, payment: p, signature, publicClient })).to.equal(false);
    expect(await clientVerifier(publicClient).verifyPayment({ domain: hubDomain, payment: p, signature })).to.equal(
      false,
    );
    await expectContractError(hub.settle([p, signature]), "SettlementHubInvalidSignature", [
      address,
      hashPayment({ domain: hubDomain, payment: p }),
    ]);
    // Bound to the stranger, the wallet does approve the stranger's question: only the caller differs.
    const asStranger = { chainId, verifyingContract: strangerAddress };
    const forStranger = await signPayment({ account: walletOwner.account, domain: asStranger, payment: p });
    expect(await verifyPayment({ domain: asStranger, payment: p, signature: forStranger, publicClient })).to.equal(
      true,
    );
  });

  // Invariant: the client takes a wallet's answer as "valid" exactly when the contracts'
  // SignatureChecker does: a first word of return data that is the magic value, zero-padded.
  for (const [answer, valid, what] of [
    [`0x1626ba7e${"00".repeat(28)}`, true, "the magic value, zero-padded"],
    [`0x1626ba7e${"00".repeat(28)}${"ff".repeat(32)}`, true, "the magic word, then another word"],
    [`0x1626ba7e${"ff".repeat(28)}`, false, "the magic value, then dirty bytes in its word"],
    ["0x1626ba7e", false, "the bare 4-byte selector"],
    [`0x${"00".repeat(28)}1626ba7e`, false, "the selector right-aligned"],
  ] as const) {
    it(`takes a wallet's raw answer of ${what} as ${valid ? "valid" : "invalid"}, as the hub does`, async () => {
      const wallet = await viem.deployContract("RawAnswerERC1271Wallet", [answer]);
      const address = getAddress(wallet.address);
      await hub.depositForAndWait([address, zeroAddress, parseEther("1")], { value: parseEther("1") });
      const p = await payment(address, 0n);
      const signature = await signPayment({ account: walletOwner.account, domain: hubDomain, payment: p });

      expect(await verifyPayment({ domain: hubDomain, payment: p, signature, publicClient })).to.equal(valid);
      if (valid) {
        const { event } = await hub.settleAndWait([p, signature]);
        expect(event.eventName).to.equal("PaymentSettled");
      } else {
        await expectContractError(hub.settle([p, signature]), "SettlementHubInvalidSignature", [
          address,
          hashPayment({ domain: hubDomain, payment: p }),
        ]);
      }
    });
  }

  /** Has `payer` (a wallet) lock `amount` in a new escrow for `merchant`, returning the escrow's id. */
  async function openEscrow(payer: Address, amount: bigint): Promise<bigint> {
    await networkHelpers.setBalance(payer, amount);
    const deadline = BigInt(await networkHelpers.time.latest()) + 30n * 86_400n;
    const data = encodeFunctionData({
      abi: escrowAbi,
      functionName: "create",
      args: [
        {
          payee: merchantAddress,
          arbiter: zeroAddress,
          token: zeroAddress,
          amount,
          deadline,
          onExpiry: RefundPayer,
          ref: zeroHash,
        },
      ],
    });
    const receipt = await execute(payer, escrowDomain.verifyingContract, data, amount);
    const [created] = parseEventLogs({ abi: escrowAbi, logs: receipt.logs, eventName: "EscrowCreated" });
    if (!created) expect.fail("no EscrowCreated");
    expect(created.args.payer).to.equal(payer);
    return created.args.id;
  }

  it("verifyRelease accepts a release by a wallet bound to the Escrow, and the Escrow releases", async () => {
    const { address } = await walletBoundTo(escrowContract.address);
    const id = await openEscrow(address, 1_000n);
    const deadline = BigInt(await networkHelpers.time.latest()) + 3_600n;
    const release = { id, releasedTotal: 400n, deadline };
    const signature = await signRelease({ account: walletOwner.account, domain: escrowDomain, release });

    expect(await verifyRelease({ domain: escrowDomain, release, signer: address, signature, publicClient })).to.equal(
      true,
    );
    expect(await escrow.verifyRelease(release, address, signature)).to.equal(true);
    const { event } = await escrow.releaseWithSigAndWait([id, 400n, deadline, signature]);
    expect(event.args).to.deep.include({ id, amount: 400n });
    expect((await escrow.getEscrow([id])).remaining).to.equal(600n);
  });

  // Bound to the node's own default `from` (Hardhat runs an eth_call without one as its first
  // account; geth-style nodes as address(0)): an eth_call with no `from` would wrongly approve.
  it("verifyRelease rejects a release by a wallet bound to the node's default eth_call sender, as the Escrow does", async () => {
    const { address } = await walletBoundTo(defaultCaller);
    const id = await openEscrow(address, 1_000n);
    const deadline = BigInt(await networkHelpers.time.latest()) + 3_600n;
    const release = { id, releasedTotal: 400n, deadline };
    const signature = await signRelease({ account: walletOwner.account, domain: escrowDomain, release });

    expect(await verifyRelease({ domain: escrowDomain, release, signer: address, signature, publicClient })).to.equal(
      false,
    );
    await expectContractError(escrow.releaseWithSig([id, 400n, deadline, signature]), "EscrowInvalidSignature", [
      id,
      address,
    ]);
  });

  /** Opens a channel from `stranger` to `merchant` whose vouchers `signer` signs; returns its id. */
  async function openChannel(signer: Address, salt: Hex): Promise<Hex> {
    const payer = createChannelClient({ publicClient, walletClient: stranger, address: channelsContract.address });
    await payer.openAndWait([merchantAddress, zeroAddress, signer, 1_000n, salt], { value: 1_000n });
    return channelIdOf({ payer: strangerAddress, payee: merchantAddress, token: zeroAddress, salt });
  }

  it("verifyVoucher accepts a voucher signed for a wallet bound to PaymentChannels, and the claim pays", async () => {
    const { address } = await walletBoundTo(channelsContract.address);
    const channelId = await openChannel(address, `0x${"00".repeat(31)}01`);
    const voucher = { channelId, cumulativeAmount: 250n };
    const signature = await signVoucher({ account: walletOwner.account, domain: channelsDomain, voucher });

    expect(await verifyVoucher({ domain: channelsDomain, voucher, signer: address, signature, publicClient })).to.equal(
      true,
    );
    expect(await channels.verifyVoucher(voucher, address, signature)).to.equal(true);
    const { event } = await channels.claimAndWait([channelId, 250n, signature]);
    expect(event.args).to.deep.equal({ channelId, cumulativeAmount: 250n, amount: 250n });
  });

  it("verifyVoucher rejects a voucher signed for a wallet bound to address(0) or another contract, as PaymentChannels does", async () => {
    // address(0): `msg.sender` of an eth_call with no `from` on geth-style nodes.
    const { address } = await walletBoundTo(zeroAddress);
    const channelId = await openChannel(address, `0x${"00".repeat(31)}02`);
    const voucher = { channelId, cumulativeAmount: 250n };
    const signature = await signVoucher({ account: walletOwner.account, domain: channelsDomain, voucher });

    expect(await verifyVoucher({ domain: channelsDomain, voucher, signer: address, signature, publicClient })).to.equal(
      false,
    );
    await expectContractError(channels.claim([channelId, 250n, signature]), "PaymentChannelsInvalidSignature", [
      channelId,
      address,
    ]);

    const { address: boundToEscrow } = await walletBoundTo(escrowContract.address);
    const otherId = await openChannel(boundToEscrow, `0x${"00".repeat(31)}03`);
    const other = { channelId: otherId, cumulativeAmount: 250n };
    const otherSignature = await signVoucher({ account: walletOwner.account, domain: channelsDomain, voucher: other });
    expect(
      await verifyVoucher({
        domain: channelsDomain,
        voucher: other,
        signer: boundToEscrow,
        signature: otherSignature,
        publicClient,
      }),
    ).to.equal(false);
    await expectContractError(channels.claim([otherId, 250n, otherSignature]), "PaymentChannelsInvalidSignature", [
      otherId,
      boundToEscrow,
    ]);
  });
});
