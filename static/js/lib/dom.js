// Building and changing the DOM without HTML strings: data always lands as text, never as markup.

/**
 * Create an element: h("button", {class: "x", onclick: f, dataset: {k: "v"}}, "text", child).
 * on* keys become listeners (never attributes); null, undefined and false attributes and children are left out.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k === "style" && typeof v === "object") for (const [p, x] of Object.entries(v)) el.style.setProperty(p, x);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Rows of a shortcuts table: [["a / b", "what they do"]] -> <tr><th><kbd>a</kbd> / <kbd>b</kbd></th><td>…</td></tr>. */
export function keyRows(rows) {
  return rows.map(([keys, what]) => h("tr", {},
    h("th", { scope: "row" }, ...keys.split(" / ").flatMap((k, i) => [i ? " / " : "", h("kbd", {}, k)])), h("td", {}, what)));
}

/** The element with this id. */
export const $ = (id) => document.getElementById(id);

/** Set an element's text only if it differs, so that observers and screen readers see real changes only. */
export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

/** The page's configuration, emitted by the view with `json_script` as #hitl-config. */
export function pageConfig(id = "hitl-config") {
  return JSON.parse(document.getElementById(id).textContent);
}
