import {
  type Abi,
  BaseError,
  type ContractErrorArgs,
  type ContractErrorName,
  ContractFunctionRevertedError,
  type Hash,
  type Hex,
  type TransactionReceipt,
} from "viem";

/**
 * Base class of every error settlekit throws on purpose. Catch it to tell settlekit's own
 * failures apart from transport or wallet errors; switch on the stable `name` of a subclass.
 *
 * @example
 * ```ts
 * import { SettlekitError, hashVoucher } from "settlekit";
 *
 * try {
 *   hashVoucher({ domain, voucher: { channelId: "0x12", cumulativeAmount: 1n } });
 * } catch (error) {
 *   if (error instanceof SettlekitError) console.error(error.name, error.message);
 * }
 * ```
 */
export class SettlekitError extends Error {
  override name: string = "SettlekitError";
}

/**
 * A value handed to settlekit does not fit its type: an amount outside its integer range, a
 * malformed address, a `bytes32` of the wrong length. `field` names the offending input.
 *
 * @example
 * ```ts
 * import { SettlekitInvalidInputError, hashRelease } from "settlekit";
 *
 * try {
 *   hashRelease({ domain, release: { id: -1n, releasedTotal: 0n, deadline: 0n } });
 * } catch (error) {
 *   if (error instanceof SettlekitInvalidInputError) console.error(error.field); // "id"
 * }
 * ```
 */
export class SettlekitInvalidInputError extends SettlekitError {
  override name = "SettlekitInvalidInputError" as const;
  /** The input that failed validation, e.g. `amount` or `verifyingContract`. */
  readonly field: string;

  constructor(field: string, problem: string) {
    super(`Invalid ${field}: ${problem}`);
    this.field = field;
  }
}

/**
 * No deployment record names the contract on this chain: the record file
 * `deploy/deployments/<chainId>.json` is absent, or it has no entry for the contract, or the
 * environment cannot read files (browsers). Pass `address` to the factory instead.
 *
 * @example
 * ```ts
 * import { SettlekitDeploymentNotFoundError, loadDeployment } from "settlekit";
 *
 * try {
 *   loadDeployment(1);
 * } catch (error) {
 *   if (error instanceof SettlekitDeploymentNotFoundError) console.error(error.chainId); // 1
 * }
 * ```
 */
export class SettlekitDeploymentNotFoundError extends SettlekitError {
  override name = "SettlekitDeploymentNotFoundError" as const;
  /** The chain whose record is missing. */
  readonly chainId: number | undefined;
  /** The contract asked for, when the record exists but lacks it. */
  readonly contractName: string | undefined;

  constructor(args: { chainId: number | undefined; contractName?: string; detail: string }) {
    const what = args.contractName ? `${args.contractName} on ` : "";
    const chain = args.chainId === undefined ? "an unknown chain" : `chain ${args.chainId}`;
    super(`No deployment record for ${what}${chain}: ${args.detail}. Pass an explicit \`address\`.`);
    this.chainId = args.chainId;
    this.contractName = args.contractName;
  }
}

/**
 * A contract write or a bound signing helper was called on a client created without a
 * `walletClient` that has an account, and without an `account` in the call's options.
 *
 * @example
 * ```ts
 * import { SettlekitMissingWalletClientError, createEscrowClient } from "settlekit";
 *
 * const escrow = createEscrowClient({ publicClient, address });
 * await escrow.dispute([1n]).catch((error) => {
 *   if (error instanceof SettlekitMissingWalletClientError) console.error(error.functionName); // "dispute"
 * });
 * ```
 */
export class SettlekitMissingWalletClientError extends SettlekitError {
  override name = "SettlekitMissingWalletClientError" as const;
  /** The method that needed an account. */
  readonly functionName: string;

  constructor(functionName: string) {
    super(
      `\`${functionName}\` needs an account: create the client with a \`walletClient\` that has one, or pass \`account\`.`,
    );
    this.functionName = functionName;
  }
}

/**
 * A write was refused before anything was sent: the wallet client is on another chain than the
 * public client, whose chain the contract's address, the simulation and `…AndWait` belong to.
 * Switch the wallet's network (or create the wallet client with the public client's `chain`).
 *
 * @example
 * ```ts
 * import { SettlekitChainMismatchError } from "settlekit";
 *
 * await hub.deposit([token, amount]).catch((error) => {
 *   if (error instanceof SettlekitChainMismatchError) console.error(error.chainId, error.walletChainId);
 * });
 * ```
 */
export class SettlekitChainMismatchError extends SettlekitError {
  override name = "SettlekitChainMismatchError" as const;
  /** The method that was called. */
  readonly functionName: string;
  /** The public client's chain: where the write belongs. */
  readonly chainId: number;
  /**
   * The wallet's chain, from the wallet client's `chain`; undefined when the wallet itself
   * reported the mismatch (viem's `ChainMismatchError`, in `cause`).
   */
  readonly walletChainId: number | undefined;

  constructor(args: { functionName: string; chainId: number; walletChainId: number | undefined; cause?: unknown }) {
    const wallet = args.walletChainId === undefined ? "another chain" : `chain ${args.walletChainId}`;
    super(
      `\`${args.functionName}\` not sent: the wallet is on ${wallet}, the public client on chain ${args.chainId}. Switch the wallet to chain ${args.chainId}.`,
      args.cause === undefined ? undefined : { cause: args.cause },
    );
    this.functionName = args.functionName;
    this.chainId = args.chainId;
    this.walletChainId = args.walletChainId;
  }
}

/**
 * A transaction was mined but reverted (its simulation had passed: the state changed in
 * between), or a receipt lacks the event its function always emits.
 *
 * @example
 * ```ts
 * import { SettlekitTransactionError } from "settlekit";
 *
 * await escrow.releaseAndWait([id, amount]).catch((error) => {
 *   if (error instanceof SettlekitTransactionError) console.error(error.hash, error.receipt.status);
 * });
 * ```
 */
export class SettlekitTransactionError extends SettlekitError {
  override name = "SettlekitTransactionError" as const;
  /** The transaction's hash. */
  readonly hash: Hash;
  /** Its receipt. */
  readonly receipt: TransactionReceipt;

  constructor(message: string, hash: Hash, receipt: TransactionReceipt) {
    super(message);
    this.hash = hash;
    this.receipt = receipt;
  }
}

/**
 * A contract call reverted. `errorName` is the Solidity custom error (e.g. `EscrowNotPayer`),
 * `"Error"` for a reason string, `"Panic"` for a panic code, or `"UnknownError"` when the revert
 * data matches no error of the contract's ABI (`data` then holds it raw). `args` are the
 * error's decoded arguments; narrow both with {@link isContractError} or a client's `isError`.
 *
 * @example
 * ```ts
 * import { SettlekitContractError } from "settlekit";
 *
 * await escrow.release([id, 1n]).catch((error) => {
 *   if (error instanceof SettlekitContractError && error.errorName === "EscrowNotPayer") {
 *     console.error(error.args); // [id, caller]
 *   }
 * });
 * ```
 */
export class SettlekitContractError<
  TErrorName extends string = string,
  TArgs extends readonly unknown[] = readonly unknown[],
> extends SettlekitError {
  override name = "SettlekitContractError" as const;
  /** The decoded error's name. */
  readonly errorName: TErrorName;
  /** The decoded error's arguments, in declaration order. */
  readonly args: TArgs;
  /** The function whose call reverted. */
  readonly functionName: string | undefined;
  /** The raw revert data, when the node returned it. */
  readonly data: Hex | undefined;

  constructor(args: {
    errorName: TErrorName;
    args: TArgs;
    functionName?: string | undefined;
    data?: Hex | undefined;
    cause: unknown;
  }) {
    const where = args.functionName ? `\`${args.functionName}\` reverted` : "Reverted";
    super(`${where} with ${args.errorName}(${args.args.map(formatArg).join(", ")})`, { cause: args.cause });
    this.errorName = args.errorName;
    this.args = args.args;
    this.functionName = args.functionName;
    this.data = args.data;
  }
}

function formatArg(value: unknown): string {
  return typeof value === "bigint"
    ? value.toString()
    : JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? `${v}` : v));
}

/**
 * The error names of an ABI, plus the `Error`/`Panic`/`UnknownError` pseudo-names.
 *
 * @example
 * ```ts
 * import { escrowAbi, type SettlekitErrorName } from "settlekit";
 *
 * const name: SettlekitErrorName<typeof escrowAbi> = "EscrowNotPayer";
 * ```
 */
export type SettlekitErrorName<abi extends Abi> = ContractErrorName<abi> | "Error" | "Panic" | "UnknownError";

type PseudoErrorArgs<name> = name extends "Error"
  ? readonly [reason: string]
  : name extends "Panic"
    ? readonly [code: bigint]
    : readonly [];

/**
 * The decoded arguments of error `name` of an ABI.
 *
 * @example
 * ```ts
 * import { escrowAbi, type SettlekitErrorArgs } from "settlekit";
 *
 * const args: SettlekitErrorArgs<typeof escrowAbi, "EscrowNotPayer"> = [1n, payer]; // [id, caller]
 * ```
 */
export type SettlekitErrorArgs<abi extends Abi, name extends string> = Extract<
  name extends ContractErrorName<abi> ? ContractErrorArgs<abi, name> : PseudoErrorArgs<name>,
  readonly unknown[]
>;

/**
 * The typed {@link SettlekitContractError} for one error name of an ABI.
 *
 * @example
 * ```ts
 * import { escrowAbi, type ContractErrorOf } from "settlekit";
 *
 * function onError(error: ContractErrorOf<typeof escrowAbi, "EscrowNotFound">) {
 *   const [id] = error.args; // bigint
 * }
 * ```
 */
export type ContractErrorOf<abi extends Abi, name extends SettlekitErrorName<abi> = SettlekitErrorName<abi>> = {
  [N in name]: SettlekitContractError<N, SettlekitErrorArgs<abi, N>>;
}[name];

/**
 * Parameters of {@link decodeContractError}.
 *
 * @example
 * ```ts
 * import { decodeContractError, type DecodeContractErrorParameters } from "settlekit";
 *
 * const parameters: DecodeContractErrorParameters = { error, functionName: "settle" };
 * const decoded = decodeContractError(parameters);
 * ```
 */
export interface DecodeContractErrorParameters {
  /** The error thrown by a viem contract action (`readContract`, `simulateContract`, ...). */
  error: unknown;
  /** The function called, for the message. */
  functionName?: string;
}

/**
 * Return type of {@link decodeContractError}.
 *
 * @example
 * ```ts
 * import { decodeContractError, type DecodeContractErrorReturnType } from "settlekit";
 *
 * const decoded: DecodeContractErrorReturnType = decodeContractError({ error });
 * if (decoded) console.error(decoded.errorName, decoded.args);
 * ```
 */
export type DecodeContractErrorReturnType = SettlekitContractError | undefined;

/**
 * Turns a viem contract-call error into a {@link SettlekitContractError} when it is a revert
 * (viem's `ContractFunctionRevertedError` anywhere in its cause chain), or returns `undefined`
 * for anything else (transport failures, user rejections), which callers rethrow unchanged.
 * The clients call it for you; use it with errors from your own viem calls.
 *
 * @example
 * ```ts
 * import { decodeContractError, settlementHubAbi } from "settlekit";
 *
 * try {
 *   await publicClient.simulateContract({ abi: settlementHubAbi, address, functionName: "settle", args, account });
 * } catch (error) {
 *   throw decodeContractError({ error, functionName: "settle" }) ?? error;
 * }
 * ```
 */
export function decodeContractError({
  error,
  functionName,
}: DecodeContractErrorParameters): DecodeContractErrorReturnType {
  if (!(error instanceof BaseError)) return undefined;
  const reverted = error.walk((e) => e instanceof ContractFunctionRevertedError);
  if (!(reverted instanceof ContractFunctionRevertedError)) return undefined;
  const data = reverted.raw;
  if (reverted.data) {
    return new SettlekitContractError({
      errorName: reverted.data.errorName,
      args: (reverted.data.args ?? []) as readonly unknown[],
      functionName,
      data,
      cause: error,
    });
  }
  return new SettlekitContractError({ errorName: "UnknownError", args: [], functionName, data, cause: error });
}

/**
 * Narrows an unknown error to the typed {@link SettlekitContractError} for `errorName` of
 * `abi`, so its `args` carry the error's parameter types.
 *
 * @example
 * ```ts
 * import { escrowAbi, isContractError } from "settlekit";
 *
 * try {
 *   await escrow.release([id, amount]);
 * } catch (error) {
 *   if (isContractError(error, escrowAbi, "EscrowNotPayer")) {
 *     const [escrowId, caller] = error.args; // bigint, `0x${string}`
 *   }
 * }
 * ```
 */
export function isContractError<const abi extends Abi, const name extends SettlekitErrorName<abi>>(
  error: unknown,
  _abi: abi,
  errorName: name,
): error is ContractErrorOf<abi, name> {
  return error instanceof SettlekitContractError && error.errorName === errorName;
}
