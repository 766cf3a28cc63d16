import type { FastifyInstance } from "fastify";
import { z } from "zod/v4";
import { ERROR_CODES } from "../errors.js";
import type { RouteDoc } from "./route.js";
import { route } from "./route.js";
import { apiDocs, errorResponse } from "./schemas.js";

type JsonSchema = Record<string, unknown>;

/** A schema as an OpenAPI 3.1 schema object: a `$ref` to its component when it has an id. */
function schemaObject(schema: z.ZodType): JsonSchema {
  const id = apiDocs.get(schema)?.id;
  if (id !== undefined) return { $ref: `#/components/schemas/${id}` };
  return clean(z.toJSONSchema(schema, { io: "input", unrepresentable: "any", metadata: apiDocs }) as JsonSchema);
}

function clean(json: JsonSchema): JsonSchema {
  const { $schema: _s, $id: _i, id: _d, ...rest } = json;
  return rest;
}

/**
 * The OpenAPI 3.1 document of every route registered so far, generated from their zod
 * schemas (request bodies, path parameters, answers) and the error-code table.
 */
export function openApiDocument(docs: readonly RouteDoc[], info: { version: string }): JsonSchema {
  const components = z.toJSONSchema(apiDocs, {
    io: "input",
    metadata: apiDocs,
    unrepresentable: "any",
    uri: (id) => `#/components/schemas/${id}`,
  }) as { schemas: Record<string, JsonSchema> };
  const paths: Record<string, Record<string, unknown>> = {};
  for (const doc of docs) {
    const parameters =
      doc.params === undefined
        ? []
        : Object.entries((schemaObject(doc.params).properties ?? {}) as Record<string, JsonSchema>).map(
            ([name, schema]) => ({ name, in: "path", required: true, schema }),
          );
    // The generic rejections: a malformed request, the rate limit (unless exempt), the body's
    // transport (size, content type, JSON), an unexpected failure.
    const generic = [
      "invalid_request",
      ...(doc.rateLimit === false ? [] : ["rate_limited"]),
      ...(doc.body ? ["invalid_json", "body_too_large", "unsupported_media_type"] : []),
      "internal_error",
    ];
    const codes = [...new Set([...generic, ...doc.errors])];
    const byStatus = new Map<number, string[]>();
    for (const code of codes) {
      const status = ERROR_CODES[code as keyof typeof ERROR_CODES].status;
      byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
    }
    const responses: Record<string, unknown> = {
      [doc.success.status]: {
        description: "success",
        ...(doc.success.schema
          ? { content: { "application/json": { schema: schemaObject(doc.success.schema) } } }
          : {
              content: {
                [doc.success.contentType ?? "text/plain"]: {
                  schema: { type: doc.success.contentType === "application/json" ? "object" : "string" },
                },
              },
            }),
      },
      ...(doc.otherwise
        ? {
            [doc.otherwise.status]: {
              description: doc.otherwise.description,
              content: { "application/json": { schema: schemaObject(doc.otherwise.schema) } },
            },
          }
        : {}),
    };
    for (const [status, list] of [...byStatus].sort(([a], [b]) => a - b)) {
      responses[status] = {
        description: list.map((code) => `\`${code}\`: ${ERROR_CODES[code as keyof typeof ERROR_CODES].doc}`).join("\n"),
        content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
      };
    }
    paths[doc.path] = {
      ...paths[doc.path],
      [doc.method.toLowerCase()]: {
        summary: doc.summary,
        tags: doc.tags,
        ...(parameters.length > 0 ? { parameters } : {}),
        ...(doc.body
          ? { requestBody: { required: true, content: { "application/json": { schema: schemaObject(doc.body) } } } }
          : {}),
        responses,
        ...(doc.auth === "bearer" ? { security: [{ adminToken: [] }] } : {}),
      },
    };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "settlekit relayer",
      version: info.version,
      description:
        "Accepts signed payment intents, escrow release authorisations and channel vouchers, and settles them on-chain. Integers are decimal strings. Every rejection is `{ code, message }` with a stable code.",
    },
    paths,
    components: {
      schemas: Object.fromEntries(Object.entries(components.schemas).map(([id, schema]) => [id, clean(schema)])),
      securitySchemes: { adminToken: { type: "http", scheme: "bearer" } },
    },
  };
}

/** `GET /openapi.json`; the document is built once, after every other route is registered. */
export function openApiRoute(app: FastifyInstance, docs: RouteDoc[], info: { version: string }): void {
  let document: JsonSchema | undefined;
  route(
    app,
    docs,
    {
      method: "GET",
      path: "/openapi.json",
      summary: "This API's OpenAPI 3.1 document",
      tags: ["operations"],
      success: { status: 200, contentType: "application/json" },
      errors: [],
      rateLimit: false,
    },
    async () => {
      document ??= openApiDocument(docs, info);
      return document;
    },
  );
  void errorResponse; // registered in `apiDocs` as the `Error` component
}
