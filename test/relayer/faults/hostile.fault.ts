import { describe } from "node:test";
import { expect } from "chai";
import fc from "fast-check";
import type { Hex } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { type Payment, signPayment } from "../../../src/client/index.js";
import { ERROR_CODES } from "../../../src/relayer/errors.js";
import {
  ADMIN_TOKEN,
  FAULT_SUITE,
  hubBalance,
  merchants,
  type RelayerProcess,
  report,
  type SignedIntent,
  scenario,
  scenarioWorld,
  signIntents,
  spawnRelayer,
  sql,
  submitIntents,
  untilFinal,
} from "./harness.js";

const RUNS = 1_200;
const BODY_LIMIT = 16_384;
const RATE_LIMIT = 20;

const wire = (p: Payment) => JSON.parse(JSON.stringify(p, (_k, v) => (typeof v === "bigint" ? v.toString() : v)));

interface HostileRequest {
  kind: string;
  method: "GET" | "POST";
  path: string;
  headers: Record<string, string>;
  body?: string;
}

const json = (kind: string, path: string, value: unknown, headers: Record<string, string> = {}): HostileRequest => ({
  kind,
  method: "POST",
  path,
  headers: { "content-type": "application/json", ...headers },
  body: JSON.stringify(value),
});

/**
 * A running relayer process, attacked over real HTTP: at least 1,000 malformed or hostile
 * requests of every kind the issue lists, each of which must be answered 4xx with one of the
 * API's codes, change nothing (store rows, chain, balances), and leave the process serving.
 * Then a relayer with a small rate limit is flooded: beyond the limit, nothing gets in.
 */
describe("fault: hostile input at a running relayer", FAULT_SUITE, () => {
  const world = scenarioWorld();
  const relayers: RelayerProcess[] = [];

  scenario(
    `answers ${RUNS} hostile requests with 4xx, changes nothing, stays up, and holds its rate limit`,
    async () => {
      const { chain: hubChain, store, payers } = await world.start({ payers: 1 });
      const databaseUrl = store.options.databaseUrl as string;
      const [payer] = payers;
      const to = merchants(2);
      const start = async (flags: string[] = []) => {
        const relayer = await spawnRelayer(
          await world.relayerOptions({
            log: `hostile-${relayers.length}.log`,
            flags: ["--body-limit", String(BODY_LIMIT), ...flags],
          }),
        );
        relayers.push(relayer);
        return relayer;
      };
      const relayer = await start();

      // Settled intents: material for replays.
      const settledIntents = await signIntents(hubChain, { payers: [payer], merchants: to, count: 5 });
      const settledRun = await submitIntents([relayer.url], settledIntents);
      await untilFinal(relayer.url, settledRun.accepted.keys());

      const [base] = await signIntents(hubChain, { payers: [payer], merchants: to, count: 1, firstNonce: 1_000n });
      const sign = async (payment: Payment, domain: { chainId: number; verifyingContract: Hex }) => ({
        payment: wire(payment),
        signature: await signPayment({ account: payer, domain, payment }),
      });
      const hubDomain = { chainId: 31_337, verifyingContract: hubChain.hub };
      // Well-formed and funded, signed by the payer, but for another chain or another contract.
      const foreign = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          sign(
            { ...base.payment, nonce: 2_000n + BigInt(i) },
            i % 2 === 0
              ? { chainId: 1, verifyingContract: hubChain.hub }
              : { chainId: 31_337, verifyingContract: privateKeyToAccount(generatePrivateKey()).address },
          ),
        ),
      );
      // Correctly signed, but with the nonce of a settled intent (its amount changed).
      const replays = await Promise.all(
        settledIntents.map((s, i) => sign({ ...s.payment, amount: s.payment.amount + 1n + BigInt(i) }, hubDomain)),
      );
      // Someone else's signature over the payer's intent.
      const stranger = privateKeyToAccount(generatePrivateKey());
      const impostor = {
        payment: wire(base.payment),
        signature: await signPayment({ account: stranger, domain: hubDomain, payment: base.payment }),
      };

      const original = { payment: wire(base.payment), signature: base.signature };
      const field = fc.constantFrom(...Object.keys(original.payment));
      const huge = fc.oneof(
        fc.bigInt({ min: 2n ** 128n, max: 2n ** 300n }).map((n) => n.toString()),
        fc.bigInt({ min: -(2n ** 256n), max: -1n }).map((n) => n.toString()),
        fc.constantFrom("1e400", "1e18", "Infinity", "NaN", "0x1", "1.5", " 1", "١٢٣"),
        fc.constantFrom(1e308, -1, 2 ** 53 + 1, Number.MAX_SAFE_INTEGER),
      );
      const junk = fc.oneof(
        fc.string(),
        fc.string({ unit: "grapheme" }),
        fc.string({ unit: "binary" }),
        fc.integer(),
        fc.double(),
        fc.boolean(),
        fc.constant(null),
        fc.array(fc.integer(), { maxLength: 3 }),
        fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }),
      );
      const badHex = fc.oneof(
        fc.constantFrom("0x", "0x0", "0xzz", "00", "0X12", `0x${"f".repeat(129)}`, `0x${"g".repeat(130)}`),
        fc.string({ unit: fc.constantFrom(..."0123456789abcdefgxyzABCDEF "), maxLength: 140 }).map((s) => `0x${s}`),
        fc.integer({ min: 0, max: 200 }).map((n) => `0x${"a".repeat(n)}`),
      );
      const hexFields = ["from", "to", "token", "ref"];

      const request: fc.Arbitrary<HostileRequest> = fc.oneof(
        // wrong types and unicode junk in a field
        fc.record({ key: field, value: junk }).map(({ key, value }) =>
          json("wrong type / junk field", "/v1/payments", {
            ...original,
            payment: { ...original.payment, [key]: value },
          }),
        ),
        // huge, negative and non-decimal numbers
        fc
          .record({ key: fc.constantFrom("amount", "fee", "nonce", "validAfter", "validBefore"), value: huge })
          .map(({ key, value }) =>
            json("huge number", "/v1/payments", { ...original, payment: { ...original.payment, [key]: value } }),
          ),
        // bad hex in addresses, ref and signature
        fc
          .record({ key: fc.constantFrom(...hexFields, "signature"), value: badHex })
          .map(({ key, value }) =>
            json(
              "bad hex",
              "/v1/payments",
              key === "signature"
                ? { ...original, signature: value }
                : { ...original, payment: { ...original.payment, [key]: value } },
            ),
          ),
        // oversize bodies
        fc
          .integer({ min: 1, max: 50_000 })
          .map((extra) =>
            json("oversize body", "/v1/payments", { ...original, padding: "x".repeat(BODY_LIMIT + extra) }),
          ),
        // signatures for another chain or contract, or by someone else
        fc.constantFrom(...foreign).map((body) => json("foreign signature", "/v1/payments", body)),
        fc.constant(json("impostor signature", "/v1/payments", impostor)),
        // replays of settled intents' nonces
        fc.constantFrom(...replays).map((body) => json("replayed nonce", "/v1/payments", body)),
        // unicode and binary junk as the whole body, and malformed JSON
        fc.string({ unit: "grapheme", minLength: 1 }).map(
          (text): HostileRequest => ({
            kind: "junk body",
            method: "POST",
            path: "/v1/payments",
            headers: { "content-type": "application/json" },
            body: text,
          }),
        ),
        fc.anything().map((value) => json("any JSON value", "/v1/payments", value)),
        // other media types
        fc
          .record({
            type: fc.constantFrom(
              "text/plain",
              "application/xml",
              "multipart/form-data",
              "application/x-www-form-urlencoded",
            ),
            body: fc.string(),
          })
          .map(
            ({ type, body }): HostileRequest => ({
              kind: "wrong media type",
              method: "POST",
              path: "/v1/payments",
              headers: { "content-type": type },
              body: body.length === 0 ? "x" : body,
            }),
          ),
        // junk path parameters and routes
        fc.string({ unit: "grapheme", minLength: 1 }).map(
          (text): HostileRequest => ({
            kind: "junk path",
            method: "GET",
            path: `/v1/payments/${encodeURIComponent(text)}`,
            headers: {},
          }),
        ),
        // the other intake routes (not configured here) and the admin routes with wrong tokens
        fc
          .record({ path: fc.constantFrom("/v1/escrows/releases", "/v1/vouchers"), value: fc.anything() })
          .map(({ path, value }) => json("release/voucher junk", path, value)),
        fc
          .record({
            path: fc.constantFrom("/v1/admin/pause", "/v1/admin/resume"),
            token: fc.string(),
          })
          .map(({ path, token }) =>
            json(
              "admin without the token",
              path,
              {},
              token === ADMIN_TOKEN ? {} : { authorization: `Bearer ${token}` },
            ),
          ),
      );

      const snapshot = async () => {
        const [counts] = await sql<Record<string, string>>(
          databaseUrl,
          `SELECT (SELECT count(*) FROM payment_intents) AS intents, (SELECT count(*) FROM batches) AS batches,
                (SELECT count(*) FROM transactions) AS transactions, (SELECT count(*) FROM escrow_releases) AS releases,
                (SELECT count(*) FROM vouchers) AS vouchers`,
        );
        return {
          ...counts,
          block: (await hubChain.publicClient.getBlockNumber({ cacheTime: 0 })).toString(),
          payer: (await hubBalance(hubChain, payer.address)).toString(),
        };
      };
      const before = await snapshot();
      const codes: Record<string, number> = {};
      const kinds: Record<string, number> = {};
      let sent = 0;
      await fc.assert(
        fc.asyncProperty(request, async (r) => {
          if (r.body === JSON.stringify(original)) return; // a mutation that changed nothing
          const response = await fetch(`${relayer.url}${r.path}`, {
            method: r.method,
            headers: r.headers,
            body: r.body,
          });
          const text = await response.text();
          sent++;
          kinds[r.kind] = (kinds[r.kind] ?? 0) + 1;
          expect(response.status, `${r.kind}: ${text.slice(0, 300)}`).to.be.within(400, 499);
          const code = (JSON.parse(text) as { code: string }).code;
          expect(Object.keys(ERROR_CODES), text.slice(0, 300)).to.include(code);
          codes[code] = (codes[code] ?? 0) + 1;
        }),
        { numRuns: RUNS },
      );
      const afterwards = await snapshot();
      const health = await fetch(`${relayer.url}/healthz`);

      // An exact replay of a settled intent is idempotent: its digest and status, nothing new.
      const replayed = await fetch(`${relayer.url}/v1/payments`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ payment: wire(settledIntents[0].payment), signature: settledIntents[0].signature }),
      });
      const replayAnswer = (await replayed.json()) as { digest: Hex; status: string };

      // A relayer with a small rate limit, flooded with valid, funded intents.
      const limited = await start(["--rate-limit", String(RATE_LIMIT), "--rate-limit-window-ms", "60000"]);
      const flood: SignedIntent[] = await signIntents(hubChain, {
        payers: [payer],
        merchants: to,
        count: 60,
        firstNonce: 5_000n,
      });
      const statuses = await Promise.all(
        flood.map(async (intent) => {
          const response = await fetch(`${limited.url}/v1/payments`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ payment: wire(intent.payment), signature: intent.signature }),
          });
          const body = (await response.json()) as { code?: string };
          return response.status === 429 ? `429 ${body.code}` : String(response.status);
        }),
      );
      const admitted = statuses.filter((s) => s === "202").length;
      const limitedCount = statuses.filter((s) => s === "429 rate_limited").length;
      const [{ stored }] = await sql<{ stored: string }>(
        databaseUrl,
        "SELECT count(*) AS stored FROM payment_intents WHERE digest = ANY($1::text[])",
        [flood.map((i) => i.digest.toLowerCase())],
      );

      report({
        scenario: `hostile input: ${sent} malformed/hostile requests + rate-limit flood (postgres)`,
        accepted: 0,
        settled: 0,
        failed: 0,
        lost: 0,
        duplicated: 0,
        notes: `every one answered 4xx (${Object.entries(codes)
          .map(([c, n]) => `${c} ${n}`)
          .join(
            ", ",
          )}); no state change; rate limit ${RATE_LIMIT}/min: ${admitted} of ${flood.length} admitted, ${limitedCount} answered 429`,
      });
      console.log(`      hostile request kinds: ${JSON.stringify(kinds)}`);

      expect(sent).to.be.at.least(1_000);
      expect(afterwards).to.deep.equal(before);
      expect(relayer.alive()).to.equal(true);
      expect(health.status).to.equal(200);
      expect(replayed.status).to.equal(202);
      expect(replayAnswer).to.deep.equal({ digest: settledIntents[0].digest, status: "settled" });
      // The readiness probe used one request of the window; the flood gets the rest, no more.
      expect(admitted).to.be.within(RATE_LIMIT - 1, RATE_LIMIT);
      expect(limitedCount).to.equal(flood.length - admitted);
      expect(Number(stored)).to.equal(admitted);
      expect(limited.alive()).to.equal(true);
    },
  );
});
