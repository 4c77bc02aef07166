// The REST API, with the operator's token from this tab's session storage
// (gone when the tab closes; never put in a URL, so never in a log or a
// Referer). Errors are RFC 7807 problems: their detail is shown as is.

const TOKEN_KEY = 'flotilla.token';
const BASE = '/api/v1';

export class ApiError extends Error {
  constructor(status, detail, errors = []) {
    super(detail);
    this.status = status;
    this.errors = errors;
  }
}

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

// Called when the server refuses the token (expired, revoked).
let onUnauthorized = () => {};
export function whenUnauthorized(handler) { onUnauthorized = handler; }

async function send(method, path, body) {
  const headers = {Authorization: `Bearer ${token.get() ?? ''}`, Accept: 'application/json'};
  const init = {method, headers, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer'};
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(BASE + path, init);
  } catch (e) {
    throw new ApiError(0, 'the server cannot be reached; check that flotilla-server is running');
  }
  if (!response.ok) {
    let problem = {};
    try { problem = await response.json(); } catch { /* not JSON */ }
    const error = new ApiError(response.status, problem.detail || `${response.status} ${response.statusText}`, problem.errors || []);
    if (response.status === 401) onUnauthorized(error);
    throw error;
  }
  return response;
}

export async function get(path) { return (await send('GET', path)).json(); }
export async function post(path, body) { return (await send('POST', path, body)).json(); }

// A query string from an object, leaving out empty values. Spaces are
// %20, not the form encoding's '+', which the server reads as a plus.
export function query(params) {
  const parts = Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
  return parts.length ? `?${parts.join('&')}` : '';
}

// Fetches with the token and hands the bytes to the browser as a file: a
// plain link could not carry the Authorization header.
export async function download(path, filename) {
  const response = await send('GET', path);
  const blob = await response.blob();
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
  return blob.size;
}
