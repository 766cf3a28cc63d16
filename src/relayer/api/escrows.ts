import type { FastifyInstance } from "fastify";
import type { z } from "zod/v4";
import { RelayerError } from "../errors.js";
import type { ReleaseIntake } from "../intake/releases.js";
import type { ReleaseRecord, Store } from "../store/store.js";
import type { RouteDoc } from "./route.js";
import { readStore, route } from "./route.js";
import { digestParams, releaseStatusResponse, submitReleaseRequest } from "./schemas.js";

function releaseStatus(release: ReleaseRecord): z.input<typeof releaseStatusResponse> {
  return {
    digest: release.digest,
    status: release.status,
    id: release.id.toString(),
    releasedTotal: release.releasedTotal.toString(),
    deadline: release.deadline.toString(),
    txHash: release.txHash,
    blockNumber: release.blockNumber?.toString() ?? null,
    failureReason: release.failureReason,
  };
}

/** `POST /v1/escrows/releases`, `GET /v1/escrows/releases/{digest}`. */
export function escrowRoutes(
  app: FastifyInstance,
  docs: RouteDoc[],
  deps: { intake?: ReleaseIntake; store: Store },
): void {
  route(
    app,
    docs,
    {
      method: "POST",
      path: "/v1/escrows/releases",
      summary: "Submit a payer's signed release authorisation; the relayer sends releaseWithSig",
      tags: ["escrows"],
      body: submitReleaseRequest,
      success: { status: 202, schema: releaseStatusResponse },
      errors: [
        "invalid_signature",
        "expired",
        "unknown_escrow",
        "nothing_to_release",
        "not_configured",
        "paused",
        "chain_unavailable",
        "shutting_down",
      ],
    },
    async ({ body }) => {
      if (deps.intake === undefined) throw new RelayerError("not_configured", "no Escrow is configured");
      const { signature, ...release } = body;
      return releaseStatus(await deps.intake.submit(release, signature));
    },
  );

  route(
    app,
    docs,
    {
      method: "GET",
      path: "/v1/escrows/releases/{digest}",
      summary: "Status of a relayed release",
      tags: ["escrows"],
      params: digestParams,
      success: { status: 200, schema: releaseStatusResponse },
      errors: ["not_found", "store_unavailable"],
    },
    async ({ params }, request) => {
      const release = await readStore(request, () => deps.store.getRelease(params.digest));
      if (release === null) throw new RelayerError("not_found", `no release ${params.digest}`);
      return releaseStatus(release);
    },
  );
}
