// What went wrong, in words: the server's error bodies, flattened to field paths, and status lines.

/**
 * Field errors of a 400 answer ({"value.spans[0].end": ["..."]}) as [[path, message], ...].
 * DRF may nest ({"value": {"label": [..]}}); flatten to the same dotted paths.
 */
export function flattenErrors(body, prefix = "") {
  const out = [];
  if (typeof body === "string") return [[prefix || "detail", body]];
  if (Array.isArray(body)) {
    for (const m of body) {
      if (typeof m === "string") out.push([prefix || "detail", m]);
      else out.push(...flattenErrors(m, prefix));
    }
    return out;
  }
  if (body && typeof body === "object") {
    for (const [k, v] of Object.entries(body)) out.push(...flattenErrors(v, prefix ? `${prefix}.${k}` : k));
  }
  return out;
}

/** Errors whose path starts with `prefix` (e.g. "value.boxes[2]"), as one message. */
export function errorsUnder(errors, prefix) {
  return errors
    .filter(([path]) => path === prefix || path.startsWith(prefix + ".") || path.startsWith(prefix + "["))
    .map(([path, msg]) => `${path}: ${msg}`)
    .join(" ");
}

/** Flattened errors as one line: "path: message" each, a bare message for `detail` and `non_field_errors`. */
export function errorsText(errors) {
  return errors.map(([path, msg]) => (path === "detail" || path === "non_field_errors" ? msg : `${path}: ${msg}`)).join(" ");
}

/** The message of an error body: its `detail`, else its first field's messages, else the status. */
export function messageOf(data, status) {
  if (data && typeof data.detail === "string") return data.detail;
  if (data && typeof data === "object") {
    const first = Object.values(data)[0];
    if (first !== undefined) return Array.isArray(first) ? first.join(" ") : String(first);
  }
  return `The server answered ${status}.`;
}

/**
 * Show `text` in a status element (an aria-live region); `kind` ("ok", "warn", "error") styles it
 * through its data-kind attribute.
 */
export function setStatus(el, text, kind = "") {
  el.textContent = text || "";
  if (kind) el.dataset.kind = kind;
  else delete el.dataset.kind;
}

/** Show a failure in a status element: an ApiError's message (the server's words), or any error's. */
export function showError(el, err, prefix = "") {
  setStatus(el, `${prefix}${err && err.message ? err.message : String(err)}`, "error");
}
