import { type Address, encodeFunctionData, type Hex, type PublicClient, parseEventLogs, zeroAddress } from "viem";
import {
  escrowAbi,
  hashPayment,
  hashRelease,
  hashVoucher,
  paymentChannelsAbi,
  recoverDigestSigner,
  settlementHubAbi,
  verifyPayment,
  verifyRelease,
  verifyVoucher,
} from "../../client/index.js";
import type {
  ChainLog,
  ChannelsPort,
  ChannelView,
  ContractEvent,
  EscrowPort,
  EscrowView,
  HubFailureReason,
  HubPort,
  HubState,
  HubStateQuery,
  Payment,
  PaymentOutcome,
  Settlement,
  SignatureVerifier,
  SigningPort,
} from "./ports.js";

/**
 * The relayer's ports over the settlekit client library: hashing, recovery and verification are
 * the library's functions, encodings and event decoding use its generated ABIs.
 */

/** The library's synchronous signing functions. */
export const clientSigning: SigningPort = {
  hashPayment,
  hashVoucher,
  hashRelease,
  recoverDigestSigner: (digest, signature) => {
    try {
      return recoverDigestSigner(digest, signature);
    } catch {
      return null; // malformed input is simply not a valid signature
    }
  },
};

/** The library's verifiers with a public client: ECDSA first, ERC-1271 for signers with code. */
export function clientVerifier(publicClient: PublicClient): SignatureVerifier {
  return {
    verifyPayment: (args) => verifyPayment({ ...args, publicClient }),
    verifyVoucher: (args) => verifyVoucher({ ...args, publicClient }),
    verifyRelease: (args) => verifyRelease({ ...args, publicClient }),
  };
}

/**
 * `ISettlementHub.FailureReason`, by index (append-only on-chain; an index past the end reads as
 * "other"). Index 0 (`None`) is never emitted.
 */
export const HUB_FAILURE_REASONS: readonly (HubFailureReason | "none")[] = [
  "none",
  "invalid_recipient",
  "not_yet_valid",
  "expired",
  "bad_signature",
  "nonce_used",
  "insufficient_balance",
  "balance_too_large",
];

export function hubFailureReason(raw: number): HubFailureReason {
  const name = HUB_FAILURE_REASONS[raw];
  return name === undefined || name === "none" ? "other" : name;
}

export class ClientHubPort implements HubPort {
  constructor(
    readonly address: Address,
    private readonly client: PublicClient,
  ) {}

  async readState(query: HubStateQuery): Promise<HubState> {
    if (query.balances.length + query.nonces.length === 0) return { balances: [], withdrawals: [], noncesUsed: [] };
    // One `eth_call` for the whole group: a Multicall3 deployed within the call itself
    // (deployless), so it needs no contract on the chain; any failed read fails the group.
    const results = await this.client.multicall({
      allowFailure: false,
      deployless: true,
      contracts: [
        ...query.balances.map(
          (b) =>
            ({
              address: this.address,
              abi: settlementHubAbi,
              functionName: "balanceOf",
              args: [b.account, b.token],
            }) as const,
        ),
        ...query.balances.map(
          (b) =>
            ({
              address: this.address,
              abi: settlementHubAbi,
              functionName: "getWithdrawalRequest",
              args: [b.account, b.token],
            }) as const,
        ),
        ...query.nonces.map(
          (n) =>
            ({
              address: this.address,
              abi: settlementHubAbi,
              functionName: "nonceUsed",
              args: [n.owner, n.nonce],
            }) as const,
        ),
      ],
    });
    const split = query.balances.length;
    return {
      balances: results.slice(0, split) as bigint[],
      withdrawals: (results.slice(split, 2 * split) as { amount: bigint; availableAt: bigint | number }[]).map((w) => ({
        amount: w.amount,
        availableAt: BigInt(w.availableAt),
      })),
      noncesUsed: results.slice(2 * split) as boolean[],
    };
  }

  encodeSettleBatch(payments: readonly Payment[], signatures: readonly Hex[]): Hex {
    return encodeFunctionData({ abi: settlementHubAbi, functionName: "settleBatch", args: [payments, signatures] });
  }

  decodeOutcomes(logs: readonly ChainLog[]): PaymentOutcome[] {
    const ours = logs.filter((log) => log.address.toLowerCase() === this.address.toLowerCase());
    return parseEventLogs({
      abi: settlementHubAbi,
      eventName: ["PaymentSettled", "PaymentFailed"],
      logs: ours.map((log) => ({
        ...log,
        topics: [...log.topics] as [Hex, ...Hex[]],
        logIndex: 0,
        transactionIndex: 0,
        removed: false,
      })),
      strict: true,
    }).map((event) =>
      event.eventName === "PaymentSettled"
        ? { digest: event.args.digest, settled: true as const }
        : {
            digest: event.args.digest,
            settled: false as const,
            reason: hubFailureReason(event.args.reason),
            rawReason: event.args.reason,
          },
    );
  }

  async findSettlements(digests: readonly Hex[], fromBlock: bigint, toBlock: bigint): Promise<Settlement[]> {
    if (digests.length === 0) return [];
    const events = await this.client.getContractEvents({
      address: this.address,
      abi: settlementHubAbi,
      eventName: "PaymentSettled",
      args: { digest: [...digests] },
      fromBlock,
      toBlock,
      strict: true,
    });
    return events.map((event) => ({
      digest: event.args.digest,
      txHash: event.transactionHash,
      blockNumber: event.blockNumber,
      blockHash: event.blockHash,
    }));
  }
}

/** `IEscrow.EscrowState`: None, Active, Disputed, Closed. */
const ESCROW_STATE_NONE = 0;
const ESCROW_STATE_DISPUTED = 2;
const ESCROW_STATE_CLOSED = 3;

/** A log as viem's event parser takes it (receipts' logs carry no index the relayer needs). */
const parseable = (logs: readonly ChainLog[], address: Address) =>
  logs
    .filter((log) => log.address.toLowerCase() === address.toLowerCase())
    .map((log) => ({
      ...log,
      topics: [...log.topics] as [Hex, ...Hex[]],
      logIndex: 0,
      transactionIndex: 0,
      removed: false,
    }));

/** The escrow events that change what the automation needs to know about an escrow. */
const ESCROW_EVENTS: ReadonlySet<string> = new Set([
  "EscrowCreated",
  "EscrowDisputed",
  "EscrowReleased",
  "EscrowRefunded",
  "EscrowResolved",
  "EscrowExpired",
]);

/** The channel events that change what the automation needs to know about a channel. */
const CHANNEL_EVENTS: ReadonlySet<string> = new Set([
  "ChannelOpened",
  "ChannelToppedUp",
  "ChannelClaimed",
  "ChannelCloseRequested",
  "ChannelCloseCancelled",
  "ChannelClosed",
]);

export class ClientEscrowPort implements EscrowPort {
  #resolutionTimeout: Promise<bigint> | undefined;

  constructor(
    readonly address: Address,
    private readonly client: PublicClient,
  ) {}

  resolutionTimeout(): Promise<bigint> {
    this.#resolutionTimeout ??= this.client
      .readContract({ address: this.address, abi: escrowAbi, functionName: "resolutionTimeout" })
      .then(BigInt);
    return this.#resolutionTimeout.catch((error: unknown) => {
      this.#resolutionTimeout = undefined; // a failed read is retried next time
      throw error;
    });
  }

  async getEvents(fromBlock: bigint, toBlock: bigint): Promise<ContractEvent<bigint>[]> {
    const events = await this.client.getContractEvents({ address: this.address, abi: escrowAbi, fromBlock, toBlock });
    const out: ContractEvent<bigint>[] = [];
    for (const event of events) {
      if (!ESCROW_EVENTS.has(event.eventName) || !("id" in event.args) || typeof event.args.id !== "bigint") continue;
      out.push({ name: event.eventName, key: event.args.id, blockNumber: event.blockNumber, logIndex: event.logIndex });
    }
    return out;
  }

  decodeExpired(logs: readonly ChainLog[]): bigint[] {
    return parseEventLogs({
      abi: escrowAbi,
      eventName: "EscrowExpired",
      logs: parseable(logs, this.address),
      strict: true,
    }).map((event) => event.args.id);
  }

  encodeSettleExpired(id: bigint): Hex {
    return encodeFunctionData({ abi: escrowAbi, functionName: "settleExpired", args: [id] });
  }

  async getEscrow(id: bigint, blockNumber?: bigint): Promise<EscrowView | null> {
    const escrow = await this.client.readContract({
      address: this.address,
      abi: escrowAbi,
      functionName: "getEscrow",
      args: [id],
      blockNumber,
    });
    if (escrow.state === ESCROW_STATE_NONE || escrow.payer === zeroAddress) return null;
    return {
      payer: escrow.payer,
      payee: escrow.payee,
      token: escrow.token,
      remaining: escrow.remaining,
      released: escrow.released,
      deadline: escrow.deadline,
      disputedAt: escrow.disputedAt,
      state:
        escrow.state === ESCROW_STATE_DISPUTED
          ? "disputed"
          : escrow.state === ESCROW_STATE_CLOSED
            ? "closed"
            : "active",
    };
  }

  encodeReleaseWithSig(release: { id: bigint; releasedTotal: bigint; deadline: bigint }, signature: Hex): Hex {
    return encodeFunctionData({
      abi: escrowAbi,
      functionName: "releaseWithSig",
      args: [release.id, release.releasedTotal, release.deadline, signature],
    });
  }

  encodeSettleExpiredBatch(ids: readonly bigint[]): Hex {
    return encodeFunctionData({ abi: escrowAbi, functionName: "settleExpiredBatch", args: [ids] });
  }
}

/** `IPaymentChannels.ChannelStatus`: None, Open, Closing, Closed. */
const CHANNEL_OPEN = 1;
const CHANNEL_CLOSING = 2;

export class ClientChannelsPort implements ChannelsPort {
  #challengePeriod: Promise<bigint> | undefined;

  constructor(
    readonly address: Address,
    private readonly client: PublicClient,
  ) {}

  async getChannel(channelId: Hex, blockNumber?: bigint): Promise<ChannelView | null> {
    this.#challengePeriod ??= this.client
      .readContract({ address: this.address, abi: paymentChannelsAbi, functionName: "challengePeriod" })
      .catch((error: unknown) => {
        this.#challengePeriod = undefined; // a failed read is retried next time, not kept
        throw error;
      });
    const [channel, challengePeriod] = await Promise.all([
      this.client.readContract({
        address: this.address,
        abi: paymentChannelsAbi,
        functionName: "getChannel",
        args: [channelId],
        blockNumber,
      }),
      this.#challengePeriod,
    ]);
    if (channel.status === 0) return null;
    return {
      payer: channel.payer,
      payee: channel.payee,
      token: channel.token,
      signer: channel.signer,
      deposit: channel.deposit,
      claimed: channel.claimed,
      closesAt: channel.closeRequestedAt === 0n ? 0n : channel.closeRequestedAt + challengePeriod,
      open: channel.status === CHANNEL_OPEN || channel.status === CHANNEL_CLOSING,
    };
  }

  async getEvents(fromBlock: bigint, toBlock: bigint): Promise<ContractEvent<Hex>[]> {
    const events = await this.client.getContractEvents({
      address: this.address,
      abi: paymentChannelsAbi,
      fromBlock,
      toBlock,
    });
    const out: ContractEvent<Hex>[] = [];
    for (const event of events) {
      if (!CHANNEL_EVENTS.has(event.eventName) || !("channelId" in event.args)) continue;
      const channelId = event.args.channelId;
      if (typeof channelId !== "string") continue;
      out.push({ name: event.eventName, key: channelId, blockNumber: event.blockNumber, logIndex: event.logIndex });
    }
    return out;
  }

  encodeClaim(voucher: { channelId: Hex; cumulativeAmount: bigint }, signature: Hex): Hex {
    return encodeFunctionData({
      abi: paymentChannelsAbi,
      functionName: "claim",
      args: [voucher.channelId, voucher.cumulativeAmount, signature],
    });
  }

  encodeFinalizeClose(channelId: Hex): Hex {
    return encodeFunctionData({ abi: paymentChannelsAbi, functionName: "finalizeClose", args: [channelId] });
  }
}
