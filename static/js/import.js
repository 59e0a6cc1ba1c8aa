// The import page: files dropped or picked, previewed by the server's own readers
// (POST /api/projects/<id>/import/preview/), then uploaded to the import API with XMLHttpRequest so that
// the upload's bytes drive a real progress bar, then the import job polled if the server made one.
// Nothing is parsed here: the server says the format, a CSV's columns and its header's length.
import { API_ROOT, api, csrfToken } from "./lib/api.js";
import { $, h, pageConfig, setText } from "./lib/dom.js";
import { messageOf, setStatus, showError } from "./lib/errors.js";

const config = pageConfig();
const project = config.project;
const TEXT_EXT = { json: "json", jsonl: "jsonl", ndjson: "jsonl", csv: "csv" };
const IMAGE_EXT = ["png", "jpg", "jpeg", "gif", "webp", "bmp", "tif", "tiff"];
const MAX_ZIP_PREVIEW = 64 * 1024 * 1024; // a zip must come whole; above this it is checked while importing
const NONE = "";
const POLL_MS = 500;
const NOTHING = "Nothing was imported.";

const state = {
  files: [],
  kind: null, // "json" | "jsonl" | "csv" | "parquet" | "zip" | "image" (from the first file's extension)
  columns: null, // CSV header, as the server read it
  headerBytes: null,
  preview: null,
  seq: 0, // the newest preview asked for; older answers are dropped
  busy: false,
};

const drop = $("im-drop");
const input = $("im-file");
const statusEl = $("im-status");
const errorEl = $("im-error");

// --- choosing files: drop, click, Enter or Space ------------------------------------------------------

function openPicker() {
  if (state.busy) return;
  try {
    input.showPicker();
  } catch (e) {
    input.click(); // browsers without showPicker() for files
  }
}
drop.addEventListener("click", openPicker);
drop.addEventListener("keydown", (e) => {
  if (e.key === "Enter" || e.key === " ") {
    e.preventDefault();
    openPicker();
  }
});
drop.addEventListener("dragover", (e) => {
  e.preventDefault();
  if (e.dataTransfer) e.dataTransfer.dropEffect = "copy";
  drop.classList.add("im-over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("im-over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("im-over");
  if (e.dataTransfer && e.dataTransfer.files.length) choose(Array.from(e.dataTransfer.files));
});
input.addEventListener("change", () => {
  if (input.files.length) choose(Array.from(input.files));
});

function extension(name) {
  const m = /\.([^./\\]+)$/.exec(name.toLowerCase());
  return m ? m[1] : "";
}

function kindOf(file) {
  const ext = extension(file.name);
  if (TEXT_EXT[ext]) return TEXT_EXT[ext];
  if (ext === "zip") return "zip";
  if (ext === "parquet" || ext === "pq") return "parquet";
  if (IMAGE_EXT.includes(ext)) return "image";
  return null;
}

export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}

const count = (n) => Number(n).toLocaleString("en-US");

function choose(files) {
  if (state.busy) return;
  state.files = files;
  state.kind = kindOf(files[0]);
  state.columns = state.headerBytes = state.preview = null;
  $("im-keep").replaceChildren(); // a new file's columns start all kept
  setStatus(statusEl, "");
  setStatus(errorEl, "");
  $("im-links").hidden = true;
  $("im-progress").hidden = true;
  const total = files.reduce((s, f) => s + f.size, 0);
  const listed = files.slice(0, 20).map((f) => h("li", {}, `${f.name} `, h("span", { class: "muted" }, formatBytes(f.size))));
  if (files.length > 20) listed.push(h("li", { class: "muted" }, `… and ${count(files.length - 20)} more`));
  $("im-files").replaceChildren(...listed);
  if (total > config.max_upload) {
    showError(errorEl, new Error(`The files are ${formatBytes(total)}; an upload may be at most ${formatBytes(config.max_upload)}.`));
    return;
  }
  $("im-options").hidden = false;
  $("im-columns").hidden = true;
  $("im-preview").hidden = false;
  runPreview();
}

// --- CSV columns: which column is what --------------------------------------------------------------

const picks = { text: $("im-text"), image: $("im-image"), id: $("im-id"), label: $("im-label") };
const usesText = !["boxes", "pairwise", "ranking"].includes(project.task_type);
const usesImage = ["classification", "multi_label", "boxes"].includes(project.task_type);

function fillColumns(columns) {
  const has = (c) => columns.includes(c);
  const fill = (select, chosen) => {
    select.replaceChildren(h("option", { value: NONE }, "(none)"),
      ...columns.map((c) => h("option", { value: c, selected: c === chosen }, c)));
  };
  const text = has("text") ? "text" : usesText && !has("image") ? columns[0] : NONE;
  fill(picks.text, usesText ? text : NONE);
  fill(picks.image, has("image") ? "image" : NONE);
  fill(picks.id, has("external_id") ? "external_id" : NONE);
  fill(picks.label, ["label", "gold"].find(has) || NONE);
  for (const [el, shown] of [[picks.text, usesText], [picks.image, usesImage]]) {
    el.hidden = !shown;
    $(`${el.id}-label`).hidden = !shown;
  }
  $("im-columns").hidden = false;
  fillKeep();
}

/** Columns not picked for a role, each with a checkbox (checked: kept in the item's data). */
function fillKeep() {
  const roles = new Set(Object.values(picks).map((s) => s.value).filter(Boolean));
  const kept = new Map([...$("im-keep").querySelectorAll("input")].map((el) => [el.value, el.checked]));
  const boxes = state.columns.filter((c) => c && !roles.has(c)).map((c) => h("label", { class: "im-check" },
    h("input", { type: "checkbox", value: c, checked: kept.has(c) ? kept.get(c) : true, onchange: schedulePreview }),
    ` ${c}`));
  $("im-keep").replaceChildren(h("legend", {}, "Other columns kept in the item's data"),
    ...(boxes.length ? boxes : [h("span", { class: "muted" }, "none")]));
}

/**
 * The CSV's header as the import should see it: the image and external id columns carry the names the
 * readers look for ("image", "external_id"); a column already so named but not picked keeps its data
 * under "<name>_original". Only the header row is replaced; the rest of the file is sent as it is.
 */
function renamed() {
  const names = new Map(state.columns.map((c) => [c, c]));
  for (const [select, wanted] of [[picks.image, "image"], [picks.id, "external_id"]]) {
    if (!select.hidden || wanted === "external_id") {
      if (state.columns.includes(wanted) && select.value !== wanted) names.set(wanted, `${wanted}_original`);
      if (select.value) names.set(select.value, wanted);
    }
  }
  return names;
}

function csvCell(name) {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The CSV to send: the file itself, or a new header row followed by the file's bytes after its header. */
function csvBody(file) {
  if (!state.columns) return file;
  const names = renamed();
  if (state.columns.every((c) => names.get(c) === c)) return file;
  const header = state.columns.map((c) => csvCell(names.get(c))).join(",") + "\r\n";
  return new Blob([header, file.slice(state.headerBytes)], { type: file.type || "text/csv" });
}

/** The import's read options, as query parameters. */
function options() {
  const params = new URLSearchParams();
  params.set("on_duplicate", $("im-dup").value);
  if (state.kind !== "csv" || !state.columns) return params;
  const names = renamed();
  if (picks.text.value && !picks.text.hidden) params.set("text_column", picks.text.value);
  if (picks.label.value) {
    params.set("label_column", picks.label.value);
    params.set("labels_as", $("im-labels-as").value);
    if ($("im-labels-as").value === "annotations" && $("im-annotator").value.trim()) {
      params.set("annotator", $("im-annotator").value.trim());
    }
  }
  const boxes = [...$("im-keep").querySelectorAll("input")];
  if (boxes.some((b) => !b.checked)) {
    const data = [];
    if (picks.text.value && !picks.text.hidden) data.push(picks.text.value);
    if (picks.image.value && !picks.image.hidden) data.push("image");
    for (const b of boxes) if (b.checked) data.push(names.get(b.value));
    if (data.length) params.set("columns", data.join(","));
  }
  return params;
}

for (const el of [...Object.values(picks), $("im-labels-as"), $("im-dup")]) {
  el.addEventListener("change", () => {
    if (Object.values(picks).includes(el)) fillKeep();
    const annotations = $("im-labels-as").value === "annotations" && picks.label.value;
    $("im-annotator").hidden = $("im-annotator-label").hidden = !annotations;
    schedulePreview();
  });
}
$("im-annotator").addEventListener("input", schedulePreview);
$("im-options").addEventListener("submit", (e) => e.preventDefault());

// --- the preview ---------------------------------------------------------------------------------------

let timer = null;
function schedulePreview() {
  clearTimeout(timer);
  timer = setTimeout(runPreview, 250);
}

/** What the preview is sent: the first bytes of a text file, a whole zip, or the first images. */
function previewBody() {
  const form = new FormData();
  let partial = false;
  const first = state.files[0];
  if (state.kind === "zip" || state.kind === "parquet") {
    // A zip or Parquet file is read from its end (its directory or footer): it must come whole.
    if (first.size > MAX_ZIP_PREVIEW) return null;
    form.append("file", first, first.name);
  } else if (state.kind === "image") {
    for (const f of state.files.slice(0, config.preview_records)) form.append("file", f, f.name);
  } else {
    const body = state.kind === "csv" ? csvBody(first) : first;
    partial = body.size > config.partial_bytes;
    form.append("file", partial ? body.slice(0, config.partial_bytes) : body, first.name);
  }
  return { form, partial };
}

function post(path, form) {
  return api("POST", path, form, { timeout: 120000 });
}

async function runPreview() {
  const seq = ++state.seq;
  $("im-import").disabled = true;
  setText($("im-format"), "Reading the first records…");
  setStatus($("im-preview-error"), "");
  const body = previewBody();
  if (body === null) {
    setText($("im-format"), state.kind === "parquet"
      ? `A Parquet file of ${formatBytes(state.files[0].size)} is too large to preview; its rows are checked as they are imported.`
      : `A zip of ${formatBytes(state.files[0].size)} is too large to preview; its images are checked as they are imported.`);
    $("im-rows").replaceChildren();
    $("im-import").disabled = false;
    return;
  }
  const params = options();
  if (body.partial) params.set("partial", "true");
  let p;
  try {
    p = await post(`/projects/${project.id}/import/preview/?${params}`, body.form);
  } catch (err) {
    if (seq !== state.seq) return;
    setText($("im-format"), "");
    showError($("im-preview-error"), err);
    return;
  }
  if (seq !== state.seq) return;
  state.preview = p;
  if (p.columns && !state.columns) {
    state.columns = p.columns;
    state.headerBytes = p.header_bytes;
    fillColumns(p.columns);
    runPreview(); // again, with the columns picked
    return;
  }
  showPreview(p);
}

const FORMAT_NAMES = { json: "JSON", jsonl: "JSON Lines", csv: "CSV", parquet: "Parquet", zip: "zip of images", image: "images",
  label_studio: "Label Studio JSON" };

function showPreview(p) {
  const n = p.records.length;
  const what = FORMAT_NAMES[p.format] || p.format || "unknown";
  const files = state.files.length > 1 ? `${count(state.files.length)} files, read` : "Read";
  setText($("im-format"), `${files} as ${what}: ${n ? `the first ${n} record${n === 1 ? "" : "s"}` : "no records"}` +
    `${p.more ? " (more follow)" : ""}.`);
  $("im-rows").replaceChildren(...p.records.map(row));
  if (p.error) {
    setStatus($("im-preview-error"), p.error.detail, "error");
  }
  $("im-import").disabled = Boolean(p.error) || (!n && !p.more);
}

function short(text, max = 160) {
  const s = String(text);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

function describeData(data) {
  const parts = [];
  for (const [k, v] of Object.entries(data)) {
    const value = typeof v === "string" ? v : JSON.stringify(v);
    parts.push(k === "text" ? value : `${k}: ${value}`);
  }
  return short(parts.join(" · "));
}

function describeValue(v) {
  if (v === null || v === undefined) return "";
  if (typeof v !== "object") return String(v);
  if ("label" in v) return String(v.label);
  if (Array.isArray(v.labels)) return v.labels.join(", ");
  if (Array.isArray(v.spans)) return `${v.spans.length} span${v.spans.length === 1 ? "" : "s"}`;
  if (Array.isArray(v.boxes)) return `${v.boxes.length} box${v.boxes.length === 1 ? "" : "es"}`;
  if ("choice" in v) return String(v.choice);
  if (Array.isArray(v.ranking)) return v.ranking.join(" > ");
  return short(JSON.stringify(v), 60);
}

function labels(r) {
  const out = [];
  if (r.gold) out.push(`gold: ${describeValue(r.gold)}`);
  if (r.final) out.push(`final (${r.final.source}): ${describeValue(r.final.value)}`);
  if (r.prediction) {
    const c = r.prediction.confidence;
    out.push(`prediction: ${describeValue(r.prediction.value)}${c === null || c === undefined ? "" : ` (${Math.round(c * 100)}%)`}`);
  }
  for (const a of r.annotations) out.push(`${a.user}: ${a.skipped ? "skipped" : describeValue(a.value)}`);
  return out.length ? out.join("; ") : "—";
}

function row(r) {
  return h("tr", {},
    h("td", { class: "im-where" }, `${r.unit} ${r.number}`),
    h("td", {}, r.external_id ?? "—"),
    h("td", { class: "im-data" }, describeData(r.data)),
    h("td", {}, labels(r)));
}

// --- the import: bytes up, then the job --------------------------------------------------------------

$("im-import").addEventListener("click", startImport);

function uploadForm() {
  const form = new FormData();
  if (state.kind === "csv") {
    for (const [i, f] of state.files.entries()) form.append("file", i === 0 ? csvBody(f) : f, f.name);
  } else {
    for (const f of state.files) form.append("file", f, f.name);
  }
  return form;
}

function setBusy(busy) {
  state.busy = busy;
  $("im-import").disabled = busy;
  drop.setAttribute("aria-disabled", busy ? "true" : "false");
  for (const el of $("im-options").querySelectorAll("select, input")) el.disabled = busy;
}

function startImport() {
  setBusy(true);
  setStatus(statusEl, "");
  setStatus(errorEl, "");
  $("im-links").hidden = true;
  $("im-progress").hidden = false;
  $("im-job-part").hidden = true;
  const bar = $("im-bytes");
  bar.max = 1;
  bar.value = 0;
  const xhr = new XMLHttpRequest();
  xhr.open("POST", `${API_ROOT}/projects/${project.id}/import/?${options()}`);
  xhr.setRequestHeader("X-CSRFToken", csrfToken());
  xhr.setRequestHeader("Accept", "application/json");
  xhr.withCredentials = true;
  xhr.upload.onprogress = (e) => {
    if (!e.lengthComputable) return;
    bar.max = e.total;
    bar.value = e.loaded;
    setText($("im-bytes-text"), `${formatBytes(e.loaded)} of ${formatBytes(e.total)} sent`);
  };
  xhr.upload.onload = () => {
    bar.value = bar.max;
    setText($("im-bytes-text"), "Sent; the server is reading the records…");
  };
  xhr.onerror = () => fail("The connection was lost during the upload.");
  xhr.onload = () => {
    let data = null;
    try {
      data = JSON.parse(xhr.responseText);
    } catch (e) {
      data = null;
    }
    if (xhr.status === 201) {
      bar.value = bar.max;
      setText($("im-bytes-text"), "Uploaded.");
      done(data);
    } else if (xhr.status === 202 && data && data.job) {
      bar.value = bar.max;
      setText($("im-bytes-text"), "Uploaded.");
      followJob(data.job);
    } else {
      fail(messageOf(data, xhr.status));
    }
  };
  xhr.send(uploadForm());
}

function followJob(id) {
  $("im-job-part").hidden = false;
  const bar = $("im-job");
  bar.removeAttribute("value"); // indeterminate until the job says how far it is
  setText($("im-job-text"), "Waiting for a worker…");
  const poll = async () => {
    let job;
    try {
      job = await api("GET", `/jobs/${id}/`);
    } catch (err) {
      if (err.status === 0) {
        setText($("im-job-text"), "No connection; still trying…");
        setTimeout(poll, POLL_MS * 4);
        return;
      }
      fail(err.message);
      return;
    }
    if (job.state === "succeeded") {
      bar.max = Math.max(job.total || job.progress || 1, 1);
      bar.value = bar.max;
      setText($("im-job-text"), `${count(job.progress)} records read.`);
      done(job.result || {});
      return;
    }
    if (job.state === "failed") {
      fail(job.error || "The import job failed.");
      return;
    }
    if (job.total) {
      bar.max = job.total;
      bar.value = job.progress;
    }
    setText($("im-job-text"), job.state === "running" ? `${count(job.progress)} records read so far…` : "Waiting for a worker…");
    setTimeout(poll, POLL_MS);
  };
  poll();
}

function done(result) {
  setBusy(false);
  $("im-import").disabled = true; // imported: the same files again would be a second copy
  const parts = [`${count(result.imported || 0)} item${result.imported === 1 ? "" : "s"} imported`];
  if (result.updated) parts.push(`${count(result.updated)} updated`);
  if (result.skipped) parts.push(`${count(result.skipped)} skipped`);
  if (result.annotations) parts.push(`${count(result.annotations)} annotations`);
  setStatus(statusEl, `${parts.join(", ")}.`, "ok");
  const links = [["data", "See the data"], ["label", "Start labeling"], ["dashboard", "Dashboard"]]
    .filter(([k]) => config.links[k]).map(([k, text]) => h("a", { href: config.links[k], class: "button" }, text));
  $("im-links").replaceChildren(...links);
  $("im-links").hidden = false;
}

function fail(message) {
  setBusy(false);
  // The server's message names the line, row, record or zip entry; the import API's starts with NOTHING.
  setStatus(errorEl, message.includes(NOTHING) ? message : `${message} ${NOTHING}`, "error");
  $("im-job").value = 0;
}

drop.dataset.ready = "true"; // listeners are on: files may come (tests wait for this)
