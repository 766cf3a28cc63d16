import type { FastifyInstance } from "fastify";
import type { z } from "zod/v4";
import { RelayerError } from "../errors.js";
import type { PaymentIntake } from "../intake/payments.js";
import type { IntentRecord, Store } from "../store/store.js";
import type { RouteDoc } from "./route.js";
import { route } from "./route.js";
import { digestParams, paymentStatusResponse, submitPaymentRequest, submitPaymentResponse } from "./schemas.js";

/** The wire form of a stored intent. */
export function paymentStatus(intent: IntentRecord): z.input<typeof paymentStatusResponse> {
  const p = intent.payment;
  return {
    digest: intent.digest,
    status: intent.status,
    payment: {
      from: p.from,
      to: p.to,
      token: p.token,
      amount: p.amount.toString(),
      fee: p.fee.toString(),
      nonce: p.nonce.toString(),
      validAfter: p.validAfter.toString(),
      validBefore: p.validBefore.toString(),
      ref: p.ref,
    },
    txHash: intent.txHash,
    blockNumber: intent.blockNumber?.toString() ?? null,
    failureReason: intent.failureReason,
    acceptedAt: intent.acceptedAt.toISOString(),
    updatedAt: intent.updatedAt.toISOString(),
  };
}

/** `POST /v1/payments`, `GET /v1/payments/{digest}`. */
export function paymentRoutes(
  app: FastifyInstance,
  docs: RouteDoc[],
  deps: { intake?: PaymentIntake; store: Store; observeAccept: (seconds: number) => void },
): void {
  route(
    app,
    docs,
    {
      method: "POST",
      path: "/v1/payments",
      summary: "Submit a signed payment intent; accepted intents are settled in batches",
      tags: ["payments"],
      body: submitPaymentRequest,
      success: { status: 202, schema: submitPaymentResponse },
      errors: [
        "invalid_signature",
        "not_yet_valid",
        "expired",
        "nonce_used",
        "nonce_conflict",
        "insufficient_balance",
        "invalid_amount",
        "not_configured",
        "paused",
        "chain_unavailable",
        "store_unavailable",
        "shutting_down",
      ],
    },
    async ({ body }) => {
      if (deps.intake === undefined) throw new RelayerError("not_configured", "no SettlementHub is configured");
      const started = performance.now();
      const accepted = await deps.intake.submit(body.payment, body.signature);
      deps.observeAccept((performance.now() - started) / 1000);
      return { digest: accepted.digest, status: accepted.status };
    },
  );

  route(
    app,
    docs,
    {
      method: "GET",
      path: "/v1/payments/{digest}",
      summary: "Status of a payment intent, with its transaction, block and failure reason",
      tags: ["payments"],
      params: digestParams,
      success: { status: 200, schema: paymentStatusResponse },
      errors: ["not_found"],
    },
    async ({ params }) => {
      const intent = await deps.store.getIntent(params.digest);
      if (intent === null) throw new RelayerError("not_found", `no payment intent ${params.digest}`);
      return paymentStatus(intent);
    },
  );
}
