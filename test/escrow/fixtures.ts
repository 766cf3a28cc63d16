import type { network } from "hardhat";
import type { Address, Hex, WalletClient } from "viem";
import { maxUint256, parseEther, zeroAddress, zeroHash } from "viem";

/** Escrow constructor parameters used by the Escrow tests. */
export const FEE_BPS = 50; // 0.5%
export const RESOLUTION_TIMEOUT = 7n * 24n * 3600n;
export const DAY = 24n * 3600n;

/** `IEscrow.ExpiryAction`. */
export const RefundPayer = 0;
export const ReleasePayee = 1;

/** `IEscrow.EscrowState`. */
export const State = { None: 0, Active: 1, Disputed: 2, Closed: 3 } as const;

export interface CreateParams {
  payee: Address;
  arbiter: Address;
  token: Address;
  amount: bigint;
  deadline: bigint;
  onExpiry: number;
  ref: Hex;
}

/** Escrow terms with defaults: no arbiter, native currency, refund on expiry. */
export function terms(overrides: Partial<CreateParams> & Pick<CreateParams, "payee" | "amount" | "deadline">) {
  return { arbiter: zeroAddress, token: zeroAddress, onExpiry: RefundPayer, ref: zeroHash, ...overrides };
}

/** The fee the contract takes on `amount` paid to the payee. */
export function feeOn(amount: bigint, feeBps: number = FEE_BPS): bigint {
  return (amount * BigInt(feeBps)) / 10_000n;
}

/** The payer's EIP-712 release authorisation, signed as a client would. */
export async function signRelease(
  signer: WalletClient,
  escrow: Address,
  chainId: number,
  message: { id: bigint; releasedTotal: bigint; deadline: bigint },
): Promise<Hex> {
  if (signer.account === undefined) throw new Error("signer without account");
  return signer.signTypedData({
    account: signer.account,
    domain: { name: "settlekit Escrow", version: "1", chainId, verifyingContract: escrow },
    types: {
      Release: [
        { name: "id", type: "uint256" },
        { name: "releasedTotal", type: "uint256" },
        { name: "deadline", type: "uint256" },
      ],
    },
    primaryType: "Release",
    message,
  });
}

type Connection = Awaited<ReturnType<typeof network.create>>;

/**
 * A deployed Escrow (fee 0.5%, resolution timeout 7 days) and a permit-capable test token; the
 * payer holds 1,000 tokens and has approved the escrow. `open` creates an escrow and returns its id.
 */
export async function deployEscrow({ viem, networkHelpers }: Connection) {
  const publicClient = await viem.getPublicClient();
  const [owner, feeRecipient, payer, payee, arbiter, relayer, stranger] = await viem.getWalletClients();
  const chainId = await publicClient.getChainId();
  const escrow = await viem.deployContract("Escrow", [
    owner.account.address,
    feeRecipient.account.address,
    FEE_BPS,
    RESOLUTION_TIMEOUT,
  ]);
  const token = await viem.deployContract("TestToken", ["Test", "TST", 18]);
  const amount = parseEther("100");
  await token.write.mint([payer.account.address, amount * 10n]);
  await token.write.approve([escrow.address, maxUint256], { account: payer.account });
  const now = BigInt(await networkHelpers.time.latest());
  const deadline = now + 30n * DAY;

  /** Creates an escrow (by default: the payer locks `amount` of the test token for the payee). */
  async function open(overrides: Partial<CreateParams> = {}, from: WalletClient = payer, value = 0n): Promise<bigint> {
    const params = terms({ payee: payee.account.address, token: token.address, amount, deadline, ...overrides });
    const account = from.account;
    if (account === undefined) throw new Error("wallet without account");
    const { result } = await escrow.simulate.create([params], { account: account.address, value });
    await escrow.write.create([params], { account, value });
    return result;
  }

  return {
    escrow,
    token,
    publicClient,
    chainId,
    owner,
    feeRecipient,
    payer,
    payee,
    arbiter,
    relayer,
    stranger,
    amount,
    now,
    deadline,
    open,
  };
}
