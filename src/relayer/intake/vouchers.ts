import type { Logger } from "pino";
import type { Hex } from "viem";
import type {
  ChannelsPort,
  ChannelView,
  DeploymentDomain,
  SignatureVerifier,
  SigningPort,
  Voucher,
} from "../chain/ports.js";
import { RelayerError } from "../errors.js";
import type { Store, VoucherRecord } from "../store/store.js";
import type { Gate } from "./gate.js";

/**
 * Keeps the latest voucher of each channel for watchtower duty (and claims it on request).
 * Checked before it is kept: the channel is open, the signature is the channel signer's (ECDSA,
 * or ERC-1271 through a call), and the cumulative amount is within the deposit and above
 * what is claimed on-chain. A voucher below the kept one is answered with the kept one.
 */
export class VoucherIntake {
  readonly domain: DeploymentDomain;

  constructor(
    private readonly o: {
      channels: ChannelsPort;
      chainId: number;
      signing: SigningPort;
      verifier: SignatureVerifier;
      store: Store;
      gate: Gate;
      logger: Logger;
    },
  ) {
    this.domain = { chainId: o.chainId, verifyingContract: o.channels.address };
  }

  async submit(voucher: Voucher, signature: Hex, claim: boolean): Promise<VoucherRecord> {
    this.o.gate.check();
    let channel: ChannelView | null;
    try {
      channel = await this.o.channels.getChannel(voucher.channelId);
    } catch (error) {
      this.o.logger.warn({ err: error, channelId: voucher.channelId }, "channel read failed");
      throw new RelayerError("chain_unavailable", "the channel could not be read; retry later");
    }
    if (channel === null || !channel.open)
      throw new RelayerError("unknown_channel", `no open channel ${voucher.channelId}`);
    const digest = this.o.signing.hashVoucher({ domain: this.domain, voucher });
    const signer = this.o.signing.recoverDigestSigner(digest, signature);
    if (signer === null || signer.toLowerCase() !== channel.signer.toLowerCase()) {
      let valid: boolean;
      try {
        valid = await this.o.verifier.verifyVoucher({
          domain: this.domain,
          voucher,
          signer: channel.signer,
          signature,
        });
      } catch (error) {
        this.o.logger.warn({ err: error, channelId: voucher.channelId }, "ERC-1271 check failed");
        throw new RelayerError(
          "chain_unavailable",
          "the signer's contract signature could not be checked; retry later",
        );
      }
      if (!valid) throw new RelayerError("invalid_signature", `not signed by the channel's signer ${channel.signer}`);
    }
    if (voucher.cumulativeAmount > channel.deposit) {
      throw new RelayerError(
        "voucher_exceeds_deposit",
        `cumulative ${voucher.cumulativeAmount} exceeds the deposit ${channel.deposit}`,
      );
    }
    if (voucher.cumulativeAmount <= channel.claimed) {
      throw new RelayerError(
        "voucher_not_newer",
        `cumulative ${voucher.cumulativeAmount} ≤ claimed ${channel.claimed}`,
      );
    }
    let kept: VoucherRecord;
    try {
      kept = await this.o.store.upsertVoucher({
        channels: this.o.channels.address,
        channelId: voucher.channelId,
        cumulativeAmount: voucher.cumulativeAmount,
        signature,
        claim,
      });
    } catch (error) {
      this.o.logger.error({ err: error, channelId: voucher.channelId }, "store write failed");
      throw new RelayerError("store_unavailable", "the voucher could not be stored; retry later");
    }
    this.o.logger.debug(
      { channelId: voucher.channelId, cumulativeAmount: kept.cumulativeAmount.toString(), claim },
      "voucher kept",
    );
    return kept;
  }
}
