// GraphiQL in a real browser, against a running gateway with the booking services:
//
//   GATEWAY_URL=http://127.0.0.1:8080 E2E_TOKEN=<an administrator's token> \
//     SCREENSHOT_DIR=target/shots node web/e2e/graphiql.mjs
//
// Opens /graphql as a browser does, runs a query that needs a token without one
// (UNAUTHENTICATED) and with E2E_TOKEN in the headers editor (the show this script created
// is in the answer), then a subscription, `bookingProgress`, which only works if the
// headers editor's Authorization reaches the WebSocket's connection_init: the result pane
// follows the booking to CONFIRMED.

import { Failure, fresh, scenario } from './lib.mjs';

const token = process.env.E2E_TOKEN;
if (!token) {
  console.error('E2E_TOKEN must hold a bearer token of an administrator (cargo xtask token --sub root --role admin)');
  process.exit(2);
}

await scenario('graphiql', async (run) => {
  const showName = `GraphiQL ${fresh('show')}`;
  const created = await api(
    run,
    'mutation($name: String!) { createShow(name: $name, capacity: 10, priceCents: "900") { ... on Show { id } } }',
    { name: showName },
  );
  const showId = created.createShow?.id;
  if (!showId) throw new Failure(`createShow to answer a show, got ${JSON.stringify(created)}`);
  const page = await run.page('graphiql');

  await run.step('open GraphiQL at /graphql', [page], async () => {
    await page.goto(run.url('/graphql'));
    await run.expectVisible(page.locator('.graphiql-container'), 'the GraphiQL interface');
    await run.expectVisible(queryEditor(page).locator('.view-lines'), 'the query editor (Monaco)');
  });

  const query = `{ show(id: "${showId}") { __typename ... on Show { id name capacity } } }`;
  await run.step('a query without a token is UNAUTHENTICATED', [page], async () => {
    await setEditor(run, page, queryEditor(page), query);
    await prettify(page);
    await execute(page);
    await expectResult(run, page, /UNAUTHENTICATED/, 'an UNAUTHENTICATED error in the result pane');
  });

  await run.step('with the token in the headers editor, the answer has data', [page], async () => {
    await page.getByRole('button', { name: 'Headers' }).click();
    await setEditor(run, page, headersEditor(page), JSON.stringify({ Authorization: `Bearer ${token}` }));
    await execute(page);
    await expectResult(run, page, literal(showName), `the show "${showName}" in the result pane`);
    const text = await resultText(page);
    run.expect(!/"errors"/.test(text), 'an answer without errors', text);
  });

  const booking = await api(run, 'mutation($show: ID!) { createBooking(showId: $show, seats: 1) { ... on Booking { id } } }', { show: showId });
  const bookingId = booking.createBooking?.id;
  if (!bookingId) throw new Failure(`createBooking to answer a booking, got ${JSON.stringify(booking)}`);

  await run.step('a subscription gets the token in connection_init', [page], async () => {
    await setEditor(
      run,
      page,
      queryEditor(page),
      `subscription { bookingProgress(id: "${bookingId}") { id status reason } }`,
    );
    await prettify(page);
    await execute(page);
    await expectResult(run, page, /"CONFIRMED"/, 'the booking followed to CONFIRMED in the result pane');
  });
});

function queryEditor(page) {
  return page.locator('.graphiql-query-editor .monaco-editor');
}

function headersEditor(page) {
  return page.locator('.graphiql-editor-tool .monaco-editor:visible');
}

/** Replaces the text of a Monaco editor as a user would: select all, then type. */
async function setEditor(run, page, editor, text) {
  await run.expectVisible(editor, 'an editor to type into');
  await editor.locator('.view-lines').click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.press('Delete');
  // Inserted as one piece: typed key by key, Monaco would close brackets and quotes itself.
  await page.keyboard.insertText(text);
  const shown = normalize(await editor.locator('.view-lines').innerText());
  run.expect(shown === normalize(text), `the editor to hold ${text}`, shown);
}

/**
 * GraphiQL's own "Prettify query" button, then each editor scrolled back to its start, so
 * screenshots show the query and headers readably.
 */
async function prettify(page) {
  await page.locator('button[aria-label^="Prettify query"]').click();
  for (const editor of [queryEditor(page), headersEditor(page)]) {
    if ((await editor.count()) === 0) continue;
    await editor.locator('.view-lines').click();
    await page.keyboard.press('ControlOrMeta+Home');
  }
}

async function execute(page) {
  await page.locator('.graphiql-execute-button').click();
}

async function resultText(page) {
  return normalize(await page.locator('.graphiql-response .view-lines').innerText());
}

async function expectResult(run, page, pattern, expected) {
  await run.expectVisible(page.locator('.graphiql-response .view-lines').filter({ hasText: pattern }), expected);
}

/** Monaco renders spaces as no-break spaces, one line per element. */
function normalize(text) {
  return text.replace(/\u00a0/g, ' ').replace(/\s+/g, ' ').trim();
}

/** A pattern matching `text` literally, any kind of space matching any other. */
function literal(text) {
  return new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/ /g, '\\s'));
}

/** Runs `query` over HTTP as the holder of E2E_TOKEN; its data, or a Failure. */
async function api(run, query, variables) {
  const response = await fetch(run.url('/graphql'), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(30_000),
  });
  const body = await response.json().catch(() => null);
  if (!response.ok || !body?.data || body.errors) {
    throw new Failure(`${query} to succeed, got ${response.status} ${JSON.stringify(body)}`);
  }
  return body.data;
}
