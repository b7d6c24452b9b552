import { describeError } from './errors.js';

/** An error (from Apollo, fetch or a socket) as its codes and messages, or nothing. */
export default function ErrorList({ error }) {
  const problems = describeError(error);
  if (problems.length === 0) return null;
  return (
    <ul className="errors" data-testid="errors" role="alert">
      {problems.map((problem, i) => (
        <li key={i} className="error" data-testid="error" data-code={problem.code}>
          <span className="error-code">{problem.code}</span> {problem.message}
        </li>
      ))}
    </ul>
  );
}
