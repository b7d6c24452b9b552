import { useState } from 'react';
import { useMutation, useQuery } from '@apollo/client/react';
import ErrorList from './ErrorList.jsx';
import { formatCents, parsePrice } from './money.js';
import { CREATE_BOOKING, CREATE_SHOW, SHOWS } from './operations.js';

const PAGE_SIZE = 20;

/** Every show, each with a form to book seats; administrators may add shows. */
export default function Shows({ admin, onBooked }) {
  const { data, error, loading, fetchMore } = useQuery(SHOWS, {
    variables: { first: PAGE_SIZE },
  });
  const [loadingMore, setLoadingMore] = useState(false);
  const more = async () => {
    setLoadingMore(true);
    await fetchMore({ variables: { after: data.shows.pageInfo.endCursor } }).catch(() => {});
    setLoadingMore(false);
  };
  const shows = data?.shows.edges.map((edge) => edge.node) ?? [];
  return (
    <section className="panel shows" data-testid="shows">
      <h2>Shows</h2>
      {admin && <CreateShow />}
      <ErrorList error={error} />
      {loading && !data && <p className="muted">Loading…</p>}
      {data && shows.length === 0 && (
        <p className="muted" data-testid="no-shows">
          No shows yet.
        </p>
      )}
      <ul className="list">
        {shows.map((show) => (
          <Show key={show.id} show={show} onBooked={onBooked} />
        ))}
      </ul>
      {data?.shows.pageInfo.hasNextPage && (
        <button type="button" data-testid="more-shows" onClick={more} disabled={loadingMore}>
          {loadingMore ? 'Loading…' : 'More'}
        </button>
      )}
    </section>
  );
}

function Show({ show, onBooked }) {
  const [seats, setSeats] = useState('1');
  const [createBooking, { loading, error }] = useMutation(CREATE_BOOKING);
  const book = async (event) => {
    event.preventDefault();
    const result = await createBooking({
      variables: { showId: show.id, seats: Number(seats) },
    }).catch(() => null);
    const booking = result?.data?.createBooking;
    if (booking?.__typename === 'Booking') onBooked({ ...booking, showName: show.name });
  };
  const free = show.capacity - show.reserved - show.sold;
  return (
    <li className="show" data-testid="show" data-show-id={show.id}>
      <div className="row">
        <strong data-testid="show-name">{show.name}</strong>
        <span className="muted" data-testid="show-seats">
          {free} of {show.capacity} seats free · {formatCents(show.priceCents)} each
        </span>
      </div>
      <form onSubmit={book} className="row">
        <label className="inline">
          Seats
          <input
            type="number"
            min="1"
            className="seats"
            data-testid="book-seats"
            value={seats}
            onChange={(e) => setSeats(e.target.value)}
          />
        </label>
        <button type="submit" data-testid="book" disabled={loading || !(Number(seats) >= 1)}>
          Book
        </button>
      </form>
      <ErrorList error={error} />
    </li>
  );
}

function CreateShow() {
  const [name, setName] = useState('');
  const [capacity, setCapacity] = useState('');
  const [price, setPrice] = useState('');
  const [createShow, { loading, error }] = useMutation(CREATE_SHOW, {
    // A new show's place in the list is the server's to say.
    refetchQueries: [SHOWS],
    awaitRefetchQueries: true,
  });
  const priceCents = parsePrice(price);
  const valid = name.trim() && Number.isInteger(Number(capacity)) && Number(capacity) > 0 && priceCents;
  const submit = async (event) => {
    event.preventDefault();
    const result = await createShow({
      variables: { name: name.trim(), capacity: Number(capacity), priceCents },
    }).catch(() => null);
    if (result?.data?.createShow) {
      setName('');
      setCapacity('');
      setPrice('');
    }
  };
  return (
    <form onSubmit={submit} className="create-show row wrap" data-testid="create-show">
      <input
        data-testid="show-name-input"
        value={name}
        onChange={(e) => setName(e.target.value)}
        placeholder="Name"
        aria-label="Show name"
      />
      <input
        type="number"
        min="1"
        data-testid="show-capacity-input"
        value={capacity}
        onChange={(e) => setCapacity(e.target.value)}
        placeholder="Capacity"
        aria-label="Capacity"
      />
      <input
        data-testid="show-price-input"
        value={price}
        onChange={(e) => setPrice(e.target.value)}
        placeholder="Price, e.g. 12.50"
        aria-label="Price"
        inputMode="decimal"
      />
      <button type="submit" data-testid="create-show-button" disabled={loading || !valid}>
        Create show
      </button>
      <ErrorList error={error} />
    </form>
  );
}
