import type { Hex } from "viem";
import type { z } from "zod/v4";
import {
  adminResponse,
  type ErrorResponse,
  errorResponse,
  type HealthResponse,
  healthResponse,
  type PaymentStatusResponse,
  paymentStatusResponse,
  type ReleaseStatusResponse,
  releaseStatusResponse,
  type StatusResponse,
  type SubmitPaymentResponse,
  type SubmitPaymentsResponse,
  statusResponse,
  submitPaymentResponse,
  submitPaymentsResponse,
  type VoucherResponse,
  voucherResponse,
} from "../relayer/api/schemas.js";
import { SettlekitError } from "./errors.js";
import type { Payment, Release, Voucher } from "./signing/types.js";

export type {
  HealthResponse,
  PaymentStatusResponse,
  ReleaseStatusResponse,
  StatusResponse,
  SubmitPaymentResponse,
  SubmitPaymentsResponse,
  VoucherResponse,
} from "../relayer/api/schemas.js";

/**
 * The relayer refused a request (`code` is one of the relayer's stable error codes, `status`
 * the HTTP status), or it could not be reached or did not answer in time (`code`
 * "network_error"), or answered something that is not its API (`code` "bad_response"), or
 * {@link RelayerClient.waitForPayment} gave up on an intent still short of the wanted status
 * (`code` "timeout": nothing failed, the intent may still settle). The last three are the
 * client's own codes, with `status` 0 except for "bad_response".
 *
 * @example
 * ```ts
 * import { createRelayerClient, RelayerRequestError } from "settlekit";
 *
 * try {
 *   await createRelayerClient({ url: "http://127.0.0.1:8080" }).submitPayment({ payment, signature });
 * } catch (error) {
 *   if (error instanceof RelayerRequestError && error.code === "insufficient_balance") console.error("deposit first");
 * }
 * ```
 */
export class RelayerRequestError extends SettlekitError {
  override name = "RelayerRequestError" as const;
  readonly code: ErrorResponse["code"] | "network_error" | "bad_response" | "timeout";
  readonly status: number;
  readonly issues: ErrorResponse["issues"];

  constructor(args: {
    code: RelayerRequestError["code"];
    status: number;
    message: string;
    issues?: ErrorResponse["issues"];
  }) {
    super(`relayer: ${args.code}: ${args.message}`);
    this.code = args.code;
    this.status = args.status;
    this.issues = args.issues;
  }
}

/** Parameters of {@link createRelayerClient}. */
export interface CreateRelayerClientParameters {
  /**
   * The relayer's base URL, e.g. `http://127.0.0.1:8080`, or with the path prefix it is served
   * under behind a reverse proxy, e.g. `https://api.example.com/relayer` (a trailing slash is
   * optional): the API's paths are resolved below it.
   */
  url: string | URL;
  /** A fetch implementation (default: the global one). */
  fetch?: typeof fetch;
  /** Per-request timeout in milliseconds (default 10,000). */
  timeoutMs?: number;
}

/** Parameters of {@link RelayerClient.waitForPayment}. */
export interface WaitForPaymentParameters {
  /** Resolve once the intent reaches one of these (default: settled or failed). */
  statuses?: readonly PaymentStatusResponse["status"][];
  timeoutMs?: number;
  pollIntervalMs?: number;
}

/** The relayer's API, typed from the same zod schemas the relayer validates with. */
export interface RelayerClient {
  /** `POST /v1/payments`: the intent's digest and status (the same intent twice: the same digest). */
  submitPayment(args: { payment: Payment; signature: Hex }): Promise<SubmitPaymentResponse>;
  /**
   * `POST /v1/payments/batch`: 1 to 256 intents in one request. Each is checked and accepted on
   * its own; the results come back in order, a refused intent with its code and message (the
   * request throws only when it is refused as a whole: paused, rate limited, malformed, ...).
   */
  submitPayments(items: readonly { payment: Payment; signature: Hex }[]): Promise<SubmitPaymentsResponse>;
  /** `GET /v1/payments/{digest}`. */
  getPayment(digest: Hex): Promise<PaymentStatusResponse>;
  /**
   * Polls `getPayment` until the intent reaches a wanted status; after `timeoutMs` (default
   * 60,000) throws a {@link RelayerRequestError} with `code` "timeout".
   */
  waitForPayment(digest: Hex, options?: WaitForPaymentParameters): Promise<PaymentStatusResponse>;
  /** `POST /v1/escrows/releases`: the payer's signed release, relayed as `releaseWithSig`. */
  submitRelease(args: { release: Release; signature: Hex }): Promise<ReleaseStatusResponse>;
  /** `GET /v1/escrows/releases/{digest}`. */
  getRelease(digest: Hex): Promise<ReleaseStatusResponse>;
  /** `POST /v1/vouchers`: kept for watchtower duty; `claim` also claims it on-chain now. */
  submitVoucher(args: { voucher: Voucher; signature: Hex; claim?: boolean }): Promise<VoucherResponse>;
  /** `GET /v1/vouchers/{channelId}`: the latest voucher kept for the channel. */
  getVoucher(channelId: Hex): Promise<VoucherResponse>;
  /** `GET /healthz` (answers a degraded relayer's health too, instead of throwing). */
  health(): Promise<HealthResponse>;
  /** `GET /v1/status`: what the status page shows (queue depth, settlement rate, recent transactions, ...). */
  status(): Promise<StatusResponse>;
  /** `POST /v1/admin/pause` with the admin bearer token. */
  pause(adminToken: string): Promise<{ paused: boolean }>;
  /** `POST /v1/admin/resume` with the admin bearer token. */
  resume(adminToken: string): Promise<{ paused: boolean }>;
}

/** Return type of {@link createRelayerClient}. */
export type CreateRelayerClientReturnType = RelayerClient;

const stringify = (value: unknown) => JSON.stringify(value, (_key, v) => (typeof v === "bigint" ? v.toString() : v));

/**
 * A typed HTTP client of the settlekit relayer. Amounts go out as decimal strings and come back
 * as bigints; every answer is checked against the API's schema; every refusal is a
 * {@link RelayerRequestError} carrying the relayer's stable error code.
 *
 * @example
 * ```ts
 * import { createRelayerClient, signPayment } from "settlekit";
 *
 * const relayer = createRelayerClient({ url: "http://127.0.0.1:8080" });
 * const signature = await signPayment({ account, domain, payment });
 * const { digest } = await relayer.submitPayment({ payment, signature });
 * const settled = await relayer.waitForPayment(digest);
 * console.log(settled.status, settled.txHash);
 * ```
 */
export function createRelayerClient({
  url,
  fetch: fetchImpl = globalThis.fetch,
  timeoutMs = 10_000,
}: CreateRelayerClientParameters): CreateRelayerClientReturnType {
  const base = new URL(url);
  // Paths resolve below the base's own path (a relayer behind a proxy at `/relayer`), not the host root.
  if (!base.pathname.endsWith("/")) base.pathname += "/";

  async function call<S extends z.ZodType>(
    method: "GET" | "POST",
    /** Relative (no leading `/`), so that it resolves below the base's path. */
    path: string,
    schema: S,
    options: { body?: unknown; token?: string; acceptStatuses?: number[] } = {},
  ): Promise<z.output<S>> {
    const headers: Record<string, string> = {};
    if (options.body !== undefined) headers["content-type"] = "application/json";
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    let response: Response;
    try {
      response = await fetchImpl(new URL(path, base), {
        method,
        headers,
        body: options.body === undefined ? undefined : stringify(options.body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      throw new RelayerRequestError({ code: "network_error", status: 0, message: (error as Error).message });
    }
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new RelayerRequestError({ code: "bad_response", status: response.status, message: text.slice(0, 200) });
    }
    if (response.ok || options.acceptStatuses?.includes(response.status)) {
      const parsed = schema.safeParse(json);
      if (parsed.success) return parsed.data;
      throw new RelayerRequestError({ code: "bad_response", status: response.status, message: parsed.error.message });
    }
    const refusal = errorResponse.safeParse(json);
    if (!refusal.success) {
      throw new RelayerRequestError({ code: "bad_response", status: response.status, message: text.slice(0, 200) });
    }
    throw new RelayerRequestError({ ...refusal.data, status: response.status });
  }

  const getPayment = (digest: Hex) => call("GET", `v1/payments/${digest}`, paymentStatusResponse);

  return {
    submitPayment: ({ payment, signature }) =>
      call("POST", "v1/payments", submitPaymentResponse, { body: { payment, signature } }),
    submitPayments: (items) =>
      call("POST", "v1/payments/batch", submitPaymentsResponse, {
        body: { items: items.map(({ payment, signature }) => ({ payment, signature })) },
      }),
    getPayment,
    async waitForPayment(
      digest,
      { statuses = ["settled", "failed"], timeoutMs: limit = 60_000, pollIntervalMs = 250 } = {},
    ) {
      const deadline = Date.now() + limit;
      for (;;) {
        const payment = await getPayment(digest);
        if (statuses.includes(payment.status)) return payment;
        if (Date.now() > deadline) {
          throw new RelayerRequestError({
            code: "timeout",
            status: 0,
            message: `payment ${digest} still ${payment.status} after ${limit} ms`,
          });
        }
        await new Promise((resolve) => setTimeout(resolve, pollIntervalMs));
      }
    },
    submitRelease: ({ release, signature }) =>
      call("POST", "v1/escrows/releases", releaseStatusResponse, { body: { ...release, signature } }),
    getRelease: (digest) => call("GET", `v1/escrows/releases/${digest}`, releaseStatusResponse),
    submitVoucher: ({ voucher, signature, claim = false }) =>
      call("POST", "v1/vouchers", voucherResponse, { body: { ...voucher, signature, claim } }),
    getVoucher: (channelId) => call("GET", `v1/vouchers/${channelId}`, voucherResponse),
    health: () => call("GET", "healthz", healthResponse, { acceptStatuses: [503] }),
    status: () => call("GET", "v1/status", statusResponse),
    pause: (token) => call("POST", "v1/admin/pause", adminResponse, { token }),
    resume: (token) => call("POST", "v1/admin/resume", adminResponse, { token }),
  };
}
