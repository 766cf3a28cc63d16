import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, describe, it } from "node:test";
import { expect } from "chai";
import type { Hex } from "viem";
import { createRelayerClient, type Payment, RelayerRequestError } from "../../src/client/index.js";

const PREFIX = "/relayer";
const digest: Hex = `0x${"ab".repeat(32)}`;
const channelId: Hex = `0x${"cd".repeat(32)}`;
const signature: Hex = `0x${"11".repeat(65)}`;
const payer = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const payment: Payment = {
  from: payer,
  to: "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
  token: "0x0000000000000000000000000000000000000000",
  amount: 1_000n,
  fee: 1n,
  nonce: 7n,
  validAfter: 0n,
  validBefore: 2_000_000_000n,
  ref: `0x${"00".repeat(32)}`,
};
const pending = {
  digest,
  status: "accepted",
  payment: { ...payment, amount: "1000", fee: "1", nonce: "7", validAfter: "0", validBefore: "2000000000" },
  txHash: null,
  blockNumber: null,
  failureReason: null,
  acceptedAt: "2025-01-01T00:00:00.000Z",
  updatedAt: "2025-01-01T00:00:00.000Z",
};
const health = {
  status: "ok",
  paused: false,
  chainId: 31337,
  relayer: payer,
  hub: null,
  escrow: null,
  channels: null,
  store: "pglite",
  inflightTransactions: 0,
  checks: {},
};

/**
 * A relayer served under `/relayer` by a reverse proxy, on 127.0.0.1: it records every request
 * (`METHOD path`); it answers `healthz` and `v1/payments/{digest}`, refuses every other route
 * under the prefix as paused (so a refusal still proves the request reached it), and answers
 * `not_found` outside the prefix.
 */
const requests: string[] = [];
const server = createServer((request: IncomingMessage, response: ServerResponse) => {
  request.resume();
  request.on("end", () => {
    const route = `${request.method} ${request.url}`;
    requests.push(route);
    const reply = (status: number, body: unknown) => {
      response.writeHead(status, { "content-type": "application/json" });
      response.end(JSON.stringify(body));
    };
    if (route === `GET ${PREFIX}/healthz`) return reply(200, health);
    if (route === `GET ${PREFIX}/v1/payments/${digest}`) return reply(200, pending);
    if (request.url?.startsWith(`${PREFIX}/`)) return reply(503, { code: "paused", message: "paused" });
    return reply(404, { code: "not_found", message: `no route ${route}` });
  });
});
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

async function refusal(promise: Promise<unknown>): Promise<RelayerRequestError> {
  const error = await promise.then(
    () => expect.fail("the request succeeded"),
    (e: unknown) => e,
  );
  expect(error).to.be.instanceOf(RelayerRequestError);
  return error as RelayerRequestError;
}

describe("createRelayerClient", () => {
  after(() => server.close());

  const bases: [string, string | URL][] = [
    [`"…${PREFIX}"`, `${origin}${PREFIX}`],
    [`"…${PREFIX}/"`, `${origin}${PREFIX}/`],
    [`a URL object of …${PREFIX}`, new URL(`${origin}${PREFIX}`)],
  ];
  for (const [name, url] of bases) {
    it(`sends every request below the base URL's path (${name})`, async () => {
      requests.length = 0;
      const href = url.toString();
      const relayer = createRelayerClient({ url });
      expect((await relayer.health()).status).to.equal("ok");
      expect((await relayer.getPayment(digest)).status).to.equal("accepted");
      const refused = [
        () => relayer.submitPayment({ payment, signature }),
        () => relayer.submitPayments([{ payment, signature }]),
        () => relayer.submitRelease({ release: { id: 1n, releasedTotal: 2n, deadline: 3n }, signature }),
        () => relayer.getRelease(digest),
        () => relayer.submitVoucher({ voucher: { channelId, cumulativeAmount: 5n }, signature }),
        () => relayer.getVoucher(channelId),
        () => relayer.status(),
        () => relayer.pause("token"),
        () => relayer.resume("token"),
      ];
      for (const request of refused) expect((await refusal(request())).code).to.equal("paused");
      expect(requests).to.deep.equal(
        [
          "GET /healthz",
          `GET /v1/payments/${digest}`,
          "POST /v1/payments",
          "POST /v1/payments/batch",
          "POST /v1/escrows/releases",
          `GET /v1/escrows/releases/${digest}`,
          "POST /v1/vouchers",
          `GET /v1/vouchers/${channelId}`,
          "GET /v1/status",
          "POST /v1/admin/pause",
          "POST /v1/admin/resume",
        ].map((route) => route.replace(" /", ` ${PREFIX}/`)),
      );
      // The caller's URL object is left as it was.
      expect(url.toString()).to.equal(href);
    });
  }

  it("sends requests from the root of a base URL without a path", async () => {
    requests.length = 0;
    const error = await refusal(createRelayerClient({ url: origin }).health());
    expect(error).to.include({ code: "not_found", status: 404 });
    expect(requests).to.deep.equal(["GET /healthz"]);
  });

  it("rejects a base URL that is not a URL", () => {
    expect(() => createRelayerClient({ url: "relayer.example.com/relayer" })).to.throw(TypeError);
  });

  it("gives up waiting for a payment with code `timeout`, telling it apart from an unreachable relayer", async () => {
    const relayer = createRelayerClient({ url: `${origin}${PREFIX}` });
    const timedOut = await refusal(relayer.waitForPayment(digest, { timeoutMs: 30, pollIntervalMs: 5 }));
    expect(timedOut).to.include({ name: "RelayerRequestError", code: "timeout", status: 0 });
    expect(timedOut.message).to.include(`payment ${digest} still accepted after 30 ms`);
    // Still polls until a wanted status, which it returns.
    const accepted = await relayer.waitForPayment(digest, { statuses: ["accepted"], timeoutMs: 30 });
    expect(accepted.status).to.equal("accepted");

    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const unreachable = createRelayerClient({ url: `http://127.0.0.1:${port}${PREFIX}` });
    const error = await refusal(unreachable.waitForPayment(digest, { timeoutMs: 30 }));
    expect(error).to.include({ code: "network_error", status: 0 });
  });
});
