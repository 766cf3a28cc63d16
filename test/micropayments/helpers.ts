import type { NetworkConnection } from "hardhat/types/network";
import { type Address, type Hex, keccak256, type LocalAccount, parseEther, toHex, zeroAddress } from "viem";
import { mnemonicToAccount, privateKeyToAccount } from "viem/accounts";

/** The mnemonic of the in-process network's default accounts (Hardhat's well-known test mnemonic). */
const TEST_MNEMONIC = "test test test test test test test test test test test junk";

/** Seconds between `requestClose` and the earliest `finalizeClose` in these tests. */
export const CHALLENGE_PERIOD = 3_600n;

export const DEPOSIT = parseEther("100");

/** The local (off-chain) signing key of default account `index`, for fast voucher signing. */
export function localAccount(index: number): LocalAccount {
  return mnemonicToAccount(TEST_MNEMONIC, { addressIndex: index });
}

/** A key that holds nothing and never sends transactions: a delegated session key. */
export function sessionKey(name: string): LocalAccount {
  return privateKeyToAccount(keccak256(toHex(name)));
}

/** Channel status values (`IPaymentChannels.ChannelStatus`). */
export const Status = { None: 0, Open: 1, Closing: 2, Closed: 3 } as const;

/** `IPaymentChannels.ClaimFailureReason` values. */
export const Reason = {
  ChannelNotOpen: 0,
  AmountNotAboveClaimed: 1,
  AmountExceedsDeposit: 2,
  InvalidSignature: 3,
} as const;

export type Viem = NetworkConnection<"generic">["viem"];

/** Deploys PaymentChannels with a funded ERC-20, approvals for payer and payer2, and a known owner. */
export async function deployChannels(viem: Viem) {
  const [owner, payer, payee, stranger, payer2] = await viem.getWalletClients();
  const channels = await viem.deployContract("PaymentChannels", [owner.account.address, CHALLENGE_PERIOD]);
  const token = await viem.deployContract("TestToken", ["Test USD", "TUSD", 18]);
  for (const wallet of [payer, payer2]) {
    await token.write.mint([wallet.account.address, parseEther("1000000")]);
    await token.write.approve([channels.address, parseEther("1000000")], { account: wallet.account });
  }
  return { channels, token, owner, payer, payee, stranger, payer2 };
}

type ChannelsContract = Awaited<ReturnType<typeof deployChannels>>["channels"];

/** The EIP-712 domain the contract reports (ERC-5267), as viem expects it. */
export async function voucherDomain(channels: ChannelsContract) {
  const [, name, version, chainId, verifyingContract] = await channels.read.eip712Domain();
  return { name, version, chainId: Number(chainId), verifyingContract };
}

export const VOUCHER_TYPES = {
  Voucher: [
    { name: "channelId", type: "bytes32" },
    { name: "cumulativeAmount", type: "uint256" },
  ],
} as const;

export interface VoucherDomain {
  name: string;
  version: string;
  chainId: number;
  verifyingContract: Address;
}

/** Signs `Voucher(channelId, cumulativeAmount)` off-chain with viem's `signTypedData`. */
export function signVoucher(
  signer: LocalAccount,
  domain: VoucherDomain,
  channelId: Hex,
  cumulativeAmount: bigint,
): Promise<Hex> {
  return signer.signTypedData({
    domain,
    types: VOUCHER_TYPES,
    primaryType: "Voucher",
    message: { channelId, cumulativeAmount },
  });
}

/** Opens a channel and returns its id (computed off-chain with `channelIdOf`, checked on-chain). */
export async function openChannel(
  channels: ChannelsContract,
  options: {
    payer: { account: { address: Address } };
    payee: Address;
    token: Address;
    amount: bigint;
    salt: Hex;
    signer?: Address;
  },
): Promise<Hex> {
  const { payer, payee, token, amount, salt } = options;
  const id = await channels.read.channelIdOf([payer.account.address, payee, token, salt]);
  await channels.write.open([payee, token, options.signer ?? zeroAddress, amount, salt], {
    account: payer.account.address,
    value: token === zeroAddress ? amount : 0n,
  });
  return id;
}

/** A 32-byte salt from a small number. */
export function salt(n: number | bigint): Hex {
  return `0x${BigInt(n).toString(16).padStart(64, "0")}`;
}
