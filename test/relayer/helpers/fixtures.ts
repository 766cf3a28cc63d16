import { randomBytes } from "node:crypto";
import { type Address, getAddress, type Hex, toHex } from "viem";
import type { ChannelView, EscrowView, Payment } from "../../../src/relayer/chain/ports.js";

export const HUB: Address = getAddress("0x00000000000000000000000000000000000a11ce");
export const TOKEN: Address = getAddress("0x000000000000000000000000000000000000700e");
export const OTHER_TOKEN: Address = getAddress("0x0000000000000000000000000000000000007002");

export function randomAddress(): Address {
  return getAddress(toHex(randomBytes(20)));
}

export function randomDigest(): Hex {
  return toHex(randomBytes(32));
}

let nextNonce = 1n;

/** A payment with sensible defaults (valid for an hour, 1,000 units plus a fee of 10). */
export function payment(overrides: Partial<Payment> = {}): Payment {
  const now = BigInt(Math.floor(Date.now() / 1000));
  return {
    from: randomAddress(),
    to: randomAddress(),
    token: TOKEN,
    amount: 1_000n,
    fee: 10n,
    nonce: nextNonce++,
    validAfter: 0n,
    validBefore: now + 3_600n,
    ref: toHex(0n, { size: 32 }),
    ...overrides,
  };
}

/** A fixed chain time for the fake contracts' views (unix seconds). */
export const T0 = 1_700_000_000n;

/** An active escrow's view, due at `T0 + 100`. */
export function escrowView(overrides: Partial<EscrowView> = {}): EscrowView {
  return {
    payer: randomAddress(),
    payee: randomAddress(),
    token: randomAddress(),
    remaining: 1_000n,
    released: 0n,
    deadline: T0 + 100n,
    disputedAt: 0n,
    state: "active",
    ...overrides,
  };
}

/** An open channel's view, funded with 1,000 and nothing claimed. */
export function channelView(overrides: Partial<ChannelView> = {}): ChannelView {
  return {
    payer: randomAddress(),
    payee: randomAddress(),
    token: randomAddress(),
    signer: randomAddress(),
    deposit: 1_000n,
    claimed: 0n,
    closesAt: 0n,
    open: true,
    ...overrides,
  };
}
