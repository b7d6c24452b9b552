import { Component } from 'react';

/** Shows what broke, instead of a blank page, when a component below it throws. */
export default class ErrorBoundary extends Component {
  state = { error: null };

  static getDerivedStateFromError(error) {
    return { error };
  }

  render() {
    const { error } = this.state;
    if (!error) return this.props.children;
    return (
      <section className="panel crash" data-testid="crash" role="alert">
        <h2>Something went wrong{this.props.name ? ` in ${this.props.name}` : ''}</h2>
        <p className="error">
          <span className="error-code">CLIENT_ERROR</span> {error.message ?? String(error)}
        </p>
        <button type="button" onClick={() => this.setState({ error: null })}>
          Try again
        </button>
      </section>
    );
  }
}
