// The project form: the label list editor and the instructions preview.
//
// Labels: add (button or Enter), remove, reorder (buttons, or Alt+ArrowUp / Alt+ArrowDown in a label's
// field) and colour each one. These rows are plain inputs named "labels" and "label_color", so the form
// posts them in the order shown; the server validates and saves. A saved label's name is read-only: its
// Rename and Merge into… buttons ask the server to rename or merge it at once (the stored annotations,
// predictions and final values follow), after a dialog that says how many rows will change.
// Instructions: Markdown, previewed as the server renders and sanitizes it, while typing.
import { api } from "./lib/api.js";
import { $, h } from "./lib/dom.js";
import { setStatus, showError } from "./lib/errors.js";
import { labelColor } from "../label/util.js";

const form = $("project-form");
const list = $("labels");
const input = $("new-label");
const projectId = form ? form.dataset.project : null;
const labelStatus = $("label-status");

const names = () => [...list.querySelectorAll("li.label-row input[name=labels]")].map((el) => el.value.trim());

function row(name) {
  return h("li", { class: "label-row" },
    h("input", { type: "color", class: "label-color", value: labelColor([...names(), name], name), dataset: { unset: "1" } }),
    h("input", { type: "hidden", name: "label_color", value: "" }),
    h("input", { name: "labels", type: "text", maxlength: "100", value: name }),
    h("button", { type: "button", dataset: { action: "up" } }, "↑"),
    h("button", { type: "button", dataset: { action: "down" } }, "↓"),
    h("button", { type: "button", dataset: { action: "remove" } }, "Remove"),
    h("span", { class: "error label-row-error", role: "alert" }));
}

/** Number the rows' accessible names after any change, so a screen reader hears the current order. */
function renumber() {
  list.querySelectorAll("li.label-row").forEach((li, i) => {
    const field = li.querySelector("input[name=labels]");
    const name = li.dataset.saved || field.value.trim() || `label ${i + 1}`;
    field.setAttribute("aria-label", `Label ${i + 1}`);
    const named = { up: `Move ${name} up`, down: `Move ${name} down`, remove: `Remove ${name}`,
                    rename: `Rename ${name}`, merge: `Merge ${name} into another label` };
    for (const [action, text] of Object.entries(named)) {
      const button = li.querySelector(`[data-action="${action}"]`);
      if (button) button.setAttribute("aria-label", text);
    }
    li.querySelector(".label-color").setAttribute("aria-label", `Colour of ${name}`);
  });
}

function add() {
  const name = input.value.trim();
  if (!name) return;
  list.append(row(name));
  input.value = "";
  input.focus();
  renumber();
}

function move(li, action, focus) {
  if (action === "up" && li.previousElementSibling) li.previousElementSibling.before(li);
  else if (action === "down" && li.nextElementSibling) li.nextElementSibling.after(li);
  else if (action === "remove") {
    const next = li.nextElementSibling || li.previousElementSibling;
    li.remove();
    (next ? next.querySelector("input[name=labels]") : input).focus();
    renumber();
    return;
  }
  focus.focus();
  renumber();
}

/** Rows without a colour of their own show the palette's colour for their place. */
function paintDefaults() {
  const labels = names();
  list.querySelectorAll("li.label-row .label-color[data-unset]").forEach((el) => {
    el.value = labelColor(labels, el.closest("li").querySelector("input[name=labels]").value.trim());
  });
}

// --- Rename and merge (saved labels, through the API) ---------------------------------------------------

const dialog = $("relabel-dialog");
let pending = null; // {kind: "rename"|"merge", li, from, to, merge}

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

function countsText(c) {
  const parts = [plural(c.annotations, "annotation"), plural(c.item_predictions, "prediction"),
                 plural(c.final_values, "final value")];
  const extra = [];
  if (c.review_decisions) extra.push(plural(c.review_decisions, "review decision"));
  if (c.gold) extra.push(plural(c.gold, "gold answer"));
  return `${parts.join(", ")}${extra.length ? ` (and ${extra.join(", ")})` : ""} will change.`;
}

async function showCounts(label) {
  const counts = $("relabel-counts");
  counts.textContent = "Counting…";
  try {
    const c = await api("GET", `/projects/${projectId}/labels/usage/?label=${encodeURIComponent(label)}`);
    counts.textContent = countsText(c);
  } catch (err) {
    showError(counts, err);
  }
}

function startRename(li) {
  const field = li.querySelector("input[name=labels]");
  const button = li.querySelector('[data-action="rename"]');
  if (!field.readOnly) { applyRename(li); return; }
  li.dataset.renaming = "1";
  field.readOnly = false;
  button.textContent = "Apply";
  field.focus();
  field.select();
}

function cancelRename(li) {
  const field = li.querySelector("input[name=labels]");
  field.value = li.dataset.saved;
  endRename(li);
  field.focus();
}

function endRename(li) {
  delete li.dataset.renaming;
  li.querySelector("input[name=labels]").readOnly = true;
  li.querySelector('[data-action="rename"]').textContent = "Rename";
  renumber();
}

function applyRename(li) {
  const to = li.querySelector("input[name=labels]").value.trim();
  const from = li.dataset.saved;
  if (!to || to === from) { cancelRename(li); return; }
  pending = { kind: "rename", li, from, to, merge: false };
  $("relabel-title").textContent = `Rename “${from}” to “${to}”?`;
  $("relabel-merge-field").hidden = true;
  $("relabel-confirm").textContent = "Rename";
  $("relabel-error").textContent = "";
  dialog.showModal();
  showCounts(from);
}

function startMerge(li) {
  const from = li.dataset.saved;
  const others = [...list.querySelectorAll("li.label-row[data-saved]")].map((el) => el.dataset.saved).filter((n) => n !== from);
  if (!others.length) { li.querySelector(".label-row-error").textContent = "There is no other saved label to merge into."; return; }
  pending = { kind: "merge", li, from };
  $("relabel-title").textContent = `Merge “${from}” into another label`;
  const select = $("relabel-target");
  select.replaceChildren(...others.map((n) => h("option", { value: n }, n)));
  $("relabel-merge-field").hidden = false;
  $("relabel-confirm").textContent = "Merge";
  $("relabel-error").textContent = "";
  dialog.showModal();
  select.focus();
  showCounts(from);
}

async function confirm() {
  const p = pending;
  const error = $("relabel-error");
  error.textContent = "";
  try {
    let result;
    if (p.kind === "rename") {
      result = await api("POST", `/projects/${projectId}/labels/rename/`, { from: p.from, to: p.to, merge: p.merge });
    } else {
      p.to = $("relabel-target").value;
      result = await api("POST", `/projects/${projectId}/labels/merge/`, { from: [p.from], to: p.to });
    }
    dialog.close();
    applied(p, result);
  } catch (err) {
    showError(error, err);
    if (p.kind === "rename" && err.status === 400 && names().filter((n) => n === p.to).length > 1 && !p.merge) {
      // The new name is another saved label: offer the merge the server asked for.
      p.merge = true;
      $("relabel-confirm").textContent = `Merge into “${p.to}”`;
    }
  }
}

/** After the server renamed or merged: the rows show the project's labels as they are now. */
function applied(p, result) {
  const c = result.counts;
  const changed = `${plural(c.annotations, "annotation")}, ${plural(c.item_predictions, "prediction")}, ` +
                  `${plural(c.final_values, "final value")} changed.`;
  const model = result.retrain_needed ? ` Model version ${result.model_deactivated} was deactivated: retrain it.` : "";
  const target = [...list.querySelectorAll("li.label-row[data-saved]")].find((el) => el.dataset.saved === p.to && el !== p.li);
  if (target) {
    // Merged (also a rename onto an existing label): the source row goes, the target keeps its place.
    const next = p.li.nextElementSibling || p.li.previousElementSibling;
    p.li.remove();
    (next ? next.querySelector("input[name=labels]") : input).focus();
    setStatus(labelStatus, `Merged “${p.from}” into “${p.to}”: ${changed}${model}`, "ok");
  } else {
    p.li.dataset.saved = p.to;
    p.li.querySelector("input[name=labels]").value = p.to;
    endRename(p.li);
    p.li.querySelector('[data-action="rename"]').focus();
    setStatus(labelStatus, `Renamed “${p.from}” to “${p.to}”: ${changed}${model}`, "ok");
  }
  pending = null;
  renumber();
}

if (dialog) {
  $("relabel-form").addEventListener("submit", (e) => {
    if (e.submitter && e.submitter.value === "confirm") {
      e.preventDefault(); // the dialog stays open until the server answers
      confirm();
    }
  });
  dialog.addEventListener("close", () => {
    if (pending && pending.kind === "rename" && pending.li.dataset.renaming) cancelRename(pending.li);
    pending = null;
  });
}

if (list && input) {
  $("add-label").addEventListener("click", add);
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault(); // Enter adds the label; it does not submit the form
      add();
    }
  });
  list.addEventListener("click", (e) => {
    const button = e.target.closest("button[data-action]");
    if (!button) return;
    const li = button.closest("li");
    li.querySelector(".label-row-error").textContent = "";
    if (button.dataset.action === "rename") startRename(li);
    else if (button.dataset.action === "merge") startMerge(li);
    else move(li, button.dataset.action, button);
  });
  list.addEventListener("keydown", (e) => {
    const li = e.target.closest("li");
    if (li && li.dataset.renaming && e.target.name === "labels") {
      if (e.key === "Enter") { e.preventDefault(); applyRename(li); return; }
      if (e.key === "Escape") { e.preventDefault(); cancelRename(li); return; }
    }
    if (e.key === "Enter" && e.target.name === "labels") { e.preventDefault(); return; } // no submit by accident
    if (!e.altKey || !["ArrowUp", "ArrowDown"].includes(e.key) || e.target.tagName !== "INPUT") return;
    e.preventDefault();
    move(li, e.key === "ArrowUp" ? "up" : "down", e.target);
  });
  list.addEventListener("input", (e) => {
    if (e.target.classList.contains("label-color")) {
      delete e.target.dataset.unset;
      e.target.nextElementSibling.value = e.target.value; // the hidden "label_color" of this row
      return;
    }
    renumber();
  });
  paintDefaults();
}

// --- Instructions preview -------------------------------------------------------------------------------

const instructions = $("instructions");
const preview = $("instructions-preview");
if (instructions && preview) {
  let timer = null;
  let asked = 0;
  const build = (nodes) => nodes.map((n) => (typeof n === "string" ? n : h(n.tag, n.attrs, ...build(n.children))));
  const refresh = async () => {
    const mine = ++asked;
    try {
      // Rendered and sanitized by the server (common/markdown.py, nh3); built here as elements, not HTML.
      const { nodes } = await api("POST", "/instructions/preview/", { text: instructions.value });
      if (mine === asked) preview.replaceChildren(...build(nodes));
    } catch {
      // The preview is a convenience; the text is saved with the form either way.
    }
  };
  instructions.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, 200);
  });
}
