import { BaseError, HttpRequestError, ResponseBodyTooLargeError, RpcRequestError, TimeoutError } from "viem";

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

/**
 * How nodes and RPC providers word an `eth_getLogs` refusal because the block range or the
 * result set is too large (from geth, Erigon, Nitro and the public providers: Infura, Alchemy,
 * QuickNode, Ankr, Chainstack, Cloudflare, thirdweb, BlockPI, dRPC, BSC, OP and Base endpoints).
 * It is the wording that decides: the JSON-RPC codes these come with (-32005 "limit exceeded",
 * -32602 "invalid params", -32000, -32600, ...) are also those of rate limits and bad requests.
 */
export const LOG_RANGE_TOO_LARGE = new RegExp(
  [
    // the result set: "query returned more than 10000 results", "query exceeds max results 20000",
    // "logs matched by query exceeds limit of 10000", "Log response size exceeded", "backend response too large"
    /(?:query|request) returned more than [\d,.]+ (?:results|logs)/,
    /exceeds? max(?:imum)? results/,
    /logs matched by query exceeds? limit/,
    /response size (?:exceeded|should not|is larger|too large)/,
    /response (?:is )?too (?:large|big)/,
    /too many (?:logs|results|blocks)/,
    // the block span: "block range is too wide", "Block range is too large", "block range too large",
    // "range too large, max range: 1000", "'fromBlock'-'toBlock' range too large. Max range: 800"
    /range (?:is )?too (?:wide|large|big)/,
    // "exceed maximum block range: 5000", "query exceeds max block range 1000", "Block range limit exceeded."
    /max(?:imum)? (?:block )?range/,
    /block range limit/,
    // "eth_getLogs is limited to a 10,000 range", "limited to 1024 block range", "up to a 10 block range"
    /limited to (?:a )?[\d,.]+ (?:block )?(?:range|blocks?)/,
    /up to a [\d,.]+ block range/,
    // "range 20000 is bigger than range limit 2000", "range 49999 exceeds limit of 10000",
    // "requested too many blocks from 0 to 5000",
    // "Maximum allowed number of requested blocks is 1000", "please limit the query to at most 1000 blocks"
    /range [\d,.]+ (?:is bigger than|exceeds) (?:the )?(?:range )?limit/,
    /requested too many blocks/,
    /number of requested blocks/,
    /limit the query to at most/,
    // "block range greater than 1000 max", "block range exceeds 1000", "ranges over 10000 blocks are not supported",
    // "exceeds the range allowed for your plan", "maximum [from, to] blocks distance: 100", "query must be smaller than size 1024"
    /block range (?:greater than|exceeds)/,
    /ranges? over [\d,.]+ blocks/,
    /exceeds the range allowed/,
    /blocks distance/,
    /query must be smaller than size/,
  ]
    .map((pattern) => pattern.source)
    .join("|"),
  "i",
);

/** The texts an error and its causes carry: messages, viem's `details`, and a JSON-RPC error's `data`. */
function errorTexts(error: unknown): string[] {
  const texts: string[] = [];
  let e: unknown = error;
  for (let depth = 0; depth < 8 && typeof e === "object" && e !== null; depth++) {
    const { message, details, data } = e as { message?: unknown; details?: unknown; data?: unknown };
    // A viem error's own `message` also lists the request body: its `details` is what the node said.
    if (e instanceof BaseError) {
      if (typeof details === "string") texts.push(details);
    } else if (typeof message === "string") texts.push(message);
    if (typeof data === "string") texts.push(data);
    else if (typeof data === "object" && data !== null && typeof (data as { message?: unknown }).message === "string") {
      texts.push((data as { message: string }).message);
    }
    e = (e as { cause?: unknown }).cause;
  }
  return texts;
}

/**
 * True when an `eth_getLogs` request was refused because its block range or its result set is
 * too large: the node or provider answered, and a smaller range may pass. That is an answer
 * whose wording matches `LOG_RANGE_TOO_LARGE` (in the message, viem's `details` or the JSON-RPC
 * error's `data`), an HTTP 413 (Payload Too Large), or a response body above viem's size limit
 * (`ResponseBodyTooLargeError`). Anything else is false: a node that could not be reached or
 * timed out, a rate limit, an HTTP 500, or an error of the node's own.
 */
export function isLogRangeTooLarge(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; depth < 8 && typeof e === "object" && e !== null; depth++) {
    if (e instanceof ResponseBodyTooLargeError) return true;
    if ((e instanceof HttpRequestError || e instanceof RpcRequestError) && e.status === 413) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return errorTexts(error).some((text) => LOG_RANGE_TOO_LARGE.test(text));
}
