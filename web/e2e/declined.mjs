// A declined card in a real browser, against a running gateway whose billing declines
// every charge (BILLING_DECLINE_RATE=1, or SetFaults), with development tokens on and the
// client built with `npm --prefix web run build:dev`:
//
//   GATEWAY_URL=http://127.0.0.1:8080 SCREENSHOT_DIR=target/shots node web/e2e/declined.mjs
//
// An administrator creates a show and books a seat: the booking ends CANCELLED with a
// "payment declined" reason and a "Card declined" badge, unlike a sold-out one.

import { fresh, scenario } from './lib.mjs';
import { book, devSignIn, show } from './pages.mjs';

await scenario('declined', async (run) => {
  const page = await run.page('administrator');
  const showName = `Matinee ${fresh('show')}`;

  await run.step('sign in as an administrator and create a show', [page], async () => {
    await devSignIn(run, page, fresh('admin'), { admin: true });
    await page.getByTestId('show-name-input').fill(showName);
    await page.getByTestId('show-capacity-input').fill('5');
    await page.getByTestId('show-price-input').fill('8');
    await page.getByTestId('create-show-button').click();
    await run.expectVisible(show(page, showName), `the show "${showName}" listed`);
  });

  await run.step('book a seat: CANCELLED, card declined', [page], async () => {
    const card = await book(run, page, showName, 1);
    await run.expectVisible(
      card.and(page.locator('[data-status="CANCELLED"][data-outcome="declined"]')),
      'the booking to end CANCELLED with its card declined',
    );
    const reason = await card.getByTestId('booking-reason').innerText();
    run.expect(reason.startsWith('payment declined'), 'a reason starting with "payment declined"', reason);
    const badge = await card.getByTestId('booking-outcome').innerText();
    run.expect(badge === 'Card declined', 'a "Card declined" badge', badge);
    await run.expectVisible(
      show(page, showName).getByTestId('show-seats').filter({ hasText: '5 of 5 seats free' }),
      'the seats given back (5 of 5 free) once the booking is cancelled',
    );
  });
});
