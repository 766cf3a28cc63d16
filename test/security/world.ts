import { expect } from "chai";
import type { network } from "hardhat";
import { type Address, erc20Abi, getAddress, type Hex, parseAbi, zeroAddress } from "viem";
import { mnemonicToAccount } from "viem/accounts";
import { signRelease } from "../escrow/fixtures.js";
import { type Payment, paymentTypes } from "../settlement/helpers.js";

/**
 * The security suite's world: the three settlekit contracts deployed side by side, named parties,
 * and the conservation checks every scenario ends with.
 *
 * Conservation (per token, strict equality — no funds created or lost):
 * - Escrow: its token balance = the remainders of its escrows in that token + every owed balance;
 * - SettlementHub: its token balance = the hub balances of every account;
 * - PaymentChannels: its token balance = `deposit - claimed` of every open or closing channel in
 *   that token + every owed balance.
 * The sums run over every escrow id / channel id the scenario created and every address that took
 * part in it, so a credit to an unexpected account shows up as a broken equality.
 */
export type Connection = Awaited<ReturnType<typeof network.create>>;

export const FEE_BPS = 50;
export const RESOLUTION_TIMEOUT = 7n * 24n * 3600n;
export const WITHDRAWAL_DELAY = 3_600n;
export const CHALLENGE_PERIOD = 3_600n;
export const DAY = 86_400n;
export const MAX_128 = 2n ** 128n - 1n;
export const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

/** Hardhat's well-known test mnemonic: the in-process network's accounts, for local signing. */
const TEST_MNEMONIC = "test test test test test test test test test test test junk";

/** The minimal token interface every test token (hostile ones included) offers. */
export const tokenAbi = parseAbi([
  "function mint(address to, uint256 amount)",
  "function approve(address spender, uint256 amount)",
]);

/** The parties, by wallet index. alice and carol pay, bob and dave are paid; carol/dave are the honest bystanders. */
const PARTIES = ["owner", "feeRecipient", "alice", "bob", "carol", "dave", "arbiter", "relayer", "mallory"] as const;
export type Party = (typeof PARTIES)[number];

export const VOUCHER_TYPES = {
  Voucher: [
    { name: "channelId", type: "bytes32" },
    { name: "cumulativeAmount", type: "uint256" },
  ],
} as const;

/** Deploys Escrow, SettlementHub and PaymentChannels with the suite's parameters. */
export async function deployWorld(connection: Connection) {
  const { viem } = connection;
  const publicClient = await viem.getPublicClient();
  const walletList = await viem.getWalletClients();
  const wallets = Object.fromEntries(PARTIES.map((name, i) => [name, walletList[i]])) as Record<
    Party,
    (typeof walletList)[number]
  >;
  const keys = Object.fromEntries(
    PARTIES.map((name, i) => [name, mnemonicToAccount(TEST_MNEMONIC, { addressIndex: i })]),
  ) as Record<Party, ReturnType<typeof mnemonicToAccount>>;
  const address = (party: Party): Address => wallets[party].account.address;
  const chainId = await publicClient.getChainId();

  const escrow = await viem.deployContract("Escrow", [
    address("owner"),
    address("feeRecipient"),
    FEE_BPS,
    RESOLUTION_TIMEOUT,
  ]);
  const hub = await viem.deployContract("SettlementHub", [address("owner"), WITHDRAWAL_DELAY]);
  const channels = await viem.deployContract("PaymentChannels", [address("owner"), CHALLENGE_PERIOD]);

  /** Every address whose owed or hub balance the conservation sums read; scenarios add their contracts. */
  const accounts = new Set<Address>([...PARTIES.map(address)]);
  const escrowIds = new Set<bigint>();
  const channelIds = new Set<Hex>();

  async function balanceOf(token: Address, holder: Address): Promise<bigint> {
    if (token === zeroAddress) return publicClient.getBalance({ address: holder });
    return publicClient.readContract({ address: token, abi: erc20Abi, functionName: "balanceOf", args: [holder] });
  }

  /** Mints `amount` of `token` to `party` and approves all three contracts for it. */
  async function fund(token: Address, party: Party, amount: bigint) {
    const wallet = wallets[party];
    await wallet.writeContract({ address: token, abi: tokenAbi, functionName: "mint", args: [address(party), amount] });
    for (const spender of [escrow.address, hub.address, channels.address]) {
      await wallet.writeContract({ address: token, abi: tokenAbi, functionName: "approve", args: [spender, 0n] });
      await wallet.writeContract({ address: token, abi: tokenAbi, functionName: "approve", args: [spender, amount] });
    }
  }

  async function sumOwed(owed: (account: Address, token: Address) => Promise<bigint>, token: Address) {
    let total = 0n;
    for (const account of accounts) total += await owed(account, token);
    return total;
  }

  /** What Escrow owes in `token`: every remainder plus every owed balance. */
  async function escrowLiabilities(token: Address): Promise<bigint> {
    let total = await sumOwed((a, t) => escrow.read.owed([a, t]), token);
    for (const id of escrowIds) {
      const e = await escrow.read.getEscrow([id]);
      if (getAddress(e.token) === getAddress(token)) total += e.remaining;
    }
    return total;
  }

  /** What SettlementHub owes in `token`: every account's hub balance. */
  async function hubLiabilities(token: Address): Promise<bigint> {
    let total = 0n;
    for (const account of accounts) total += await hub.read.balanceOf([account, token]);
    return total;
  }

  /** What PaymentChannels owes in `token`: every open or closing channel's `deposit - claimed` plus owed balances. */
  async function channelLiabilities(token: Address): Promise<bigint> {
    let total = await sumOwed((a, t) => channels.read.owed([a, t]), token);
    for (const id of channelIds) {
      const c = await channels.read.getChannel([id]);
      if (getAddress(c.token) !== getAddress(token)) continue;
      expect(c.claimed <= c.deposit, "claimed never exceeds the deposit").to.equal(true);
      if (c.status === 1 || c.status === 2) total += c.deposit - c.claimed;
    }
    return total;
  }

  /** Asserts per-token conservation in all three contracts. */
  async function expectConservation(token: Address) {
    expect(await balanceOf(token, escrow.address), "Escrow: balance = remainders + owed").to.equal(
      await escrowLiabilities(token),
    );
    expect(await balanceOf(token, hub.address), "SettlementHub: balance = account balances").to.equal(
      await hubLiabilities(token),
    );
    expect(await balanceOf(token, channels.address), "PaymentChannels: balance = locked + owed").to.equal(
      await channelLiabilities(token),
    );
  }

  /** Escrow terms with defaults: alice pays bob, no arbiter, refund on expiry, deadline in 30 days. */
  async function escrowTerms(fields: {
    token: Address;
    amount: bigint;
    payee?: Address;
    arbiter?: Address;
    onExpiry?: number;
    deadline?: bigint;
  }) {
    const now = (await publicClient.getBlock()).timestamp;
    return {
      payee: fields.payee ?? address("bob"),
      arbiter: fields.arbiter ?? zeroAddress,
      token: fields.token,
      amount: fields.amount,
      deadline: fields.deadline ?? now + 30n * DAY,
      onExpiry: fields.onExpiry ?? 0,
      ref: `0x${"00".repeat(32)}` as Hex,
    };
  }

  /** Creates an escrow from `payer` (default alice) and records its id for the conservation sums. */
  async function createEscrow(terms: Awaited<ReturnType<typeof escrowTerms>>, payer: Party = "alice"): Promise<bigint> {
    const value = terms.token === zeroAddress ? terms.amount : 0n;
    const { result } = await escrow.simulate.create([terms], { account: address(payer), value });
    await escrow.write.create([terms], { account: wallets[payer].account, value });
    escrowIds.add(result);
    return result;
  }

  /** Opens a channel from `payer` (default alice) and records its id. */
  async function openChannel(
    fields: { token: Address; amount: bigint; payee?: Address; salt?: bigint },
    payer: Party = "alice",
  ) {
    const payee = fields.payee ?? address("bob");
    const salt = `0x${(fields.salt ?? 1n).toString(16).padStart(64, "0")}` as Hex;
    const id = await channels.read.channelIdOf([address(payer), payee, fields.token, salt]);
    await channels.write.open([payee, fields.token, zeroAddress, fields.amount, salt], {
      account: wallets[payer].account,
      value: fields.token === zeroAddress ? fields.amount : 0n,
    });
    channelIds.add(id);
    return id;
  }

  const escrowDomain = { name: "settlekit Escrow", version: "1", chainId, verifyingContract: escrow.address };
  const hubDomain = { name: "settlekit SettlementHub", version: "1", chainId, verifyingContract: hub.address };
  const channelDomain = {
    name: "settlekit PaymentChannels",
    version: "1",
    chainId,
    verifyingContract: channels.address,
  };

  /** `party`'s voucher for `channelId` (optionally in another domain, for replay attempts). */
  function signVoucher(party: Party, channelId: Hex, cumulativeAmount: bigint, domain = channelDomain): Promise<Hex> {
    return keys[party].signTypedData({
      domain,
      types: VOUCHER_TYPES,
      primaryType: "Voucher",
      message: { channelId, cumulativeAmount },
    });
  }

  /** `party`'s payment intent signature (optionally in another domain). */
  function signIntent(party: Party, payment: Payment, domain = hubDomain): Promise<Hex> {
    return keys[party].signTypedData({ domain, types: paymentTypes, primaryType: "Payment", message: payment });
  }

  /** `party`'s escrow release authorisation (optionally for another chain id or escrow). */
  function signReleaseAs(
    party: Party,
    message: { id: bigint; releasedTotal: bigint; deadline: bigint },
    domain: { chainId: number; verifyingContract: Address } = escrowDomain,
  ): Promise<Hex> {
    return signRelease(wallets[party], domain.verifyingContract, domain.chainId, message);
  }

  return {
    connection,
    publicClient,
    wallets,
    keys,
    address,
    chainId,
    escrow,
    hub,
    channels,
    accounts,
    escrowIds,
    channelIds,
    balanceOf,
    fund,
    escrowLiabilities,
    hubLiabilities,
    channelLiabilities,
    expectConservation,
    escrowTerms,
    createEscrow,
    openChannel,
    escrowDomain,
    hubDomain,
    channelDomain,
    signVoucher,
    signIntent,
    signReleaseAs,
  };
}

export type World = Awaited<ReturnType<typeof deployWorld>>;

/** The fee Escrow takes on `amount` paid to a payee at `feeBps`. */
export function feeOn(amount: bigint, feeBps: number = FEE_BPS): bigint {
  return (amount * BigInt(feeBps)) / 10_000n;
}

/** A 65-byte ECDSA signature malleated: s' = n - s, v flipped (valid for ecrecover, rejected by OZ). */
export function malleate(signature: Hex): Hex {
  const r = signature.slice(2, 66);
  const s = BigInt(`0x${signature.slice(66, 130)}`);
  const v = Number.parseInt(signature.slice(130, 132), 16);
  return `0x${r}${(SECP256K1_N - s).toString(16).padStart(64, "0")}${(v === 27 ? 28 : 27).toString(16)}`;
}

/** The EIP-2098 compact (64-byte) form of a 65-byte signature: r ‖ (yParity << 255 | s). */
export function compact(signature: Hex): Hex {
  const r = signature.slice(2, 66);
  const s = BigInt(`0x${signature.slice(66, 130)}`);
  const v = Number.parseInt(signature.slice(130, 132), 16);
  const yParityAndS = (BigInt(v - 27) << 255n) | s;
  return `0x${r}${yParityAndS.toString(16).padStart(64, "0")}`;
}
