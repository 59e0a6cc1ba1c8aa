// The models page: Retrain now, Make active, Roll back, and live progress of training and pre-labeling jobs.
// Everything else on the page is rendered by the server; when a training brings a new version, the page reloads.
(function () {
  "use strict";
  const root = document.getElementById("models");
  if (!root) return;
  const project = root.dataset.project;
  const list = document.getElementById("jobs");
  const empty = document.getElementById("jobs-empty");
  const status = document.getElementById("models-status");
  const FLASH = "hitl-models-flash";
  const KINDS = { train: "Training", prelabel: "Pre-labeling" };
  const UNFINISHED = new Set(["pending", "running"]);
  // Jobs seen unfinished on this page: a training among them that succeeds brings a version to show.
  const watching = new Set();
  let timer = null;
  let failures = 0;

  function csrfToken() {
    const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (method !== "GET") { headers["X-CSRFToken"] = csrfToken(); headers["Content-Type"] = "application/json"; }
    const res = await fetch(`/api${path}`, {
      method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    return { ok: res.ok, status: res.status, data };
  }

  function say(text, kind) {
    status.textContent = text || "";
    if (kind) status.dataset.kind = kind; else delete status.dataset.kind;
  }

  function problem(res) {
    const d = res.data;
    if (d && typeof d.detail === "string") return d.detail;
    if (d && typeof d === "object") {
      const first = Object.values(d)[0];
      return Array.isArray(first) ? first.join(" ") : String(first);
    }
    return `The server answered ${res.status}.`;
  }

  /** Reload to show the server's new state, and say why once the page is back. */
  function reloadWith(message) {
    try { sessionStorage.setItem(FLASH, message); } catch (e) { /* private mode: no message, still reload */ }
    window.location.reload();
  }

  // ---- jobs -------------------------------------------------------------------------------------------------

  /** The words of pages/views.py `_job_row`: trigger and note of a job. */
  function setText(el, text) {
    if (el.textContent !== text) el.textContent = text;
  }

  function create(job) {
    const li = document.createElement("li");
    li.className = "job";
    li.dataset.job = job.id;
    li.dataset.kind = job.kind;
    const el = (tag, cls) => { const e = document.createElement(tag); if (cls) e.className = cls; return e; };
    const head = el("div", "job-head");
    head.append(el("strong", "job-title"), " ", el("span", "job-state"), " ", el("span", "job-trigger muted"));
    const bar = el("div", "job-bar");
    bar.append(el("progress"), " ", el("span", "job-count"));
    li.append(head, bar, el("p", "job-note"));
    const title = li.querySelector(".job-title");
    title.id = `job-${job.id}-title`;
    title.textContent = `${KINDS[job.kind] || job.kind} job ${job.id}`;
    li.querySelector("progress").setAttribute("aria-labelledby", title.id);
    return li;
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
    let res;
    try {
      res = await api("GET", `/projects/${project}/jobs/?kind=train&kind=prelabel&limit=${list.dataset.limit || 10}`);
    } catch (e) {
      res = null;
    }
    if (!res || !res.ok) {
      failures += 1;
      say(res ? `Job progress unavailable: ${problem(res)}` : "Connection lost; trying again.", "warn");
      timer = setTimeout(poll, Math.min(1000 * 2 ** failures, 10000));
      return;
    }
    if (failures) { failures = 0; say(""); }
    const jobs = res.data;
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
    let res;
    try {
      res = await api(method, path, body);
    } catch (e) {
      say("Connection lost; nothing was changed. Try again.", "error");
      button.disabled = false;
      return;
    }
    if (!res.ok) {
      say(problem(res), "error");
      button.disabled = false;
      return;
    }
    done(res.data);
  }

  const retrain = document.getElementById("retrain");
  if (retrain) {
    retrain.addEventListener("submit", (event) => {
      event.preventDefault();
      const button = document.getElementById("retrain-now");
      const force = document.getElementById("retrain-force").checked;
      act(button, "POST", `/projects/${project}/train/`, { force }, (data) => {
        button.disabled = false;
        watching.add(data.job);
        say(data.coalesced ? `Joined training job ${data.job}, which is waiting to run.`
          : `Training job ${data.job} started.`, "ok");
        pollSoon();
      });
    });
  }

  const rollback = document.getElementById("rollback");
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

  // ---- start ------------------------------------------------------------------------------------------------

  let flash = null;
  try { flash = sessionStorage.getItem(FLASH); sessionStorage.removeItem(FLASH); } catch (e) { flash = null; }
  if (flash) say(flash, "ok");
  const unfinished = [...list.querySelectorAll("li.job")].filter((li) => UNFINISHED.has(li.dataset.state));
  for (const li of unfinished) watching.add(Number(li.dataset.job));
  if (unfinished.length) pollSoon();
})();
