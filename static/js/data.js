// The data browser: filters in the URL (shareable, reloadable), keyset pages, an item's history in a dialog.
import { api, ApiError } from "./lib/api.js";
import { $, h, pageConfig, setText } from "./lib/dom.js";
import { errorsText, flattenErrors, setStatus, showError } from "./lib/errors.js";

const config = pageConfig();
const projectId = config.project.id;
const FILTERS = ["q", "status", "source", "annotator", "label", "confidence_min", "confidence_max", "disagreement"];
const CURSORS = ["after", "before"];
const FIELD_IDS = {
  q: "db-q", status: "db-status", source: "db-source", annotator: "db-annotator", label: "db-label",
  confidence_min: "db-confidence-min", confidence_max: "db-confidence-max", disagreement: "db-disagreement",
};

const form = $("db-filters");
const rowsEl = $("db-rows");
const statusLine = $("db-status-line");
const dialog = $("db-history");
const state = { page: null, loading: 0, lastRow: null };
window.hitlData = state; // for the browser tests

function fillChoices() {
  const add = (select, values) => values.forEach((v) => select.append(h("option", { value: v.value ?? v }, v.text ?? v)));
  add($("db-status"), config.choices.status);
  add($("db-source"), config.choices.source);
  add($("db-annotator"), config.choices.annotators.map((u) => ({ value: String(u.id), text: u.username })));
  add($("db-label"), config.project.labels);
  $("db-label").disabled = config.project.labels.length === 0;
}

/** The filters and cursor in the page's URL. */
function urlParams() {
  const params = new URLSearchParams(location.search);
  const out = new URLSearchParams();
  for (const k of [...FILTERS, ...CURSORS]) if (params.get(k)) out.set(k, params.get(k));
  return out;
}

function formToParams() {
  const out = new URLSearchParams();
  for (const k of FILTERS) {
    const el = $(FIELD_IDS[k]);
    if (el.type === "checkbox") { if (el.checked) out.set(k, "1"); }
    else if (el.value.trim()) out.set(k, el.value.trim());
  }
  return out;
}

function paramsToForm(params) {
  for (const k of FILTERS) {
    const el = $(FIELD_IDS[k]);
    if (el.type === "checkbox") el.checked = ["1", "true"].includes(params.get(k));
    else el.value = params.get(k) || "";
  }
}

function markInvalid(errors) {
  for (const id of Object.values(FIELD_IDS)) $(id).removeAttribute("aria-invalid");
  for (const [path] of errors) if (FIELD_IDS[path]) $(FIELD_IDS[path]).setAttribute("aria-invalid", "true");
}

function finalText(row) {
  if (!row.final) return "";
  return describe(row.final.value);
}

function describe(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value !== "object") return String(value);
  if ("label" in value) return String(value.label);
  if ("labels" in value) return value.labels.join(", ") || "(none)";
  for (const key of ["spans", "boxes"]) {
    if (key in value) {
      const labels = [...new Set(value[key].map((r) => r.label))].sort();
      return `${value[key].length} ${key}${labels.length ? `: ${labels.join(", ")}` : ""}`;
    }
  }
  if ("choice" in value) return `prefers ${value.choice}`;
  if ("ranking" in value) return value.ranking.map((g) => g.join("=")).join(" > ");
  return JSON.stringify(value).slice(0, 80);
}

const percent = (x) => (x === null || x === undefined ? "" : `${Math.round(x * 100)}%`);

function previewCell(p) {
  if (p.kind === "image") return h("td", { class: "db-preview" }, h("img", { src: p.image, alt: p.text || "item image", loading: "lazy" }));
  return h("td", { class: "db-preview" }, p.text);
}

function renderRows(page, params) {
  const rows = page.results.map((r) => h("tr", {
    class: "db-row", tabindex: "0", dataset: { id: String(r.id) }, "aria-label": `Item ${r.id}: open its history`,
    onclick: () => openHistory(r.id),
  },
  h("td", { class: "db-id" }, String(r.id)),
  h("td", {}, r.external_id || ""),
  previewCell(r.preview),
  h("td", {}, h("span", { class: "db-badge", dataset: { status: r.status } }, r.status.replace("_", " ")),
    r.review_reason ? h("span", { class: "muted db-reason" }, ` ${r.review_reason}`) : null),
  h("td", { class: "db-final" }, finalText(r)),
  h("td", { class: "db-num" }, percent(r.confidence)),
  h("td", { class: "db-num" }, String(r.annotation_count)),
  h("td", {}, r.final ? r.final.source : "", r.gold ? h("span", { class: "db-gold" }, " gold") : null)));
  rowsEl.replaceChildren(...rows);
  if (!rows.length) rowsEl.append(h("tr", {}, h("td", { colspan: "8", class: "muted" }, "No items match these filters.")));
  // Pages after a cursor are not counted (the count is the first page's): keep the one shown for these filters.
  const key = filterKey(params);
  if (page.count === null) {
    if (state.counted && state.counted.key === key) page = { ...page, ...state.counted.page };
    else { setText($("db-count"), ""); return pagerButtons(page); }
  } else state.counted = { key, page: { count: page.count, count_capped: page.count_capped, count_estimated: page.count_estimated } };
  const n = page.count.toLocaleString("en-US");
  const count = page.count_estimated ? `About ${n}` : page.count_capped ? `${n}+` : n;
  const one = page.count === 1 && !page.count_capped && !page.count_estimated;
  setText($("db-count"), `${count} ${one ? "item matches" : "items match"}`);
  pagerButtons(page);
}

function pagerButtons(page) {
  $("db-prev").disabled = page.prev === null;
  $("db-next").disabled = page.next === null;
}

/** The filters of a query, without its cursor. */
function filterKey(params) {
  const p = new URLSearchParams(params);
  CURSORS.forEach((k) => p.delete(k));
  p.sort();
  return p.toString();
}

async function load(params) {
  const ticket = ++state.loading;
  setStatus(statusLine, "Loading…");
  try {
    const page = await api("GET", `/projects/${projectId}/browse/?${params}`);
    if (ticket !== state.loading) return; // a newer request is under way
    state.page = page;
    markInvalid([]);
    renderRows(page, params);
    const first = page.results[0], last = page.results[page.results.length - 1];
    setStatus(statusLine, first ? `Showing ${page.results.length} (ids ${first.id}–${last.id}).` : "");
  } catch (err) {
    if (ticket !== state.loading) return;
    if (err instanceof ApiError && err.status === 400) {
      const errors = flattenErrors(err.data);
      markInvalid(errors);
      setStatus(statusLine, errorsText(errors), "error");
    } else showError(statusLine, err);
  } finally {
    if (ticket === state.loading) document.body.dataset.loaded = String(ticket);
  }
}

function go(params, { push = true } = {}) {
  const url = `${location.pathname}${params.toString() ? `?${params}` : ""}`;
  if (push) history.pushState(null, "", url);
  return load(params);
}

function turn(direction) {
  const page = state.page;
  const cursor = direction === "next" ? page && page.next : page && page.prev;
  if (cursor === null || cursor === undefined) return;
  const params = urlParams();
  CURSORS.forEach((k) => params.delete(k));
  params.set(direction === "next" ? "after" : "before", String(cursor));
  go(params).then(() => { const row = rowsEl.querySelector(".db-row"); if (row) row.focus(); });
}

// ---- history dialog

function eventRow(e) {
  return h("li", { class: "db-event", dataset: { kind: e.kind } },
    h("time", { datetime: e.at }, new Date(e.at).toISOString().replace("T", " ").slice(0, 19)),
    h("span", { class: "db-kind" }, e.kind),
    h("span", { class: "db-who" }, e.user || ""),
    h("span", { class: "db-what" }, e.summary));
}

function dataBlock(item) {
  const d = item.data || {};
  if (typeof d.image === "string") return h("img", { class: "db-image", src: d.image, alt: `item ${item.id}` });
  if (typeof d.text === "string") return h("p", { class: "db-text" }, d.text);
  return h("pre", { class: "db-text" }, JSON.stringify(d, null, 2));
}

async function openHistory(id) {
  state.lastRow = id;
  const body = $("db-history-body");
  setText($("db-history-title"), `Item ${id}`);
  body.replaceChildren(h("p", { class: "muted" }, "Loading…"));
  if (!dialog.open) dialog.showModal();
  try {
    const hist = await api("GET", `/items/${id}/history/`);
    const it = hist.item;
    setText($("db-history-title"), `Item ${it.id}${it.external_id ? ` · ${it.external_id}` : ""}`);
    const facts = h("dl", { class: "db-facts" },
      h("dt", {}, "Status"), h("dd", { id: "db-h-status" }, it.status + (it.review_reason ? ` (${it.review_reason})` : "")),
      h("dt", {}, "Final value"), h("dd", { id: "db-h-final" }, it.final ? `${describe(it.final.value)} · ${it.final.source}` : "none"),
      h("dt", {}, "Prediction"), h("dd", { id: "db-h-prediction" }, it.prediction ? `${describe(it.prediction.value)} · ${percent(it.prediction.confidence)}` : "none"),
      h("dt", {}, "Annotations"), h("dd", {}, `${it.annotation_count} of ${it.needed} needed`));
    body.replaceChildren(dataBlock(it), facts,
      h("h3", {}, "History"),
      h("ol", { class: "db-events", id: "db-events" }, hist.events.map(eventRow)));
  } catch (err) {
    const p = h("p", { class: "error" });
    showError(p, err);
    body.replaceChildren(p);
  }
}

dialog.addEventListener("close", () => {
  const row = state.lastRow && rowsEl.querySelector(`.db-row[data-id="${state.lastRow}"]`);
  if (row) row.focus();
});
$("db-history-close").addEventListener("click", () => dialog.close());

// ---- wiring

form.addEventListener("submit", (e) => {
  e.preventDefault();
  go(formToParams());
});
$("db-clear").addEventListener("click", () => { paramsToForm(new URLSearchParams()); go(new URLSearchParams()); });
$("db-next").addEventListener("click", () => turn("next"));
$("db-prev").addEventListener("click", () => turn("prev"));
// Choosing from a list applies at once; typed fields apply on Enter (the form's submit).
for (const k of ["status", "source", "annotator", "label", "disagreement"]) {
  $(FIELD_IDS[k]).addEventListener("change", () => go(formToParams()));
}

rowsEl.addEventListener("keydown", (e) => {
  const row = e.target.closest(".db-row");
  if (!row) return;
  if (e.key === "Enter" || e.key === " ") { e.preventDefault(); openHistory(Number(row.dataset.id)); }
  else if (e.key === "ArrowDown" && row.nextElementSibling) { e.preventDefault(); row.nextElementSibling.focus(); }
  else if (e.key === "ArrowUp" && row.previousElementSibling) { e.preventDefault(); row.previousElementSibling.focus(); }
});

document.addEventListener("keydown", (e) => {
  if (dialog.open || e.ctrlKey || e.metaKey || e.altKey) return;
  const typing = e.target.closest("input, select, textarea");
  if (typing) return;
  if (e.key === "/") { e.preventDefault(); $("db-q").focus(); }
  else if (e.key === "n") turn("next");
  else if (e.key === "p") turn("prev");
});

window.addEventListener("popstate", () => { const p = urlParams(); paramsToForm(p); load(p); });

fillChoices();
paramsToForm(urlParams());
load(urlParams());
