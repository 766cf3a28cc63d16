import type { Address } from "viem";
import { MicroBatcher } from "../intake/micro-batch.js";
import type { HubPort, WithdrawalRequest } from "./ports.js";

type Read = { kind: "balance"; account: Address; token: Address } | { kind: "nonce"; owner: Address; nonce: bigint };

const balanceKey = (account: Address, token: Address) => `${account.toLowerCase()}:${token.toLowerCase()}`;
const nonceKey = (owner: Address, nonce: bigint) => `${owner.toLowerCase()}:${nonce}`;

/**
 * A hub balance, and a block the read reflects at least: the head known before it was made.
 * With the payer's pending withdrawal request of that token, read in the same call.
 */
export interface BalanceRead {
  value: bigint;
  block: bigint;
  withdrawal: WithdrawalRequest;
}

/**
 * The hub reads behind the acceptance checks, without a call per request: concurrent reads are
 * coalesced into one `readState` call (each distinct balance read once), a balance is served
 * from cache for `balanceTtlMs`, and a nonce known to be used is remembered for good (nonces
 * never become unused). `invalidate` drops a cached balance when the relayer learns that it
 * changed (its own settlements); a read that was in flight across an invalidation is not cached.
 * Each balance comes with the block it reflects at least (`headBlock()` when the read was
 * sent), which the store needs to count settlements the balance may not show yet.
 */
export class HubReader {
  readonly #balances = new Map<string, BalanceRead & { atMs: number }>();
  readonly #generation = new Map<string, number>();
  /** Bumped whenever `#generation` is emptied, so that a read in flight then is not cached. */
  #epoch = 0;
  readonly #usedNonces = new Set<string>();
  readonly #batcher: MicroBatcher<Read, BalanceRead | boolean>;

  constructor(
    private readonly hub: HubPort,
    private readonly options: {
      balanceTtlMs: number;
      /** The latest block the relayer knows the node has (a read made afterwards reflects it). */
      headBlock: () => bigint;
      nowMs?: () => number;
      maxBatch?: number;
      concurrency?: number;
    },
  ) {
    this.#batcher = new MicroBatcher((reads) => this.#flush(reads), {
      maxSize: options.maxBatch ?? 500,
      concurrency: options.concurrency ?? 4,
    });
  }

  #now(): number {
    return (this.options.nowMs ?? Date.now)();
  }

  async balanceOf(account: Address, token: Address): Promise<BalanceRead> {
    const cached = this.#balances.get(balanceKey(account, token));
    if (cached !== undefined && this.#now() - cached.atMs < this.options.balanceTtlMs) {
      return { value: cached.value, block: cached.block, withdrawal: cached.withdrawal };
    }
    return (await this.#batcher.push({ kind: "balance", account, token })) as BalanceRead;
  }

  async nonceUsed(owner: Address, nonce: bigint): Promise<boolean> {
    if (this.#usedNonces.has(nonceKey(owner, nonce))) return true;
    return (await this.#batcher.push({ kind: "nonce", owner, nonce })) as boolean;
  }

  /** Forget a cached balance (it changed on-chain). */
  invalidate(account: Address, token: Address): void {
    const key = balanceKey(account, token);
    this.#balances.delete(key);
    if (this.#generation.size >= 100_000) {
      this.#generation.clear();
      this.#epoch++;
    }
    this.#generation.set(key, (this.#generation.get(key) ?? 0) + 1);
  }

  /** Remember nonces known to be used (e.g. by the relayer's own settlements). */
  markNonceUsed(owner: Address, nonce: bigint): void {
    if (this.#usedNonces.size > 1_000_000) this.#usedNonces.clear();
    this.#usedNonces.add(nonceKey(owner, nonce));
  }

  async #flush(reads: Read[]): Promise<(BalanceRead | boolean)[]> {
    const block = this.options.headBlock();
    const epoch = this.#epoch;
    const balanceIndex = new Map<string, number>();
    const balances: { account: Address; token: Address }[] = [];
    const nonces: { owner: Address; nonce: bigint }[] = [];
    const generations = new Map<string, number>();
    for (const read of reads) {
      if (read.kind === "balance") {
        const key = balanceKey(read.account, read.token);
        if (!balanceIndex.has(key)) {
          balanceIndex.set(key, balances.length);
          balances.push({ account: read.account, token: read.token });
          generations.set(key, this.#generation.get(key) ?? 0);
        }
      } else nonces.push({ owner: read.owner, nonce: read.nonce });
    }
    const state = await this.hub.readState({ balances, nonces });
    const at = this.#now();
    for (const [key, index] of balanceIndex) {
      if (this.#epoch === epoch && (this.#generation.get(key) ?? 0) === generations.get(key)) {
        this.#balances.set(key, {
          value: state.balances[index],
          block,
          withdrawal: state.withdrawals[index],
          atMs: at,
        });
      }
    }
    if (this.#balances.size > 100_000) this.#balances.clear();
    let nonceIndex = 0;
    return reads.map((read) => {
      if (read.kind === "balance") {
        const index = balanceIndex.get(balanceKey(read.account, read.token)) as number;
        return { value: state.balances[index], block, withdrawal: state.withdrawals[index] };
      }
      const used = state.noncesUsed[nonceIndex++];
      if (used) this.markNonceUsed(read.owner, read.nonce);
      return used;
    });
  }
}
