/** The same-origin WebSocket URL of `path` (ws: or wss:, as the page is http: or https:). */
export function socketUrl(path) {
  const url = new URL(path, window.location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.href;
}
