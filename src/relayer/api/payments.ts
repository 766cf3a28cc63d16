import type { FastifyInstance } from "fastify";
import type { z } from "zod/v4";
import { RelayerError } from "../errors.js";
import type { PaymentIntake } from "../intake/payments.js";
import type { IntentRecord, Store } from "../store/store.js";
import type { RouteDoc } from "./route.js";
import { readStore, route } from "./route.js";
import {
  digestParams,
  MAX_PAYMENTS_PER_BATCH,
  paymentStatusResponse,
  type SubmitPaymentsResponse,
  submitPaymentRequest,
  submitPaymentResponse,
  submitPaymentsRequest,
  submitPaymentsResponse,
} from "./schemas.js";

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

const INTAKE_ERRORS = [
  "invalid_signature",
  "not_yet_valid",
  "expired",
  "nonce_used",
  "nonce_conflict",
  "insufficient_balance",
  "invalid_amount",
  "fee_too_low",
  "invalid_recipient",
  "chain_unavailable",
  "store_unavailable",
] as const;

/** `POST /v1/payments`, `POST /v1/payments/batch`, `GET /v1/payments/{digest}`. */
export function paymentRoutes(
  app: FastifyInstance,
  docs: RouteDoc[],
  deps: {
    intake?: PaymentIntake;
    store: Store;
    batchBodyLimit: number;
    observeAccept: (seconds: number) => void;
    observeRejected: (code: string) => void;
  },
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
      errors: [...INTAKE_ERRORS, "not_configured", "paused", "shutting_down"],
    },
    async ({ body }) => {
      if (deps.intake === undefined) throw new RelayerError("not_configured", "no SettlementHub is configured");
      const started = performance.now();
      const accepted = await deps.intake.submit(body.payment, body.signature);
      deps.observeAccept((performance.now() - started) / 1000);
      return { digest: accepted.digest, status: accepted.status };
    },
  );

  // Each intent of a batch counts as one request against the client's rate limit (the route's
  // own hook has counted the first).
  const countRequest = app.createRateLimit();
  route(
    app,
    docs,
    {
      method: "POST",
      path: "/v1/payments/batch",
      summary: `Submit 1 to ${MAX_PAYMENTS_PER_BATCH} signed payment intents in one request; each is checked and accepted on its own`,
      tags: ["payments"],
      body: submitPaymentsRequest,
      bodyLimit: deps.batchBodyLimit,
      success: { status: 200, schema: submitPaymentsResponse },
      errors: ["not_configured", "paused", "shutting_down", "rate_limited"],
    },
    async ({ body }, request, reply) => {
      const intake = deps.intake;
      if (intake === undefined) throw new RelayerError("not_configured", "no SettlementHub is configured");
      intake.checkOpen();
      for (let i = 1; i < body.items.length; i++) {
        const limit = await countRequest(request);
        if (!limit.isAllowed && limit.isExceeded) {
          // As the plugin's own refusals: when the client's window ends.
          reply.header("retry-after", String(limit.ttlInSeconds));
          throw new RelayerError(
            "rate_limited",
            `a batch of ${body.items.length} counts as ${body.items.length} requests: more than ${limit.max} in ${limit.timeWindow} ms; slow down`,
          );
        }
      }
      const started = performance.now();
      const results = await Promise.all(
        body.items.map(async (item): Promise<SubmitPaymentsResponse["results"][number]> => {
          try {
            const accepted = await intake.submit(item.payment, item.signature);
            deps.observeAccept((performance.now() - started) / 1000);
            return { accepted: true, digest: accepted.digest, status: accepted.status };
          } catch (error) {
            if (!(error instanceof RelayerError)) {
              request.log.error({ err: error }, "batch item failed");
              deps.observeRejected("internal_error");
              return {
                accepted: false,
                code: "internal_error",
                message: "internal error; this intent was not accepted",
              };
            }
            deps.observeRejected(error.code);
            return { accepted: false, code: error.code, message: error.message };
          }
        }),
      );
      return { results };
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
      errors: ["not_found", "store_unavailable"],
    },
    async ({ params }, request) => {
      const intent = await readStore(request, () => deps.store.getIntent(params.digest));
      if (intent === null) throw new RelayerError("not_found", `no payment intent ${params.digest}`);
      return paymentStatus(intent);
    },
  );
}
