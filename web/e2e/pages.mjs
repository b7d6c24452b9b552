// Steps on the web client's page that several scenarios take.

import { Failure } from './lib.mjs';

/** How long one warm-up todo may take to arrive before the next is sent. */
const WARM_UP_WAIT_MS = 4000;
const WARM_UP_ATTEMPTS = 6;

/** Signs `page` in as `userId` through the development form (POST /dev/token). */
export async function devSignIn(run, page, userId, { admin = false } = {}) {
  await page.goto(run.url('/'));
  await run.expectVisible(
    page.getByTestId('dev-sign-in'),
    'the development sign-in form (is the client built with `npm --prefix web run build:dev`?)',
  );
  await page.getByTestId('dev-user-id').fill(userId);
  if (admin) await page.getByTestId('dev-admin').check();
  await page.getByTestId('dev-sign-in-button').click();
  await run.expectVisible(
    page.getByTestId('whoami-sub').getByText(userId, { exact: true }),
    `to be signed in as ${userId}`,
  );
}

export async function addTodo(run, page, title) {
  await page.getByTestId('new-todo-title').fill(title);
  await page.getByTestId('add-todo').click();
  await run.expectVisible(todo(page, title), `"${title}" to be listed after adding it`);
}

/** The todo titled `title` (with `completed` as given, unless undefined). */
export function todo(page, title, completed) {
  const selector =
    completed === undefined ? '[data-testid="todo"]' : `[data-testid="todo"][data-completed="${completed}"]`;
  return page.locator(selector).filter({
    has: page.getByTestId('todo-title').getByText(title, { exact: true }),
  });
}

export function show(page, name) {
  return page.getByTestId('show').filter({
    has: page.getByTestId('show-name').getByText(name, { exact: true }),
  });
}

/** Books `seats` of show `name`; the new booking's card. */
export async function book(run, page, name, seats) {
  const cards = page.getByTestId('booking');
  const before = await cards.count();
  const row = show(page, name);
  await row.getByTestId('book-seats').fill(String(seats));
  await row.getByTestId('book').click();
  await run.expectVisible(cards.nth(before), `a new booking card for ${seats} seats`);
  // The newest booking comes first.
  const id = await cards.first().getAttribute('data-booking-id');
  return page.locator(`[data-testid="booking"][data-booking-id="${id}"]`);
}

/**
 * Adds warm-up todos in `writer` until one appears in `reader`, which proves the reader's
 * todoChanged subscription is in place.
 */
export async function untilLive(run, writer, reader, direction) {
  for (let attempt = 1; attempt <= WARM_UP_ATTEMPTS; attempt += 1) {
    const title = `warm-up ${direction} #${attempt}`;
    await addTodo(run, writer, title);
    try {
      await todo(reader, title).waitFor({ state: 'visible', timeout: WARM_UP_WAIT_MS });
      return;
    } catch {
      console.log(`  warm-up todo #${attempt} ${direction} did not arrive in time; sending another`);
    }
  }
  throw new Failure(`todoChanged events to arrive ${direction} within ${WARM_UP_ATTEMPTS} attempts`);
}

/** A JWT-shaped token for `sub` with a signature no gateway accepts. */
export function forgedToken(sub) {
  const part = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const exp = Math.floor(Date.now() / 1000) + 3600;
  return `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ sub, roles: [], exp })}.${'A'.repeat(43)}`;
}
