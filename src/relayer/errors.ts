/**
 * The relayer's rejection codes. Every non-2xx answer of the API carries one of them as
 * `code` (stable, machine-readable) plus a human `message`; clients branch on `code` only.
 */
export const ERROR_CODES = {
  invalid_json: { status: 400, doc: "The body is not valid JSON." },
  invalid_request: { status: 400, doc: "The body or a path parameter does not match the schema (see `issues`)." },
  unauthorized: { status: 401, doc: "Admin endpoint called without the right bearer token." },
  not_found: { status: 404, doc: "No such route, payment, release or voucher." },
  nonce_conflict: { status: 409, doc: "Another accepted intent of this payer already uses this nonce." },
  body_too_large: { status: 413, doc: "The body exceeds the configured body limit." },
  unsupported_media_type: { status: 415, doc: "The body is not `application/json`." },
  invalid_signature: { status: 422, doc: "The signature is not the signer's for this chain and contract." },
  not_yet_valid: { status: 422, doc: "The intent's `validAfter` is in the future." },
  expired: { status: 422, doc: "The intent or authorisation expires too soon to be settled (or has expired)." },
  nonce_used: { status: 422, doc: "The payer's nonce is already used on-chain." },
  insufficient_balance: {
    status: 422,
    doc: "Hub balance < amount + fee + what the payer's accepted, unsettled intents reserve.",
  },
  invalid_recipient: { status: 422, doc: "The payee is the zero address or the hub itself (funds would be lost)." },
  invalid_amount: { status: 422, doc: "An amount is out of range (zero where a value is needed, or over 2^128-1)." },
  fee_too_low: {
    status: 422,
    doc: "The intent's fee is below this relayer's minimum for its token (see `/v1/status`).",
  },
  unknown_escrow: { status: 422, doc: "No escrow with this id on the configured Escrow contract." },
  nothing_to_release: { status: 422, doc: "The release authorisation pays nothing (total already released)." },
  unknown_channel: { status: 422, doc: "No open channel with this id on the configured PaymentChannels contract." },
  voucher_exceeds_deposit: { status: 422, doc: "The voucher's cumulative amount exceeds the channel's deposit." },
  voucher_not_newer: { status: 422, doc: "The voucher does not exceed what is already claimed on-chain." },
  not_configured: { status: 422, doc: "The contract this request needs is not configured on this relayer." },
  rate_limited: { status: 429, doc: "Too many requests from this client; retry after `retry-after` seconds." },
  internal_error: { status: 500, doc: "Unexpected failure; nothing was accepted." },
  paused: { status: 503, doc: "An operator paused the relayer; nothing new is accepted." },
  chain_unavailable: { status: 503, doc: "The chain could not be read to validate the request; retry later." },
  store_unavailable: {
    status: 503,
    doc: "The store could not be read or could not persist the request; nothing was accepted.",
  },
  shutting_down: { status: 503, doc: "The relayer is shutting down; retry on another instance or later." },
} as const satisfies Record<string, { status: number; doc: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** A rejection with a stable code; the API turns it into `{ code, message }` with the code's HTTP status. */
export class RelayerError extends Error {
  override readonly name = "RelayerError";
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.status = ERROR_CODES[code].status;
  }
}

/** An error's message, for logs and status (any thrown value). */
export const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** One error for several parts that failed: the error itself, or an `AggregateError` of all of them. */
export const oneError = (errors: readonly unknown[]): unknown =>
  errors.length === 1 ? errors[0] : new AggregateError(errors, errors.map(messageOf).join("; "));
