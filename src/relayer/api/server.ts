import rateLimit from "@fastify/rate-limit";
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, LogController } from "fastify";
import type { Logger } from "pino";
import type { Address } from "viem";
import { ERROR_CODES, type ErrorCode, RelayerError } from "../errors.js";
import type { Gate } from "../intake/gate.js";
import type { PaymentIntake } from "../intake/payments.js";
import type { ReleaseIntake } from "../intake/releases.js";
import type { VoucherIntake } from "../intake/vouchers.js";
import type { RelayerMetrics } from "../metrics.js";
import type { Store } from "../store/store.js";
import { escrowRoutes } from "./escrows.js";
import { openApiRoute } from "./openapi.js";
import { operationRoutes } from "./operations.js";
import { paymentRoutes } from "./payments.js";
import type { RouteDoc } from "./route.js";
import type { HealthResponse, StatusBody } from "./schemas.js";
import { statusRoutes } from "./status.js";
import { voucherRoutes } from "./vouchers.js";

export interface ApiOptions {
  payments?: PaymentIntake;
  releases?: ReleaseIntake;
  vouchers?: VoucherIntake;
  channels?: Address;
  store: Store;
  gate: Gate;
  metrics: RelayerMetrics;
  logger: Logger;
  health: () => Promise<HealthResponse>;
  /** The status page's figures (`GET /v1/status`, `GET /`). */
  status: () => Promise<StatusBody>;
  adminToken?: string;
  bodyLimit: number;
  /** Largest body of `POST /v1/payments/batch`. */
  batchBodyLimit: number;
  rateLimit: { max: number; windowMs: number };
  version: string;
}

/** Maps fastify's own errors (parsing, limits) to the API's codes. */
function codeOf(error: FastifyError): ErrorCode {
  switch (error.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return "body_too_large";
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return "unsupported_media_type";
    case "FST_ERR_CTP_INVALID_JSON_BODY":
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return "invalid_json";
  }
  if (error instanceof SyntaxError || error.statusCode === 400) return "invalid_json";
  if (error.statusCode === 413) return "body_too_large";
  if (error.statusCode === 415) return "unsupported_media_type";
  if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) return "invalid_request";
  return "internal_error";
}

/**
 * The relayer's HTTP API (fastify): routes per group, JSON bodies up to `bodyLimit`, a rate
 * limit per client IP, and one error shape — `{ code, message }` with the code's status —
 * for every rejection, whether it comes from validation, fastify itself or the rate limiter.
 */
export async function buildServer(o: ApiOptions): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({
    loggerInstance: o.logger as FastifyBaseLogger,
    // Request lines would dominate the logs at thousands of intents a second: off.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: o.bodyLimit,
    trustProxy: false,
    // While closing, requests still on open connections go through the routes, where the gate
    // (closed first) refuses new work with 503 shutting_down: fastify's own 503 has no `code`.
    return503OnClosing: false,
  });
  const docs: RouteDoc[] = [];
  // JSON only: a text body is refused with 415 rather than parsed as a string.
  app.removeContentTypeParser("text/plain");

  await app.register(rateLimit, {
    global: true,
    max: o.rateLimit.max,
    timeWindow: o.rateLimit.windowMs,
    // The plugin's own key: the client's address, IPv4-mapped IPv6 as IPv4, and IPv6 by its /64
    // (a client holds a whole /64: keyed by address, it would get a fresh limit per address).
    errorResponseBuilder: (_request, context) =>
      new RelayerError("rate_limited", `more than ${context.max} requests in ${context.after}; slow down`),
  });

  app.setErrorHandler((error: FastifyError | RelayerError, request, reply) => {
    const relayerError =
      error instanceof RelayerError
        ? error
        : new RelayerError(codeOf(error as FastifyError), (error as Error).message.slice(0, 500));
    if (relayerError.code === "internal_error") {
      request.log.error({ err: error, url: request.url }, "request failed");
      relayerError.message = "internal error; nothing was accepted";
    }
    o.metrics.rejected.inc({ code: relayerError.code });
    const body: Record<string, unknown> = { code: relayerError.code, message: relayerError.message };
    if (relayerError.code === "invalid_request" && Array.isArray(relayerError.details))
      body.issues = relayerError.details;
    reply.code(ERROR_CODES[relayerError.code].status).send(body);
  });

  app.setNotFoundHandler((request, reply) => {
    o.metrics.rejected.inc({ code: "not_found" });
    reply.code(404).send({ code: "not_found", message: `no route ${request.method} ${request.url}` });
  });

  paymentRoutes(app, docs, {
    intake: o.payments,
    store: o.store,
    batchBodyLimit: o.batchBodyLimit,
    observeAccept: (seconds) => o.metrics.acceptLatency.observe(seconds),
    observeRejected: (code) => o.metrics.rejected.inc({ code }),
  });
  escrowRoutes(app, docs, { intake: o.releases, store: o.store });
  voucherRoutes(app, docs, { intake: o.vouchers, channels: o.channels, store: o.store });
  operationRoutes(app, docs, { gate: o.gate, metrics: o.metrics, health: o.health, adminToken: o.adminToken });
  statusRoutes(app, docs, { status: o.status });
  openApiRoute(app, docs, { version: o.version });
  return app;
}
