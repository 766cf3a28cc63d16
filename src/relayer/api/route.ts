import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { z } from "zod/v4";
import { RelayerError } from "../errors.js";

/** What the OpenAPI document says about one route. */
export interface RouteDoc {
  method: "GET" | "POST";
  path: string;
  summary: string;
  tags: string[];
  body?: z.ZodType;
  params?: z.ZodType;
  /** Success status and schema (none: a body described by its content type only, e.g. metrics). */
  success: { status: number; schema?: z.ZodType; contentType?: string };
  /** Another answer that is not a rejection (e.g. `/healthz`'s 503 with the same body). */
  otherwise?: { status: number; description: string; schema: z.ZodType };
  /** Rejection codes this route can answer with (besides the generic ones). */
  errors: readonly string[];
  auth?: "bearer";
  /** false: exempt from the per-client rate limit. */
  rateLimit?: boolean;
}

/** Turns a zod failure into the API's `invalid_request` rejection, with every issue listed. */
export function parseOrReject<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((issue) => ({
    path: [where, ...issue.path.map(String)].join("."),
    message: issue.message,
  }));
  throw new RelayerError(
    "invalid_request",
    `invalid ${where}: ${issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`.slice(0, 1_000),
    issues.slice(0, 20),
  );
}

/**
 * Registers a route and records its documentation. The handler gets the parsed body and
 * params (parsed with the route's zod schemas) and returns the success body.
 */
export function route<Body extends z.ZodType | undefined, Params extends z.ZodType | undefined>(
  app: FastifyInstance,
  docs: RouteDoc[],
  doc: RouteDoc & { body?: Body; params?: Params; bodyLimit?: number },
  handler: (
    input: {
      body: Body extends z.ZodType ? z.output<Body> : undefined;
      params: Params extends z.ZodType ? z.output<Params> : undefined;
    },
    request: FastifyRequest,
    reply: FastifyReply,
  ) => Promise<unknown>,
): void {
  docs.push(doc);
  app.route({
    method: doc.method,
    url: doc.path.replace(/\{(\w+)\}/g, ":$1"),
    ...(doc.rateLimit === false ? { config: { rateLimit: false } } : {}),
    ...(doc.bodyLimit === undefined ? {} : { bodyLimit: doc.bodyLimit }),
    handler: async (request, reply) => {
      const body = (doc.body ? parseOrReject(doc.body, request.body, "body") : undefined) as never;
      const params = (doc.params ? parseOrReject(doc.params, request.params, "params") : undefined) as never;
      reply.code(doc.success.status); // the handler may still answer otherwise (e.g. 503)
      return handler({ body, params }, request, reply);
    },
  });
}

/**
 * A store read behind a route's answer: a store that fails is answered 503 `store_unavailable`
 * (retry later), a documented rejection, not 500 `internal_error`; the cause goes to the log.
 */
export async function readStore<T>(request: FastifyRequest, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    request.log.error({ err: error }, "store read failed");
    throw new RelayerError("store_unavailable", "the store could not be read; retry later");
  }
}
