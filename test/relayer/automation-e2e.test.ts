import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { expect } from "chai";
import { pino } from "pino";
import {
  type Address,
  createPublicClient,
  createWalletClient,
  getAddress,
  type Hex,
  http,
  type PublicClient,
  parseEther,
  toHex,
  zeroAddress,
} from "viem";
import { generatePrivateKey, type PrivateKeyAccount, privateKeyToAccount } from "viem/accounts";
import { foundry } from "viem/chains";
import { channelIdOf, escrowAbi, paymentChannelsAbi, settlementHubAbi, signVoucher } from "../../src/client/index.js";
import { createRelayerClient, type RelayerClient } from "../../src/client/relayer.js";
import { startFromConfig } from "../../src/relayer/cli.js";
import { parseConfig } from "../../src/relayer/config.js";
import type { RelayerService } from "../../src/relayer/service.js";
import { ANVIL_KEYS, type Anvil, bytecodeOf, startAnvil } from "./helpers/anvil.js";

const RESOLUTION_TIMEOUT = 3_600n;
const CHALLENGE_PERIOD = 3_600n;
/** `IEscrow.EscrowState` and `IPaymentChannels.ChannelStatus`. */
const ESCROW_DISPUTED = 2;
const ESCROW_CLOSED = 3;
const CHANNEL_CLOSING = 2;
const CHANNEL_CLOSED = 3;

/**
 * The relayer's automation against a real node: it indexes the contracts' events and settles
 * expired escrows, claims vouchers of channels being closed and finalizes closes, with no
 * request from anyone. Time moves with `evm_increaseTime` + `evm_mine`.
 */
describe("relayer automation end to end (anvil, real contracts)", () => {
  let anvil: Anvil;
  let publicClient: PublicClient;
  let escrow: Address;
  let channels: Address;
  let dataDir: string;
  let service: RelayerService | undefined;
  let relayer: RelayerClient;
  const chain = () => ({ ...foundry, rpcUrls: { default: { http: [anvil.url] } } });
  const relayerKey = ANVIL_KEYS[3];
  const relayerAddress = privateKeyToAccount(relayerKey).address;
  const payer = privateKeyToAccount(ANVIL_KEYS[1]);
  const wallet = (account: PrivateKeyAccount) =>
    createWalletClient({ chain: chain(), transport: http(anvil.url), account });

  async function send(hash: Promise<Hex>): Promise<Hex> {
    const receipt = await publicClient.waitForTransactionReceipt({ hash: await hash });
    if (receipt.status !== "success") throw new Error("transaction reverted");
    return receipt.transactionHash;
  }

  /** Moves the chain's clock forward and mines a block with the new time. */
  async function advance(seconds: bigint): Promise<void> {
    await publicClient.request({ method: "evm_increaseTime" as never, params: [toHex(seconds)] as never });
    await publicClient.request({ method: "evm_mine" as never, params: [] as never });
  }

  async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 30_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await read();
      if (done(value) || Date.now() > deadline) return value;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  const now = async () => (await publicClient.getBlock()).timestamp;
  const getEscrow = (id: bigint) =>
    publicClient.readContract({ address: escrow, abi: escrowAbi, functionName: "getEscrow", args: [id] });
  const getChannel = (id: Hex) =>
    publicClient.readContract({ address: channels, abi: paymentChannelsAbi, functionName: "getChannel", args: [id] });
  /** Who sent the transaction that emitted a contract's event for `key`. */
  async function senderOf(eventName: "EscrowExpired" | "ChannelClosed" | "ChannelClaimed", key: bigint | Hex) {
    const events =
      eventName === "EscrowExpired"
        ? await publicClient.getContractEvents({
            address: escrow,
            abi: escrowAbi,
            eventName,
            args: { id: key as bigint },
            fromBlock: 0n,
          })
        : await publicClient.getContractEvents({
            address: channels,
            abi: paymentChannelsAbi,
            eventName,
            args: { channelId: key as Hex },
            fromBlock: 0n,
          });
    expect(events).to.have.length(1);
    return getAddress((await publicClient.getTransaction({ hash: events[0].transactionHash })).from);
  }

  async function createEscrow(args: { payee: Address; arbiter: Address; amount: bigint; deadline: bigint }) {
    const hash = await send(
      wallet(payer).writeContract({
        address: escrow,
        abi: escrowAbi,
        functionName: "create",
        args: [{ ...args, token: zeroAddress, onExpiry: 1, ref: toHex(0n, { size: 32 }) }],
        value: args.amount,
        account: payer,
        chain: chain(),
      }),
    );
    const [created] = await publicClient.getContractEvents({
      address: escrow,
      abi: escrowAbi,
      eventName: "EscrowCreated",
      blockHash: (await publicClient.getTransactionReceipt({ hash })).blockHash,
    });
    return created.args.id as bigint;
  }

  before(async () => {
    anvil = await startAnvil();
    dataDir = mkdtempSync(join(tmpdir(), "settlekit-automation-e2e-"));
    publicClient = createPublicClient({ chain: chain(), transport: http(anvil.url) }) as PublicClient;
    const deployerAccount = privateKeyToAccount(ANVIL_KEYS[0]);
    const deployer = wallet(deployerAccount);
    const owner = deployerAccount.address;
    const deploy = async (hash: Promise<Hex>) =>
      (await publicClient.waitForTransactionReceipt({ hash: await hash })).contractAddress as Address;
    const hub = await deploy(
      deployer.deployContract({
        abi: settlementHubAbi,
        bytecode: bytecodeOf("settlement", "SettlementHub"),
        args: [owner, 3_600n],
      }),
    );
    escrow = await deploy(
      deployer.deployContract({
        abi: escrowAbi,
        bytecode: bytecodeOf("escrow", "Escrow"),
        args: [owner, owner, 0, RESOLUTION_TIMEOUT],
      }),
    );
    channels = await deploy(
      deployer.deployContract({
        abi: paymentChannelsAbi,
        bytecode: bytecodeOf("micropayments", "PaymentChannels"),
        args: [owner, CHALLENGE_PERIOD],
      }),
    );
    const config = parseConfig(
      [
        ...["--rpc-url", anvil.url, "--hub", hub, "--escrow", escrow, "--channels", channels],
        ...["--port", "0", "--data-dir", dataDir, "--log-level", "silent"],
        ...["--poll-interval-ms", "100", "--automation-interval-ms", "200", "--index-block-range", "5"],
      ],
      { RELAYER_PRIVATE_KEY: relayerKey },
    );
    service = await startFromConfig(config, pino({ level: "silent" }));
    const address = service.app?.server.address();
    if (address === null || address === undefined || typeof address === "string") throw new Error("not listening");
    relayer = createRelayerClient({ url: `http://127.0.0.1:${address.port}` });
  });

  after(async () => {
    await service?.stop();
    await anvil?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("settles an escrow past its deadline on its own, and leaves a disputed one alone until its resolution timeout", async () => {
    const payee = privateKeyToAccount(generatePrivateKey()).address;
    const otherPayee = privateKeyToAccount(generatePrivateKey()).address;
    const arbiter = privateKeyToAccount(generatePrivateKey()).address;
    const deadline = (await now()) + 100n;
    const plain = await createEscrow({ payee, arbiter: zeroAddress, amount: parseEther("1"), deadline });
    const disputed = await createEscrow({ payee: otherPayee, arbiter, amount: parseEther("2"), deadline });
    await send(
      wallet(payer).writeContract({
        address: escrow,
        abi: escrowAbi,
        functionName: "dispute",
        args: [disputed],
        account: payer,
        chain: chain(),
      }),
    );
    const { disputedAt } = await getEscrow(disputed);

    // Nothing is due before the deadline.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect((await getEscrow(plain)).remaining).to.equal(parseEther("1"));

    await advance(200n);
    const settled = await eventually(
      () => getEscrow(plain),
      (e) => e.state === ESCROW_CLOSED,
    );
    expect(settled.state).to.equal(ESCROW_CLOSED);
    expect(settled.remaining).to.equal(0n);
    expect(await publicClient.getBalance({ address: payee })).to.equal(parseEther("1"));
    expect(await senderOf("EscrowExpired", plain)).to.equal(relayerAddress);

    // Past the deadline, but the arbiter still has time: the relayer leaves it alone.
    const stillDisputed = await eventually(
      () => getEscrow(disputed),
      (e) => e.state !== ESCROW_DISPUTED,
      2_000,
    );
    expect(stillDisputed.state).to.equal(ESCROW_DISPUTED);
    expect(stillDisputed.remaining).to.equal(parseEther("2"));
    // The store learns of the settlement once the transaction is confirmed or its event indexed.
    const status = await eventually(
      async () => service?.automationStatus(),
      (st) => st?.escrowsDue === 0,
    );
    expect(status).to.deep.include({ enabled: true, escrowsWaiting: 1, escrowsDisputed: 1, escrowsDue: 0 });

    await advance(disputedAt + RESOLUTION_TIMEOUT - (await now()) + 1n);
    const expired = await eventually(
      () => getEscrow(disputed),
      (e) => e.state === ESCROW_CLOSED,
    );
    expect(expired.state).to.equal(ESCROW_CLOSED);
    expect(await publicClient.getBalance({ address: otherPayee })).to.equal(parseEther("2"));
    expect(await senderOf("EscrowExpired", disputed)).to.equal(relayerAddress);
  });

  it("claims the latest voucher when a channel close is requested, then finalizes after the challenge period", async () => {
    const payee = privateKeyToAccount(generatePrivateKey()).address;
    const salt = toHex(7n, { size: 32 });
    await send(
      wallet(payer).writeContract({
        address: channels,
        abi: paymentChannelsAbi,
        functionName: "open",
        args: [payee, zeroAddress, zeroAddress, parseEther("1"), salt],
        value: parseEther("1"),
        account: payer,
        chain: chain(),
      }),
    );
    const channelId = channelIdOf({ payer: payer.address, payee, token: zeroAddress, salt });
    const domain = { chainId: 31_337, verifyingContract: channels };
    for (const cumulativeAmount of [parseEther("0.1"), parseEther("0.25")]) {
      const voucher = { channelId, cumulativeAmount };
      await relayer.submitVoucher({ voucher, signature: await signVoucher({ account: payer, domain, voucher }) });
    }
    // The payer tries to leave with the deposit: the watchtower claims what the payee is owed.
    await send(
      wallet(payer).writeContract({
        address: channels,
        abi: paymentChannelsAbi,
        functionName: "requestClose",
        args: [channelId],
        account: payer,
        chain: chain(),
      }),
    );
    const claimed = await eventually(
      () => getChannel(channelId),
      (c) => c.claimed === parseEther("0.25"),
    );
    expect(claimed.claimed).to.equal(parseEther("0.25"));
    expect(claimed.status).to.equal(CHANNEL_CLOSING);
    expect(await publicClient.getBalance({ address: payee })).to.equal(parseEther("0.25"));
    expect(await senderOf("ChannelClaimed", channelId)).to.equal(relayerAddress);
    // The relayer records the claim once its transaction manager has seen it confirmed.
    const kept = await eventually(
      () => relayer.getVoucher(channelId),
      (v) => v.claimedAmount === parseEther("0.25"),
    );
    expect(kept.claimedAmount).to.equal(parseEther("0.25"));

    // Not finalized while the challenge period runs.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect((await getChannel(channelId)).status).to.equal(CHANNEL_CLOSING);

    const payerBefore = await publicClient.getBalance({ address: payer.address });
    await advance(CHALLENGE_PERIOD + 1n);
    const closed = await eventually(
      () => getChannel(channelId),
      (c) => c.status === CHANNEL_CLOSED,
    );
    expect(closed.status).to.equal(CHANNEL_CLOSED);
    expect(await senderOf("ChannelClosed", channelId)).to.equal(relayerAddress);
    expect(await publicClient.getBalance({ address: payer.address })).to.equal(payerBefore + parseEther("0.75"));
    expect(await publicClient.getBalance({ address: payee })).to.equal(parseEther("0.25"));
    const status = await eventually(
      async () => (await service?.automationStatus())?.channelsClosing,
      (closing) => closing === 0,
    );
    expect(status).to.equal(0);
  });
});
