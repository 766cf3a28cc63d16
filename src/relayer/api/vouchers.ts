import type { FastifyInstance } from "fastify";
import type { Address } from "viem";
import type { z } from "zod/v4";
import { RelayerError } from "../errors.js";
import type { VoucherIntake } from "../intake/vouchers.js";
import type { Store, VoucherRecord } from "../store/store.js";
import type { RouteDoc } from "./route.js";
import { readStore, route } from "./route.js";
import { channelParams, submitVoucherRequest, voucherResponse } from "./schemas.js";

function voucherState(voucher: VoucherRecord): z.input<typeof voucherResponse> {
  return {
    channelId: voucher.channelId,
    cumulativeAmount: voucher.cumulativeAmount.toString(),
    claimedAmount: voucher.claimedAmount.toString(),
    claimRequested: voucher.claimRequested,
  };
}

/** `POST /v1/vouchers`, `GET /v1/vouchers/{channelId}`. */
export function voucherRoutes(
  app: FastifyInstance,
  docs: RouteDoc[],
  deps: { intake?: VoucherIntake; channels?: Address; store: Store },
): void {
  route(
    app,
    docs,
    {
      method: "POST",
      path: "/v1/vouchers",
      summary: "Submit a channel voucher; the latest is kept for watchtower duty and claimed on request",
      tags: ["vouchers"],
      body: submitVoucherRequest,
      success: { status: 202, schema: voucherResponse },
      errors: [
        "invalid_signature",
        "unknown_channel",
        "voucher_exceeds_deposit",
        "voucher_not_newer",
        "not_configured",
        "paused",
        "chain_unavailable",
        "shutting_down",
      ],
    },
    async ({ body }) => {
      if (deps.intake === undefined) throw new RelayerError("not_configured", "no PaymentChannels is configured");
      const { signature, claim, ...voucher } = body;
      return voucherState(await deps.intake.submit(voucher, signature, claim));
    },
  );

  route(
    app,
    docs,
    {
      method: "GET",
      path: "/v1/vouchers/{channelId}",
      summary: "The latest voucher kept for a channel",
      tags: ["vouchers"],
      params: channelParams,
      success: { status: 200, schema: voucherResponse },
      errors: ["not_found", "store_unavailable"],
    },
    async ({ params }, request) => {
      const channels = deps.channels;
      const voucher =
        channels === undefined
          ? null
          : await readStore(request, () => deps.store.getVoucher(channels, params.channelId));
      if (voucher === null) throw new RelayerError("not_found", `no voucher for channel ${params.channelId}`);
      return voucherState(voucher);
    },
  );
}
