// The one way the pages talk to the JSON API: the session cookie (same origin), the CSRF token from
// its cookie, JSON both ways, and a time limit, so that a request that hangs counts as lost.
import { messageOf } from "./errors.js";

export const API_ROOT = "/api";
const TIMEOUT_MS = 15000;

/** Django's CSRF token, from its cookie; every request but a GET carries it. */
export function csrfToken() {
  const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : "";
}

/**
 * An answer that is not a success (`status`, and `data`, its parsed JSON body or null), or no answer
 * at all (`status` 0: offline, refused, timed out). Its message is the server's, ready to show.
 */
export class ApiError extends Error {
  constructor(status, data) {
    super(status ? messageOf(data, status) : "No connection to the server.");
    this.name = "ApiError";
    this.status = status;
    this.data = data;
  }
}

/**
 * One call to `API_ROOT + path`. Resolves {status, ok, data} for every answer the server gives, errors
 * included (data: the parsed JSON body, null for a 204 or a body that is not JSON); rejects with an
 * ApiError of status 0 only when no answer came. For callers that act on each status (the outbox).
 */
export async function request(method, path, body, { timeout = TIMEOUT_MS, keepalive = false } = {}) {
  // `body`: a value sent as JSON, or a FormData sent as a multipart upload.
  const headers = { Accept: "application/json" };
  if (method !== "GET" && method !== "HEAD") headers["X-CSRFToken"] = csrfToken();
  // A FormData body (files) goes as multipart, with the boundary the browser sets; anything else as JSON.
  const form = body instanceof FormData;
  if (body !== undefined && !form) headers["Content-Type"] = "application/json";
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeout);
  try {
    let res;
    try {
      res = await fetch(API_ROOT + path, {
        method, headers, credentials: "same-origin", signal: abort.signal, keepalive,
        body: body === undefined || form ? body : JSON.stringify(body),
      });
    } catch (e) {
      throw new ApiError(0, null);
    }
    const data = res.status === 204 ? null : await res.json().catch(() => null);
    return { status: res.status, ok: res.ok, data };
  } finally {
    clearTimeout(timer);
  }
}

/** One call that must succeed: resolves the parsed body of a 2xx answer (null for 204), else throws ApiError. */
export async function api(method, path, body, options) {
  const r = await request(method, path, body, options);
  if (!r.ok) throw new ApiError(r.status, r.data);
  return r.data;
}
