// Preloaded with `node --require` into the conformance suite when it tests the gateway.
//
// The suite's `server` command has no option to send a header, and the gateway answers 401 to
// any request without `Authorization: Bearer <grant token>`. So this adds that one header to
// every HTTP request the suite makes to the gateway's origin (MCPWALL_CONFORMANCE_ORIGIN),
// unless the request already carries one; nothing else on the wire changes, and requests to
// any other origin are left alone. Both ways the suite talks HTTP go through undici's global
// dispatcher: the built-in `fetch` (the SDK client and the raw 2026-07-28 probes) and the
// `undici` package's `request` (the DNS-rebinding probes), so the header is added there.
"use strict";
const { createRequire } = require("node:module");

const origin = process.env.MCPWALL_CONFORMANCE_ORIGIN;
const token = process.env.MCPWALL_CONFORMANCE_TOKEN;
const suite = process.env.MCPWALL_CONFORMANCE_SUITE; // the suite's package.json: use its undici
if (!origin || !token || !suite) {
  throw new Error("grant-token.cjs needs MCPWALL_CONFORMANCE_{ORIGIN,TOKEN,SUITE}");
}
const { Agent, setGlobalDispatcher } = createRequire(suite)("undici");
const value = `Bearer ${token}`;

function isAuthorization(name) {
  return String(name).toLowerCase() === "authorization";
}

// undici accepts headers as a plain object, a flat [name, value, …] array, or an iterable
// of pairs; the copy keeps the shape it was given.
function withToken(headers) {
  if (headers == null) return { authorization: value };
  if (Array.isArray(headers)) {
    if (headers.length > 0 && Array.isArray(headers[0])) {
      return headers.some(([name]) => isAuthorization(name))
        ? headers
        : [...headers, ["authorization", value]];
    }
    for (let i = 0; i < headers.length; i += 2) if (isAuthorization(headers[i])) return headers;
    return [...headers, "authorization", value];
  }
  if (typeof headers[Symbol.iterator] === "function") return withToken([...headers]);
  return Object.keys(headers).some(isAuthorization)
    ? headers
    : { ...headers, authorization: value };
}

function sameOrigin(requested) {
  try {
    return new URL(String(requested)).origin === origin;
  } catch {
    return false;
  }
}

const addToken = (dispatch) => (options, handler) =>
  dispatch(
    sameOrigin(options.origin) ? { ...options, headers: withToken(options.headers) } : options,
    handler,
  );

setGlobalDispatcher(new Agent().compose(addToken));
