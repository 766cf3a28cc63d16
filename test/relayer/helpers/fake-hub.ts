import { randomBytes } from "node:crypto";
import {
  type Address,
  concat,
  getAddress,
  type Hex,
  hexToString,
  keccak256,
  size,
  slice,
  stringToHex,
  toHex,
} from "viem";
import { HUB_FAILURE_REASONS, hubFailureReason } from "../../../src/relayer/chain/client-adapters.js";
import {
  CallRevertedError,
  type DeploymentDomain,
  type HubFailureReason,
  type HubPort,
  type HubState,
  type HubStateQuery,
  type Payment,
  type PaymentOutcome,
  type Settlement,
  type SignatureVerifier,
  type SigningPort,
} from "../../../src/relayer/chain/ports.js";
import type { FakeChain } from "./fake-chain.js";

const json = (value: unknown) => JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? `${v}n` : v));
const parse = (text: string) =>
  JSON.parse(text, (_k, v) => (typeof v === "string" && /^\d+n$/.test(v) ? BigInt(v.slice(0, -1)) : v));

/**
 * Stand-ins for the client library's signing functions: a digest is a hash of the payment and
 * its domain; a "signature" is the signer's address followed by the digest it signs. Enough
 * to tell right from wrong signers, chains and contracts without any cryptography.
 */
export const fakeSigning: SigningPort = {
  hashPayment: ({ domain, payment }) => keccak256(stringToHex(json({ domain, payment }))),
  hashVoucher: ({ domain, voucher }) => keccak256(stringToHex(json({ domain, voucher }))),
  hashRelease: ({ domain, release }) => keccak256(stringToHex(json({ domain, release }))),
  recoverDigestSigner(digest, signature) {
    if (size(signature) !== 52 || slice(signature, 20) !== digest) return null;
    return getAddress(slice(signature, 0, 20));
  },
};

export function fakeSign(signer: Address, digest: Hex): Hex {
  return concat([signer, digest]);
}

/** ERC-1271 wallets of the fake world: contract address → owner whose fake signatures it accepts. */
export class FakeVerifier implements SignatureVerifier {
  readonly wallets = new Map<string, Address>();
  calls = 0;
  down = false;
  async #check(signer: Address, digest: Hex, signature: Hex): Promise<boolean> {
    this.calls++;
    if (this.down) throw new Error("fetch failed");
    const owner = this.wallets.get(signer.toLowerCase());
    return owner !== undefined && fakeSigning.recoverDigestSigner(digest, signature) === owner;
  }
  verifyPayment(args: { domain: DeploymentDomain; payment: Payment; signature: Hex }) {
    return this.#check(args.payment.from, fakeSigning.hashPayment(args), args.signature);
  }
  verifyVoucher(args: Parameters<SignatureVerifier["verifyVoucher"]>[0]) {
    return this.#check(args.signer, fakeSigning.hashVoucher(args), args.signature);
  }
  verifyRelease(args: Parameters<SignatureVerifier["verifyRelease"]>[0]) {
    return this.#check(args.signer, fakeSigning.hashRelease(args), args.signature);
  }
}

const SETTLED = keccak256(stringToHex("PaymentSettled"));
const FAILED = keccak256(stringToHex("PaymentFailed"));

/**
 * A SettlementHub of the fake chain: balances, nonce bitmap and `settleBatch` semantics
 * (skip failures, one event per intent, fee to the submitter), rolled back by reorgs.
 */
export class FakeHub implements HubPort {
  /** A fresh address per hub, so tests sharing a store never see each other's queue. */
  readonly address: Address = getAddress(toHex(randomBytes(20)));
  readonly balances = new Map<string, bigint>();
  readonly used = new Set<string>();
  readonly #undo = new Map<Hex, (() => void)[]>();
  /** Payers whose (ERC-1271) validation makes a whole batch run out of gas. */
  readonly poison = new Set<string>();
  reads = 0;
  down = false;
  /** Like many RPC providers: `findSettlements` refuses a range of more blocks than this. */
  maxLogRange: number | undefined;
  /** The block ranges `findSettlements` was asked for. */
  readonly logRanges: [bigint, bigint][] = [];

  constructor(readonly chain: FakeChain) {
    chain.logsFor = (tx, block) => {
      if (tx.to !== this.address) return { logs: [] };
      return { logs: this.#settleBatch(tx.data, block) };
    };
    chain.simulate = (to, data) => {
      if (to !== this.address) return;
      const { payments } = this.decodeSettleBatch(data);
      if (payments.some((p) => this.poison.has(p.from.toLowerCase()))) throw new CallRevertedError("out of gas");
    };
    chain.onRevertBlock = (block) => {
      for (const undo of (this.#undo.get(block.hash) ?? []).reverse()) undo();
      this.#undo.delete(block.hash);
    };
  }

  get domain(): DeploymentDomain {
    return { chainId: this.chain.chainId, verifyingContract: this.address };
  }

  deposit(account: Address, token: Address, amount: bigint): void {
    const key = `${account.toLowerCase()}:${token.toLowerCase()}`;
    this.balances.set(key, (this.balances.get(key) ?? 0n) + amount);
  }

  /** Pending withdrawal requests, by `account:token` (lower case), as `getWithdrawalRequest` reports them. */
  readonly withdrawals = new Map<string, { amount: bigint; availableAt: bigint }>();

  balanceOf(account: Address, token: Address): bigint {
    return this.balances.get(`${account.toLowerCase()}:${token.toLowerCase()}`) ?? 0n;
  }

  /** Every digest the canonical chain shows as settled, with how often. */
  settledDigests(): Map<Hex, number> {
    const counts = new Map<Hex, number>();
    for (const log of this.chain.logs()) {
      if (log.topics[0] === SETTLED) counts.set(log.topics[1], (counts.get(log.topics[1]) ?? 0) + 1);
    }
    return counts;
  }

  #settleBatch(data: Hex, block: { number: bigint; hash: Hex }) {
    const { payments, signatures } = this.decodeSettleBatch(data);
    const undo: (() => void)[] = [];
    const timestamp = 1_700_000_000n + block.number * 12n;
    const logs = payments.map((payment, i) => {
      const digest = fakeSigning.hashPayment({ domain: this.domain, payment });
      const nonceKey = `${payment.from.toLowerCase()}:${payment.nonce}`;
      const fail = (reason: HubFailureReason) => ({
        address: this.address,
        topics: [FAILED, digest] as Hex[],
        data: toHex(HUB_FAILURE_REASONS.indexOf(reason), { size: 32 }),
        blockNumber: block.number,
        blockHash: block.hash,
        transactionHash: "0x" as Hex,
      });
      // In the contract's order (SettlementHub._execute): an intent settled before reports its
      // expiry or a bad signature first, and only then its used nonce.
      if (payment.validBefore <= timestamp) return fail("expired");
      if (fakeSigning.recoverDigestSigner(digest, signatures[i]) !== getAddress(payment.from))
        return fail("bad_signature");
      if (this.used.has(nonceKey)) return fail("nonce_used");
      if (this.balanceOf(payment.from, payment.token) < payment.amount + payment.fee)
        return fail("insufficient_balance");
      this.used.add(nonceKey);
      this.deposit(payment.from, payment.token, -(payment.amount + payment.fee));
      this.deposit(payment.to, payment.token, payment.amount);
      this.deposit(this.chain.sender, payment.token, payment.fee);
      undo.push(() => {
        this.used.delete(nonceKey);
        this.deposit(payment.from, payment.token, payment.amount + payment.fee);
        this.deposit(payment.to, payment.token, -payment.amount);
        this.deposit(this.chain.sender, payment.token, -payment.fee);
      });
      return {
        address: this.address,
        topics: [SETTLED, digest] as Hex[],
        data: "0x" as Hex,
        blockNumber: block.number,
        blockHash: block.hash,
        transactionHash: "0x" as Hex,
      };
    });
    this.#undo.set(block.hash, undo);
    return logs;
  }

  async readState(query: HubStateQuery): Promise<HubState> {
    this.reads++;
    if (this.down) throw new Error("fetch failed");
    return {
      balances: query.balances.map((b) => this.balanceOf(b.account, b.token)),
      withdrawals: query.balances.map(
        (b) =>
          this.withdrawals.get(`${b.account.toLowerCase()}:${b.token.toLowerCase()}`) ?? {
            amount: 0n,
            availableAt: 0n,
          },
      ),
      noncesUsed: query.nonces.map((n) => this.used.has(`${n.owner.toLowerCase()}:${n.nonce}`)),
    };
  }

  encodeSettleBatch(payments: readonly Payment[], signatures: readonly Hex[]): Hex {
    return stringToHex(json({ payments, signatures }));
  }

  /** The payments and signatures of `encodeSettleBatch`'s calldata. */
  decodeSettleBatch(data: Hex): { payments: Payment[]; signatures: Hex[] } {
    return parse(hexToString(data)) as { payments: Payment[]; signatures: Hex[] };
  }

  decodeOutcomes(logs: Parameters<HubPort["decodeOutcomes"]>[0]): PaymentOutcome[] {
    return logs
      .filter((log) => log.address === this.address && (log.topics[0] === SETTLED || log.topics[0] === FAILED))
      .map((log) => {
        if (log.topics[0] === SETTLED) return { digest: log.topics[1], settled: true as const };
        const rawReason = Number(BigInt(log.data));
        return { digest: log.topics[1], settled: false as const, reason: hubFailureReason(rawReason), rawReason };
      });
  }

  async findSettlements(digests: readonly Hex[], fromBlock: bigint, toBlock: bigint): Promise<Settlement[]> {
    this.logRanges.push([fromBlock, toBlock]);
    if (this.maxLogRange !== undefined && toBlock - fromBlock + 1n > BigInt(this.maxLogRange)) {
      throw new Error(`eth_getLogs is limited to a ${this.maxLogRange} block range`);
    }
    const wanted = new Set(digests.map((d) => d.toLowerCase()));
    return this.chain
      .logs()
      .filter(
        (l) =>
          l.topics[0] === SETTLED &&
          wanted.has(l.topics[1].toLowerCase()) &&
          l.blockNumber >= fromBlock &&
          l.blockNumber <= toBlock,
      )
      .map((l) => ({
        digest: l.topics[1],
        txHash: l.transactionHash,
        blockNumber: l.blockNumber,
        blockHash: l.blockHash,
      }));
  }
}
