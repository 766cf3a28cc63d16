import { randomBytes } from "node:crypto";
import {
  type Address,
  getAddress,
  type Hex,
  keccak256,
  parseTransaction,
  serializeTransaction,
  size,
  toHex,
} from "viem";
import {
  CallRevertedError,
  type ChainHead,
  type ChainLog,
  type ChainPort,
  type FeeEstimate,
  NodeUnreachableError,
  type TxReceipt,
  type TxRequest,
} from "../../../src/relayer/chain/ports.js";
import { TX_MAX_BYTES } from "../../../src/relayer/chain/tx-manager.js";

interface PoolTx {
  hash: Hex;
  raw: Hex;
  nonce: number;
  to: Address;
  data: Hex;
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
  external: boolean;
  /** Another account's transaction (not one of the sender's nonces), see `mineForeign`. */
  foreign?: boolean;
}

interface Block {
  number: bigint;
  hash: Hex;
  timestamp: bigint;
  txs: PoolTx[];
  receipts: TxReceipt[];
}

let forks = 0;

/**
 * An in-memory EVM chain for one sender, with the failure modes the transaction manager must
 * survive: manual mining, a base fee above a transaction's cap, dropped transactions, reorgs,
 * a nonce used by someone else, a node that is down. `logsFor` lets a test give a transaction
 * the events a contract would emit.
 */
export class FakeChain implements ChainPort {
  /** A fresh sender per chain, so tests sharing a store never see each other's batches. */
  readonly sender: Address = getAddress(toHex(randomBytes(20)));
  readonly chainId = 31_337;
  blocks: Block[] = [];
  readonly pool = new Map<Hex, PoolTx>();
  automine = false;
  baseFeePerGas = 1_000_000_000n;
  tip = 100_000_000n;
  down = false;
  /**
   * Like anvil: a transaction whose fee cap is under the base fee is refused, and mining evicts
   * pooled ones the base fee has risen past (otherwise they wait in the pool, as in geth).
   */
  evictUnderpriced = false;
  /** The latest block's gas limit, as `getBlockGasLimit` reports it (anvil's default). */
  blockGasLimit = 30_000_000n;
  /** Like geth's `--rpc.txfeecap`: a transaction whose gas limit × fee cap is over it is refused. */
  txFeeCap: bigint | undefined;
  /** How many times `getBlockGasLimit` was asked. */
  gasLimitReads = 0;
  /** `eth_sendRawTransaction` takes the transaction, then the answer is lost (a timeout). */
  loseAnswers = false;
  /**
   * `eth_sendRawTransaction` takes the transaction and a block mines it before the answer: the
   * answer is that of a retried request, "nonce too low" (a fast chain, a transport's retry).
   */
  minedBeforeAnswer = false;
  /** How many times `getHead` and `getBlockHash` were asked. */
  headReads = 0;
  blockHashReads = 0;
  /** How many times `getBlockNumber` was asked. */
  blockNumberReads = 0;
  /** The sender's native balance (wei), as `getBalance` reports it. */
  balance = 10n ** 18n;
  /** `eth_sendRawTransaction` refuses every transaction with this message while set (a key out of funds, say). */
  refuseBroadcasts: string | undefined;
  /** How many `eth_sendRawTransaction` requests were made, refused ones included. */
  broadcasts = 0;
  /** Simulated calls (eth_estimateGas and eth_call) revert with this message while set. */
  simulationRevert: string | undefined;
  /** Gas a simulated call needs: what eth_estimateGas answers; an eth_call given less runs out of it. */
  callGas = 100_000n;
  /** When set, the gas each simulated call needs, by its calldata (instead of `callGas`). */
  gasOf: ((to: Address, data: Hex) => bigint) | undefined;
  /** How many eth_estimateGas and eth_call requests were answered. */
  readonly simulations = { estimates: 0, calls: 0 };
  /** A contract's own simulation (throws `CallRevertedError` to revert). */
  simulate: (to: Address, data: Hex) => void = () => undefined;
  /** Gives a mined transaction its logs (and success or revert). */
  logsFor: (tx: PoolTx, block: { number: bigint; hash: Hex }) => { logs: ChainLog[]; status?: "success" | "reverted" } =
    () => ({ logs: [] });
  readonly sent: PoolTx[] = [];
  /** The block from which an address has code (contracts not listed have it from genesis). */
  readonly codeFrom = new Map<Address, bigint>();
  /** What the node reports of accounts other than the sender: transaction counts by block tag. */
  readonly otherAccounts = new Map<Address, { latest: number; pending: number }>();
  /** Hashes of other accounts' transactions the node holds in its pool (never mined here). */
  readonly otherPooled = new Set<Hex>();
  /** Called for each block a reorg removes, newest first (contract state to roll back). */
  onRevertBlock: (block: { number: bigint; hash: Hex }) => void = () => undefined;

  constructor() {
    this.#newBlock([]);
  }

  #check(): void {
    if (this.down) throw new Error("fetch failed: connect ECONNREFUSED");
  }

  #newBlock(txs: PoolTx[]): Block {
    const number = BigInt(this.blocks.length);
    const hash = keccak256(toHex(`block ${number} fork ${forks}`));
    const block: Block = {
      number,
      hash,
      timestamp: 1_700_000_000n + number * 12n,
      txs,
      receipts: [],
    };
    block.receipts = txs.map((tx) => {
      const { logs, status } = tx.external ? { logs: [], status: "success" as const } : this.logsFor(tx, block);
      return {
        transactionHash: tx.hash,
        status: status ?? "success",
        blockNumber: number,
        blockHash: hash,
        gasUsed: 50_000n,
        effectiveGasPrice: this.baseFeePerGas + tx.maxPriorityFeePerGas,
        logs: logs.map((log) => ({ ...log, blockNumber: number, blockHash: hash, transactionHash: tx.hash })),
      };
    });
    this.blocks.push(block);
    return block;
  }

  /** Transactions of the sender mined so far (the `latest` nonce). */
  minedCount(): number {
    return this.blocks.reduce((n, b) => n + b.txs.filter((tx) => !tx.foreign).length, 0);
  }

  /** Mines one block with every pool transaction that can go in (contiguous nonces, fee cap ≥ base fee). */
  mine(): Block {
    if (this.evictUnderpriced) {
      for (const [hash, tx] of this.pool) if (tx.maxFeePerGas < this.baseFeePerGas) this.pool.delete(hash);
    }
    const included: PoolTx[] = [];
    let nonce = this.minedCount();
    for (;;) {
      const next = [...this.pool.values()]
        .filter((tx) => tx.nonce === nonce && tx.maxFeePerGas >= this.baseFeePerGas)
        .sort((a, b) => (b.maxFeePerGas > a.maxFeePerGas ? 1 : -1))[0];
      if (next === undefined) break;
      for (const [hash, tx] of this.pool) if (tx.nonce === nonce) this.pool.delete(hash);
      included.push(next);
      nonce++;
    }
    return this.#newBlock(included);
  }

  mineEmpty(count = 1): void {
    for (let i = 0; i < count; i++) this.#newBlock([]);
  }

  /** Replaces the last `depth` blocks with empty ones of other hashes; their transactions return to the pool. */
  reorg(depth: number, { dropTransactions = false } = {}): void {
    const removed = this.blocks.splice(this.blocks.length - depth, depth);
    for (const block of [...removed].reverse()) this.onRevertBlock(block);
    forks++;
    if (!dropTransactions) for (const block of removed) for (const tx of block.txs) this.pool.set(tx.hash, tx);
    this.mineEmpty(depth);
  }

  drop(hash: Hex): void {
    this.pool.delete(hash);
  }

  /** Someone else with the same key mines a transaction at `nonce` (an operator, another process). */
  mineExternal(nonce: number): void {
    for (const [hash, tx] of this.pool) if (tx.nonce === nonce) this.pool.delete(hash);
    const hash = keccak256(toHex(`external ${nonce} ${forks}`));
    this.#newBlock([
      {
        hash,
        raw: "0x",
        nonce,
        to: this.sender,
        data: "0x",
        maxFeePerGas: 0n,
        maxPriorityFeePerGas: 0n,
        external: true,
      },
    ]);
  }

  /**
   * Another account (another relayer) gets a call to `to` mined, with the logs `logsFor` gives
   * it; `hash` is its transaction's (one of its own, made up if not given).
   */
  mineForeign(to: Address, data: Hex, hash: Hex = keccak256(toHex(`foreign ${this.blocks.length} ${forks}`))): Hex {
    this.#newBlock([
      {
        hash,
        raw: "0x",
        nonce: -1,
        to,
        data,
        maxFeePerGas: 0n,
        maxPriorityFeePerGas: 0n,
        external: false,
        foreign: true,
      },
    ]);
    return hash;
  }

  /** Logs of the canonical chain. */
  logs(): ChainLog[] {
    return this.blocks.flatMap((b) => b.receipts.filter((r) => r.status === "success").flatMap((r) => r.logs));
  }

  receiptOf(hash: Hex): TxReceipt | undefined {
    for (const block of this.blocks) {
      const receipt = block.receipts.find((r) => r.transactionHash === hash);
      if (receipt) return receipt;
    }
    return undefined;
  }

  async getChainId(): Promise<number> {
    this.#check();
    return this.chainId;
  }
  async getBlockNumber(): Promise<bigint> {
    this.#check();
    this.blockNumberReads++;
    return BigInt(this.blocks.length - 1);
  }
  async getHead(): Promise<ChainHead> {
    this.#check();
    this.headReads++;
    const head = this.blocks[this.blocks.length - 1];
    return { number: head.number, hash: head.hash, timestamp: head.timestamp };
  }
  async getBlockHash(number: bigint): Promise<Hex | null> {
    this.#check();
    this.blockHashReads++;
    return this.blocks[Number(number)]?.hash ?? null;
  }
  async getBlockTimestamp(): Promise<bigint> {
    this.#check();
    return this.blocks[this.blocks.length - 1].timestamp;
  }
  async getBlockGasLimit(): Promise<bigint> {
    this.#check();
    this.gasLimitReads++;
    return this.blockGasLimit;
  }
  async hasCode(address: Address, blockNumber: bigint): Promise<boolean> {
    this.#check();
    return blockNumber >= (this.codeFrom.get(address) ?? 0n);
  }
  async getTransactionCount(blockTag: "latest" | "pending", address?: Address): Promise<number> {
    this.#check();
    if (address !== undefined && getAddress(address) !== this.sender) {
      return this.otherAccounts.get(getAddress(address))?.[blockTag] ?? 0;
    }
    const mined = this.minedCount();
    if (blockTag === "latest") return mined;
    let nonce = mined;
    while ([...this.pool.values()].some((tx) => tx.nonce === nonce)) nonce++;
    return nonce;
  }
  async getBalance(): Promise<bigint> {
    this.#check();
    return this.balance;
  }
  async estimateFees(): Promise<FeeEstimate> {
    this.#check();
    return { baseFeePerGas: this.baseFeePerGas, maxPriorityFeePerGas: this.tip };
  }
  async estimateGas(args: { to: Address; data: Hex }): Promise<bigint> {
    this.#check();
    this.simulations.estimates++;
    if (this.simulationRevert !== undefined)
      throw new CallRevertedError(`execution reverted: ${this.simulationRevert}`);
    this.simulate(args.to, args.data);
    return this.gasOf?.(args.to, args.data) ?? this.callGas;
  }
  async call(args: { to: Address; data: Hex; gas: bigint }): Promise<void> {
    this.#check();
    this.simulations.calls++;
    if (this.simulationRevert !== undefined)
      throw new CallRevertedError(`execution reverted: ${this.simulationRevert}`);
    this.simulate(args.to, args.data);
    if (args.gas < (this.gasOf?.(args.to, args.data) ?? this.callGas)) throw new CallRevertedError("out of gas");
  }
  async signTransaction(tx: TxRequest): Promise<{ raw: Hex; hash: Hex }> {
    const raw = serializeTransaction({
      chainId: this.chainId,
      type: "eip1559",
      to: tx.to,
      data: tx.data,
      value: tx.value ?? 0n,
      nonce: tx.nonce,
      gas: tx.gas,
      maxFeePerGas: tx.maxFeePerGas,
      maxPriorityFeePerGas: tx.maxPriorityFeePerGas,
    });
    return { raw, hash: keccak256(raw) };
  }
  async sendRawTransaction(raw: Hex): Promise<Hex> {
    if (this.down) throw new NodeUnreachableError("fetch failed: connect ECONNREFUSED");
    this.broadcasts++;
    if (this.refuseBroadcasts !== undefined) throw new Error(this.refuseBroadcasts);
    const parsed = parseTransaction(raw);
    const hash = keccak256(raw);
    const nonce = parsed.nonce ?? 0;
    if (this.pool.has(hash) || this.receiptOf(hash)) throw new Error("already known");
    if (nonce < this.minedCount()) throw new Error("nonce too low");
    if ((parsed.gas ?? 0n) > this.blockGasLimit) throw new Error("exceeds block gas limit");
    if (size(raw) > TX_MAX_BYTES) throw new Error("oversized data"); // as geth's pool
    if (this.txFeeCap !== undefined && (parsed.gas ?? 0n) * (parsed.maxFeePerGas ?? 0n) > this.txFeeCap) {
      throw new Error("tx fee exceeds the configured cap");
    }
    if (this.evictUnderpriced && (parsed.maxFeePerGas ?? 0n) < this.baseFeePerGas) {
      throw new Error("max fee per gas less than block base fee");
    }
    const rival = [...this.pool.values()].find((tx) => tx.nonce === nonce);
    const tx: PoolTx = {
      hash,
      raw,
      nonce,
      to: getAddress(parsed.to as Address),
      data: parsed.data ?? "0x",
      maxFeePerGas: parsed.maxFeePerGas ?? 0n,
      maxPriorityFeePerGas: parsed.maxPriorityFeePerGas ?? 0n,
      external: false,
    };
    if (rival) {
      const enough = (a: bigint, b: bigint) => a * 100n >= b * 110n;
      if (
        !enough(tx.maxFeePerGas, rival.maxFeePerGas) ||
        !enough(tx.maxPriorityFeePerGas, rival.maxPriorityFeePerGas)
      ) {
        throw new Error("replacement transaction underpriced");
      }
      this.pool.delete(rival.hash);
    }
    this.pool.set(hash, tx);
    this.sent.push(tx);
    if (this.automine) this.mine();
    if (this.loseAnswers) throw new NodeUnreachableError("The request took too long to respond.");
    if (this.minedBeforeAnswer) {
      this.mine();
      throw new Error("nonce too low");
    }
    return hash;
  }
  async hasTransaction(hash: Hex): Promise<boolean> {
    this.#check();
    return this.pool.has(hash) || this.otherPooled.has(hash) || this.receiptOf(hash) !== undefined;
  }
  async getTransactionReceipt(hash: Hex): Promise<TxReceipt | null> {
    this.#check();
    return this.receiptOf(hash) ?? null;
  }
}
