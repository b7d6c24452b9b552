// The GraphQL-over-HTTP conformance audits of `graphql-http` against a running gateway,
// strictly: every audit must be `ok` (a SHOULD's `warn`, a MAY's `notice` fail too).
//
//   node web/tests/audit.mjs http://127.0.0.1:8080/graphql
//
// Prints one line per audit and, for each one not ok, why and what the server answered.
// Exits 0 when every audit is ok, 1 otherwise, 2 on bad usage. Every request gives up
// after FETCH_TIMEOUT_MS and the whole run after RUN_TIMEOUT_MS, so it never hangs.

import { serverAudits } from 'graphql-http';

const FETCH_TIMEOUT_MS = 10_000;
const RUN_TIMEOUT_MS = 60_000;
const BODY_LIMIT = 500;

const url = process.argv[2];
if (!url) {
  console.error('usage: node web/tests/audit.mjs <url of /graphql>');
  process.exit(2);
}

const runTimer = setTimeout(() => {
  console.error(`the audits did not finish within ${RUN_TIMEOUT_MS} ms`);
  process.exit(1);
}, RUN_TIMEOUT_MS);
runTimer.unref();

/** `fetch`, giving up after FETCH_TIMEOUT_MS. */
function fetchFn(input, init = {}) {
  return fetch(input, { ...init, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
}

/** The status, headers and (truncated) body of `response`, for a failure report. */
async function describe(response) {
  if (!response || typeof response.status !== 'number') {
    return '    (no response)';
  }
  const headers = [...response.headers].map(([k, v]) => `${k}: ${v}`).join('; ');
  let body;
  try {
    body = await response.text();
  } catch (error) {
    body = `(body unreadable: ${error.message})`;
  }
  if (body.length > BODY_LIMIT) {
    body = `${body.slice(0, BODY_LIMIT)}… (${body.length} characters)`;
  }
  return [
    `    status: ${response.status}`,
    `    headers: ${headers}`,
    `    body: ${body}`,
  ].join('\n');
}

const audits = serverAudits({ url, fetchFn });
const results = await Promise.all(
  audits.map(async ({ id, name, fn }) => {
    try {
      return await fn();
    } catch (error) {
      // graphql-http throws (rather than reporting) on anything but a failed assertion:
      // a refused connection, a timeout.
      return { id, name, status: 'error', reason: `fatal: ${error?.message ?? error}` };
    }
  }),
);

let failed = 0;
for (const result of results) {
  const label = result.status === 'ok' ? 'ok' : result.status.toUpperCase();
  console.log(`${label.padEnd(6)} ${result.id} ${result.name}`);
  if (result.status !== 'ok') {
    failed += 1;
    console.log(`    reason: ${result.reason}`);
    console.log(await describe(result.response));
  }
}
console.log(
  `${results.length - failed} of ${results.length} audits ok` +
    (failed ? `, ${failed} not ok` : ''),
);
clearTimeout(runTimer);
process.exit(failed ? 1 : 0);
