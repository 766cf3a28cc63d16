import { after, before, describe, it } from "node:test";
import { expect } from "chai";
import fc from "fast-check";
import type { FastifyInstance } from "fastify";
import { type Address, getAddress, type Hex, hexToString, toHex } from "viem";
import { MAX_PAYMENTS_PER_BATCH } from "../../src/relayer/api/schemas.js";
import { CallRevertedError, type Payment } from "../../src/relayer/chain/ports.js";
import { ERROR_CODES } from "../../src/relayer/errors.js";
import { fakeSign, fakeSigning } from "./helpers/fake-hub.js";
import { payment, randomAddress, randomDigest, TOKEN } from "./helpers/fixtures.js";
import { ADMIN_TOKEN, type FakeWorld, fakeWorld } from "./helpers/service.js";
import { type TempStore, tempStore, testBackend } from "./helpers/store.js";

const wire = (p: Payment) => JSON.parse(JSON.stringify(p, (_k, v) => (typeof v === "bigint" ? v.toString() : v)));

describe(`relayer API (fastify inject, fake chain, ${testBackend()} store)`, () => {
  let temp: TempStore;
  let world: FakeWorld;
  let app: FastifyInstance;

  before(async () => {
    temp = await tempStore();
    world = fakeWorld(temp.store);
    app = await world.service.buildApi();
  });
  after(async () => {
    await app.close();
    await temp.dispose();
  });

  /** A funded payer's intent, signed for the fake hub's domain (or another's). */
  function signed(
    overrides: Partial<Payment> = {},
    options: { fund?: bigint; signer?: Address; domain?: object } = {},
  ) {
    const p = payment(overrides);
    world.hub.deposit(p.from, p.token, options.fund ?? p.amount + p.fee);
    const domain = { ...world.hub.domain, ...options.domain };
    const digest = fakeSigning.hashPayment({ domain: domain as typeof world.hub.domain, payment: p });
    return { payment: p, signature: fakeSign(options.signer ?? p.from, digest), digest };
  }

  const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
    app.inject({ method: "POST", url, payload: body as object, headers });
  const submit = (intent: { payment: Payment; signature: Hex }) =>
    post("/v1/payments", { payment: wire(intent.payment), signature: intent.signature });

  /** Makes one store method fail, as a lost database connection would, until the returned function restores it. */
  function breakStore(
    method: "getRelease" | "insertRelease" | "upsertVoucher" | "insertIntents" | "getIntent" | "getVoucher",
  ): () => void {
    const store = temp.store as unknown as Record<string, unknown>;
    const original = store[method];
    store[method] = async () => {
      throw new Error("connection terminated");
    };
    return () => {
      store[method] = original;
    };
  }

  describe("POST /v1/payments", () => {
    it("accepts a valid intent with 202, its digest and status, and serves it back", async () => {
      const intent = signed();
      const response = await submit(intent);
      expect(response.statusCode).to.equal(202);
      expect(response.json()).to.deep.equal({ digest: intent.digest, status: "accepted" });
      const status = await app.inject({ method: "GET", url: `/v1/payments/${intent.digest}` });
      expect(status.statusCode).to.equal(200);
      expect(status.json()).to.deep.include({
        digest: intent.digest,
        status: "accepted",
        txHash: null,
        failureReason: null,
      });
      expect(status.json().payment).to.deep.equal(wire(intent.payment));
    });

    it("answers 503 store_unavailable, accepting nothing, when the store cannot take the intent", async () => {
      const intent = signed();
      const restore = breakStore("insertIntents");
      try {
        const refused = await submit(intent);
        expect(refused.statusCode).to.equal(503);
        expect(refused.json().code).to.equal("store_unavailable");
      } finally {
        restore();
      }
      expect(await temp.store.getIntent(intent.digest)).to.equal(null);
    });

    // Invariant (DESIGN §4): an accepted intent settles whatever the payer does; a pending
    // withdrawal request payable before the intent expires could empty the balance first.
    it("does not count what a pending withdrawal request can take out before the intent expires", async () => {
      const now = BigInt(Math.floor(Date.now() / 1000));
      const request = (intent: { payment: Payment }, amount: bigint, availableAt: bigint) =>
        world.hub.withdrawals.set(`${intent.payment.from.toLowerCase()}:${intent.payment.token.toLowerCase()}`, {
          amount,
          availableAt,
        });
      // 1,510 held, 600 of it payable in a minute: 910 left for an intent of 1,010.
      const early = signed({}, { fund: 1_510n });
      request(early, 600n, now + 60n);
      const refused = await submit(early);
      expect(refused.statusCode).to.equal(422);
      expect(refused.json().code).to.equal("insufficient_balance");
      expect(refused.json().message).to.equal(
        `hub balance 1510 less 600 the payer may withdraw from ${now + 60n}, before the intent expires (a pending withdrawal request; requestWithdrawal(token, 0) cancels it) < amount + fee 1010`,
      );
      // 500 payable: 1,010 left, enough.
      const covered = signed({}, { fund: 1_510n });
      request(covered, 500n, now + 60n);
      expect((await submit(covered)).statusCode).to.equal(202);
      // Payable only once the intent has expired: it cannot overtake the intent.
      const late = signed({}, { fund: 1_010n });
      request(late, 10n ** 30n, late.payment.validBefore);
      expect((await submit(late)).statusCode).to.equal(202);
      // A request for more than the balance, payable for long (requests never lapse): nothing left.
      const stale = signed({}, { fund: 10n ** 6n });
      request(stale, 2n ** 128n - 1n, 1n);
      expect((await submit(stale)).json().code).to.equal("insufficient_balance");
      // And what a request leaves is what reservations count against.
      const from = randomAddress();
      const [first, second] = [signed({ from }, { fund: 0n }), signed({ from }, { fund: 0n })];
      world.hub.deposit(from, first.payment.token, 2_500n);
      request(first, 1_010n, now + 60n);
      expect((await submit(first)).statusCode).to.equal(202);
      const over = await submit(second);
      expect(over.json().code).to.equal("insufficient_balance");
      expect(over.json().message).to.match(/less 1010 .* < amount \+ fee 1010 \+ reserved 1010$/);
    });

    it("answers a status read 503 store_unavailable, not 500, when the store cannot be read", async () => {
      const reads = [
        ["getIntent", `/v1/payments/${randomDigest()}`],
        ["getRelease", `/v1/escrows/releases/${randomDigest()}`],
        ["getVoucher", `/v1/vouchers/${randomDigest()}`],
      ] as const;
      for (const [method, url] of reads) {
        expect((await app.inject({ method: "GET", url })).statusCode, url).to.equal(404);
        const restore = breakStore(method);
        try {
          const refused = await app.inject({ method: "GET", url });
          expect(refused.statusCode, url).to.equal(503);
          expect(refused.json(), url).to.deep.equal({
            code: "store_unavailable",
            message: "the store could not be read; retry later",
          });
        } finally {
          restore();
        }
      }
    });

    it("answers the same intent twice with the same digest and keeps one row", async () => {
      const intent = signed();
      const [a, b] = await Promise.all([submit(intent), submit(intent)]);
      const c = await submit(intent);
      for (const response of [a, b, c]) {
        expect(response.statusCode).to.equal(202);
        expect(response.json().digest).to.equal(intent.digest);
      }
      const reserved = (await temp.store.reservations(world.hub.address)).find((r) => r.payer === intent.payment.from);
      expect(reserved?.intents).to.equal(1);
    });

    it("reserves race-free: of 20 concurrent intents of a payer funded for 5, exactly 5 are accepted", async () => {
      const from = randomAddress();
      const intents = Array.from({ length: 20 }, () => signed({ from }, { fund: 0n }));
      world.hub.deposit(from, intents[0].payment.token, 5n * 1_010n);
      const responses = await Promise.all(intents.map(submit));
      const codes = responses.map((r) => (r.statusCode === 202 ? "accepted" : r.json().code));
      expect(codes.filter((c) => c === "accepted")).to.have.length(5);
      expect(codes.filter((c) => c === "insufficient_balance")).to.have.length(15);
    });

    const rejections: [string, () => { body: unknown; code: string; status: number }][] = [
      [
        "a missing field",
        () => {
          const { payment: p, signature } = signed();
          const { amount: _omit, ...rest } = wire(p);
          return { body: { payment: rest, signature }, code: "invalid_request", status: 400 };
        },
      ],
      [
        "an unknown field",
        () => {
          const { payment: p, signature } = signed();
          return { body: { payment: { ...wire(p), extra: 1 }, signature }, code: "invalid_request", status: 400 };
        },
      ],
      [
        "an amount above uint256",
        () => {
          const { payment: p, signature } = signed();
          return {
            body: { payment: { ...wire(p), amount: (2n ** 256n).toString() }, signature },
            code: "invalid_request",
            status: 400,
          };
        },
      ],
      [
        "a number where a decimal string is expected",
        () => {
          const { payment: p, signature } = signed();
          return { body: { payment: { ...wire(p), amount: 5 }, signature }, code: "invalid_request", status: 400 };
        },
      ],
      [
        "junk in a decimal amount",
        () => {
          const { payment: p, signature } = signed();
          return { body: { payment: { ...wire(p), fee: "12a" }, signature }, code: "invalid_request", status: 400 };
        },
      ],
      [
        "a mixed-case address whose EIP-55 checksum fails",
        () => {
          const { payment: p, signature } = signed();
          // Swap the case of one letter of the (checksummed) payer address: a typo EIP-55 catches.
          const at = p.from.slice(2).search(/[a-fA-F]/) + 2;
          const letter = p.from[at] as string;
          const from = `${p.from.slice(0, at)}${letter === letter.toLowerCase() ? letter.toUpperCase() : letter.toLowerCase()}${p.from.slice(at + 1)}`;
          return { body: { payment: { ...wire(p), from }, signature }, code: "invalid_request", status: 400 };
        },
      ],
      [
        "malformed hex",
        () => {
          const { payment: p } = signed();
          return { body: { payment: wire(p), signature: "0xzz" }, code: "invalid_request", status: 400 };
        },
      ],
      [
        "a zero amount",
        () => {
          const intent = signed({ amount: 0n });
          return {
            body: { payment: wire(intent.payment), signature: intent.signature },
            code: "invalid_amount",
            status: 422,
          };
        },
      ],
      [
        "an amount above 128 bits",
        () => {
          const intent = signed({ amount: 2n ** 128n });
          return {
            body: { payment: wire(intent.payment), signature: intent.signature },
            code: "invalid_amount",
            status: 422,
          };
        },
      ],
      [
        "the zero address as payee",
        () => {
          const intent = signed({ to: "0x0000000000000000000000000000000000000000" });
          const body = { payment: wire(intent.payment), signature: intent.signature };
          return { body, code: "invalid_recipient", status: 422 };
        },
      ],
      [
        "a signature by someone else",
        () => {
          const intent = signed({}, { signer: randomAddress() });
          const body = { payment: wire(intent.payment), signature: intent.signature };
          return { body, code: "invalid_signature", status: 422 };
        },
      ],
      [
        "a signature for another chain",
        () => {
          const intent = signed({}, { domain: { chainId: 1 } });
          const body = { payment: wire(intent.payment), signature: intent.signature };
          return { body, code: "invalid_signature", status: 422 };
        },
      ],
      [
        "a signature for another hub",
        () => {
          const intent = signed({}, { domain: { verifyingContract: randomAddress() } });
          const body = { payment: wire(intent.payment), signature: intent.signature };
          return { body, code: "invalid_signature", status: 422 };
        },
      ],
      [
        "an intent that expires too soon",
        () => {
          const intent = signed({ validBefore: BigInt(Math.floor(Date.now() / 1000) + 10) });
          return { body: { payment: wire(intent.payment), signature: intent.signature }, code: "expired", status: 422 };
        },
      ],
      [
        "an intent not valid yet",
        () => {
          const intent = signed({ validAfter: BigInt(Math.floor(Date.now() / 1000) + 600) });
          const body = { payment: wire(intent.payment), signature: intent.signature };
          return { body, code: "not_yet_valid", status: 422 };
        },
      ],
      [
        "a nonce used on-chain",
        () => {
          const intent = signed();
          world.hub.used.add(`${intent.payment.from.toLowerCase()}:${intent.payment.nonce}`);
          return {
            body: { payment: wire(intent.payment), signature: intent.signature },
            code: "nonce_used",
            status: 422,
          };
        },
      ],
      [
        "a balance short of amount + fee",
        () => {
          const intent = signed({}, { fund: 1_009n });
          const body = { payment: wire(intent.payment), signature: intent.signature };
          return { body, code: "insufficient_balance", status: 422 };
        },
      ],
    ];
    for (const [what, make] of rejections) {
      it(`rejects ${what} with its code and a message`, async () => {
        const { body, code, status } = make();
        const response = await post("/v1/payments", body);
        expect(response.json()).to.include({ code });
        expect(response.statusCode).to.equal(status);
        expect(response.json().message).to.be.a("string").and.not.equal("");
      });
    }

    it("takes an address in all-lowercase or all-uppercase (no checksum) as the same address", async () => {
      for (const spell of [(hex: string) => hex.toLowerCase(), (hex: string) => hex.toUpperCase()]) {
        const intent = signed();
        const from = `0x${spell(intent.payment.from.slice(2))}`;
        const response = await post("/v1/payments", {
          payment: { ...wire(intent.payment), from },
          signature: intent.signature,
        });
        expect(response.statusCode).to.equal(202);
        expect(response.json().digest).to.equal(intent.digest);
      }
    });

    it("lists every schema problem of an invalid request", async () => {
      const response = await post("/v1/payments", { payment: { from: "0x1" }, signature: 5 });
      expect(response.statusCode).to.equal(400);
      const paths = response.json().issues.map((i: { path: string }) => i.path);
      expect(paths).to.include.members(["body.payment.from", "body.payment.amount", "body.signature"]);
    });

    it("refuses a second intent with the nonce of an accepted one", async () => {
      const first = signed();
      expect((await submit(first)).statusCode).to.equal(202);
      const rival = signed({ from: first.payment.from, nonce: first.payment.nonce, amount: 7n });
      const response = await submit(rival);
      expect(response.statusCode).to.equal(409);
      expect(response.json().code).to.equal("nonce_conflict");
    });

    it("answers a resubmitted intent with its status even after its nonce was used by itself", async () => {
      const intent = signed();
      await submit(intent);
      world.hub.used.add(`${intent.payment.from.toLowerCase()}:${intent.payment.nonce}`);
      const again = await submit(intent);
      expect(again.statusCode).to.equal(202);
      expect(again.json()).to.deep.equal({ digest: intent.digest, status: "accepted" });
    });

    it("answers a resubmitted intent with its status when the hub cannot be read or its window is closing", async () => {
      // Valid for 40 s: accepted now (30 s of validity needed), with room for a slow machine.
      const validBefore = BigInt(Math.floor(Date.now() / 1000) + 40);
      const intent = signed({ validBefore });
      expect((await submit(intent)).statusCode).to.equal(202);
      world.hub.down = true;
      try {
        const again = await submit(intent);
        expect(again.json()).to.deep.equal({ digest: intent.digest, status: "accepted" });
        expect(again.statusCode).to.equal(202);
        const unknown = await submit(signed());
        expect(unknown.json().code).to.equal("chain_unavailable");
      } finally {
        world.hub.down = false;
      }
      // The chain's time moves on to 30 s before its expiry (the relayer follows block timestamps).
      world.service.time.observeBlock(validBefore - 30n);
      const late = await submit(intent);
      expect(late.json()).to.deep.equal({ digest: intent.digest, status: "accepted" });
      expect(late.statusCode).to.equal(202);
      const lateUnknown = await submit(signed({ validBefore }));
      expect(lateUnknown.json().code).to.equal("expired");
    });

    it("accepts an ERC-1271 wallet's signature through the verifier", async () => {
      const wallet = randomAddress();
      const owner = randomAddress();
      world.verifier.wallets.set(wallet.toLowerCase(), owner);
      const intent = signed({ from: wallet }, { signer: owner });
      const calls = world.verifier.calls;
      const response = await submit(intent);
      expect(response.statusCode).to.equal(202);
      expect(world.verifier.calls).to.equal(calls + 1);
    });

    it("answers a resubmitted ERC-1271 intent with its status when the wallet cannot be asked or now refuses", async () => {
      const wallet = randomAddress();
      const owner = randomAddress();
      world.verifier.wallets.set(wallet.toLowerCase(), owner);
      const intent = signed({ from: wallet }, { signer: owner });
      expect((await submit(intent)).statusCode).to.equal(202);
      world.verifier.down = true; // the node cannot answer the wallet's call
      try {
        const again = await submit(intent);
        expect(again.statusCode).to.equal(202);
        expect(again.json()).to.deep.equal({ digest: intent.digest, status: "accepted" });
      } finally {
        world.verifier.down = false;
      }
      world.verifier.wallets.set(wallet.toLowerCase(), randomAddress()); // the wallet's owner changed
      expect((await submit(intent)).json()).to.deep.equal({ digest: intent.digest, status: "accepted" });
      // An intent never accepted is still refused for either.
      const fresh = signed({ from: wallet }, { signer: owner });
      expect((await submit(fresh)).json().code).to.equal("invalid_signature");
      world.verifier.down = true;
      try {
        expect((await submit(signed({ from: wallet }, { signer: owner }))).json().code).to.equal("chain_unavailable");
      } finally {
        world.verifier.down = false;
      }
    });

    it("checks an EOA signature without calling the chain", async () => {
      const calls = world.verifier.calls;
      expect((await submit(signed())).statusCode).to.equal(202);
      expect(world.verifier.calls).to.equal(calls);
    });

    it("refuses clearly with 503 chain_unavailable when the hub cannot be read, and stores nothing", async () => {
      const intent = signed();
      world.hub.down = true;
      const response = await submit(intent);
      world.hub.down = false;
      expect(response.statusCode).to.equal(503);
      expect(response.json().code).to.equal("chain_unavailable");
      expect(await temp.store.getIntent(intent.digest)).to.equal(null);
    });

    it("coalesces the hub reads of concurrent requests", async () => {
      const reads = world.hub.reads;
      await Promise.all(Array.from({ length: 30 }, () => submit(signed())));
      expect(world.hub.reads - reads).to.be.lessThan(10);
    });
  });

  describe("POST /v1/payments/batch", () => {
    const batch = (items: { payment: Payment; signature: Hex }[]) =>
      post("/v1/payments/batch", {
        items: items.map((i) => ({ payment: wire(i.payment), signature: i.signature })),
      });

    it("checks each intent on its own and answers every result in order", async () => {
      const good = signed();
      const short = signed({}, { fund: 1_009n });
      const forged = signed({}, { signer: randomAddress() });
      const late = signed({ validBefore: BigInt(Math.floor(Date.now() / 1000)) });
      const other = signed();
      const response = await batch([good, short, forged, late, other, good]);
      expect(response.statusCode).to.equal(200);
      const results = response.json().results;
      expect(
        results.map((r: { accepted: boolean; code?: string }) => (r.accepted ? "accepted" : r.code)),
      ).to.deep.equal(["accepted", "insufficient_balance", "invalid_signature", "expired", "accepted", "accepted"]);
      expect(results[0]).to.deep.equal({ accepted: true, digest: good.digest, status: "accepted" });
      expect(results[5]).to.deep.equal(results[0]); // the same intent twice: the same digest, one row
      expect(results[4].digest).to.equal(other.digest);
      for (const refused of results.filter((r: { accepted: boolean }) => !r.accepted))
        expect(refused.message).to.be.a("string").and.not.equal("");
      for (const intent of [good, other])
        expect((await temp.store.getIntent(intent.digest))?.status).to.equal("accepted");
      for (const intent of [short, forged, late]) expect(await temp.store.getIntent(intent.digest)).to.equal(null);
      const reserved = (await temp.store.reservations(world.hub.address)).find((r) => r.payer === good.payment.from);
      expect(reserved?.intents).to.equal(1);
    });

    it("reserves race-free within a batch: of 20 intents of a payer funded for 5, exactly 5 are accepted", async () => {
      const from = randomAddress();
      const intents = Array.from({ length: 20 }, () => signed({ from }, { fund: 0n }));
      world.hub.deposit(from, intents[0].payment.token, 5n * 1_010n);
      const results = (await batch(intents)).json().results as { accepted: boolean; code?: string }[];
      expect(results.filter((r) => r.accepted)).to.have.length(5);
      expect(results.filter((r) => r.code === "insufficient_balance")).to.have.length(15);
    });

    it("refuses a malformed batch as a whole, naming each problem, and accepts nothing of it", async () => {
      const good = signed();
      const malformed = await post("/v1/payments/batch", {
        items: [{ payment: wire(good.payment), signature: good.signature }, { payment: { from: "0x1" } }],
      });
      expect(malformed.statusCode).to.equal(400);
      expect(malformed.json().code).to.equal("invalid_request");
      const paths = malformed.json().issues.map((i: { path: string }) => i.path);
      expect(paths).to.include.members(["body.items.1.payment.from", "body.items.1.signature"]);
      expect(await temp.store.getIntent(good.digest)).to.equal(null);

      expect((await post("/v1/payments/batch", { items: [] })).json().code).to.equal("invalid_request");
      const tooMany = await batch(Array.from({ length: MAX_PAYMENTS_PER_BATCH + 1 }, () => good));
      expect(tooMany.statusCode).to.equal(400);
      expect(tooMany.json().issues.map((i: { path: string }) => i.path)).to.include("body.items");
      expect(await temp.store.getIntent(good.digest)).to.equal(null);
    });

    it("takes a full batch of 256 intents, within its own body limit", async () => {
      const intents = Array.from({ length: MAX_PAYMENTS_PER_BATCH }, () => signed());
      const response = await batch(intents);
      expect(response.statusCode).to.equal(200);
      const results = response.json().results as { accepted: boolean; digest: Hex }[];
      expect(results.map((r) => r.digest)).to.deep.equal(intents.map((i) => i.digest));
      expect(results.every((r) => r.accepted)).to.equal(true);
    });

    it("refuses the whole batch while paused", async () => {
      const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
      await post("/v1/admin/pause", undefined, auth);
      try {
        const intent = signed();
        const refused = await batch([intent]);
        expect(refused.statusCode).to.equal(503);
        expect(refused.json().code).to.equal("paused");
        expect(await temp.store.getIntent(intent.digest)).to.equal(null);
      } finally {
        await post("/v1/admin/resume", undefined, auth);
      }
    });
  });

  describe("transport-level rejections", () => {
    it("answers malformed JSON with 400 invalid_json", async () => {
      const response = await app.inject({
        method: "POST",
        url: "/v1/payments",
        payload: "{not json",
        headers: { "content-type": "application/json" },
      });
      expect(response.statusCode).to.equal(400);
      expect(response.json().code).to.equal("invalid_json");
    });

    it("answers a non-JSON body with 415 unsupported_media_type", async () => {
      const response = await app.inject({
        method: "POST",
        url: "/v1/payments",
        payload: "hello",
        headers: { "content-type": "text/plain" },
      });
      expect(response.statusCode).to.equal(415);
      expect(response.json().code).to.equal("unsupported_media_type");
    });

    it("answers a body over the limit with 413 body_too_large", async () => {
      const response = await post("/v1/payments", { junk: "x".repeat(20_000) });
      expect(response.statusCode).to.equal(413);
      expect(response.json().code).to.equal("body_too_large");
    });

    it("answers unknown routes and digests with 404 not_found", async () => {
      expect((await app.inject({ method: "GET", url: "/v2/nothing" })).json().code).to.equal("not_found");
      const missing = await app.inject({ method: "GET", url: `/v1/payments/${randomDigest()}` });
      expect(missing.statusCode).to.equal(404);
      expect(missing.json().code).to.equal("not_found");
      const badDigest = await app.inject({ method: "GET", url: "/v1/payments/0x12" });
      expect(badDigest.statusCode).to.equal(400);
      expect(badDigest.json().code).to.equal("invalid_request");
    });
  });

  describe("operations", () => {
    it("reports health, metrics and the OpenAPI document", async () => {
      const health = await app.inject({ method: "GET", url: "/healthz" });
      expect(health.statusCode).to.equal(200);
      expect(health.json()).to.deep.include({
        status: "ok",
        paused: false,
        hub: world.hub.address,
        store: temp.store.backend,
      });
      const metrics = await app.inject({ method: "GET", url: "/metrics" });
      expect(metrics.headers["content-type"]).to.match(/^text\/plain/);
      expect(metrics.body).to.match(/relayer_intents_accepted_total [1-9]/);
      expect(metrics.body).to.match(/relayer_requests_rejected_total\{code="insufficient_balance"\} [1-9]/);
      const openapi = (await app.inject({ method: "GET", url: "/openapi.json" })).json();
      expect(openapi.openapi).to.equal("3.1.0");
      expect(Object.keys(openapi.paths)).to.include.members([
        "/v1/payments",
        "/v1/payments/{digest}",
        "/v1/escrows/releases",
        "/v1/vouchers",
        "/healthz",
        "/metrics",
        "/v1/admin/pause",
        "/v1/admin/resume",
      ]);
      expect(openapi.paths["/v1/payments"].post.requestBody.content["application/json"].schema).to.deep.equal({
        $ref: "#/components/schemas/SubmitPaymentRequest",
      });
      expect(openapi.components.schemas.Payment.properties.amount.pattern).to.be.a("string");
      expect(openapi.components.schemas.Error.properties.code.enum).to.have.members(Object.keys(ERROR_CODES));
      expect(openapi.paths["/v1/payments"].post.responses["422"].description).to.contain("insufficient_balance");
      // Each route documents the answers it can give, and only those.
      const post = openapi.paths["/v1/payments"].post.responses;
      expect(post["413"].description).to.contain("body_too_large");
      expect(post["415"].description).to.contain("unsupported_media_type");
      expect(post["429"].description).to.contain("rate_limited");
      const healthDoc = openapi.paths["/healthz"].get.responses;
      expect(healthDoc["503"].content["application/json"].schema).to.deep.equal({
        $ref: "#/components/schemas/Health",
      });
      expect(healthDoc).to.not.have.property("429"); // exempt from the rate limit
      expect(openapi.paths["/v1/payments/{digest}"].get.responses).to.not.have.property("413");
      expect(openapi.paths["/openapi.json"].get.responses["200"].content["application/json"].schema).to.deep.equal({
        type: "object",
      });
      // The documented 415 is what the route answers.
      const wrongType = await app.inject({
        method: "POST",
        url: "/v1/payments",
        headers: { "content-type": "text/plain" },
        payload: "x",
      });
      expect(wrongType.statusCode).to.equal(415);
      expect(wrongType.json().code).to.equal("unsupported_media_type");
    });

    it("shares one store and chain check among the health probes that arrive while it runs", async () => {
      const before = world.chain.blockNumberReads;
      const together = await Promise.all(
        Array.from({ length: 20 }, () => app.inject({ method: "GET", url: "/healthz" })),
      );
      expect(together.map((r) => r.statusCode)).to.deep.equal(Array(20).fill(200));
      expect(world.chain.blockNumberReads - before, "one chain call for 20 probes at once").to.equal(1);
      await app.inject({ method: "GET", url: "/healthz" });
      expect(world.chain.blockNumberReads - before, "a probe after the check ended runs its own").to.equal(2);
    });

    it("degrades health with 503 while the node refuses to take back a transaction of the relayer", async () => {
      world.chain.automine = false;
      try {
        const intent = signed();
        expect((await submit(intent)).statusCode).to.equal(202);
        await world.service.batcher?.tick({ force: true });
        const [sent] = [...world.chain.pool.keys()];
        world.chain.drop(sent);
        world.chain.refuseBroadcasts = "insufficient funds for gas * price + value";
        await world.service.txManager.tick();
        const degraded = await app.inject({ method: "GET", url: "/healthz" });
        expect(degraded.statusCode).to.equal(503);
        expect(degraded.json().checks).to.deep.equal({ store: "ok", chain: "ok", sending: "failing" });
        world.chain.refuseBroadcasts = undefined;
        await new Promise((r) => setTimeout(r, 600)); // the next try after a refusal waits 0.5 s
        await world.service.txManager.tick(); // taken back
        world.chain.mine();
        await world.service.txManager.tick();
        const healthy = await app.inject({ method: "GET", url: "/healthz" });
        expect(healthy.statusCode).to.equal(200);
        expect(healthy.json().checks).to.deep.equal({ store: "ok", chain: "ok", sending: "ok" });
      } finally {
        world.chain.automine = true;
        world.chain.refuseBroadcasts = undefined;
      }
    });

    it("degrades health with 503 when the chain does not answer", async () => {
      world.chain.down = true;
      const health = await app.inject({ method: "GET", url: "/healthz" });
      world.chain.down = false;
      expect(health.statusCode).to.equal(503);
      expect(health.json()).to.deep.include({ status: "degraded" });
      expect(health.json().checks).to.deep.equal({ store: "ok", chain: "failing", sending: "ok" });
    });

    it("pauses and resumes only with the admin token, and refuses intents while paused", async () => {
      const unauthorized = await post("/v1/admin/pause", undefined);
      expect(unauthorized.statusCode).to.equal(401);
      expect(unauthorized.json().code).to.equal("unauthorized");
      const wrong = await post("/v1/admin/pause", undefined, { authorization: "Bearer nope" });
      expect(wrong.statusCode).to.equal(401);
      const paused = await post("/v1/admin/pause", undefined, { authorization: `Bearer ${ADMIN_TOKEN}` });
      expect(paused.json()).to.deep.equal({ paused: true });
      const refused = await submit(signed());
      expect(refused.statusCode).to.equal(503);
      expect(refused.json().code).to.equal("paused");
      const resumed = await post("/v1/admin/resume", undefined, { authorization: `Bearer ${ADMIN_TOKEN}` });
      expect(resumed.json()).to.deep.equal({ paused: false });
      expect((await submit(signed())).statusCode).to.equal(202);
    });
  });

  describe("escrow releases", () => {
    const deadline = () => BigInt(Math.floor(Date.now() / 1000) + 3_600);
    function release(id: bigint, releasedTotal: bigint, signer?: Address) {
      const payer = randomAddress();
      world.escrow.escrows.set(id, {
        payer,
        payee: randomAddress(),
        token: randomAddress(),
        remaining: 1_000n,
        released: 100n,
        deadline: deadline(),
        disputedAt: 0n,
        state: "active",
      });
      const r = { id, releasedTotal, deadline: deadline() };
      const digest = fakeSigning.hashRelease({
        domain: { chainId: world.chain.chainId, verifyingContract: world.escrow.address },
        release: r,
      });
      return {
        body: {
          id: id.toString(),
          releasedTotal: releasedTotal.toString(),
          deadline: r.deadline.toString(),
          signature: fakeSign(signer ?? payer, digest),
        },
        digest,
      };
    }

    it("accepts the payer's signed release once and serves its status", async () => {
      const { body, digest } = release(1n, 600n);
      const first = await post("/v1/escrows/releases", body);
      expect(first.statusCode).to.equal(202);
      expect(first.json()).to.deep.include({ digest, status: "accepted", releasedTotal: "600" });
      expect((await post("/v1/escrows/releases", body)).json().digest).to.equal(digest);
      const status = await app.inject({ method: "GET", url: `/v1/escrows/releases/${digest}` });
      expect(status.json()).to.deep.include({ status: "accepted", id: "1" });
    });

    it("answers 503 store_unavailable, keeping nothing, when the store cannot be read or written", async () => {
      for (const method of ["getRelease", "insertRelease"] as const) {
        const { body, digest } = release(BigInt(Date.now()), 600n);
        const restore = breakStore(method);
        try {
          const refused = await post("/v1/escrows/releases", body);
          expect(refused.statusCode, method).to.equal(503);
          expect(refused.json().code, method).to.equal("store_unavailable");
        } finally {
          restore();
        }
        expect(await temp.store.getRelease(digest), method).to.equal(null);
      }
    });

    it("answers a resubmitted release of a contract-wallet payer with its record whatever its wallet says now", async () => {
      const owner = randomAddress();
      const { body, digest } = release(8n, 600n, owner);
      const payer = world.escrow.escrows.get(8n)?.payer as Address;
      world.verifier.wallets.set(payer.toLowerCase(), owner); // the payer is an ERC-1271 wallet of `owner`
      expect((await post("/v1/escrows/releases", body)).statusCode).to.equal(202);
      world.verifier.down = true;
      try {
        const again = await post("/v1/escrows/releases", body);
        expect(again.statusCode).to.equal(202);
        expect(again.json()).to.deep.include({ digest, status: "accepted" });
      } finally {
        world.verifier.down = false;
      }
      world.verifier.wallets.set(payer.toLowerCase(), randomAddress());
      expect((await post("/v1/escrows/releases", body)).json()).to.deep.include({ digest, status: "accepted" });
      const fresh = release(9n, 600n, owner);
      expect((await post("/v1/escrows/releases", fresh.body)).json().code).to.equal("invalid_signature");
    });

    it("answers a resubmitted release with its record while the escrow cannot be read", async () => {
      const { body, digest } = release(5n, 600n);
      expect((await post("/v1/escrows/releases", body)).statusCode).to.equal(202);
      const read = world.escrow.getEscrow;
      world.escrow.getEscrow = async () => {
        throw new Error("fetch failed");
      };
      try {
        const again = await post("/v1/escrows/releases", body);
        expect(again.statusCode).to.equal(202);
        expect(again.json()).to.deep.include({ digest, status: "accepted" });
        expect((await post("/v1/escrows/releases", release(6n, 600n).body)).json().code).to.equal("chain_unavailable");
      } finally {
        world.escrow.getEscrow = read;
      }
    });

    it("ends a release that would revert as settled if the escrow already released its total, else failed", async () => {
      const paid = release(7n, 600n);
      const unpaid = release(8n, 600n);
      expect((await post("/v1/escrows/releases", paid.body)).statusCode).to.equal(202);
      expect((await post("/v1/escrows/releases", unpaid.body)).statusCode).to.equal(202);
      // The payer releases escrow 7 up to 600 directly; both relays would now revert.
      Object.assign(world.escrow.escrows.get(7n) ?? {}, { released: 600n, remaining: 400n });
      world.chain.simulationRevert = "EscrowNothingToRelease";
      const sent = world.chain.sent.length;
      try {
        await world.service.relays.tick();
      } finally {
        world.chain.simulationRevert = undefined;
      }
      const status = async (digest: string) =>
        (await app.inject({ method: "GET", url: `/v1/escrows/releases/${digest}` })).json();
      expect(await status(paid.digest)).to.deep.include({ status: "settled", txHash: null, failureReason: null });
      expect(await status(unpaid.digest)).to.deep.include({
        status: "failed",
        failureReason: "simulation_reverted: execution reverted: EscrowNothingToRelease",
      });
      expect(world.chain.sent.length, "nothing sent").to.equal(sent);
    });

    it("rejects an unknown escrow, a signature not by the payer, and a release of nothing", async () => {
      const unknown = release(2n, 600n);
      world.escrow.escrows.delete(2n);
      expect((await post("/v1/escrows/releases", unknown.body)).json().code).to.equal("unknown_escrow");
      expect((await post("/v1/escrows/releases", release(3n, 600n, randomAddress()).body)).json().code).to.equal(
        "invalid_signature",
      );
      expect((await post("/v1/escrows/releases", release(4n, 100n).body)).json().code).to.equal("nothing_to_release");
    });
  });

  describe("vouchers", () => {
    function channel(claimed = 0n) {
      const channelId = randomDigest();
      const signer = randomAddress();
      world.channels.channels.set(channelId.toLowerCase(), {
        payer: randomAddress(),
        payee: randomAddress(),
        token: randomAddress(),
        signer,
        deposit: 1_000n,
        claimed,
        closesAt: 0n,
        open: true,
      });
      const voucher = (cumulativeAmount: bigint, by = signer) => {
        const digest = fakeSigning.hashVoucher({
          domain: { chainId: world.chain.chainId, verifyingContract: world.channels.address },
          voucher: { channelId, cumulativeAmount },
        });
        return { channelId, cumulativeAmount: cumulativeAmount.toString(), signature: fakeSign(by, digest) };
      };
      return { channelId, voucher };
    }

    it("answers 503 store_unavailable, keeping nothing, when the store cannot take a voucher", async () => {
      const { channelId, voucher } = channel();
      const restore = breakStore("upsertVoucher");
      try {
        const refused = await post("/v1/vouchers", voucher(10n));
        expect(refused.statusCode).to.equal(503);
        expect(refused.json().code).to.equal("store_unavailable");
      } finally {
        restore();
      }
      expect(await temp.store.getVoucher(world.channels.address, channelId)).to.equal(null);
    });

    it("keeps the highest voucher of a channel", async () => {
      const { channelId, voucher } = channel();
      expect((await post("/v1/vouchers", voucher(300n))).json()).to.deep.include({ cumulativeAmount: "300" });
      expect((await post("/v1/vouchers", voucher(200n))).json()).to.deep.include({ cumulativeAmount: "300" });
      expect((await post("/v1/vouchers", { ...voucher(500n), claim: true })).json()).to.deep.equal({
        channelId,
        cumulativeAmount: "500",
        claimedAmount: "0",
        claimRequested: true,
      });
      const kept = await app.inject({ method: "GET", url: `/v1/vouchers/${channelId}` });
      expect(kept.json().cumulativeAmount).to.equal("500");
    });

    /** Makes the fake node revert the claim simulations of `channelIds` while `during` runs. */
    async function rejectingClaimsOf(channelIds: readonly string[], during: () => Promise<void>) {
      const rejected = new Set(channelIds.map((id) => id.toLowerCase()));
      world.chain.simulate = (_to, data) => {
        const [kind, channelId] = hexToString(data).split(" ");
        if (kind === "claim" && rejected.has(channelId.toLowerCase())) {
          throw new CallRevertedError("execution reverted: PaymentChannelsChannelNotOpen");
        }
      };
      try {
        await during();
      } finally {
        world.chain.simulate = () => undefined;
      }
    }
    const claimOf = (channelId: string) =>
      world.chain.sent.filter((tx) => hexToString(tx.data).startsWith(`claim ${channelId}`));

    it("stops asking to claim the voucher of a channel that closed, and keeps asking while it is open", async () => {
      const closed = channel();
      const open = channel();
      for (const c of [closed, open]) await post("/v1/vouchers", { ...c.voucher(300n), claim: true });
      Object.assign(world.channels.channels.get(closed.channelId.toLowerCase()) ?? {}, { open: false });
      await rejectingClaimsOf([closed.channelId, open.channelId], () => world.service.relays.tick());
      const requested = async (channelId: string) =>
        (await app.inject({ method: "GET", url: `/v1/vouchers/${channelId}` })).json().claimRequested;
      expect(await requested(closed.channelId)).to.equal(false);
      expect(await requested(open.channelId)).to.equal(true); // a top-up may make it claimable
    });

    it("reaches the claims asked for after ten that keep being rejected", async () => {
      const failing = Array.from({ length: 10 }, () => channel());
      const passing = channel();
      for (const c of [...failing, passing]) await post("/v1/vouchers", { ...c.voucher(300n), claim: true });
      await rejectingClaimsOf(
        failing.map((c) => c.channelId),
        async () => {
          await world.service.relays.tick(); // the ten (and any asked for before) are tried first
          await world.service.relays.tick();
        },
      );
      expect(claimOf(passing.channelId)).to.have.length(1);
      for (const c of failing) expect(claimOf(c.channelId)).to.have.length(0);
    });

    it("does not send a claim again at once after it reverted on-chain", async () => {
      const { channelId, voucher } = channel();
      await post("/v1/vouchers", { ...voucher(300n), claim: true });
      world.chain.automine = false;
      const logsFor = world.chain.logsFor;
      world.chain.logsFor = (tx, block) =>
        hexToString(tx.data).startsWith(`claim ${channelId}`) ? { logs: [], status: "reverted" } : logsFor(tx, block);
      try {
        await world.service.relays.tick();
        expect(claimOf(channelId)).to.have.length(1);
        world.chain.mine();
        await world.service.txManager.tick(); // the claim reverted: its voucher is claimable again
        await world.service.relays.tick();
        await world.service.relays.tick();
        expect(claimOf(channelId), "not sent again within the backoff").to.have.length(1);
      } finally {
        world.chain.automine = true;
        world.chain.logsFor = logsFor;
      }
    });

    it("rejects vouchers of unknown channels, by other signers, above the deposit or not above the claimed", async () => {
      const { voucher } = channel(400n);
      expect((await post("/v1/vouchers", { ...voucher(500n), channelId: randomDigest() })).json().code).to.equal(
        "unknown_channel",
      );
      expect((await post("/v1/vouchers", voucher(500n, randomAddress()))).json().code).to.equal("invalid_signature");
      expect((await post("/v1/vouchers", voucher(1_001n))).json().code).to.equal("voucher_exceeds_deposit");
      expect((await post("/v1/vouchers", voucher(400n))).json().code).to.equal("voucher_not_newer");
    });
  });

  describe("hostile input", () => {
    it("answers 300 random and mutated bodies with a 4xx code and accepts none of them", async () => {
      const base = signed();
      const field = fc.constantFrom(...Object.keys(wire(base.payment)));
      const junk = fc.oneof(
        fc.string(),
        fc.string({ unit: "grapheme" }),
        fc.integer(),
        fc.double(),
        fc.boolean(),
        fc.constant(null),
        fc.constant("0x"),
        fc.constant(`0x${"f".repeat(130)}`),
        fc.constant((2n ** 256n).toString()),
        fc.constant("-1"),
        fc.constant("1e18"),
        fc.array(fc.integer(), { maxLength: 3 }),
      );
      const mutated = fc.record({ field, value: junk }).map(({ field: key, value }) => ({
        payment: { ...wire(base.payment), [key]: value },
        signature: base.signature,
      }));
      const bodies = fc.oneof(fc.anything(), mutated, fc.record({ payment: fc.anything(), signature: junk }));
      const before = (await temp.store.reservations(world.hub.address)).reduce((n, r) => n + r.intents, 0);
      await fc.assert(
        fc.asyncProperty(bodies, async (body) => {
          const original = { payment: wire(base.payment), signature: base.signature };
          if (JSON.stringify(body) === JSON.stringify(original)) return; // a "mutation" that changed nothing
          const response = await post("/v1/payments", body);
          expect(response.statusCode, JSON.stringify(response.json())).to.be.within(400, 499);
          expect(Object.keys(ERROR_CODES)).to.include(response.json().code);
        }),
        { numRuns: 300 },
      );
      const afterwards = (await temp.store.reservations(world.hub.address)).reduce((n, r) => n + r.intents, 0);
      expect(afterwards).to.equal(before);
    });
  });

  describe("minimum fee", () => {
    // Invariant: with a minimum fee set for a token, no intent of that token paying less is
    // accepted (the relayer would pay the gas for less than it asks); other tokens are unaffected.
    it("refuses an intent paying less than the token's minimum with 422 fee_too_low, accepts one paying it, and shows the minimums", async () => {
      const other = randomAddress();
      const priced = fakeWorld(temp.store, { config: { minFee: new Map([[TOKEN.toLowerCase(), 10n]]) } });
      const api = await priced.service.buildApi();
      const intent = (overrides: Partial<Payment>) => {
        const p = payment(overrides);
        priced.hub.deposit(p.from, p.token, p.amount + p.fee);
        const digest = fakeSigning.hashPayment({ domain: priced.hub.domain, payment: p });
        return { digest, body: { payment: wire(p), signature: fakeSign(p.from, digest) } };
      };
      try {
        const low = intent({ fee: 9n });
        const refused = await api.inject({ method: "POST", url: "/v1/payments", payload: low.body });
        expect(refused.statusCode).to.equal(422);
        expect(refused.json()).to.deep.include({ code: "fee_too_low" });
        expect(refused.json().message).to.include("minimum of 10");
        expect(await temp.store.getIntent(low.digest)).to.equal(null);

        for (const fee of [10n, 11n]) {
          const paid = await api.inject({ method: "POST", url: "/v1/payments", payload: intent({ fee }).body });
          expect(paid.statusCode, `fee ${fee}`).to.equal(202);
        }
        const free = await api.inject({
          method: "POST",
          url: "/v1/payments",
          payload: intent({ token: other, fee: 0n }).body,
        });
        expect(free.statusCode, "a token without a minimum").to.equal(202);

        const status = await api.inject({ method: "GET", url: "/v1/status" });
        expect(status.json().minFees).to.deep.equal([{ token: getAddress(TOKEN), amount: "10" }]);
      } finally {
        await api.close();
      }
    });
  });

  describe("limits", () => {
    it("answers requests beyond the per-client rate limit with 429 rate_limited", async () => {
      const limited = fakeWorld(temp.store, { config: { rateLimit: 3, rateLimitWindowMs: 60_000 } });
      const api = await limited.service.buildApi();
      try {
        const statuses: number[] = [];
        for (let i = 0; i < 5; i++) {
          statuses.push((await api.inject({ method: "GET", url: `/v1/payments/${randomDigest()}` })).statusCode);
        }
        expect(statuses).to.deep.equal([404, 404, 404, 429, 429]);
        const refused = await api.inject({ method: "GET", url: `/v1/payments/${randomDigest()}` });
        expect(refused.json().code).to.equal("rate_limited");
        expect((await api.inject({ method: "GET", url: "/healthz" })).statusCode).to.equal(200);
      } finally {
        await api.close();
      }
    });

    it("keys the rate limit by IPv6 /64, so a client cannot take a fresh limit per address", async () => {
      const limited = fakeWorld(temp.store, { config: { rateLimit: 2, rateLimitWindowMs: 60_000 } });
      const api = await limited.service.buildApi();
      const get = (remoteAddress: string) =>
        api.inject({ method: "GET", url: `/v1/payments/${randomDigest()}`, remoteAddress });
      try {
        const statuses = [];
        for (const address of ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3"]) {
          statuses.push((await get(address)).statusCode);
        }
        expect(statuses).to.deep.equal([404, 404, 429]);
        expect((await get("2001:db8:1:3::1")).statusCode).to.equal(404); // another /64
        expect((await get("::ffff:192.0.2.7")).statusCode).to.equal(404);
        expect((await get("192.0.2.7")).statusCode).to.equal(404); // the same client as ::ffff:192.0.2.7
        expect((await get("192.0.2.7")).statusCode).to.equal(429);
      } finally {
        await api.close();
      }
    });

    it("counts each intent of a batch as one request against the rate limit", async () => {
      const limited = fakeWorld(temp.store, { config: { rateLimit: 5, rateLimitWindowMs: 60_000 } });
      const api = await limited.service.buildApi();
      const item = () => {
        const p = payment();
        limited.hub.deposit(p.from, p.token, p.amount + p.fee);
        const digest = fakeSigning.hashPayment({ domain: limited.hub.domain, payment: p });
        return { payment: wire(p), signature: fakeSign(p.from, digest), digest };
      };
      const send = (items: ReturnType<typeof item>[]) =>
        api.inject({
          method: "POST",
          url: "/v1/payments/batch",
          payload: { items: items.map(({ payment, signature }) => ({ payment, signature })) },
        });
      try {
        const three = await send([item(), item(), item()]);
        expect(three.statusCode).to.equal(200);
        const over = [item(), item(), item()];
        const refused = await send(over); // 3 + 3 > 5
        expect(refused.statusCode).to.equal(429);
        expect(refused.json().code).to.equal("rate_limited");
        // When to come back, as the single-intent route's refusals say.
        expect(Number(refused.headers["retry-after"])).to.be.within(1, 60);
        for (const intent of over) expect(await temp.store.getIntent(intent.digest)).to.equal(null);
        const single = await api.inject({ method: "GET", url: `/v1/payments/${randomDigest()}` });
        expect(single.statusCode).to.equal(429);
      } finally {
        await api.close();
      }
    });

    it("answers requests that arrive while it shuts down with 503 shutting_down, in the API's error shape", async () => {
      const stopping = fakeWorld(temp.store);
      const api = await stopping.service.buildApi();
      await api.ready();
      stopping.service.gate.closing = true; // what RelayerService.stop() does before closing the server
      const closed = api.close();
      const response = await api.inject({
        method: "POST",
        url: "/v1/payments",
        payload: { payment: wire(payment()), signature: toHex(1n, { size: 65 }) },
      });
      await closed;
      expect(response.statusCode).to.equal(503);
      expect(response.json()).to.deep.include({ code: "shutting_down" });
    });

    it("answers not_configured for contracts the relayer does not serve", async () => {
      const bare = fakeWorld(temp.store, { contracts: false });
      const api = await bare.service.buildApi();
      try {
        const response = await api.inject({
          method: "POST",
          url: "/v1/payments",
          payload: { payment: wire(payment()), signature: toHex(1n, { size: 65 }) },
        });
        expect(response.statusCode).to.equal(422);
        expect(response.json().code).to.equal("not_configured");
      } finally {
        await api.close();
      }
    });
  });
});
