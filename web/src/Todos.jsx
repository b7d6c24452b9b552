import { useState } from 'react';
import { useMutation, useQuery, useSubscription } from '@apollo/client/react';
import ErrorList from './ErrorList.jsx';
import {
  COMPLETE_TODO,
  CREATE_TODO,
  DELETE_TODO,
  TODO_CHANGED,
  TODO_FIELDS,
  TODOS,
} from './operations.js';

const PAGE_SIZE = 10;

/** The signed-in user's todos, kept up to date by `todoChanged` from every other tab. */
export default function Todos({ ownerId }) {
  const { data, error, loading, fetchMore } = useQuery(TODOS, {
    variables: { ownerId, first: PAGE_SIZE },
  });
  const live = useSubscription(TODO_CHANGED, {
    variables: { ownerId },
    onData: ({ client, data: result }) => applyChange(client.cache, result.data?.todoChanged),
  });
  const [createTodo, created] = useMutation(CREATE_TODO, {
    update: (cache, { data: result }) => {
      if (result?.createTodo?.__typename === 'Todo') addTodo(cache, result.createTodo);
    },
  });
  const [completeTodo, completed] = useMutation(COMPLETE_TODO);
  const [deleteTodo, deleted] = useMutation(DELETE_TODO, {
    update: (cache, { data: result }) => {
      if (result?.deleteTodo) removeTodo(cache, result.deleteTodo.id);
    },
  });
  const [title, setTitle] = useState('');
  const [loadingMore, setLoadingMore] = useState(false);

  const add = async (event) => {
    event.preventDefault();
    const text = title.trim();
    if (!text) return;
    const result = await createTodo({ variables: { ownerId, title: text } }).catch(() => null);
    if (result?.data?.createTodo) setTitle('');
  };
  const more = async () => {
    setLoadingMore(true);
    // Errors show through the query's own `error`.
    await fetchMore({ variables: { after: data.todos.pageInfo.endCursor } }).catch(() => {});
    setLoadingMore(false);
  };

  const todos = data?.todos.edges.map((edge) => edge.node) ?? [];
  const notFound = [completed.data?.completeTodo, deleted.data?.deleteTodo].find(
    (outcome) => outcome?.__typename === 'TodoNotFound',
  );
  return (
    <section className="panel todos" data-testid="todos">
      <h2>Todos</h2>
      <form onSubmit={add} className="row">
        <input
          data-testid="new-todo-title"
          value={title}
          onChange={(e) => setTitle(e.target.value)}
          placeholder="What needs doing?"
          aria-label="New todo"
        />
        <button type="submit" data-testid="add-todo" disabled={created.loading || !title.trim()}>
          Add
        </button>
      </form>
      <ErrorList error={error} />
      <ErrorList error={live.error} />
      <ErrorList error={created.error ?? completed.error ?? deleted.error} />
      {notFound && (
        <p className="notice" data-testid="todo-not-found">
          That todo no longer exists.
        </p>
      )}
      {loading && !data && <p className="muted">Loading…</p>}
      {data && todos.length === 0 && (
        <p className="muted" data-testid="no-todos">
          Nothing to do.
        </p>
      )}
      <ul className="list" data-testid="todo-list">
        {todos.map((todo) => (
          <li
            key={todo.id}
            className={todo.completed ? 'todo done' : 'todo'}
            data-testid="todo"
            data-todo-id={todo.id}
            data-completed={String(todo.completed)}
          >
            <span className="title" data-testid="todo-title">
              {todo.title}
            </span>
            {todo.completed ? (
              <span className="badge badge-ok">done</span>
            ) : (
              <button
                type="button"
                data-testid="complete-todo"
                onClick={() => completeTodo({ variables: { id: todo.id } }).catch(() => {})}
              >
                Complete
              </button>
            )}
            <button
              type="button"
              className="quiet"
              data-testid="delete-todo"
              onClick={() => deleteTodo({ variables: { id: todo.id } }).catch(() => {})}
            >
              Delete
            </button>
          </li>
        ))}
      </ul>
      {data?.todos.pageInfo.hasNextPage && (
        <button type="button" data-testid="more-todos" onClick={more} disabled={loadingMore}>
          {loadingMore ? 'Loading…' : 'More'}
        </button>
      )}
    </section>
  );
}

/** One `todoChanged` event, applied to the cached list. */
function applyChange(cache, event) {
  if (!event) return;
  if (event.change === 'DELETED') removeTodo(cache, event.id);
  else if (event.todo && event.change === 'CREATED') addTodo(cache, event.todo);
  else if (event.todo) cache.writeFragment({ fragment: TODO_FIELDS, data: event.todo });
}

/**
 * Adds `todo` at the end of the cached list, unless it is there already or the list has
 * pages not loaded yet (then "More" brings it, in its place).
 */
function addTodo(cache, todo) {
  const ref = cache.writeFragment({ fragment: TODO_FIELDS, data: todo });
  cache.modify({
    fields: {
      todos(connection, { readField }) {
        if (!connection?.edges || readField('hasNextPage', connection.pageInfo)) return connection;
        if (connection.edges.some((edge) => readField('id', edge.node) === todo.id)) {
          return connection;
        }
        return { ...connection, edges: [...connection.edges, { __typename: 'TodoEdge', node: ref }] };
      },
    },
  });
}

function removeTodo(cache, id) {
  cache.modify({
    fields: {
      todos(connection, { readField }) {
        if (!connection?.edges) return connection;
        const edges = connection.edges.filter((edge) => readField('id', edge.node) !== id);
        return edges.length === connection.edges.length ? connection : { ...connection, edges };
      },
    },
  });
  cache.evict({ id: cache.identify({ __typename: 'Todo', id }) });
  cache.gc();
}
