import { randomBytes } from "node:crypto";
import type { FastifyInstance } from "fastify";
import type { RouteDoc } from "./route.js";
import { route } from "./route.js";
import { type StatusBody, statusResponse } from "./schemas.js";

/** How often the page asks for fresh figures. */
const REFRESH_MS = 1_000;

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/** JSON that is safe inside a `<script>` element (no `</script>`, no HTML comment openers). */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c").replace(/>/g, "\\u003e").replace(/&/g, "\\u0026");
}

const short = (hex: string) => `${hex.slice(0, 10)}…${hex.slice(-8)}`;
/** Wei as ether with four decimals (truncated), as the page's script formats it too. */
export function formatBalance(wei: string | null): string {
  if (wei === null) return "unknown";
  const value = BigInt(wei);
  const fraction = ((value % 10n ** 18n) / 10n ** 14n).toString().padStart(4, "0");
  return `${value / 10n ** 18n}.${fraction} ETH`;
}

/** The rows of the page's tables, server-rendered; the inline script renders the same with `textContent`. */
function settlementRows(status: StatusBody): string {
  if (status.recentSettlements.length === 0) return '<tr><td colspan="5" class="empty">none yet</td></tr>';
  return status.recentSettlements
    .map(
      (s) =>
        `<tr><td>${escapeHtml(s.kind)}</td><td class="num">${escapeHtml(s.size)}</td><td>${escapeHtml(s.status)}</td>` +
        `<td class="num">${escapeHtml(s.blockNumber)}</td><td><code title="${escapeHtml(s.txHash)}">${escapeHtml(short(s.txHash))}</code></td></tr>`,
    )
    .join("");
}

function channelRows(status: StatusBody): string {
  if (status.channels.latest.length === 0) return '<tr><td colspan="4" class="empty">none</td></tr>';
  return status.channels.latest
    .map(
      (c) =>
        `<tr><td><code title="${escapeHtml(c.channelId)}">${escapeHtml(short(c.channelId))}</code></td>` +
        `<td class="num">${escapeHtml(c.cumulativeAmount)}</td><td class="num">${escapeHtml(c.claimedAmount)}</td>` +
        `<td>${c.claimRequested ? "requested" : "—"}</td></tr>`,
    )
    .join("");
}

const NO_AUTOMATION = "automation not running on this relayer";

function escrowFigures(status: StatusBody): string {
  const e = status.escrows;
  if (e === null) return `<td colspan="3" class="empty">${NO_AUTOMATION}</td>`;
  return `<td class="num">${escapeHtml(e.waiting)}</td><td class="num">${escapeHtml(e.due)}</td><td class="num">${escapeHtml(e.disputed)}</td>`;
}

/**
 * The status page: plain server-rendered HTML with the current figures, and a small inline
 * script (allowed by a per-response CSP nonce) that polls `GET /v1/status` and redraws the
 * figures with `textContent` only, so nothing from the API is ever parsed as HTML.
 */
export function renderStatusPage(status: StatusBody, nonce: string): string {
  const figure = (field: string, value: unknown) => `<span data-field="${field}">${escapeHtml(value)}</span>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>settlekit relayer</title>
<style nonce="${nonce}">
  body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 68rem; padding: 0 1rem; color: #1d2330; }
  h1 { font-size: 1.35rem; margin: 0 0 .2rem; } h2 { font-size: 1rem; margin: 1.6rem 0 .4rem; }
  .meta { color: #5a6272; margin-bottom: 1rem; } .meta code { font-size: 12px; }
  .cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(9rem, 1fr)); gap: .7rem; }
  .card { border: 1px solid #d9dde5; border-radius: 6px; padding: .6rem .8rem; background: #f8f9fb; }
  .card .label { color: #5a6272; font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
  .card .value { font-size: 1.2rem; font-variant-numeric: tabular-nums; white-space: nowrap; }
  table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #e6e9ef; }
  th { font-size: 12px; color: #5a6272; font-weight: 600; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
  td.empty { color: #8a91a0; font-style: italic; } code { font-size: 12px; }
  .paused { color: #b42318; font-weight: 600; } table.compact { width: auto; min-width: 30rem; }
</style>
</head>
<body>
<h1>settlekit relayer</h1>
<div class="meta">chain ${figure("chain-id", status.chainId)} · block ${figure("block-number", status.blockNumber)} ·
relayer <code data-field="relayer">${escapeHtml(status.relayer ?? "read-only")}</code> ·
<span data-field="paused" class="${status.paused ? "paused" : ""}">${status.paused ? "paused" : "running"}</span> ·
updated ${figure("time", status.time)}</div>
<div class="cards">
  <div class="card"><div class="label">queue depth</div><div class="value">${figure("queue-depth", status.queue.accepted)}</div></div>
  <div class="card"><div class="label">in transactions</div><div class="value">${figure("submitted", status.queue.submitted)}</div></div>
  <div class="card"><div class="label">settled / s (${escapeHtml(status.windowSeconds)} s)</div><div class="value">${figure("settled-per-second", status.settledPerSecond.toFixed(1))}</div></div>
  <div class="card"><div class="label">settled total</div><div class="value">${figure("settled-total", status.intents.settled)}</div></div>
  <div class="card"><div class="label">failed total</div><div class="value">${figure("failed-total", status.intents.failed)}</div></div>
  <div class="card"><div class="label">relayer balance</div><div class="value"><span data-field="relayer-balance" title="${escapeHtml(status.relayerBalance ?? "")} wei">${escapeHtml(formatBalance(status.relayerBalance))}</span></div></div>
</div>
<h2>Recent settlements</h2>
<table><thead><tr><th>kind</th><th class="num">items</th><th>status</th><th class="num">block</th><th>transaction</th></tr></thead>
<tbody data-table="settlements">${settlementRows(status)}</tbody></table>
<h2>Channels being watched: ${figure("channels-watched", status.channels.watched)} with vouchers kept,
${figure("channels-closing", status.channels.closing ?? "?")} closing</h2>
<table><thead><tr><th>channel</th><th class="num">latest voucher</th><th class="num">claimed</th><th>claim</th></tr></thead>
<tbody data-table="channels">${channelRows(status)}</tbody></table>
<h2>Escrows waiting for expiry</h2>
<table class="compact"><thead><tr><th class="num">waiting for their deadline</th><th class="num">due now</th><th class="num">disputed</th></tr></thead>
<tbody data-table="escrows"><tr>${escrowFigures(status)}</tr></tbody></table>
<script nonce="${nonce}">
"use strict";
let status = ${scriptJson(status)};
const short = (hex) => hex.slice(0, 10) + "\\u2026" + hex.slice(-8);
const ether = (wei) => {
  if (wei === null) return "unknown";
  const w = BigInt(wei);
  return (w / 10n ** 18n).toString() + "." + ((w % 10n ** 18n) / 10n ** 14n).toString().padStart(4, "0") + " ETH";
};
function cell(row, text, className, title) {
  const td = row.insertCell();
  if (className) td.className = className;
  if (title) { const code = document.createElement("code"); code.textContent = text; code.title = title; td.append(code); }
  else td.textContent = text;
  return td;
}
function fill(name, items, columns, empty) {
  const body = document.querySelector('[data-table="' + name + '"]');
  body.replaceChildren();
  if (items === null || items.length === 0) {
    cell(body.insertRow(), empty, "empty").colSpan = columns;
    return;
  }
  for (const item of items) item(body.insertRow());
}
function render(s) {
  const set = (field, value) => { document.querySelector('[data-field="' + field + '"]').textContent = String(value); };
  set("chain-id", s.chainId); set("block-number", s.blockNumber); set("relayer", s.relayer ?? "read-only");
  set("time", s.time); set("queue-depth", s.queue.accepted); set("submitted", s.queue.submitted);
  set("settled-per-second", s.settledPerSecond.toFixed(1)); set("settled-total", s.intents.settled);
  set("failed-total", s.intents.failed); set("relayer-balance", ether(s.relayerBalance));
  document.querySelector('[data-field="relayer-balance"]').title = (s.relayerBalance ?? "") + " wei";
  set("channels-watched", s.channels.watched);
  const paused = document.querySelector('[data-field="paused"]');
  paused.textContent = s.paused ? "paused" : "running";
  paused.className = s.paused ? "paused" : "";
  fill("settlements", s.recentSettlements.map((t) => (row) => {
    cell(row, t.kind); cell(row, String(t.size), "num"); cell(row, t.status);
    cell(row, t.blockNumber, "num"); cell(row, short(t.txHash), "", t.txHash);
  }), 5, "none yet");
  fill("channels", s.channels.latest.map((c) => (row) => {
    cell(row, short(c.channelId), "", c.channelId); cell(row, c.cumulativeAmount, "num");
    cell(row, c.claimedAmount, "num"); cell(row, c.claimRequested ? "requested" : "\\u2014");
  }), 4, "none");
  set("channels-closing", s.channels.closing ?? "?");
  const e = s.escrows;
  fill("escrows", e === null ? null : [(row) => {
    cell(row, String(e.waiting), "num"); cell(row, String(e.due), "num"); cell(row, String(e.disputed), "num");
  }], 3, "${NO_AUTOMATION}");
  document.body.dataset.refreshed = s.time;
}
async function refresh() {
  try {
    const response = await fetch("/v1/status", { cache: "no-store" });
    if (response.ok) { status = await response.json(); render(status); }
  } catch { /* the relayer is restarting: keep the last figures */ }
  setTimeout(refresh, ${REFRESH_MS});
}
setTimeout(refresh, ${REFRESH_MS});
</script>
</body>
</html>
`;
}

/** `GET /v1/status` (the figures, JSON) and `GET /` (the status page in the browser). */
export function statusRoutes(
  app: FastifyInstance,
  docs: RouteDoc[],
  deps: { status: () => Promise<StatusBody> },
): void {
  route(
    app,
    docs,
    {
      method: "GET",
      path: "/v1/status",
      summary: "Queue depth, settlement rate, recent settlements, relayer balance, watched channels and escrows",
      tags: ["operations"],
      success: { status: 200, schema: statusResponse },
      errors: [],
    },
    async (_input, _request, reply) => {
      reply.header("cache-control", "no-store");
      return deps.status();
    },
  );
  route(
    app,
    docs,
    {
      method: "GET",
      path: "/",
      summary: "The status page (HTML; refreshes itself from GET /v1/status)",
      tags: ["operations"],
      success: { status: 200, contentType: "text/html" },
      errors: [],
    },
    async (_input, _request, reply) => {
      const nonce = randomBytes(16).toString("base64");
      reply
        .type("text/html; charset=utf-8")
        .header("cache-control", "no-store")
        .header(
          "content-security-policy",
          `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
        )
        .header("x-content-type-options", "nosniff");
      return renderStatusPage(await deps.status(), nonce);
    },
  );
}
