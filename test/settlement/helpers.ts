import {
  type Address,
  type Hex,
  hashTypedData,
  keccak256,
  type LocalAccount,
  stringToHex,
  type TypedDataDomain,
  zeroHash,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";

/** The EIP-712 `Payment` type, exactly as DESIGN §4 binds it. */
export const paymentTypes = {
  Payment: [
    { name: "from", type: "address" },
    { name: "to", type: "address" },
    { name: "token", type: "address" },
    { name: "amount", type: "uint256" },
    { name: "fee", type: "uint256" },
    { name: "nonce", type: "uint256" },
    { name: "validAfter", type: "uint64" },
    { name: "validBefore", type: "uint64" },
    { name: "ref", type: "bytes32" },
  ],
} as const;

export interface Payment {
  from: Address;
  to: Address;
  token: Address;
  amount: bigint;
  fee: bigint;
  nonce: bigint;
  validAfter: bigint;
  validBefore: bigint;
  ref: Hex;
}

/** The failure reasons of `PaymentFailed`, numbered as in `ISettlementHub.FailureReason`. */
export const FailureReason = {
  None: 0,
  InvalidRecipient: 1,
  NotYetValid: 2,
  Expired: 3,
  BadSignature: 4,
  NonceUsed: 5,
  InsufficientBalance: 6,
  BalanceTooLarge: 7,
} as const;

interface DomainSource {
  read: { eip712Domain: () => Promise<readonly [Hex, string, string, bigint, Address, Hex, readonly bigint[]]> };
}

/** The hub's EIP-712 domain, read from the contract (ERC-5267) as a client would. */
export async function readDomain(hub: DomainSource): Promise<TypedDataDomain> {
  const [, name, version, chainId, verifyingContract] = await hub.read.eip712Domain();
  return { name, version, chainId, verifyingContract };
}

/** Anything that signs EIP-712 typed data with viem: a local account or a wallet client. */
export interface TypedDataSigner {
  signTypedData(parameters: {
    domain: TypedDataDomain;
    types: typeof paymentTypes;
    primaryType: "Payment";
    message: Payment;
  }): Promise<Hex>;
}

/** Signs `payment` for `domain` with viem's `signTypedData`. */
export function signPayment(signer: TypedDataSigner, domain: TypedDataDomain, payment: Payment): Promise<Hex> {
  return signer.signTypedData({ domain, types: paymentTypes, primaryType: "Payment", message: payment });
}

/** The EIP-712 digest of `payment` for `domain`, computed off-chain. */
export function hashPayment(domain: TypedDataDomain, payment: Payment): Hex {
  return hashTypedData({ domain, types: paymentTypes, primaryType: "Payment", message: payment });
}

/** A deterministic local account (private key derived from `name`) that needs no native funds. */
export function localAccount(name: string): LocalAccount {
  return privateKeyToAccount(keccak256(stringToHex(`settlekit test ${name}`)));
}

/** A payment with defaults: valid from the epoch until `validBefore`, no fee, no reference. */
export function payment(fields: Pick<Payment, "from" | "to" | "token" | "amount" | "validBefore"> & Partial<Payment>) {
  return { fee: 0n, nonce: 0n, validAfter: 0n, ref: zeroHash, ...fields } satisfies Payment;
}
