// The models page: Retrain now, Make active, Roll back, and live progress of training and pre-labeling jobs.
// Everything else on the page is rendered by the server; when a training brings a new version, the page reloads.
import { api } from "./lib/api.js";
import { h, $, setText } from "./lib/dom.js";
import { setStatus } from "./lib/errors.js";

const root = $("models");
const project = root && root.dataset.project;
const list = $("jobs");
const empty = $("jobs-empty");
const status = $("models-status");
const FLASH = "hitl-models-flash";
const KINDS = { train: "Training", prelabel: "Pre-labeling" };
const UNFINISHED = new Set(["pending", "running"]);
// Jobs seen unfinished on this page: a training among them that succeeds brings a version to show.
const watching = new Set();
let timer = null;
let failures = 0;

function say(text, kind) {
  setStatus(status, text, kind);
}

/** Reload to show the server's new state, and say why once the page is back. */
function reloadWith(message) {
  try { sessionStorage.setItem(FLASH, message); } catch (e) { /* private mode: no message, still reload */ }
  window.location.reload();
}

// ---- jobs -------------------------------------------------------------------------------------------------

/** A job's row, as pages/views.py `_job_row` and models.html render it; `update` fills it in. */
function create(job) {
  const title = `job-${job.id}-title`;
  return h("li", { class: "job", dataset: { job: job.id, kind: job.kind } },
    h("div", { class: "job-head" },
      h("strong", { class: "job-title", id: title }, `${KINDS[job.kind] || job.kind} job ${job.id}`), " ",
      h("span", { class: "job-state" }), " ", h("span", { class: "job-trigger muted" })),
    h("div", { class: "job-bar" }, h("progress", { "aria-labelledby": title }), " ", h("span", { class: "job-count" })),
    h("p", { class: "job-note" }));
}

function update(li, job) {
  const trigger = job.trigger || "";
  const note = job.summary || "";  // worded by the server, as on the first render
  li.dataset.state = job.state;
  const state = li.querySelector(".job-state");
  state.dataset.state = job.state;
  setText(state, job.state);
  setText(li.querySelector(".job-trigger"), trigger);
  const bar = li.querySelector("progress");
  if (job.total) {
    bar.max = job.total;
    bar.value = job.progress;
  } else if (job.state === "succeeded" || job.state === "failed") {
    bar.max = 1;
    bar.value = job.state === "succeeded" ? 1 : 0;
  } else {
    bar.removeAttribute("value"); // indeterminate: the job has not said how much there is
  }
  setText(li.querySelector(".job-count"), job.total ? `${job.progress} / ${job.total}` : "");
  const noteEl = li.querySelector(".job-note");
  setText(noteEl, note);
  noteEl.classList.toggle("error", job.state === "failed");
}

/** Put the jobs (newest first) into the list, changing only what changed. */
function render(jobs) {
  const present = new Map([...list.querySelectorAll("li.job")].map((li) => [li.dataset.job, li]));
  let before = list.firstElementChild;
  for (const job of jobs) {
    let li = present.get(String(job.id));
    if (!li) li = create(job);
    present.delete(String(job.id));
    update(li, job);
    if (li !== before) list.insertBefore(li, before);
    before = li.nextElementSibling;
  }
  for (const li of present.values()) li.remove();
  empty.hidden = jobs.length > 0;
}

async function poll() {
  timer = null;
  let jobs;
  try {
    jobs = await api("GET", `/projects/${project}/jobs/?kind=train&kind=prelabel&limit=${list.dataset.limit || 10}`);
  } catch (e) {
    failures += 1;
    say(e.status ? `Job progress unavailable: ${e.message}` : "Connection lost; trying again.", "warn");
    timer = setTimeout(poll, Math.min(1000 * 2 ** failures, 10000));
    return;
  }
  if (failures) { failures = 0; say(""); }
  render(jobs);
  const trained = jobs.find((j) => j.kind === "train" && watching.has(j.id) && j.state === "succeeded"
    && j.result && "version" in j.result);
  if (trained) {
    reloadWith(`Training job ${trained.id} made version ${trained.result.version}`
      + (trained.result.active ? ", now active." : "; the active version stays (see its decision)."));
    return;
  }
  for (const j of jobs) {
    if (UNFINISHED.has(j.state)) watching.add(j.id);
    else watching.delete(j.id);
  }
  if (jobs.some((j) => UNFINISHED.has(j.state))) timer = setTimeout(poll, 1000);
}

function pollSoon() {
  if (timer) clearTimeout(timer);
  timer = setTimeout(poll, 0);
}

// ---- buttons ----------------------------------------------------------------------------------------------

async function act(button, method, path, body, done) {
  button.disabled = true;
  say("Working…");
  let data;
  try {
    data = await api(method, path, body);
  } catch (e) {
    say(e.status ? e.message : "Connection lost; nothing was changed. Try again.", "error");
    button.disabled = false;
    return;
  }
  done(data);
}

/** Wire the buttons up, say what the last action did, and follow the jobs that are still running. */
function start() {
  const retrain = $("retrain");
  if (retrain) {
    retrain.addEventListener("submit", (event) => {
      event.preventDefault();
      const button = $("retrain-now");
      const force = $("retrain-force").checked;
      act(button, "POST", `/projects/${project}/train/`, { force }, (data) => {
        button.disabled = false;
        watching.add(data.job);
        say(data.coalesced ? `Joined training job ${data.job}, which is waiting to run.`
          : `Training job ${data.job} started.`, "ok");
        pollSoon();
      });
    });
  }

  const rollback = $("rollback");
  if (rollback) {
    rollback.addEventListener("click", () => {
      act(rollback, "POST", `/projects/${project}/rollback/`, undefined, (data) => {
        reloadWith(`Rolled back: version ${data.version} is active again`
          + (data.prelabel_job ? `; pre-labeling job ${data.prelabel_job} re-scores the queue.` : "."));
      });
    });
  }

  for (const button of document.querySelectorAll("button[data-activate]")) {
    button.addEventListener("click", () => {
      act(button, "POST", `/models/${button.dataset.activate}/activate/`, undefined, (data) => {
        reloadWith(`Version ${data.version} is active`
          + (data.prelabel_job ? `; pre-labeling job ${data.prelabel_job} re-scores the queue.` : "."));
      });
    });
  }

  let flash = null;
  try { flash = sessionStorage.getItem(FLASH); sessionStorage.removeItem(FLASH); } catch (e) { flash = null; }
  if (flash) say(flash, "ok");
  const unfinished = [...list.querySelectorAll("li.job")].filter((li) => UNFINISHED.has(li.dataset.state));
  for (const li of unfinished) watching.add(Number(li.dataset.job));
  if (unfinished.length) pollSoon();
}

// ---- start ------------------------------------------------------------------------------------------------

if (root) start();
