// The review screen: take the next in-review item, see what the annotators and the model said, take
// one of their values or correct it with the task type's labeling widget (the annotators' own), decide,
// repeat.
//
// Keys: 1-9 pick a candidate; e (or a click on the item) goes into the widget, where its keys work as on
// the labeling screen (number keys choose labels there) until Esc; Enter decides; n note; ? shortcuts;
// x then a number rejects that annotator's annotation with a comment (it goes back for rework).
import { api } from "./lib/api.js";
import { h, $, keyRows, pageConfig } from "./lib/dom.js";
import { errorsText, flattenErrors, setStatus, showError } from "./lib/errors.js";
import { describeValue } from "./lib/values.js";
import { percent } from "../label/util.js";
import { widgetFor, mountWidget, imageOf } from "../label/widgets.js";

const cfg = pageConfig();
const project = cfg.project;
const ui = {
  stage: $("rv-stage"), list: $("rv-list"), error: $("rv-error"), note: $("rv-note"), submit: $("rv-submit"),
  status: $("rv-status"), item: $("rv-item"), reason: $("rv-reason"), count: $("rv-count"),
  help: $("rv-help"), helpDialog: $("rv-help-dialog"), toolKeys: $("rv-tool-keys"),
  reject: $("rv-reject-dialog"), rejectForm: $("rv-reject-form"), rejectWho: $("rv-reject-who"),
  rejectValue: $("rv-reject-value"), rejectComment: $("rv-reject-comment"), rejectError: $("rv-reject-error"),
  rejectSend: $("rv-reject-send"), rejectCancel: $("rv-reject-cancel"),
};
// What a widget tells a reviewer about an item it cannot show (an annotator would skip it).
const STUCK = "Take a value from the list with its number to decide it.";
const state = {
  task: null,
  candidates: [], // [{who, value, extra, annotation}]: the annotators' values (annotation: its id), the model's, the current final one
  picked: null, // index of the candidate the value on screen equals, or null
  start: null, // the value the item came with (an audit sample's final value), or null
  touched: false, // a candidate was picked or the value edited since the item came
  editor: null, // the widget's editor, mounted in ui.stage
  image: null, // the item's image, loaded once for every mount
  errorsShown: false,
  busy: false,
  done: 0,
  exhausted: false,
  rejectArmed: false, // `x` was pressed: the next number names the annotation to reject
  rejecting: null, // the candidate the reject dialog is about
};
let widget = null;
window.hitlReview = { state };

// ------------------------------------------------------------- values, as people read them

/** A value as a list of readable lines, for the list of candidates. */
const describe = (value, data) => describeValue(project.task_type, value, data);

/** JSON with every object's keys sorted: a value reads the same whatever order its keys were stored in. */
function canonical(value) {
  return JSON.stringify(value, (k, x) => (x && typeof x === "object" && !Array.isArray(x)
    ? Object.fromEntries(Object.keys(x).sort().map((key) => [key, x[key]])) : x));
}

const same = (a, b) => canonical(a) === canonical(b);
const copy = (value) => (value === null ? null : JSON.parse(JSON.stringify(value)));

// ------------------------------------------------------------- the candidates

function renderCandidates() {
  const data = state.task.item.data;
  ui.list.replaceChildren(...state.candidates.map((c, i) => {
    const key = i < 9 ? String(i + 1) : null;
    const lines = describe(c.value, data);
    const reject = c.annotation ? h("button", {
      type: "button", class: "ghost rv-reject", "aria-haspopup": "dialog", "aria-keyshortcuts": key ? `x ${key}` : null,
      "aria-label": `Reject ${c.who}'s annotation…`, onclick: () => openReject(i),
    }, "Reject…", key ? h("kbd", {}, `x ${key}`) : null) : null;
    return h("li", { class: reject ? "rv-cand-row" : null },
      h("button", {
        type: "button", class: "rv-cand", "data-key": key, "data-enter-submits": true,
        "aria-pressed": String(state.picked === i), "aria-keyshortcuts": key, onclick: () => pick(i),
      },
      key ? h("kbd", {}, key) : null,
      h("span", { class: "rv-who" }, c.who),
      c.extra ? h("span", { class: "rv-extra muted" }, c.extra) : null,
      lines.length === 1 ? h("span", { class: "rv-val" }, lines[0])
        : h("ul", { class: "rv-val-list" }, lines.map((l) => h("li", {}, l)))),
      reject);
  }));
  if (!state.candidates.length) ui.list.replaceChildren(h("li", { class: "muted" }, "No annotations and no prediction."));
}

function markPicked() {
  ui.list.querySelectorAll(".rv-cand").forEach((b, i) => b.setAttribute("aria-pressed", String(state.picked === i)));
}

/** Take candidate `i`'s value: the widget shows it, ready to accept or to correct. */
function pick(i) {
  const c = state.candidates[i];
  if (!c || state.busy) return;
  state.picked = i;
  state.touched = true;
  mountEditor(c.value);
  markPicked();
  setStatus(ui.status, `Picked ${c.who}.`);
}

// ------------------------------------------------------------- the widget

/** Show the item in the task type's widget, pre-filled with `initial` (null: nothing chosen). */
function mountEditor(initial) {
  if (state.editor && state.editor.destroy) state.editor.destroy();
  ui.stage.replaceChildren();
  state.editor = mountWidget(widget, ui.stage, {
    project, item: state.task.item, prediction: state.task.prediction || null, image: state.image,
    initial: copy(initial), stuck: STUCK, changed: edited, say: (text) => setStatus(ui.status, text),
  });
  clearErrors();
}

/** The value was changed in the widget: mark the candidate it now equals, if any. */
function edited(value) {
  state.touched = true;
  const i = state.candidates.findIndex((c) => same(c.value, value));
  state.picked = i < 0 ? null : i;
  markPicked();
  if (state.errorsShown) clearErrors();
}

function showErrors(errors) {
  state.errorsShown = true;
  const unplaced = state.editor ? state.editor.showErrors(errors) : errors;
  ui.error.textContent = errorsText(unplaced);
}

function clearErrors() {
  state.errorsShown = false;
  ui.error.textContent = "";
  if (state.editor) state.editor.showErrors([]);
}

const editing = () => ui.stage.contains(document.activeElement);

function enterEditor() {
  if (state.editor) (state.editor.focus || ui.stage).focus();
}

function leaveEditor() {
  const picked = state.picked === null ? null : ui.list.querySelectorAll(".rv-cand")[state.picked];
  (picked || ui.list).focus();
}

/** The value to decide: the picked candidate's as it was given, else what the widget holds. */
function decidedValue() {
  // A candidate is sent as it is, even when the widget cannot show it (a broken image, a label gone).
  if (state.picked !== null) return { value: state.candidates[state.picked].value };
  if (!state.touched && state.start === null) {
    return { error: "Pick an annotation with its number, or set the value with the labeling tools.", field: "detail" };
  }
  return state.editor.value();
}

// ------------------------------------------------------------- screens

function show(task) {
  state.task = task;
  const item = task.item;
  state.image = imageOf(item);
  state.candidates = (task.annotations || []).filter((a) => !a.skipped && a.value !== null).map((a) => ({
    who: a.user, value: a.value, extra: "annotator", annotation: a.id,
  }));
  const pred = task.prediction;
  if (pred && pred.value !== undefined && pred.value !== null) {
    const conf = percent(pred.confidence);
    state.candidates.push({ who: "model", value: pred.value, extra: ["prediction", conf && `${conf} confident`].filter(Boolean).join(" · ") });
  }
  const final = task.final;
  if (final && final.value && !state.candidates.some((c) => same(c.value, final.value))) {
    state.candidates.push({ who: `final (${final.source})`, value: final.value, extra: "current final value" });
  }
  // An audit sample starts from the value it has; a disagreement starts from nothing.
  state.start = final && final.value ? final.value : null;
  state.touched = false;
  state.picked = state.start === null ? null : state.candidates.findIndex((c) => same(c.value, state.start));
  if (state.picked < 0) state.picked = null;
  ui.item.textContent = `Item ${item.id}${item.external_id ? ` · ${item.external_id}` : ""}`;
  ui.reason.hidden = !task.reason;
  ui.reason.textContent = task.reason ? task.reason.replace("_", " ") : "";
  ui.reason.dataset.reason = task.reason || "";
  ui.note.value = "";
  // Every item starts with the list: number keys pick candidates until the reviewer goes into the widget.
  if (editing()) document.activeElement.blur();
  renderCandidates();
  mountEditor(state.start);
  ui.submit.disabled = false;
  setStatus(ui.status, "");
}

function showDone() {
  state.task = null;
  state.exhausted = true;
  if (state.editor && state.editor.destroy) state.editor.destroy();
  state.editor = null;
  ui.item.textContent = "";
  ui.reason.hidden = true;
  ui.stage.replaceChildren(h("div", { class: "rv-done" }, h("h2", {}, "Nothing to review"),
    h("p", { class: "muted" }, "The review queue of this project is empty. "),
    h("p", {}, h("a", { href: `/projects/${project.id}/dashboard/` }, "Open the dashboard"))));
  ui.list.replaceChildren();
  ui.error.textContent = "";
  ui.submit.disabled = true;
}

// ------------------------------------------------------------- server round trips

async function loadNext() {
  state.busy = true;
  try {
    const task = await api("GET", `/projects/${project.id}/review/next/`);
    if (task) show(task);
    else showDone();
  } catch (e) {
    if (e.status) showError(ui.status, e, "Could not load the next item: ");
    else setStatus(ui.status, "No connection to the server. Reload to try again.", "error");
  } finally {
    state.busy = false;
  }
}

async function submit() {
  if (!state.task || state.busy) return;
  const r = decidedValue();
  if (r.error) { showErrors([[r.field || "value", r.error]]); return; }
  state.busy = true;
  ui.submit.disabled = true;
  setStatus(ui.status, "Saving…");
  let answer;
  try {
    answer = await api("POST", `/items/${state.task.item.id}/review/`, { value: r.value, note: ui.note.value.trim() });
  } catch (e) {
    state.busy = false;
    if (e.status === 409) { // decided by someone else meanwhile, or our lease on it ran out
      await loadNext();
      setStatus(ui.status, `Not saved: ${e.message} Here is the next item.`, "warn");
      return;
    }
    ui.submit.disabled = false;
    if (e.status === 400) {
      showErrors(flattenErrors(e.data));
      setStatus(ui.status, "The value does not fit; see the message by it.", "error");
    } else if (e.status) {
      showError(ui.status, e, "Not saved: ");
    } else {
      setStatus(ui.status, "Not saved: no connection to the server. Press Enter to try again.", "error");
    }
    return;
  }
  state.done += 1;
  ui.count.textContent = `${state.done} decided`;
  state.busy = false;
  await loadNext();
  setStatus(ui.status, `Saved item ${answer.item.id}.`, "ok");
}

// ------------------------------------------------------------- rejecting an annotation (rework)

/** Open the reject dialog for annotator candidate `i`: a comment, and who reworks the item. */
function openReject(i) {
  const c = state.candidates[i];
  state.rejectArmed = false;
  if (!c || !c.annotation || state.busy || !state.task) return;
  state.rejecting = c;
  ui.rejectWho.textContent = c.who;
  ui.rejectValue.textContent = describe(c.value, state.task.item.data).join("; ");
  ui.rejectComment.value = "";
  ui.rejectForm.elements.rework_by.value = "same";
  ui.rejectError.textContent = "";
  ui.rejectSend.disabled = false;
  setStatus(ui.status, "");
  ui.reject.showModal();
  ui.rejectComment.focus();
}

async function sendReject(event) {
  event.preventDefault(); // the dialog stays open until the server answered
  const c = state.rejecting;
  if (!c || state.busy) return;
  const comment = ui.rejectComment.value.trim();
  if (!comment) { ui.rejectError.textContent = "Write a comment: the annotator reads it in their inbox."; ui.rejectComment.focus(); return; }
  const reworkBy = ui.rejectForm.elements.rework_by.value;
  state.busy = true;
  ui.rejectSend.disabled = true;
  ui.rejectError.textContent = "";
  try {
    await api("POST", `/annotations/${c.annotation}/reject/`, { comment, rework_by: reworkBy });
  } catch (e) {
    state.busy = false;
    ui.rejectSend.disabled = false;
    if (e.status === 409) { // decided or changed meanwhile: this item is no longer ours to judge
      ui.reject.close();
      await loadNext();
      setStatus(ui.status, `Not rejected: ${e.message} Here is the next item.`, "warn");
      return;
    }
    ui.rejectError.textContent = e.status === 400 ? errorsText(flattenErrors(e.data)) : e.message;
    return;
  }
  ui.reject.close();
  state.rejecting = null;
  state.busy = false;
  // The item left review: it waits for the rework (one more annotation) before it is decided.
  await loadNext();
  setStatus(ui.status, `Sent ${c.who}'s annotation back to ${reworkBy === "same" ? c.who : "anyone"} for rework.`, "ok");
}

// ------------------------------------------------------------- keys

function onKey(e) {
  if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
  if (document.querySelector("dialog[open]")) return; // Esc closes it natively
  const t = e.target;
  if (t === ui.note) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); if (!e.repeat) submit(); }
    else if (e.key === "Escape") ui.note.blur();
    return;
  }
  const inEditor = ui.stage.contains(t);
  if (inEditor) {
    if (t.closest("input, textarea, select") && e.key !== "Enter") return; // a box's label menu keeps its keys
    if (state.editor && !state.busy && state.editor.onKey(e)) { e.preventDefault(); return; }
    if (e.key === "Escape") { e.preventDefault(); leaveEditor(); return; }
  } else if (state.rejectArmed) {
    state.rejectArmed = false;
    e.preventDefault();
    if (/^[1-9]$/.test(e.key)) openReject(Number(e.key) - 1);
    else setStatus(ui.status, "");
    return;
  } else if (/^[1-9]$/.test(e.key)) {
    e.preventDefault();
    pick(Number(e.key) - 1);
    return;
  } else if (e.key === "x" && state.candidates.some((c) => c.annotation)) {
    e.preventDefault();
    state.rejectArmed = true;
    setStatus(ui.status, "Reject which annotation? Press its number (any other key cancels).");
    return;
  } else if (e.key === "e") {
    e.preventDefault();
    enterEditor();
    return;
  } else if (e.key === "n") {
    e.preventDefault();
    ui.note.focus();
    return;
  }
  if (e.key === "Enter" && !e.shiftKey) {
    // A focused link or tool button (Shortcuts, zoom…) does what it says; candidates and labels decide.
    if (t.closest && t.closest("a, button, summary") && !t.closest("[data-enter-submits]")) return;
    e.preventDefault(); // also keeps a focused label button from being pressed as well
    if (!e.repeat) submit();
    return;
  }
  if (e.key === "?") { e.preventDefault(); ui.helpDialog.showModal(); return; }
  // Outside the widget, its keys that the review does not use still work: a / b / t, zoom, new box.
  if (!inEditor && state.editor && !state.busy && state.editor.onKey(e)) e.preventDefault();
}

async function start() {
  widget = await widgetFor(project.task_type);
  if (!widget) {
    ui.stage.replaceChildren(h("p", { class: "error", role: "alert" }, `This screen does not know the task type ${project.task_type}.`));
    return;
  }
  ui.toolKeys.replaceChildren(...keyRows(widget.help ? widget.help(project) : []));
  document.addEventListener("keydown", onKey);
  ui.submit.addEventListener("click", () => submit());
  ui.help.addEventListener("click", () => ui.helpDialog.showModal());
  ui.rejectForm.addEventListener("submit", sendReject);
  ui.rejectCancel.addEventListener("click", () => ui.reject.close());
  ui.rejectComment.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); ui.rejectForm.requestSubmit(); }
  });
  await loadNext();
}

start();
