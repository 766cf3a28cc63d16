import {
  type Address,
  BaseError,
  type Chain,
  ContractFunctionRevertedError,
  createPublicClient,
  defineChain,
  ExecutionRevertedError,
  type Hex,
  http,
  type PublicClient,
  parseSignature,
  RpcRequestError,
  serializeTransaction,
  type TransactionSerializableEIP1559,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { CALL_FAILED, isUnreachable } from "../../client/node-errors.js";
import { bytesToHex, hexToBytes } from "../../client/signing/bytes.js";
import { keccak256Bytes } from "../../client/signing/keccak.js";
import {
  CallRevertedError,
  type ChainHead,
  type ChainPort,
  type FeeEstimate,
  NodeUnreachableError,
  type TxReceipt,
  type TxRequest,
} from "./ports.js";

/**
 * A public client for the relayer: JSON-RPC batching on, so the concurrent reads of many
 * requests (balances, nonces, receipts) travel in one HTTP request.
 */
export function createRelayerPublicClient(rpcUrl: string, chainId: number): PublicClient {
  const chain: Chain = defineChain({
    id: chainId,
    name: `chain ${chainId}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
  return createPublicClient({
    chain,
    transport: http(rpcUrl, { batch: { batchSize: 500, wait: 0 }, retryCount: 1, timeout: 10_000 }),
  });
}

/** Asks the node for its chain id (before anything else is built). */
export async function fetchChainId(rpcUrl: string): Promise<number> {
  const client = createPublicClient({ transport: http(rpcUrl, { retryCount: 2, timeout: 10_000 }) });
  return client.getChainId();
}

const keccakHex = (data: Hex): Hex => bytesToHex(keccak256Bytes(hexToBytes(data, "transaction")));

/**
 * True when the node ran the call and it failed. viem wraps every failed estimate in
 * EstimateGasExecutionError, whatever the node said: a node that could not be reached, or one
 * that answered with an error of its own ("header not found", "missing trie node", a rate
 * limit), has said nothing about the call, and what it was asked is tried again later.
 */
function isRevert(error: unknown): boolean {
  if (!(error instanceof BaseError)) return false;
  if (isUnreachable(error)) return false;
  return (
    error.walk(
      (e) =>
        e instanceof ExecutionRevertedError ||
        e instanceof ContractFunctionRevertedError ||
        (e instanceof RpcRequestError && CALL_FAILED.test(e.details)),
    ) !== null
  );
}

/** `ChainPort` over a viem public client and the relayer's local key. */
export class ViemChain implements ChainPort {
  readonly sender: Address;
  readonly #account: ReturnType<typeof privateKeyToAccount>;

  constructor(
    private readonly client: PublicClient,
    privateKey: Hex,
  ) {
    this.#account = privateKeyToAccount(privateKey);
    this.sender = this.#account.address;
  }

  getChainId(): Promise<number> {
    return this.client.getChainId();
  }

  getBlockNumber(): Promise<bigint> {
    return this.client.getBlockNumber({ cacheTime: 0 });
  }

  async getHead(): Promise<ChainHead> {
    const block = await this.client.getBlock({ blockTag: "latest" });
    return { number: block.number, hash: block.hash, timestamp: block.timestamp };
  }

  async getBlockHash(number: bigint): Promise<Hex | null> {
    try {
      const block = await this.client.getBlock({ blockNumber: number });
      return block.hash;
    } catch (error) {
      if (error instanceof BaseError && error.name === "BlockNotFoundError") return null;
      throw error;
    }
  }

  async getBlockTimestamp(): Promise<bigint> {
    return (await this.client.getBlock({ blockTag: "latest" })).timestamp;
  }

  async getBlockGasLimit(): Promise<bigint> {
    return (await this.client.getBlock({ blockTag: "latest" })).gasLimit;
  }

  async hasCode(address: Address, blockNumber: bigint): Promise<boolean> {
    const code = await this.client.getCode({ address, blockNumber });
    return code !== undefined && code !== "0x";
  }

  getTransactionCount(blockTag: "latest" | "pending", address: Address = this.sender): Promise<number> {
    return this.client.getTransactionCount({ address, blockTag });
  }

  getBalance(): Promise<bigint> {
    return this.client.getBalance({ address: this.sender });
  }

  async estimateFees(): Promise<FeeEstimate> {
    const [block, tip] = await Promise.all([
      this.client.getBlock({ blockTag: "latest" }),
      this.client.estimateMaxPriorityFeePerGas(),
    ]);
    return { baseFeePerGas: block.baseFeePerGas ?? 0n, maxPriorityFeePerGas: tip };
  }

  async estimateGas(args: { to: Address; data: Hex; value?: bigint }): Promise<bigint> {
    try {
      return await this.client.estimateGas({ account: this.sender, to: args.to, data: args.data, value: args.value });
    } catch (error) {
      if (isRevert(error)) throw new CallRevertedError((error as BaseError).shortMessage);
      throw error;
    }
  }

  async call(args: { to: Address; data: Hex; gas: bigint }): Promise<void> {
    try {
      await this.client.call({ account: this.sender, to: args.to, data: args.data, gas: args.gas });
    } catch (error) {
      if (isRevert(error)) throw new CallRevertedError((error as BaseError).shortMessage);
      throw error;
    }
  }

  /**
   * Signs an EIP-1559 transaction: the same bytes as viem's `account.signTransaction`, but both
   * hashes (the signing hash and the transaction hash) use the client library's Keccak, several
   * times faster than viem's on a settle batch's calldata (tens of kilobytes): this runs on the
   * event loop that answers intake requests.
   */
  async signTransaction(tx: TxRequest): Promise<{ raw: Hex; hash: Hex }> {
    const request: TransactionSerializableEIP1559 = {
      chainId: this.client.chain?.id as number,
      type: "eip1559",
      to: tx.to,
      data: tx.data,
      value: tx.value ?? 0n,
      nonce: tx.nonce,
      gas: tx.gas,
      maxFeePerGas: tx.maxFeePerGas,
      maxPriorityFeePerGas: tx.maxPriorityFeePerGas,
    };
    const signature = await this.#account.sign({ hash: keccakHex(serializeTransaction(request)) });
    const raw = serializeTransaction(request, parseSignature(signature));
    return { raw, hash: keccakHex(raw) };
  }

  async sendRawTransaction(raw: Hex): Promise<Hex> {
    try {
      return await this.client.sendRawTransaction({ serializedTransaction: raw });
    } catch (error) {
      if (error instanceof BaseError && isUnreachable(error)) {
        throw new NodeUnreachableError(error.shortMessage, { cause: error });
      }
      throw error;
    }
  }

  async hasTransaction(hash: Hex): Promise<boolean> {
    try {
      await this.client.getTransaction({ hash });
      return true;
    } catch (error) {
      if (error instanceof BaseError && error.name === "TransactionNotFoundError") return false;
      throw error;
    }
  }

  async getTransactionReceipt(hash: Hex): Promise<TxReceipt | null> {
    try {
      const receipt = await this.client.getTransactionReceipt({ hash });
      return {
        transactionHash: receipt.transactionHash,
        status: receipt.status,
        blockNumber: receipt.blockNumber,
        blockHash: receipt.blockHash,
        gasUsed: receipt.gasUsed,
        effectiveGasPrice: receipt.effectiveGasPrice,
        logs: receipt.logs.map((log) => ({
          address: log.address,
          topics: log.topics,
          data: log.data,
          blockNumber: log.blockNumber,
          blockHash: log.blockHash,
          transactionHash: log.transactionHash,
        })),
      };
    } catch (error) {
      if (error instanceof BaseError && error.name === "TransactionReceiptNotFoundError") return null;
      throw error;
    }
  }
}
