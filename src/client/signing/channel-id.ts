import type { Address, Hex } from "viem";
import { bytesToHex, writeAddress, writeBytes32 } from "./bytes.js";
import { keccak256Bytes } from "./keccak.js";

/**
 * Parameters of {@link channelIdOf}.
 *
 * @example
 * ```ts
 * import { channelIdOf, type ChannelIdOfParameters } from "settlekit";
 *
 * const parameters: ChannelIdOfParameters = { payer, payee, token: zeroAddress, salt: zeroHash };
 * const channelId = channelIdOf(parameters);
 * ```
 */
export interface ChannelIdOfParameters {
  payer: Address;
  payee: Address;
  /** `0x0000000000000000000000000000000000000000` for the native currency. */
  token: Address;
  /** Any 32 bytes chosen by the payer; a new salt gives a new channel between the same parties. */
  salt: Hex;
}
/**
 * Return type of {@link channelIdOf}.
 *
 * @example
 * ```ts
 * import { channelIdOf, type ChannelIdOfReturnType } from "settlekit";
 *
 * const channelId: ChannelIdOfReturnType = channelIdOf({ payer, payee, token, salt });
 * ```
 */
export type ChannelIdOfReturnType = Hex;

/**
 * The id a channel will have, known before it is opened:
 * `keccak256(abi.encode(payer, payee, token, salt))`, as `PaymentChannels.channelIdOf`.
 *
 * @throws {SettlekitInvalidInputError} when an address or the salt is malformed.
 * @example
 * ```ts
 * import { channelIdOf } from "settlekit";
 * import { zeroAddress, zeroHash } from "viem";
 *
 * const channelId = channelIdOf({ payer, payee, token: zeroAddress, salt: zeroHash });
 * ```
 */
export function channelIdOf({ payer, payee, token, salt }: ChannelIdOfParameters): ChannelIdOfReturnType {
  const encoded = new Uint8Array(128);
  writeAddress(encoded, 0, payer, "payer");
  writeAddress(encoded, 32, payee, "payee");
  writeAddress(encoded, 64, token, "token");
  writeBytes32(encoded, 96, salt, "salt");
  return bytesToHex(keccak256Bytes(encoded));
}
