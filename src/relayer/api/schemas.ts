import { getAddress, type Hex, isAddress } from "viem";
import { z } from "zod/v4";
import { ERROR_CODES, type ErrorCode } from "../errors.js";

/**
 * The relayer's HTTP API, as zod schemas. They are the single source of the wire format: the
 * server parses requests with them, the OpenAPI document is generated from them, and
 * `createRelayerClient` (src/client/relayer.ts) is typed from them and parses answers with
 * them. On the wire, integers are decimal strings (JSON numbers cannot hold a uint256);
 * parsed, they are bigints.
 */

/** What the OpenAPI document says of a schema: its component id, description and examples. */
export type ApiDoc = {
  id?: string;
  description?: string;
  examples?: unknown[];
};

/**
 * The registry of the API's schema documentation, the OpenAPI document's source. It is this
 * module's own, not zod's global registry, which rejects an id registered twice: the component
 * ids would collide with a dApp's own schemas (`Payment`, `Voucher`, …), or with themselves when
 * two copies of this module load (the package's build beside its sources, two versions of it).
 * Each schema is cloned before it is documented, as `.meta()` does, so a shared one keeps its own.
 */
export const apiDocs = z.registry<ApiDoc>();

const MAX_UINT256 = 2n ** 256n - 1n;
const MAX_UINT64 = 2n ** 64n - 1n;

const uint = (bits: 64 | 256) =>
  z
    .string()
    // `abort`: a failed check must stop before the transform (BigInt would throw on junk).
    .regex(bits === 64 ? /^(0|[1-9][0-9]{0,19})$/ : /^(0|[1-9][0-9]{0,77})$/, {
      message: `a uint${bits} as a decimal string`,
      abort: true,
    })
    .transform((value) => BigInt(value))
    .refine((value) => value <= (bits === 64 ? MAX_UINT64 : MAX_UINT256), `exceeds uint${bits}`)
    .clone()
    .register(apiDocs, { description: `uint${bits}, decimal string`, examples: ["1000000"] });

export const uint256 = uint(256);
export const uint64 = uint(64);
/**
 * An address in any case, parsed to its EIP-55 checksummed form. In mixed case it carries a
 * checksum, which must hold (otherwise it is likely a typo, and viem's encoders refuse it);
 * all-lowercase and all-uppercase carry none.
 */
export const address = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, { message: "a 20-byte 0x-hex address", abort: true })
  .refine(
    (value) => {
      const hex = value.slice(2);
      return hex === hex.toLowerCase() || hex === hex.toUpperCase() || isAddress(value, { strict: true });
    },
    { message: "a mixed-case address must carry a valid EIP-55 checksum", abort: true },
  )
  .transform((value) => getAddress(value.toLowerCase()))
  .clone()
  .register(apiDocs, { description: "address, 0x-hex", examples: ["0x70997970C51812dc3A010C7d01b50e0d17dc79C8"] });
export const bytes32 = z
  .string()
  .regex(/^0x[0-9a-fA-F]{64}$/, { message: "32 bytes of 0x-hex", abort: true })
  .transform((value) => value.toLowerCase() as Hex)
  .clone()
  .register(apiDocs, { description: "bytes32, 0x-hex" });
/** ECDSA (65 bytes) or an ERC-1271 wallet's signature (up to 2,048 bytes). */
export const signature = z
  .string()
  .regex(/^0x([0-9a-fA-F]{2}){1,2048}$/, { message: "0x-hex bytes (at most 2,048)", abort: true })
  .transform((value) => value as Hex)
  .clone()
  .register(apiDocs, { description: "signature bytes, 0x-hex (65-byte ECDSA or an ERC-1271 wallet's)" });

export const intentStatus = z
  .enum(["accepted", "submitted", "settled", "failed"])
  .clone()
  .register(apiDocs, { description: "accepted → submitted → settled | failed (a reorg can take submitted back)" });

/** DESIGN §4 Payment. */
export const paymentSchema = z
  .object({
    from: address,
    to: address,
    token: address,
    amount: uint256,
    fee: uint256,
    nonce: uint256,
    validAfter: uint64,
    validBefore: uint64,
    ref: bytes32,
  })
  .strict()
  .clone()
  .register(apiDocs, { id: "Payment", description: "A payment intent (EIP-712 Payment of the SettlementHub)" });

export const submitPaymentRequest = z
  .object({ payment: paymentSchema, signature })
  .strict()
  .clone()
  .register(apiDocs, { id: "SubmitPaymentRequest" });
export const submitPaymentResponse = z
  .object({ digest: bytes32, status: intentStatus })
  .clone()
  .register(apiDocs, { id: "SubmitPaymentResponse", description: "The intent's EIP-712 digest (its id) and status" });

const errorCode = z.enum(Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]]);

/** Most intents one `POST /v1/payments/batch` carries. */
export const MAX_PAYMENTS_PER_BATCH = 256;

export const submitPaymentsRequest = z
  .object({ items: z.array(submitPaymentRequest).min(1).max(MAX_PAYMENTS_PER_BATCH) })
  .strict()
  .clone()
  .register(apiDocs, {
    id: "SubmitPaymentsRequest",
    description: `1 to ${MAX_PAYMENTS_PER_BATCH} intents, each checked on its own`,
  });
export const submitPaymentsResponse = z
  .object({
    results: z.array(
      z.discriminatedUnion("accepted", [
        z.object({ accepted: z.literal(true), digest: bytes32, status: intentStatus }),
        z.object({
          accepted: z.literal(false),
          code: errorCode,
          message: z.string(),
        }),
      ]),
    ),
  })
  .clone()
  .register(apiDocs, {
    id: "SubmitPaymentsResponse",
    description: "One result per item, in order: the digest and status, or the code and message of its refusal",
  });

const nullableUint = uint(256).nullable();
const timestamp = z.iso.datetime().clone().register(apiDocs, { description: "ISO 8601 time" });

export const paymentStatusResponse = z
  .object({
    digest: bytes32,
    status: intentStatus,
    payment: paymentSchema,
    txHash: bytes32.nullable(),
    blockNumber: nullableUint,
    failureReason: z.string().nullable(),
    acceptedAt: timestamp,
    updatedAt: timestamp,
  })
  .clone()
  .register(apiDocs, { id: "PaymentStatus" });

export const digestParams = z.object({ digest: bytes32 }).strict();
export const channelParams = z.object({ channelId: bytes32 }).strict();

export const submitReleaseRequest = z
  .object({ id: uint256, releasedTotal: uint256, deadline: uint256, signature })
  .strict()
  .clone()
  .register(apiDocs, {
    id: "SubmitReleaseRequest",
    description: "The payer's EIP-712 Release, relayed as releaseWithSig",
  });
export const releaseStatusResponse = z
  .object({
    digest: bytes32,
    status: intentStatus,
    id: uint256,
    releasedTotal: uint256,
    deadline: uint256,
    txHash: bytes32.nullable(),
    blockNumber: nullableUint,
    failureReason: z.string().nullable(),
  })
  .clone()
  .register(apiDocs, { id: "ReleaseStatus" });

export const submitVoucherRequest = z
  .object({
    channelId: bytes32,
    cumulativeAmount: uint256,
    signature,
    claim: z
      .boolean()
      .default(false)
      .clone()
      .register(apiDocs, { description: "also claim it on-chain now (the payee is paid)" }),
  })
  .strict()
  .clone()
  .register(apiDocs, { id: "SubmitVoucherRequest" });
export const voucherResponse = z
  .object({
    channelId: bytes32,
    cumulativeAmount: uint256.clone().register(apiDocs, { description: "the channel's latest (highest) voucher kept" }),
    claimedAmount: uint256,
    claimRequested: z.boolean(),
  })
  .clone()
  .register(apiDocs, { id: "Voucher" });

export const healthResponse = z
  .object({
    status: z.enum(["ok", "degraded"]),
    paused: z.boolean(),
    chainId: z.number().int(),
    relayer: address.nullable(),
    hub: address.nullable(),
    escrow: address.nullable(),
    channels: address.nullable(),
    store: z.enum(["pglite", "postgres"]),
    inflightTransactions: z.number().int(),
    checks: z.record(z.string(), z.enum(["ok", "failing"])),
  })
  .clone()
  .register(apiDocs, { id: "Health" });

const count = z.number().int().nonnegative();

export const statusResponse = z
  .object({
    time: timestamp,
    chainId: z.number().int(),
    relayer: address.nullable(),
    paused: z.boolean(),
    minFees: z
      .array(z.object({ token: address, amount: uint256 }))
      .clone()
      .register(apiDocs, { description: "smallest fee an intent must pay, per token (a token not listed: none)" }),
    blockNumber: uint256,
    relayerBalance: uint256
      .nullable()
      .clone()
      .register(apiDocs, { description: "the relayer key's native balance in wei (null: unreadable)" }),
    queue: z
      .object({
        accepted: count
          .clone()
          .register(apiDocs, { description: "accepted intents waiting for a batch (the queue depth)" }),
        submitted: count.clone().register(apiDocs, { description: "intents in a transaction not yet confirmed" }),
        inflightTransactions: count,
      })
      .clone()
      .register(apiDocs, { description: "work in progress" }),
    intents: z
      .object({ settled: count, failed: count })
      .clone()
      .register(apiDocs, { description: "totals since the store began" }),
    settledPerSecond: z
      .number()
      .nonnegative()
      .clone()
      .register(apiDocs, { description: "intents settled per second over the window" }),
    windowSeconds: z.number().int().positive(),
    recentSettlements: z.array(
      z.object({
        kind: z.enum(["settle", "release", "claim", "finalize", "expire", "filler"]),
        size: count,
        status: z.enum(["confirmed", "reverted"]),
        txHash: bytes32,
        blockNumber: uint256,
        at: timestamp,
      }),
    ),
    channels: z
      .object({
        watched: count,
        closing: count
          .nullable()
          .clone()
          .register(apiDocs, { description: "channels whose close was requested (null: automation not running)" }),
        latest: z.array(
          z.object({
            channelId: bytes32,
            cumulativeAmount: uint256,
            claimedAmount: uint256,
            claimRequested: z.boolean(),
          }),
        ),
      })
      .clone()
      .register(apiDocs, { description: "channels whose latest voucher the relayer keeps for watchtower duty" }),
    escrows: z
      .object({
        waiting: count
          .clone()
          .register(apiDocs, { description: "escrows with funds left, not yet settleable on expiry" }),
        due: count.clone().register(apiDocs, { description: "escrows settleable on expiry now, about to be settled" }),
        disputed: count.clone().register(apiDocs, { description: "of those with funds left, the disputed ones" }),
      })
      .nullable()
      .clone()
      .register(apiDocs, { description: "escrows the automation settles at expiry (null: automation not running)" }),
  })
  .clone()
  .register(apiDocs, { id: "Status", description: "What the status page at `/` shows" });

export const adminResponse = z.object({ paused: z.boolean() }).clone().register(apiDocs, { id: "AdminState" });

export const errorResponse = z
  .object({
    code: errorCode,
    message: z.string(),
    issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .clone()
  .register(apiDocs, { id: "Error", description: "Every rejection: a stable `code` and a human `message`" });

export type SubmitPaymentRequest = z.input<typeof submitPaymentRequest>;
export type SubmitPaymentResponse = z.output<typeof submitPaymentResponse>;
export type SubmitPaymentsResponse = z.output<typeof submitPaymentsResponse>;
export type PaymentStatusResponse = z.output<typeof paymentStatusResponse>;
export type SubmitReleaseRequest = z.input<typeof submitReleaseRequest>;
export type ReleaseStatusResponse = z.output<typeof releaseStatusResponse>;
export type SubmitVoucherRequest = z.input<typeof submitVoucherRequest>;
export type VoucherResponse = z.output<typeof voucherResponse>;
export type HealthResponse = z.output<typeof healthResponse>;
export type StatusResponse = z.output<typeof statusResponse>;
export type StatusBody = z.input<typeof statusResponse>;
export type ErrorResponse = z.output<typeof errorResponse>;
