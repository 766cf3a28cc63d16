import { BaseError, HttpRequestError, RpcRequestError, TimeoutError } from "viem";

/**
 * What nodes answer when a call itself fails, in their words: a revert ("execution reverted",
 * "Reverted", "VM execution error") or running out of the gas given, an error rather than a
 * revert ("out of gas" in geth, "EVM error OutOfGas" in anvil).
 */
export const CALL_FAILED =
  /revert|vm execution error|out ?of ?gas|invalid opcode|stack (?:over|under)flow|invalid jump/i;

/** True when the node could not be reached (connection refused, timeout): it said nothing. */
export function isUnreachable(error: unknown): boolean {
  return (
    error instanceof BaseError && error.walk((e) => e instanceof HttpRequestError || e instanceof TimeoutError) !== null
  );
}

/**
 * True when a call's error says nothing about the call: the node could not be reached, or it
 * answered with an error of its own ("header not found", "missing trie node", a rate limit).
 * The same call may then succeed when asked again; any other error is the call's own outcome.
 */
export function isNodeTrouble(error: unknown): boolean {
  if (!(error instanceof BaseError)) return false;
  return (
    isUnreachable(error) || error.walk((e) => e instanceof RpcRequestError && !CALL_FAILED.test(e.details)) !== null
  );
}
