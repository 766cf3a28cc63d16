import {
  type Abi,
  type AbiFunction,
  type Account,
  type Address,
  BaseError,
  type BlockTag,
  type Chain,
  ChainMismatchError,
  type ContractEventName,
  type ContractFunctionArgs,
  type ContractFunctionName,
  type ContractFunctionReturnType,
  type GetContractReturnType,
  getAddress,
  getContract,
  type Hash,
  type Log,
  type PublicClient,
  parseEventLogs,
  type TransactionReceipt,
  type Transport,
  type WalletClient,
} from "viem";
import {
  type ContractErrorOf,
  decodeContractError,
  isContractError,
  SettlekitChainMismatchError,
  SettlekitError,
  type SettlekitErrorName,
  SettlekitMissingWalletClientError,
  SettlekitTransactionError,
} from "../errors.js";

type ReadMutability = "pure" | "view";
type WriteMutability = "nonpayable" | "payable";

/**
 * The viem public client a settlekit client reads and simulates through.
 *
 * @example
 * ```ts
 * import { type SettlekitPublicClient } from "settlekit";
 *
 * const publicClient: SettlekitPublicClient = createPublicClient({ chain: sepolia, transport: http() });
 * ```
 */
export type SettlekitPublicClient = PublicClient<Transport, Chain | undefined>;
/**
 * The viem wallet client a settlekit client sends transactions with. It must be on the public
 * client's chain: a write from a wallet on another chain throws {@link SettlekitChainMismatchError}
 * before anything is sent.
 *
 * @example
 * ```ts
 * import { type SettlekitWalletClient } from "settlekit";
 *
 * const walletClient: SettlekitWalletClient = createWalletClient({ account, chain: sepolia, transport: http() });
 * ```
 */
export type SettlekitWalletClient = WalletClient<Transport, Chain | undefined, Account | undefined>;

/**
 * Options of every read method.
 *
 * @example
 * ```ts
 * import { type ReadOptions } from "settlekit";
 *
 * const options: ReadOptions = { blockNumber: 123n };
 * const remaining = await escrow.remaining([id], options);
 * ```
 */
export interface ReadOptions {
  /** Read at this block instead of the latest. */
  blockNumber?: bigint;
  blockTag?: BlockTag;
  /** `msg.sender` of the call. */
  account?: Address;
}

/**
 * Options of every write method (simulated, then sent by the wallet client).
 *
 * @example
 * ```ts
 * import { type WriteOptions } from "settlekit";
 *
 * const options: WriteOptions = { value: 1000n };
 * const hash = await escrow.create([params], options);
 * ```
 */
export interface WriteOptions {
  /** Sender; default the wallet client's account. */
  account?: Account | Address;
  /** Native currency to send (payable functions). */
  value?: bigint;
  gas?: bigint;
  nonce?: number;
  maxFeePerGas?: bigint;
  maxPriorityFeePerGas?: bigint;
}

/**
 * Options of every `…AndWait` method.
 *
 * @example
 * ```ts
 * import { type WriteAndWaitOptions } from "settlekit";
 *
 * const options: WriteAndWaitOptions = { confirmations: 2 };
 * const { receipt } = await escrow.releaseAndWait([id, 10n], options);
 * ```
 */
export interface WriteAndWaitOptions extends WriteOptions {
  /** Blocks to wait for; default 1. */
  confirmations?: number;
  /** Milliseconds before giving up waiting for the receipt. */
  timeout?: number;
}

/**
 * A log of the contract decoded against its ABI, with typed `eventName` and `args`.
 *
 * @example
 * ```ts
 * import { escrowAbi, type DecodedEvent } from "settlekit";
 *
 * const logs: DecodedEvent<typeof escrowAbi, "EscrowReleased">[] = await escrow.getEvents.EscrowReleased();
 * ```
 */
export type DecodedEvent<abi extends Abi, eventName extends ContractEventName<abi> = ContractEventName<abi>> = Log<
  bigint,
  number,
  false,
  undefined,
  true,
  abi,
  eventName
>;

/**
 * The events a write method emits on success, per function; drives the type of `…AndWait`'s `event`.
 *
 * @example
 * ```ts
 * import { escrowAbi, type PrimaryEvents } from "settlekit";
 *
 * const events = { release: ["EscrowReleased"] } as const satisfies PrimaryEvents<typeof escrowAbi>;
 * ```
 */
export type PrimaryEvents<abi extends Abi> = {
  readonly [name in ContractFunctionName<abi, WriteMutability>]?: readonly ContractEventName<abi>[];
};

/**
 * What `…AndWait` resolves to. `event` is present for functions that always emit one of their events.
 *
 * @example
 * ```ts
 * import { escrowAbi, type WriteAndWaitReturnType } from "settlekit";
 *
 * const result: WriteAndWaitReturnType<typeof escrowAbi, "EscrowReleased"> = await escrow.releaseAndWait([id, 10n]);
 * console.log(result.event.args.amount);
 * ```
 */
export type WriteAndWaitReturnType<abi extends Abi, eventName extends ContractEventName<abi> | undefined> = {
  hash: Hash;
  receipt: TransactionReceipt;
  /** Every log of this contract in the transaction, decoded. */
  events: DecodedEvent<abi>[];
} & (eventName extends ContractEventName<abi> ? { event: DecodedEvent<abi, eventName> } : unknown);

type MethodParameters<
  abi extends Abi,
  mutability extends ReadMutability | WriteMutability,
  name extends ContractFunctionName<abi, mutability>,
  options,
> =
  ContractFunctionArgs<abi, mutability, name> extends readonly []
    ? [options?: options]
    : [args: ContractFunctionArgs<abi, mutability, name>, options?: options];

type EventOf<abi extends Abi, events extends PrimaryEvents<abi>, name> = name extends keyof events
  ? events[name] extends readonly (infer event extends ContractEventName<abi>)[]
    ? event
    : undefined
  : undefined;

/**
 * One method per view/pure function: reads through the public client.
 *
 * @example
 * ```ts
 * import { escrowAbi, type ReadMethods } from "settlekit";
 *
 * const reads: ReadMethods<typeof escrowAbi> = escrow;
 * const remaining = await reads.remaining([id]);
 * ```
 */
export type ReadMethods<abi extends Abi> = {
  [name in ContractFunctionName<abi, ReadMutability>]: (
    ...parameters: MethodParameters<abi, ReadMutability, name, ReadOptions>
  ) => Promise<ContractFunctionReturnType<abi, ReadMutability, name>>;
};

/**
 * One method per state-changing function: simulates, sends, resolves to the transaction hash.
 * Throws {@link SettlekitChainMismatchError}, sending nothing, when the wallet is on another chain
 * than the public client (compared without a request when both clients have a `chain`; otherwise
 * viem checks a JSON-RPC wallet's current chain against the public client's `chain`).
 *
 * @example
 * ```ts
 * import { escrowAbi, type WriteMethods } from "settlekit";
 *
 * const writes: WriteMethods<typeof escrowAbi> = escrow;
 * const hash = await writes.release([id, 10n]);
 * ```
 */
export type WriteMethods<abi extends Abi> = {
  [name in ContractFunctionName<abi, WriteMutability>]: (
    ...parameters: MethodParameters<abi, WriteMutability, name, WriteOptions>
  ) => Promise<Hash>;
};

/**
 * `<function>AndWait` per state-changing function: like the write, then waits and decodes.
 *
 * @example
 * ```ts
 * import { escrowAbi, type WriteAndWaitMethods } from "settlekit";
 *
 * const writes: WriteAndWaitMethods<typeof escrowAbi, {}> = escrow;
 * const { receipt } = await writes.releaseAndWait([id, 10n]);
 * ```
 */
export type WriteAndWaitMethods<abi extends Abi, events extends PrimaryEvents<abi>> = {
  [name in ContractFunctionName<abi, WriteMutability> as `${name}AndWait`]: (
    ...parameters: MethodParameters<abi, WriteMutability, name, WriteAndWaitOptions>
  ) => Promise<WriteAndWaitReturnType<abi, EventOf<abi, events, name>>>;
};

type ViemContractMember<abi extends Abi, key extends string> =
  GetContractReturnType<abi, SettlekitPublicClient, Address> extends { [k in key]: infer member } ? member : never;

/**
 * Members every contract client has besides its contract's functions.
 *
 * @example
 * ```ts
 * import { escrowAbi, type ContractClientBase } from "settlekit";
 *
 * const base: ContractClientBase<typeof escrowAbi> = escrow;
 * const events = base.decodeEvents(receipt.logs);
 * ```
 */
export interface ContractClientBase<abi extends Abi> {
  /** The contract's address. */
  readonly address: Address;
  /** The contract's ABI. */
  readonly abi: abi;
  /** Typed event queries: `getEvents.EventName(args?, { fromBlock, toBlock })`. */
  readonly getEvents: ViemContractMember<abi, "getEvents">;
  /** Typed event subscriptions: `watchEvent.EventName(args?, { onLogs })` returns an unwatch function. */
  readonly watchEvent: ViemContractMember<abi, "watchEvent">;
  /** Typed filters: `createEventFilter.EventName(args?, { fromBlock })`. */
  readonly createEventFilter: ViemContractMember<abi, "createEventFilter">;
  /** Decodes this contract's logs (others are skipped) from a receipt or a log list. */
  decodeEvents(logs: readonly Log[]): DecodedEvent<abi>[];
  /** Narrows an error to this contract's typed error `errorName`. */
  isError<const name extends SettlekitErrorName<abi>>(
    error: unknown,
    errorName: name,
  ): error is ContractErrorOf<abi, name>;
}

/**
 * A client for one deployed contract: its functions as typed methods plus {@link ContractClientBase}.
 *
 * @example
 * ```ts
 * import { createSettlementClient, settlementHubAbi, type ContractClient } from "settlekit";
 *
 * const client: ContractClient<typeof settlementHubAbi, {}> = createSettlementClient({ publicClient, address });
 * ```
 */
export type ContractClient<abi extends Abi, events extends PrimaryEvents<abi>> = ContractClientBase<abi> &
  ReadMethods<abi> &
  WriteMethods<abi> &
  WriteAndWaitMethods<abi, events>;

/** @internal Configuration of {@link createContractClient}. */
export interface ContractClientConfig<abi extends Abi, events extends PrimaryEvents<abi>> {
  abi: abi;
  address: Address;
  publicClient: SettlekitPublicClient;
  walletClient?: SettlekitWalletClient | undefined;
  events: events;
}

type WriteContractRequest = Parameters<SettlekitWalletClient["writeContract"]>[0];

function rethrow(error: unknown, functionName: string): never {
  throw decodeContractError({ error, functionName }) ?? error;
}

/**
 * @internal Builds the typed methods of a contract client from its ABI: every function becomes a
 * method, so a contract that gains a function gains a method by regenerating the ABI.
 */
export function createContractClient<const abi extends Abi, const events extends PrimaryEvents<abi>>(
  config: ContractClientConfig<abi, events>,
): ContractClient<abi, events> {
  const { abi, publicClient, walletClient } = config;
  const address = getAddress(config.address);
  const primaryEvents = config.events as Record<string, readonly string[] | undefined>;
  const viemContract = getContract({ abi, address, client: publicClient }) as unknown as Record<string, unknown>;

  function decodeEvents(logs: readonly Log[]): DecodedEvent<abi>[] {
    const own = logs.filter((log) => log.address.toLowerCase() === address.toLowerCase());
    return parseEventLogs({ abi: abi as Abi, logs: own }) as unknown as DecodedEvent<abi>[];
  }

  function split(fn: AbiFunction, parameters: unknown[]): [readonly unknown[], Record<string, unknown>] {
    if (fn.inputs.length === 0) return [[], (parameters[0] ?? {}) as Record<string, unknown>];
    return [(parameters[0] ?? []) as readonly unknown[], (parameters[1] ?? {}) as Record<string, unknown>];
  }

  async function read(fn: AbiFunction, parameters: unknown[]): Promise<unknown> {
    const [args, options] = split(fn, parameters);
    try {
      return await publicClient.readContract({ abi: abi as Abi, address, functionName: fn.name, args, ...options });
    } catch (error) {
      rethrow(error, fn.name);
    }
  }

  async function write(fn: AbiFunction, parameters: unknown[]): Promise<Hash> {
    const [args, { confirmations: _c, timeout: _t, ...options }] = split(fn, parameters);
    const account = (options.account as Account | Address | undefined) ?? walletClient?.account;
    if (!walletClient || !account) throw new SettlekitMissingWalletClientError(fn.name);
    // The write belongs to the public client's chain: the address, the simulation and `…AndWait`
    // are its. Two configured chains are compared here, with no request; the chain is also passed
    // on, so that viem checks a JSON-RPC wallet's current chain with the `eth_chainId` it asks
    // anyway, and a local account signs for this chain id (another chain's node refuses it).
    const chainId = publicClient.chain?.id;
    const chain = walletClient.chain ?? publicClient.chain;
    if (chainId !== undefined && chain !== undefined && chain.id !== chainId) {
      throw new SettlekitChainMismatchError({ functionName: fn.name, chainId, walletChainId: chain.id });
    }
    try {
      const { request } = await publicClient.simulateContract({
        abi: abi as Abi,
        address,
        functionName: fn.name,
        args,
        ...options,
        account,
      });
      return await walletClient.writeContract({ ...request, chain } as WriteContractRequest);
    } catch (error) {
      if (chainId !== undefined && error instanceof BaseError && error.walk((e) => e instanceof ChainMismatchError)) {
        throw new SettlekitChainMismatchError({
          functionName: fn.name,
          chainId,
          walletChainId: undefined,
          cause: error,
        });
      }
      rethrow(error, fn.name);
    }
  }

  async function writeAndWait(fn: AbiFunction, parameters: unknown[]) {
    const hash = await write(fn, parameters);
    const options = (fn.inputs.length === 0 ? parameters[0] : parameters[1]) as WriteAndWaitOptions | undefined;
    const receipt = await publicClient.waitForTransactionReceipt({
      hash,
      confirmations: options?.confirmations ?? 1,
      ...(options?.timeout === undefined ? {} : { timeout: options.timeout }),
    });
    if (receipt.status !== "success") {
      throw new SettlekitTransactionError(`\`${fn.name}\` transaction ${hash} reverted on chain`, hash, receipt);
    }
    const events = decodeEvents(receipt.logs);
    const expected = primaryEvents[fn.name];
    if (!expected) return { hash, receipt, events };
    const event = events.find((log) => expected.includes(log.eventName as string));
    if (!event) {
      throw new SettlekitTransactionError(
        `\`${fn.name}\` transaction ${hash} emitted none of ${expected.join(", ")}`,
        hash,
        receipt,
      );
    }
    return { hash, receipt, events, event };
  }

  const client: Record<string, unknown> = {
    address,
    abi,
    getEvents: viemContract.getEvents,
    watchEvent: viemContract.watchEvent,
    createEventFilter: viemContract.createEventFilter,
    decodeEvents,
    isError: (error: unknown, errorName: string) => isContractError(error, abi, errorName as SettlekitErrorName<abi>),
  };
  for (const item of abi) {
    if (item.type !== "function") continue;
    const fn = item;
    if (Object.hasOwn(client, fn.name)) throw new SettlekitError(`${fn.name} collides with a client member`);
    if (fn.stateMutability === "view" || fn.stateMutability === "pure") {
      client[fn.name] = (...parameters: unknown[]) => read(fn, parameters);
    } else {
      client[fn.name] = (...parameters: unknown[]) => write(fn, parameters);
      client[`${fn.name}AndWait`] = (...parameters: unknown[]) => writeAndWait(fn, parameters);
    }
  }
  return client as ContractClient<abi, events>;
}
