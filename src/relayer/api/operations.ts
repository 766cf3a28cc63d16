import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { RelayerError } from "../errors.js";
import type { Gate } from "../intake/gate.js";
import type { RelayerMetrics } from "../metrics.js";
import type { RouteDoc } from "./route.js";
import { route } from "./route.js";
import { adminResponse, type HealthResponse, healthResponse } from "./schemas.js";

const sha256 = (text: string) => createHash("sha256").update(text).digest();

/** `GET /healthz`, `GET /metrics`, `POST /v1/admin/pause`, `POST /v1/admin/resume`. */
export function operationRoutes(
  app: FastifyInstance,
  docs: RouteDoc[],
  deps: { gate: Gate; metrics: RelayerMetrics; health: () => Promise<HealthResponse>; adminToken?: string },
): void {
  route(
    app,
    docs,
    {
      method: "GET",
      path: "/healthz",
      summary:
        "Liveness and readiness: 200 when the store and the chain answer and the node takes the relayer's transactions, 503 otherwise",
      tags: ["operations"],
      success: { status: 200, schema: healthResponse },
      otherwise: {
        status: 503,
        description: "degraded: a check failed (`checks` says which); the same body",
        schema: healthResponse,
      },
      errors: [],
      rateLimit: false,
    },
    async (_input, _request, reply) => {
      const health = await deps.health();
      if (health.status !== "ok") reply.code(503);
      return health;
    },
  );
  route(
    app,
    docs,
    {
      method: "GET",
      path: "/metrics",
      summary: "Prometheus metrics",
      tags: ["operations"],
      success: { status: 200, contentType: "text/plain" },
      errors: [],
      rateLimit: false,
    },
    async (_input, _request, reply) => {
      reply.type(deps.metrics.registry.contentType);
      return deps.metrics.registry.metrics();
    },
  );

  const expected = deps.adminToken === undefined ? undefined : sha256(deps.adminToken);
  const authorize = (request: FastifyRequest) => {
    const header = request.headers.authorization ?? "";
    const token = header.startsWith("Bearer ") ? header.slice(7) : "";
    if (expected === undefined || !timingSafeEqual(sha256(token), expected)) {
      throw new RelayerError("unauthorized", "admin endpoints need `Authorization: Bearer <admin token>`");
    }
  };
  for (const [action, paused] of [
    ["pause", true],
    ["resume", false],
  ] as const) {
    route(
      app,
      docs,
      {
        method: "POST",
        path: `/v1/admin/${action}`,
        summary: paused
          ? "Stop accepting new intents, releases and vouchers and stop forming batches (in-flight transactions are still followed)"
          : "Accept and batch again",
        tags: ["admin"],
        success: { status: 200, schema: adminResponse },
        errors: ["unauthorized"],
        auth: "bearer",
      },
      async (_input, request) => {
        authorize(request);
        deps.gate.paused = paused;
        deps.metrics.paused.set(paused ? 1 : 0);
        request.log.warn({ paused }, `relayer ${action}d by an operator`);
        return { paused };
      },
    );
  }
}
