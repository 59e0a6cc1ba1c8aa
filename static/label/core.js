// The labeling screen: queue with prefetch, submit with retry, undo, lead time, shortcuts.
//
// The next item is always fetched (and its image decoded) while the current one is on screen,
// so that Enter swaps the screen at once. Submissions go to an outbox that is kept in
// localStorage and sent in order; a lost connection only delays them (the page retries and
// says so), and a 409 after a retry means the first attempt got through.
import { request } from "../js/lib/api.js";
import { h, $, keyRows, pageConfig } from "../js/lib/dom.js";
import { flattenErrors, errorsText, messageOf, setStatus } from "../js/lib/errors.js";
import { percent } from "./util.js";
import { widgetFor, mountWidget, imageOf } from "./widgets.js";
import { withQuestions, help as questionsHelp } from "./questions.js";
import { showQuizFeedback } from "./quiz.js";

const cfg = pageConfig();
const project = cfg.project;
const leaseMs = (cfg.lease_seconds || 600) * 1000;
const ui = {
  stage: $("lb-stage"), submit: $("lb-submit"), skip: $("lb-skip"), undo: $("lb-undo"), status: $("lb-status"),
  error: $("lb-error"), suggestion: $("lb-suggestion"), item: $("lb-item"), count: $("lb-count"), feedback: $("lb-feedback"),
  help: $("lb-help"), helpDialog: $("lb-help-dialog"), keys: $("lb-keys"),
  instructions: $("lb-instructions"), instructionsDialog: $("lb-instructions-dialog"),
};
const OUTBOX_KEY = `hitl-outbox:${project.id}:${cfg.user.id}`;

const state = {
  current: null, // the entry on screen
  editor: null, // its task editor
  ahead: [], // entries leased to us, shown next (prefetched, or put back by an undo)
  history: [], // submissions that may be undone, oldest first
  outbox: [], // submissions not yet stored on the server, in order
  sending: false,
  prefetching: null,
  exhausted: false,
  busy: false, // between screens: keys are ignored
  done: 0,
  saved: new Set(), // ids of items whose answer the server stored, from this page
};
let renderer = null;
const metrics = { submitToShown: [] };
window.hitl = { state, metrics, config: cfg };

// ---------------------------------------------------------------- server
//
// `request` (../js/lib/api.js) resolves every answer, errors included, and rejects only when none
// came: offline, or nothing within its time limit (a hung request counts as lost and is retried).

class Fatal extends Error {}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const backoff = (n) => Math.min(500 * 2 ** n, 10000);
const detail = (r) => messageOf(r.data, r.status);

/** Wait `ms`, or less if the browser says it is back online. */
function pause(ms) {
  return new Promise((resolve) => {
    const done = () => { clearTimeout(t); window.removeEventListener("online", done); resolve(); };
    const t = setTimeout(done, ms);
    window.addEventListener("online", done);
  });
}

function onScreenIds() {
  const ids = new Set(state.ahead.map((e) => e.item.id));
  if (state.current) ids.add(state.current.item.id);
  for (const job of state.outbox) ids.add(job.itemId); // still leased to us until stored
  return [...ids];
}

function makeEntry(data) {
  return {
    item: data.item, prediction: data.prediction || null, leaseExpiresAt: data.lease_expires_at,
    feedback: data.feedback || null, // a rework: the reviewer's comment on the caller's rejected answer
    image: imageOf(data.item),
    elapsed: 0, shownAt: null, draft: undefined, restored: null, errors: null, fetchedAt: performance.now(),
  };
}

/** Lease the next item not on screen; null when nothing is left. Retries while offline. */
async function fetchNext() {
  for (let attempt = 0; ; attempt++) {
    let r = null;
    try {
      const exclude = onScreenIds();
      r = await request("GET", `/projects/${project.id}/next/${exclude.length ? `?exclude=${exclude.join(",")}` : ""}`);
    } catch (e) { /* no answer: retry */ }
    if (r && r.status === 200) { if (attempt) say("Connection is back."); return makeEntry(r.data); }
    if (r && r.status === 204) return null;
    if (r && [400, 403, 404].includes(r.status)) throw new Fatal(detail(r));
    say(r && r.status === 401 ? "Your session has ended: log in again in another tab." : "Connection lost — retrying…", "warn");
    await pause(backoff(attempt));
  }
}

function prefetch() {
  if (state.prefetching || state.ahead.length) return state.prefetching;
  state.prefetching = fetchNext()
    .then((entry) => {
      state.exhausted = !entry; // nothing more after the items on screen, for now
      // A look that was under way while an item was between screens (refused, then shown again) can answer
      // with that item's lease after its answer was stored: it is done, not next.
      if (entry && !onScreenIds().includes(entry.item.id) && !state.saved.has(entry.item.id)) state.ahead.push(entry);
    })
    .catch(fatal)
    .finally(() => { state.prefetching = null; });
  return state.prefetching;
}

// ---------------------------------------------------------------- outbox

function saveOutbox() {
  try {
    localStorage.setItem(OUTBOX_KEY, JSON.stringify(state.outbox.map((j) => ({ itemId: j.itemId, body: j.body }))));
  } catch (e) { /* private mode or full: the in-memory outbox still retries */ }
}

function loadOutbox() {
  try {
    return (JSON.parse(localStorage.getItem(OUTBOX_KEY)) || []).map((j) => newJob(j.itemId, j.body, null));
  } catch (e) { return []; }
}

function newJob(itemId, body, entry) {
  // inFlight: the attempt under way; outcome: "saved", "rejected", "dropped" or "undone" once settled.
  return { itemId, body, entry, tries: 0, inFlight: null, outcome: null };
}

function finish(job, outcome) {
  state.outbox.splice(state.outbox.indexOf(job), 1);
  saveOutbox();
  job.outcome = outcome;
  if (outcome === "saved") state.saved.add(job.itemId);
}

/** Send the outbox in order; one loop at a time. */
async function flush() {
  if (state.sending) return;
  state.sending = true;
  let failures = 0;
  try {
    while (state.outbox.length) {
      const job = state.outbox[0];
      let r = null;
      job.inFlight = request("POST", `/items/${job.itemId}/annotations/`, job.body).catch(() => null);
      r = await job.inFlight;
      job.inFlight = null;
      job.tries++;
      const what = job.body.skip ? "Skipped" : "Saved";
      if (r && r.status === 409 && /no longer needs your annotation/.test(detail(r))) {
        // The lease had expired and others completed the item meanwhile: nothing was stored.
        finish(job, "dropped");
        forget(job);
        say(`Item ${job.itemId}: ${detail(r)}`, "warn");
      } else if (r && (r.status === 201 || r.status === 409)) {
        // 409: already stored. After a retry that is our own first attempt, which got through.
        finish(job, "saved");
        // While the quiz goes on, nothing further may have been served: once it is passed, look again.
        if (r.status === 201 && r.data && r.data.quiz) {
          showQuizFeedback(r.data.quiz, describeValue, async () => {
            while (state.busy) await sleep(20); // a look for the next item may be under way: let it end
            if (!state.current) advance();
          });
        }
        say(r.status === 201 || job.tries > 1 ? `${what} item ${job.itemId}.` : `Item ${job.itemId} was already submitted.`,
          failures ? "ok" : "");
        failures = 0;
      } else if (r && r.status === 400) {
        finish(job, "rejected");
        await rejected(job, r.data);
      } else if (r && (r.status === 403 || r.status === 404)) {
        finish(job, "dropped");
        forget(job);
        say(`Item ${job.itemId} could not be saved: ${detail(r)}`, "error");
      } else {
        failures++;
        const n = state.outbox.length;
        say(r && r.status === 401
          ? `Your session has ended: log in again in another tab. ${n} unsaved, kept on this page.`
          : `Connection lost — retrying… (${n} unsaved)`, "warn");
        await pause(backoff(failures - 1));
      }
    }
  } finally {
    state.sending = false;
  }
}

function forget(job) {
  const i = state.history.findIndex((h) => h.job === job);
  if (i >= 0) { state.history.splice(i, 1); setCount(state.done - 1); }
}

/** The server refused a submission: bring the item back with its value and the messages. */
async function rejected(job, data) {
  const errors = flattenErrors(data || { detail: "The server refused this answer." });
  forget(job);
  if (!job.entry) { say(`Item ${job.itemId} was not saved: ${errors.map((e) => e[1]).join(" ")}`, "error"); return; }
  while (state.busy) await sleep(20);
  const entry = job.entry;
  entry.draft = job.body.value;
  entry.errors = errors;
  putBack();
  show(entry);
  say(`Item ${job.itemId} was not saved; see the message on the screen.`, "error");
}

// ---------------------------------------------------------------- screen

function say(text, kind = "") {
  setStatus(ui.status, text, kind);
}

function setCount(n) {
  state.done = n;
  ui.count.textContent = `${n} done`;
}

function describeValue(value) {
  return renderer && renderer.describe ? renderer.describe(value, project.labels) : JSON.stringify(value);
}

function fatal(err) {
  if (!(err instanceof Fatal)) { console.error(err); return; }
  state.current = null;
  ui.stage.replaceChildren(h("p", { class: "error", role: "alert" }, err.message), h("p", {}, h("a", { href: "/" }, "Back to your projects")));
}

function showFieldError(errors) {
  state.errorsShown = true;
  const unplaced = state.editor && state.editor.showErrors ? state.editor.showErrors(errors) : errors;
  ui.error.hidden = !unplaced.length;
  ui.error.textContent = errorsText(unplaced);
}

function clearErrors() {
  state.errorsShown = false;
  ui.error.hidden = true;
  ui.error.textContent = "";
  if (state.editor && state.editor.showErrors) state.editor.showErrors([]);
}

/** Stop the clock of the entry on screen. */
function leave(entry) {
  if (entry && entry.shownAt !== null) {
    entry.elapsed += performance.now() - entry.shownAt;
    entry.shownAt = null;
  }
}

/** Put the item on screen back at the front of the queue, keeping what was done on it. */
function putBack() {
  const entry = state.current;
  if (!entry) return;
  leave(entry);
  if (state.editor) entry.draft = state.editor.state();
  state.ahead.unshift(entry);
  state.current = null;
}

function initialValue(entry) {
  if (entry.draft !== undefined) return entry.draft;
  if (entry.restored && entry.restored.value) return entry.restored.value;
  return entry.prediction ? entry.prediction.value : null;
}

function show(entry, t0, prefetched) {
  state.current = entry;
  if (state.editor && state.editor.destroy) state.editor.destroy();
  ui.stage.replaceChildren();
  const initial = initialValue(entry);
  const changed = () => { if (state.errorsShown) clearErrors(); };
  state.editor = mountWidget(renderer, ui.stage, {
    project, item: entry.item, prediction: entry.prediction, image: entry.image, initial, changed, say,
  });
  if (project.questions && project.questions.length) {
    // The rubric's questions, under the main widget (questions.js).
    state.editor = withQuestions(state.editor, ui.stage,
      { questions: project.questions, initial, prediction: entry.prediction, changed });
  }
  ui.item.textContent = `Item ${entry.item.id}${entry.item.external_id ? ` · ${entry.item.external_id}` : ""}`;
  showSuggestion(entry);
  showFeedback(entry);
  clearErrors();
  if (entry.errors) { showFieldError(entry.errors); entry.errors = null; }
  entry.shownAt = document.hidden ? null : performance.now();
  const focus = state.editor.focus || ui.stage;
  focus.focus({ preventScroll: true });
  if (t0 !== undefined) {
    const dom = performance.now();
    requestAnimationFrame(() => setTimeout(() => {
      metrics.submitToShown.push({ dom: dom - t0, painted: performance.now() - t0, item: entry.item.id, prefetched });
    }, 0));
  }
}

function showSuggestion(entry) {
  const p = entry.prediction;
  if (!p || p.value === undefined || p.value === null) { ui.suggestion.hidden = true; return; }
  const what = renderer.describe ? renderer.describe(p.value, project.labels) : JSON.stringify(p.value);
  ui.suggestion.replaceChildren(
    h("span", { class: "lb-ai" }, "Model suggestion"), " ", h("strong", { class: "lb-suggested" }, what),
    p.confidence !== undefined && p.confidence !== null ? h("span", { class: "lb-conf" }, ` · ${percent(p.confidence)} confident`) : "",
    h("span", { class: "muted" }, entry.restored || entry.draft !== undefined ? "" : " — pre-selected: Enter accepts it, or change it"),
  );
  ui.suggestion.hidden = false;
}

/** A rework: the reviewer's comment (and the value they rejected) above the item. */
function showFeedback(entry) {
  const f = entry.feedback;
  ui.feedback.hidden = !f;
  if (!f) { ui.feedback.replaceChildren(); return; }
  const rejected = f.value && renderer.describe ? renderer.describe(f.value, project.labels) : null;
  ui.feedback.replaceChildren(
    h("p", {}, h("strong", {}, "Sent back for rework"), ` by ${f.reviewer}`,
      rejected ? h("span", { class: "muted" }, ` · your answer was: ${rejected}`) : null),
    h("p", { class: "lb-feedback-comment" }, f.comment));
}

function showDone() {
  state.current = null;
  ui.item.textContent = "";
  ui.suggestion.hidden = true;
  ui.feedback.hidden = true;
  const again = h("button", { type: "button", class: "primary", onclick: () => advance() }, "Check again");
  ui.stage.replaceChildren(
    h("div", { class: "lb-done" }, h("h2", {}, "All done"), h("p", {}, "Nothing is left for you to label in this project right now."),
      h("p", {}, again, " ", h("a", { href: "/" }, "Back to your projects"))),
  );
  again.focus();
}

async function advance(t0) {
  state.busy = true;
  try {
    if (state.editor && state.editor.destroy) state.editor.destroy();
    state.editor = null;
    // A prefetched item that waited longer than its lease may be someone else's by now: drop it
    // (the server hands out a fresh one). One put back by an undo keeps what was done on it.
    while (state.ahead.length && state.ahead[0].draft === undefined
           && performance.now() - state.ahead[0].fetchedAt > leaseMs - 5000) state.ahead.shift();
    let entry = state.ahead.shift();
    const prefetched = !!entry;
    if (!entry) {
      ui.stage.replaceChildren(h("p", { class: "lb-loading muted" }, "Loading…"));
      if (state.prefetching) await state.prefetching;
      entry = state.ahead.shift() || (await fetchNext());
    }
    if (!entry) { showDone(); return; }
    show(entry, t0, prefetched);
  } catch (err) {
    fatal(err);
  } finally {
    state.busy = false;
  }
  prefetch();
}

// ---------------------------------------------------------------- actions

function submit(t0, skip = false) {
  const entry = state.current;
  if (!entry || state.busy) return;
  let body;
  if (skip) {
    body = { skip: true };
  } else {
    const r = state.editor.value();
    if (r.error) { showFieldError([[r.field || "value", r.error]]); return; }
    body = { value: r.value };
  }
  leave(entry);
  body.lead_time = Math.max(Math.round(entry.elapsed) / 1000, 0.001);
  if (!skip) entry.draft = body.value; // what an undo brings back
  const job = newJob(entry.item.id, body, entry);
  state.outbox.push(job);
  saveOutbox();
  state.history.push({ job, entry, at: Date.now() });
  setCount(state.done + 1);
  state.current = null;
  advance(t0);
  flush();
}

async function undo() {
  if (state.busy) return;
  const last = state.history[state.history.length - 1];
  if (!last) { say("Nothing to undo."); return; }
  if (Date.now() - last.at > leaseMs) { say("Too late to undo: the lease time has passed.", "error"); return; }
  state.busy = true;
  try {
    const job = last.job;
    let restored;
    if (state.outbox.includes(job) && !job.inFlight && job.tries === 0) {
      // Never sent: take it back here.
      state.outbox.splice(state.outbox.indexOf(job), 1);
      saveOutbox();
      job.outcome = "undone";
      restored = { value: job.body.value || null, skipped: !!job.body.skip };
    } else {
      if (job.inFlight) await job.inFlight; // an attempt under way: its outcome decides
      if (!job.outcome) {
        // Sent before, answer unknown: it may be stored, so only the server can take it back.
        say("Cannot undo while the connection is lost; try again when it is back.", "warn");
        return;
      }
      if (job.outcome !== "saved") return; // refused or dropped: nothing stored to undo
      let r = null;
      try { r = await request("POST", `/items/${job.itemId}/annotations/undo/`); } catch (e) { /* no answer */ }
      if (!r) { say("Could not undo: connection lost. Try again.", "error"); return; }
      if (r.status !== 200) {
        state.history.pop();
        say(`Could not undo: ${detail(r)}`, "error");
        return;
      }
      restored = { value: r.data.value, skipped: r.data.skipped };
      last.entry.item = r.data.item;
      last.entry.prediction = r.data.prediction || null;
      last.entry.leaseExpiresAt = r.data.lease_expires_at;
      last.entry.fetchedAt = performance.now();
    }
    state.history.pop();
    setCount(state.done - 1);
    state.saved.delete(job.itemId);
    putBack();
    const entry = last.entry;
    entry.restored = restored;
    entry.draft = restored.skipped ? undefined : restored.value || undefined;
    show(entry);
    say(`Undone: item ${entry.item.id} is back${restored.skipped ? " (it was skipped)" : " with your answer selected"}.`);
  } finally {
    state.busy = false;
  }
}

let byMouse = false;
function toggle(dialog) {
  if (dialog.open) dialog.close();
  else dialog.showModal();
}

// ---------------------------------------------------------------- keys

const GENERAL_KEYS = [
  ["Enter", "Submit (accepts the model's suggestion when nothing was changed)"],
  ["s", "Skip this item"],
  ["u / Backspace", "Undo the last submission (while its lease lasts) and show it again"],
  ["i", "Project instructions"],
  ["?", "This list"],
  ["Esc", "Close a dialog"],
];

function fillHelp() {
  const rows = [...(renderer.help ? renderer.help(project) : []), ...questionsHelp(project.questions), ...GENERAL_KEYS];
  ui.keys.replaceChildren(...keyRows(rows));
}

function onKey(e) {
  if (e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented) return;
  const open = document.querySelector("dialog[open]");
  if (open) {
    if (e.key === "?" && open === ui.helpDialog) { e.preventDefault(); open.close(); }
    return; // Esc closes natively
  }
  const t = e.target;
  const field = t.closest && t.closest("input, textarea, select, [contenteditable=''], [contenteditable='true']");
  // Enter on a (closed) select submits; a rubric's text box passes Tab (next question) and Enter (submit) on.
  const passes = field && field.hasAttribute("data-rubric") && (e.key === "Tab" || (e.key === "Enter" && !e.shiftKey));
  if (field && !(e.key === "Enter" && field.tagName === "SELECT") && !passes) {
    if (e.key === "Escape") t.blur();
    return;
  }
  if (e.key === "?") { e.preventDefault(); toggle(ui.helpDialog); return; }
  if (e.key === "i") { e.preventDefault(); toggle(ui.instructionsDialog); return; }
  if (state.busy) return;
  if (e.repeat && ["Enter", "s", "u", "Backspace"].includes(e.key)) { e.preventDefault(); return; }
  if (!state.current) { // the "all done" screen: an undo may still bring the last item back
    if (e.key === "u" || e.key === "Backspace") { e.preventDefault(); undo(); }
    return;
  }
  if (state.editor && state.editor.onKey && state.editor.onKey(e)) { e.preventDefault(); return; }
  if (e.key === "Enter") {
    // A focused control other than a label button does what it says (Skip, Undo, links...).
    if (t.closest && t.closest("button, a, summary") && !t.closest("[data-enter-submits]")) return;
    e.preventDefault();
    submit(e.timeStamp);
  } else if (e.key === "s") {
    e.preventDefault();
    submit(e.timeStamp, true);
  } else if (e.key === "u" || e.key === "Backspace") {
    e.preventDefault();
    undo();
  }
}

// ---------------------------------------------------------------- start

async function start() {
  renderer = await widgetFor(project.task_type);
  if (!renderer) { fatal(new Fatal(`This screen does not know the task type ${project.task_type}.`)); return; }
  fillHelp();
  document.addEventListener("keydown", onKey);
  // A tool button clicked with the mouse (zoom, new box...) hands the focus back to the item,
  // so that Enter submits next rather than pressing that button again.
  ui.stage.addEventListener("click", (e) => {
    const b = e.target.closest("button");
    if (e.detail > 0 && b && !b.hasAttribute("data-enter-submits") && state.current && state.editor) {
      (state.editor.focus || ui.stage).focus({ preventScroll: true });
    }
  });
  ui.submit.addEventListener("click", (e) => submit(e.timeStamp));
  ui.skip.addEventListener("click", (e) => submit(e.timeStamp, true));
  ui.undo.addEventListener("click", () => undo());
  ui.help.addEventListener("click", (e) => { byMouse = e.detail > 0; toggle(ui.helpDialog); });
  ui.instructions.addEventListener("click", (e) => { byMouse = e.detail > 0; toggle(ui.instructionsDialog); });
  for (const dialog of [ui.helpDialog, ui.instructionsDialog]) {
    // Opened with the mouse, closing hands the focus back to the item (not to the button, where
    // Enter would open the dialog again).
    dialog.addEventListener("close", () => {
      if (byMouse && state.current && state.editor) (state.editor.focus || ui.stage).focus({ preventScroll: true });
      byMouse = false;
    });
  }
  document.addEventListener("visibilitychange", () => {
    if (!state.current) return;
    if (document.hidden) leave(state.current);
    else if (state.current.shownAt === null) state.current.shownAt = performance.now();
  });
  window.addEventListener("pagehide", () => {
    // Prefetched items were never shown: hand their leases back so others need not wait them out.
    for (const entry of state.ahead) {
      request("POST", `/items/${entry.item.id}/release/`, undefined, { keepalive: true }).catch(() => {});
    }
  });
  window.addEventListener("beforeunload", (e) => {
    if (state.outbox.length) { saveOutbox(); e.preventDefault(); e.returnValue = ""; }
  });
  state.outbox = loadOutbox();
  if (state.outbox.length) { say(`Sending ${state.outbox.length} answer${state.outbox.length === 1 ? "" : "s"} kept on this device…`); flush(); }
  await advance();
}

start().catch(fatal);
