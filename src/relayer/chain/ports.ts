import type { Address, Hex } from "viem";

import type { DeploymentDomain, Payment, Release, Voucher } from "../../client/index.js";

export type { DeploymentDomain, Payment, Release, Voucher };

/**
 * The relayer's seams to the chain. Everything chain-specific the relayer needs goes through
 * these interfaces, so the service logic is tested with fakes and wired to the real thing by
 * small adapters (`client-adapters.ts`, `viem-chain.ts`):
 *
 * - `SigningPort`, `SignatureVerifier` and the contract ports (`HubPort`, `EscrowPort`,
 *   `ChannelsPort`) are implemented over the settlekit client library (`src/client`), which
 *   owns the ABIs, EIP-712 hashing and signature recovery. The relayer has none of its own.
 * - `ChainPort` is plain EVM JSON-RPC plus the relayer key.
 */

/** Pure, synchronous EIP-712 hashing and ECDSA recovery (the client library's functions). */
export interface SigningPort {
  hashPayment(args: { domain: DeploymentDomain; payment: Payment }): Hex;
  hashVoucher(args: { domain: DeploymentDomain; voucher: Voucher }): Hex;
  hashRelease(args: { domain: DeploymentDomain; release: Release }): Hex;
  /** Signer of a digest, or null for an invalid, malleable or malformed signature. */
  recoverDigestSigner(digest: Hex, signature: Hex): Address | null;
}

/**
 * The slow path of signature checks: an EOA check and then ERC-1271 `isValidSignature` when
 * the signer has code (the client library's `verifyPayment`/`verifyVoucher`/`verifyRelease`
 * with a public client). Only called when ECDSA recovery did not yield the expected signer.
 */
export interface SignatureVerifier {
  verifyPayment(args: { domain: DeploymentDomain; payment: Payment; signature: Hex }): Promise<boolean>;
  verifyVoucher(args: {
    domain: DeploymentDomain;
    voucher: Voucher;
    signer: Address;
    signature: Hex;
  }): Promise<boolean>;
  verifyRelease(args: {
    domain: DeploymentDomain;
    release: Release;
    signer: Address;
    signature: Hex;
  }): Promise<boolean>;
}

/**
 * Why the hub skipped an intent: `PaymentFailed`'s `FailureReason`, by name (the adapter maps
 * the enum; a value added to the append-only enum later reads as "other").
 */
export type HubFailureReason =
  | "invalid_recipient"
  | "not_yet_valid"
  | "expired"
  | "bad_signature"
  | "nonce_used"
  | "insufficient_balance"
  | "balance_too_large"
  | "other";

/** One intent's result as read from a receipt's `PaymentSettled` / `PaymentFailed` event. */
export type PaymentOutcome =
  | { digest: Hex; settled: true }
  | { digest: Hex; settled: false; reason: HubFailureReason; rawReason: number };

/** A minimal log (what receipts and `eth_getLogs` return). */
export interface ChainLog {
  address: Address;
  topics: readonly Hex[];
  data: Hex;
  blockNumber: bigint;
  blockHash: Hex;
  transactionHash: Hex;
}

/** Reads for the acceptance checks, many at once. */
export interface HubStateQuery {
  balances: readonly { account: Address; token: Address }[];
  nonces: readonly { owner: Address; nonce: bigint }[];
}
/** A payer's pending withdrawal request (`getWithdrawalRequest`): amount 0 when there is none. */
export interface WithdrawalRequest {
  amount: bigint;
  /** Unix seconds from which `withdraw` pays it. */
  availableAt: bigint;
}

export interface HubState {
  /** `balanceOf(account, token)`, in the order asked. */
  balances: bigint[];
  /** `getWithdrawalRequest(account, token)`, for each balance asked, in the same order. */
  withdrawals: WithdrawalRequest[];
  /** `nonceUsed(owner, nonce)`, in the order asked. */
  noncesUsed: boolean[];
}

/** A `PaymentSettled` log of an intent: the transaction and block that paid it. */
export interface Settlement {
  digest: Hex;
  txHash: Hex;
  blockNumber: bigint;
  blockHash: Hex;
}

/** SettlementHub: reads for acceptance, calldata for `settleBatch`, events for results. */
export interface HubPort {
  readonly address: Address;
  /**
   * Balances and nonce flags for many intents in one go (one JSON-RPC batch or one multicall).
   * The relayer coalesces concurrent requests into one call.
   */
  readState(query: HubStateQuery): Promise<HubState>;
  encodeSettleBatch(payments: readonly Payment[], signatures: readonly Hex[]): Hex;
  /** Per-intent results of this hub in a receipt's logs (other logs are ignored). */
  decodeOutcomes(logs: readonly ChainLog[]): PaymentOutcome[];
  /**
   * Where any of `digests` settled between `fromBlock` and `toBlock` (inclusive): their
   * `PaymentSettled` logs, one `eth_getLogs` request.
   */
  findSettlements(digests: readonly Hex[], fromBlock: bigint, toBlock: bigint): Promise<Settlement[]>;
}

/** An escrow's state as far as the relayer needs it. */
export interface EscrowView {
  payer: Address;
  payee: Address;
  token: Address;
  remaining: bigint;
  released: bigint;
  deadline: bigint;
  /** Unix seconds of the dispute; 0 when never disputed. */
  disputedAt: bigint;
  /** `IEscrow.EscrowState`, by name. */
  state: "active" | "disputed" | "closed";
}

/**
 * One event of a contract the indexer follows: which escrow or channel it touched (`key`) and
 * where it sits in the chain. The indexer only needs to know what changed; it reads the state.
 */
export interface ContractEvent<K> {
  name: string;
  key: K;
  blockNumber: bigint;
  logIndex: number;
}

export interface EscrowPort {
  readonly address: Address;
  /** The escrow's state at `blockNumber` (default: the latest block). */
  getEscrow(id: bigint, blockNumber?: bigint): Promise<EscrowView | null>;
  /** The arbiter's resolution timeout (a constructor parameter), seconds. */
  resolutionTimeout(): Promise<bigint>;
  /**
   * `EscrowCreated`, `EscrowDisputed`, `EscrowReleased`, `EscrowRefunded`, `EscrowResolved` and
   * `EscrowExpired` logs in `[fromBlock, toBlock]`, in chain order.
   */
  getEvents(fromBlock: bigint, toBlock: bigint): Promise<ContractEvent<bigint>[]>;
  encodeReleaseWithSig(release: Release, signature: Hex): Hex;
  encodeSettleExpired(id: bigint): Hex;
  encodeSettleExpiredBatch(ids: readonly bigint[]): Hex;
  /** Ids of the escrows an `EscrowExpired` log of this contract reports in a receipt's logs. */
  decodeExpired(logs: readonly ChainLog[]): bigint[];
}

/** A channel's state as far as the relayer needs it. */
export interface ChannelView {
  payer: Address;
  payee: Address;
  token: Address;
  signer: Address;
  deposit: bigint;
  claimed: bigint;
  /** Unix seconds at which a requested close may be finalized; 0 when no close was requested. */
  closesAt: bigint;
  /** Open or closing: vouchers can still be claimed. */
  open: boolean;
}

export interface ChannelsPort {
  readonly address: Address;
  /** The channel's state at `blockNumber` (default: the latest block). */
  getChannel(channelId: Hex, blockNumber?: bigint): Promise<ChannelView | null>;
  /**
   * `ChannelOpened`, `ChannelToppedUp`, `ChannelClaimed`, `ChannelCloseRequested`,
   * `ChannelCloseCancelled` and `ChannelClosed` logs in `[fromBlock, toBlock]`, in chain order.
   */
  getEvents(fromBlock: bigint, toBlock: bigint): Promise<ContractEvent<Hex>[]>;
  encodeClaim(voucher: Voucher, signature: Hex): Hex;
  encodeFinalizeClose(channelId: Hex): Hex;
}

/** A transaction to sign, EIP-1559. */
export interface TxRequest {
  to: Address;
  data: Hex;
  value?: bigint;
  nonce: number;
  gas: bigint;
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
}

export interface TxReceipt {
  transactionHash: Hex;
  status: "success" | "reverted";
  blockNumber: bigint;
  blockHash: Hex;
  gasUsed: bigint;
  effectiveGasPrice: bigint;
  logs: readonly ChainLog[];
}

export interface FeeEstimate {
  /** Base fee of the latest block. */
  baseFeePerGas: bigint;
  /** The node's suggested tip. */
  maxPriorityFeePerGas: bigint;
}

/** The latest block, as a poll sees it. */
export interface ChainHead {
  number: bigint;
  hash: Hex;
  timestamp: bigint;
}

/** Plain EVM access plus the relayer key: what the transaction manager needs. */
export interface ChainPort {
  /** The relayer's address (the key's). */
  readonly sender: Address;
  getChainId(): Promise<number>;
  getBlockNumber(): Promise<bigint>;
  /** Number, hash and timestamp (unix seconds) of the latest block. */
  getHead(): Promise<ChainHead>;
  /** Hash of the canonical block at `number`, or null if there is none (yet). */
  getBlockHash(number: bigint): Promise<Hex | null>;
  /** Latest block timestamp, unix seconds. */
  getBlockTimestamp(): Promise<bigint>;
  /** Gas limit of the latest block: no transaction with a larger one can be included. */
  getBlockGasLimit(): Promise<bigint>;
  /** Whether `address` has code at block `blockNumber` (needs the node to keep that state). */
  hasCode(address: Address, blockNumber: bigint): Promise<boolean>;
  /** The transaction count (next nonce) of the relayer's key, or of `address`. */
  getTransactionCount(blockTag: "latest" | "pending", address?: Address): Promise<number>;
  /** The relayer's native balance (wei) at the latest block: what it has left to pay gas with. */
  getBalance(): Promise<bigint>;
  estimateFees(): Promise<FeeEstimate>;
  /** Gas for a call from the relayer; throws `CallRevertedError` when the call would revert. */
  estimateGas(args: { to: Address; data: Hex; value?: bigint }): Promise<bigint>;
  /**
   * Runs a call from the relayer with exactly `gas` (one execution, unlike `estimateGas`'s
   * search); throws `CallRevertedError` when it reverts or runs out of that gas.
   */
  call(args: { to: Address; data: Hex; gas: bigint }): Promise<void>;
  signTransaction(tx: TxRequest): Promise<{ raw: Hex; hash: Hex }>;
  /**
   * Broadcasts a signed transaction; throws `NodeUnreachableError` when the node could not be
   * reached or did not answer (it may have taken the transaction or not).
   */
  sendRawTransaction(raw: Hex): Promise<Hex>;
  /** Whether the node knows the transaction (mempool or chain). */
  hasTransaction(hash: Hex): Promise<boolean>;
  getTransactionReceipt(hash: Hex): Promise<TxReceipt | null>;
}

/** The simulated call reverts (as opposed to the node being unreachable). */
export class CallRevertedError extends Error {
  override readonly name = "CallRevertedError";
}

/** The node could not be reached or did not answer in time: what it did with a request is unknown. */
export class NodeUnreachableError extends Error {
  override readonly name = "NodeUnreachableError";
}
