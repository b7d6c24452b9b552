// The web client in a real browser, against a running gateway with the booking services
// and development tokens (GATEWAY_DEV_TOKENS=true) and the client built with
// `npm --prefix web run build:dev`:
//
//   GATEWAY_URL=http://127.0.0.1:8080 SCREENSHOT_DIR=target/shots node web/e2e/app.mjs
//
// A fresh user signs in twice (two browsers): a todo added in one appears live in the
// other, is completed there, and shows completed live in the first; todos deleted in one
// vanish from the other. An administrator
// creates a show of 5 seats, books 2 (PENDING, then CONFIRMED) and 10 (CANCELLED: sold
// out). A token the gateway refuses shows UNAUTHENTICATED, not a blank page.

import { fresh, scenario, waitForCount } from './lib.mjs';
import { addTodo, book, devSignIn, forgedToken, show, todo, untilLive } from './pages.mjs';

await scenario('app', async (run) => {
  const user = fresh('user');
  const first = await run.page('first-browser');
  const second = await run.page('second-browser');

  await run.step(`sign in as ${user}`, [first], async () => {
    await devSignIn(run, first, user);
    await run.expectVisible(first.getByTestId('no-todos'), 'a fresh user to have no todos');
  });

  await run.step('a second browser signs in as the same user', [second], async () => {
    await devSignIn(run, second, user);
    await run.expectVisible(second.getByTestId('no-todos'), 'the same (empty) list of todos');
  });

  await run.step('both follow todoChanged', [first, second], async () => {
    for (const page of [first, second]) {
      await run.expectVisible(
        page.locator('[data-testid="socket-state"][data-state="live"]'),
        'the subscription socket to be connected',
      );
    }
    // The gateway follows events from core NATS, so an event published before a new
    // subscription reached the server is not delivered: prove each page receives events
    // before relying on it (each attempt waits on a condition, bounded).
    await untilLive(run, first, second, 'to the second browser');
    await untilLive(run, second, first, 'to the first browser');
  });

  const title = `Buy milk ${user}`;
  await run.step('add a todo in the first browser', [first], async () => {
    await addTodo(run, first, title);
    await run.expectVisible(todo(first, title, false), `"${title}" listed, open`);
  });

  await run.step('the second browser sees it appear live', [second], async () => {
    await run.expectVisible(todo(second, title, false), `"${title}" to appear in the second browser`);
  });

  await run.step('complete it in the second browser', [second], async () => {
    await todo(second, title, false).getByTestId('complete-todo').click();
    await run.expectVisible(todo(second, title, true), `"${title}" completed in the second browser`);
  });

  await run.step('the first browser sees it completed live', [first], async () => {
    await run.expectVisible(todo(first, title, true), `"${title}" to show completed in the first browser`);
  });

  await run.step('delete the warm-up todos: the other browser sees them go', [first, second], async () => {
    // A reload lists them all, also any whose event came before the other's subscription.
    await first.reload();
    const warmUps = (page) =>
      page.getByTestId('todo').filter({ has: page.getByTestId('todo-title').getByText(/^warm-up/) });
    await run.expectVisible(warmUps(first), 'the warm-up todos listed after a reload');
    for (let left = await warmUps(first).count(); left > 0; left -= 1) {
      await warmUps(first).first().getByTestId('delete-todo').click();
      await waitForCount(warmUps(first), left - 1, 'one warm-up todo fewer in the first browser');
    }
    await waitForCount(warmUps(second), 0, 'no warm-up todo left in the second browser');
    await run.expectVisible(todo(second, title, true), `"${title}" still listed, completed`);
  });

  const admin = await run.page('administrator');
  const showName = `Revue ${fresh('show')}`;
  await run.step('sign in as an administrator', [admin], async () => {
    await devSignIn(run, admin, fresh('admin'), { admin: true });
    await run.expectVisible(admin.getByTestId('create-show'), 'the form to create a show');
  });

  await run.step('create a show of 5 seats', [admin], async () => {
    await admin.getByTestId('show-name-input').fill(showName);
    await admin.getByTestId('show-capacity-input').fill('5');
    await admin.getByTestId('show-price-input').fill('12.50');
    await admin.getByTestId('create-show-button').click();
    await run.expectVisible(
      show(admin, showName).getByTestId('show-seats').filter({ hasText: '5 of 5 seats free' }),
      `the show "${showName}" listed with 5 of 5 seats free`,
    );
  });

  await run.step('book 2 seats: PENDING, then CONFIRMED', [admin], async () => {
    const card = await book(run, admin, showName, 2);
    await run.expectVisible(
      card.and(admin.locator('[data-status="CONFIRMED"]')),
      'the booking of 2 seats to reach CONFIRMED',
    );
    const history = (await card.getByTestId('booking-history').innerText()).split(' → ');
    run.expect(
      history[0] === 'PENDING' && history.at(-1) === 'CONFIRMED',
      'the booking to have shown PENDING first and CONFIRMED last',
      history.join(' → '),
    );
    await run.expectVisible(
      show(admin, showName).getByTestId('show-seats').filter({ hasText: '3 of 5 seats free' }),
      'the show to have 3 of 5 seats free once the booking is confirmed',
    );
  });

  await run.step('book 10 seats of 5: CANCELLED, sold out', [admin], async () => {
    const card = await book(run, admin, showName, 10);
    await run.expectVisible(
      card.and(admin.locator('[data-status="CANCELLED"][data-outcome="sold-out"]')),
      'the booking of 10 seats to end CANCELLED as sold out',
    );
    const reason = await card.getByTestId('booking-reason').innerText();
    run.expect(reason.startsWith('sold out'), 'a reason starting with "sold out"', reason);
    const badge = await card.getByTestId('booking-outcome').innerText();
    run.expect(badge === 'Sold out', 'a "Sold out" badge', badge);
  });

  const stranger = await run.page('bad-token');
  await run.step('a token the gateway refuses shows UNAUTHENTICATED', [stranger], async () => {
    // The gateway answers 401 to every request with this token: the browser logs each.
    run.allowConsoleErrors(stranger, /status of 401/);
    await stranger.goto(run.url('/'));
    await stranger.getByTestId('token-input').fill(forgedToken('mallory'));
    await stranger.getByTestId('token-sign-in').click();
    await run.expectVisible(
      stranger.getByTestId('todos').locator('[data-testid="error"][data-code="UNAUTHENTICATED"]'),
      'an UNAUTHENTICATED error in the todos panel',
    );
    await run.expectVisible(
      stranger.getByTestId('shows').locator('[data-testid="error"][data-code="UNAUTHENTICATED"]'),
      'an UNAUTHENTICATED error in the shows panel',
    );
    // The subscription is refused too (connection_init), and every error says why.
    await run.expectVisible(
      stranger.locator('[data-testid="socket-state"][data-state="closed"]'),
      'the subscription socket closed by the gateway',
    );
    await run.expectVisible(
      stranger.getByTestId('todos').locator('[data-testid="error"][data-code="UNAUTHENTICATED"]').nth(1),
      'the todoChanged subscription refused as UNAUTHENTICATED too',
    );
    const codes = await stranger.getByTestId('error').evaluateAll((all) => all.map((e) => e.dataset.code));
    run.expect(
      codes.every((code) => code === 'UNAUTHENTICATED'),
      'only UNAUTHENTICATED errors',
      codes.join(', '),
    );
    run.expect(
      (await stranger.getByTestId('crash').count()) === 0,
      'no crashed panel',
      await stranger.getByTestId('crash').allInnerTexts(),
    );
  });
});
