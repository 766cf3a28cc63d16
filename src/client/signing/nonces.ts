import type { Address, PublicClient } from "viem";
import { SettlekitInvalidInputError } from "../errors.js";
import { settlementHubAbi } from "../generated/abis.js";

/**
 * Where a nonce manager learns which nonces are already used on chain: a whole bitmap word at
 * once, or one nonce at a time.
 *
 * @example
 * ```ts
 * import { createNonceManager, type NonceSource } from "settlekit";
 *
 * const source: NonceSource = { isUsed: (nonce) => hub.nonceUsed([payer, nonce]) };
 * const nonces = createNonceManager({ owner: payer, source });
 * ```
 */
export type NonceSource =
  | { readWord: (wordPos: bigint) => Promise<bigint> }
  | { isUsed: (nonce: bigint) => Promise<boolean> };

/**
 * Parameters of {@link createNonceManager}.
 *
 * @example
 * ```ts
 * import { createNonceManager, type CreateNonceManagerParameters } from "settlekit";
 *
 * const parameters: CreateNonceManagerParameters = { owner: payer, publicClient, hub: hubAddress };
 * const nonces = createNonceManager(parameters);
 * ```
 */
export interface CreateNonceManagerParameters {
  /** The payer whose nonces are handed out. */
  owner: Address;
  /** The bitmap word to start in (nonce `wordPos * 256`); default 0. */
  wordPos?: bigint;
  /**
   * Reads used nonces from chain. Default: the hub's `nonceUsed` when `publicClient` and `hub`
   * are given; otherwise only nonces handed out here or marked used are skipped.
   */
  source?: NonceSource;
  /** Reads `nonceUsed` of `hub` (unless `source` is given). */
  publicClient?: PublicClient;
  /** The SettlementHub whose nonces these are. */
  hub?: Address;
  /**
   * Nonces already spoken for off-chain, which the chain does not show yet: those of intents
   * this payer signed and the relayer accepted but has not settled, kept across a page reload
   * (e.g. in local storage). They are skipped, in any word.
   */
  reserved?: Iterable<bigint>;
}

/**
 * A payer's nonce dispenser (see {@link createNonceManager}).
 *
 * @example
 * ```ts
 * import { createNonceManager, type NonceManager } from "settlekit";
 *
 * const nonces: NonceManager = hub.createNonceManager(payer);
 * const nonce = await nonces.next();
 * ```
 */
export interface NonceManager {
  /** The payer. */
  readonly owner: Address;
  /** The next free nonce, in order within the current bitmap word; never the same one twice. */
  next(): Promise<bigint>;
  /**
   * Records a nonce of the current word as used elsewhere (another process, an invalidation, an
   * intent the relayer holds: its 409 `nonce_conflict`), so it is skipped; then take `next()`.
   */
  markUsed(nonce: bigint): void;
  /** The bitmap word nonces currently come from. */
  currentWord(): bigint;
}
/**
 * Return type of {@link createNonceManager}.
 *
 * @example
 * ```ts
 * import { createNonceManager, type CreateNonceManagerReturnType } from "settlekit";
 *
 * const nonces: CreateNonceManagerReturnType = createNonceManager({ owner: payer });
 * ```
 */
export type CreateNonceManagerReturnType = NonceManager;

const WORD_BITS = 256n;

/**
 * Hands out a payer's unordered nonces (DESIGN §4, Permit2-style bitmaps) in order within one
 * 256-bit word, skipping used ones (asking the hub's `nonceUsed` when given a `publicClient` and
 * the `hub`), and moves to the next word only when the current one is full: a payer whose word
 * is fresh pays about 17,000 more gas per payment. Concurrent `next()`
 * calls are served one after another, so no nonce is handed out twice by one manager. The
 * settlement client's `createNonceManager(owner)` wires the source to the hub's `nonceUsed`.
 *
 * The chain only knows settled nonces. A new manager (after a page reload, in another process)
 * hands out again the nonces of intents the relayer has accepted but not yet settled, and the
 * relayer refuses those with 409 `nonce_conflict`: pass the nonces you know are pending as
 * `reserved`, and on a `nonce_conflict` call `markUsed(nonce)`, take `next()` and sign again.
 *
 * @example
 * ```ts
 * import { createNonceManager, RelayerRequestError } from "settlekit";
 *
 * const nonces = createNonceManager({ owner: payer, publicClient, hub: hubAddress, reserved: pendingNonces });
 * let payment = { ...draft, nonce: await nonces.next() };
 * try {
 *   await relayer.submitPayment({ payment, signature: await signPayment({ account, domain, payment }) });
 * } catch (error) {
 *   if (!(error instanceof RelayerRequestError && error.code === "nonce_conflict")) throw error;
 *   nonces.markUsed(payment.nonce);
 *   payment = { ...payment, nonce: await nonces.next() }; // sign and submit again
 * }
 * ```
 */
export function createNonceManager({
  owner,
  wordPos = 0n,
  source: given,
  publicClient,
  hub,
  reserved: reservedNonces = [],
}: CreateNonceManagerParameters): NonceManager {
  const source: NonceSource | undefined =
    given ??
    (publicClient && hub
      ? {
          isUsed: (nonce) =>
            publicClient.readContract({
              abi: settlementHubAbi,
              address: hub,
              functionName: "nonceUsed",
              args: [owner, nonce],
            }),
        }
      : undefined);
  if (typeof wordPos !== "bigint" || wordPos < 0n || wordPos >= 1n << 248n) {
    throw new SettlekitInvalidInputError("wordPos", "expected a bigint in [0, 2^248)");
  }
  const reserved = new Set<bigint>();
  for (const nonce of reservedNonces) {
    if (typeof nonce !== "bigint" || nonce < 0n) {
      throw new SettlekitInvalidInputError("reserved", "expected nonces as bigints ≥ 0");
    }
    reserved.add(nonce);
  }
  let word = wordPos;
  let taken = 0n; // bits of `word` handed out, marked, or found used
  let cursor = 0n; // next bit to try
  let synced = false;
  let queue: Promise<unknown> = Promise.resolve();

  async function take(): Promise<bigint> {
    for (;;) {
      if (cursor === WORD_BITS) {
        word += 1n;
        taken = 0n;
        cursor = 0n;
        synced = false;
      }
      if (!synced && source && "readWord" in source) {
        const used = await source.readWord(word);
        taken |= used;
      }
      synced = true;
      const bit = 1n << cursor;
      const nonce = word * WORD_BITS + cursor;
      cursor += 1n;
      if ((taken & bit) !== 0n) continue;
      taken |= bit;
      if (reserved.has(nonce)) continue;
      if (source && "isUsed" in source && (await source.isUsed(nonce))) continue;
      return nonce;
    }
  }

  return {
    owner,
    next() {
      const result = queue.then(take);
      queue = result.catch(() => undefined);
      return result;
    },
    markUsed(nonce) {
      if (typeof nonce !== "bigint" || nonce < 0n)
        throw new SettlekitInvalidInputError("nonce", "expected a bigint ≥ 0");
      if (nonce / WORD_BITS === word) taken |= 1n << (nonce % WORD_BITS);
    },
    currentWord: () => word,
  };
}
