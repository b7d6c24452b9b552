import { useCallback, useState } from 'react';
import { useApolloClient, useSubscription } from '@apollo/client/react';
import ErrorList from './ErrorList.jsx';
import { formatCents } from './money.js';
import { BOOKING_PROGRESS, SHOWS } from './operations.js';

/** The bookings `userId` made in this tab (kept in sessionStorage), newest first. */
export function useSessionBookings(userId) {
  const key = `switchboard.bookings.${userId}`;
  const [bookings, setBookings] = useState(() => {
    try {
      return JSON.parse(window.sessionStorage.getItem(key)) ?? [];
    } catch {
      return [];
    }
  });
  const add = useCallback(
    (booking) => {
      setBookings((list) => {
        const next = [booking, ...list.filter((b) => b.id !== booking.id)];
        window.sessionStorage.setItem(key, JSON.stringify(next));
        return next;
      });
    },
    [key],
  );
  return [bookings, add];
}

export default function Bookings({ bookings }) {
  return (
    <section className="panel bookings" data-testid="bookings">
      <h2>Your bookings</h2>
      {bookings.length === 0 && <p className="muted">None yet in this session.</p>}
      <ul className="list">
        {bookings.map((booking) => (
          <BookingCard key={booking.id} initial={booking} />
        ))}
      </ul>
    </section>
  );
}

const FINAL = new Set(['CONFIRMED', 'CANCELLED']);

/**
 * Why a booking was cancelled, as a kind the page can show apart: the saga's reasons
 * start with "sold out" or "payment declined" (services/bookings/src/saga.rs).
 */
function cancellation(reason) {
  if (reason.startsWith('sold out')) return { kind: 'sold-out', label: 'Sold out' };
  if (reason.startsWith('payment declined')) return { kind: 'declined', label: 'Card declined' };
  return { kind: 'cancelled', label: 'Cancelled' };
}

/** One booking, following `bookingProgress` from PENDING until it ends. */
function BookingCard({ initial }) {
  const client = useApolloClient();
  const [booking, setBooking] = useState(initial);
  // Every status this card has shown, in order (PENDING first, from createBooking).
  const [history, setHistory] = useState([initial.status]);
  const { error, restart } = useSubscription(BOOKING_PROGRESS, {
    variables: { id: initial.id },
    onData: ({ data: result }) => {
      const next = result.data?.bookingProgress;
      if (!next) return;
      setBooking((b) => ({ ...b, ...next }));
      setHistory((h) => (h[h.length - 1] === next.status ? h : [...h, next.status]));
      // The show's free seats changed.
      if (FINAL.has(next.status)) client.refetchQueries({ include: [SHOWS] }).catch(() => {});
    },
  });
  const ended = FINAL.has(booking.status);
  const outcome = booking.status === 'CANCELLED' ? cancellation(booking.reason ?? '') : null;
  return (
    <li
      className={`booking booking-${booking.status.toLowerCase()}${outcome ? ` booking-${outcome.kind}` : ''}`}
      data-testid="booking"
      data-booking-id={booking.id}
      data-status={booking.status}
      data-outcome={outcome?.kind ?? ''}
    >
      <div className="row">
        <strong>{initial.showName ?? booking.showId}</strong>
        <span>
          {booking.seats} seat{booking.seats === 1 ? '' : 's'}
        </span>
        <span className={`badge status status-${booking.status.toLowerCase()}`} data-testid="booking-status">
          {booking.status}
        </span>
        {outcome && (
          <span className={`badge outcome outcome-${outcome.kind}`} data-testid="booking-outcome">
            {outcome.label}
          </span>
        )}
        {!ended && !error && <span className="spinner" aria-label="in progress" />}
      </div>
      {booking.status === 'CONFIRMED' && (
        <p className="muted">Charged {formatCents(booking.amountCents)}</p>
      )}
      {outcome && (
        <p className="reason" data-testid="booking-reason">
          {booking.reason}
        </p>
      )}
      <p className="history muted" data-testid="booking-history">
        {history.join(' → ')}
      </p>
      <ErrorList error={error} />
      {error && !ended && (
        <button type="button" onClick={restart}>
          Follow again
        </button>
      )}
    </li>
  );
}
