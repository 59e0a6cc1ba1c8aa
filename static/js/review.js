// The review screen: take the next in-review item, pick or edit a value, submit, repeat.
// Plain script, no framework. Keys: 1-9 pick a candidate, Enter submits, n note, ? shortcuts.
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("hitl-config").textContent);
  const project = cfg.project;
  const $ = (id) => document.getElementById(id);
  const ui = {
    stage: $("rv-stage"), list: $("rv-list"), editor: $("rv-editor"), error: $("rv-error"), note: $("rv-note"),
    submit: $("rv-submit"), status: $("rv-status"), item: $("rv-item"), reason: $("rv-reason"), count: $("rv-count"),
    help: $("rv-help"), helpDialog: $("rv-help-dialog"),
  };
  const JSON_EDITOR = project.task_type === "spans" || project.task_type === "boxes";
  const state = { task: null, candidates: [], value: null, picked: null, busy: false, done: 0, exhausted: false };
  window.hitlReview = { state };

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "class") el.className = v;
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  function csrfToken() {
    const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (method !== "GET") { headers["X-CSRFToken"] = csrfToken(); headers["Content-Type"] = "application/json"; }
    const res = await fetch(cfg.api + path, {
      method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    if (res.status !== 204) { try { data = await res.json(); } catch (e) { data = null; } }
    return { status: res.status, data };
  }

  function setStatus(text, kind) {
    ui.status.textContent = text || "";
    if (kind) ui.status.dataset.kind = kind; else delete ui.status.dataset.kind;
  }

  /** Field errors of a 400 body as "path: message" lines. */
  function flatten(body, prefix) {
    const out = [];
    if (Array.isArray(body)) {
      if (body.every((x) => typeof x === "string")) out.push([prefix, body.join(" ")]);
      else body.forEach((x, i) => out.push(...flatten(x, `${prefix}[${i}]`)));
    } else if (body && typeof body === "object") {
      for (const [k, v] of Object.entries(body)) out.push(...flatten(v, prefix ? `${prefix}.${k}` : k));
    } else if (body !== null && body !== undefined) out.push([prefix, String(body)]);
    return out;
  }

  // ------------------------------------------------------------- values, as people read them

  function snippet(text, start, end) {
    if (typeof text !== "string") return "";
    const s = text.slice(start, end);
    return s.length > 60 ? `${s.slice(0, 57)}…` : s;
  }

  /** A value as a list of readable lines. */
  function describe(value, data) {
    if (value === null || value === undefined) return ["(no value)"];
    switch (project.task_type) {
      case "classification": return [String(value.label)];
      case "multi_label": return [value.labels && value.labels.length ? value.labels.join(", ") : "(no labels)"];
      case "pairwise": return [{ a: "A is better", b: "B is better", tie: "tie" }[value.choice] || String(value.choice)];
      case "spans": {
        const spans = value.spans || [];
        if (!spans.length) return ["(no spans)"];
        return spans.map((s) => `${s.label}: “${snippet(data && data.text, s.start, s.end)}” [${s.start}–${s.end}]`);
      }
      case "boxes": {
        const boxes = value.boxes || [];
        if (!boxes.length) return ["(no boxes)"];
        return boxes.map((b) => `${b.label}: x ${Math.round(b.x)}, y ${Math.round(b.y)}, ${Math.round(b.w)}×${Math.round(b.h)}`);
      }
      default: return [JSON.stringify(value)];
    }
  }

  function same(a, b) { return JSON.stringify(a) === JSON.stringify(b); }

  // ------------------------------------------------------------- rendering

  function renderItem(item) {
    const data = item.data || {};
    const parts = [];
    if (project.task_type === "pairwise") {
      parts.push(h("p", { class: "rv-prompt" }, data.prompt || ""));
      parts.push(h("div", { class: "rv-pair" },
        h("div", { class: "rv-text" }, h("strong", {}, "A "), data.a || ""),
        h("div", { class: "rv-text" }, h("strong", {}, "B "), data.b || "")));
    } else {
      if (data.image) {
        const small = /digits|\.png$/i.test(data.image);
        parts.push(h("figure", { class: "rv-figure" },
          h("img", { src: data.image, alt: `Item ${item.id}`, class: small ? "rv-img pixelated" : "rv-img" })));
      }
      if (data.text) parts.push(h("div", { class: "rv-text" }, data.text));
    }
    ui.stage.replaceChildren(...parts);
  }

  function renderCandidates() {
    const data = state.task.item.data;
    ui.list.replaceChildren(...state.candidates.map((c, i) => {
      const key = i < 9 ? String(i + 1) : null;
      const lines = describe(c.value, data);
      return h("li", {},
        h("button", {
          type: "button", class: "rv-cand", "data-key": key, "aria-pressed": state.picked === i ? "true" : "false",
          "aria-keyshortcuts": key, onclick: () => pick(i),
        },
        key ? h("kbd", {}, key) : null,
        h("span", { class: "rv-who" }, c.who),
        c.extra ? h("span", { class: "rv-extra muted" }, c.extra) : null,
        lines.length === 1 ? h("span", { class: "rv-val" }, lines[0])
          : h("ul", { class: "rv-val-list" }, lines.map((l) => h("li", {}, l)))));
    }));
    if (!state.candidates.length) ui.list.replaceChildren(h("li", { class: "muted" }, "No annotations and no prediction."));
  }

  function renderEditor() {
    const t = project.task_type;
    ui.error.textContent = "";
    if (JSON_EDITOR) {
      const area = h("textarea", { id: "rv-json", class: "rv-json", rows: "8", spellcheck: "false",
        "aria-label": "Value as JSON (Ctrl+Enter submits)" });
      area.value = state.value === null ? "" : JSON.stringify(state.value, null, 2);
      area.addEventListener("input", () => { state.picked = null; markPicked(); });
      const preview = h("ul", { class: "rv-val-list", id: "rv-preview" },
        describe(state.value, state.task.item.data).map((l) => h("li", {}, l)));
      ui.editor.replaceChildren(preview, area);
      return;
    }
    const labels = project.labels;
    const chosen = (label) => {
      const v = state.value;
      if (!v) return false;
      if (t === "classification") return v.label === label;
      if (t === "multi_label") return (v.labels || []).includes(label);
      return v.choice === label;
    };
    ui.editor.replaceChildren(h("div", { class: "rv-labels", role: "group", "aria-label": "Edit the value" },
      labels.map((label) => h("button", {
        type: "button", class: "rv-label", "aria-pressed": chosen(label) ? "true" : "false",
        onclick: () => edit(label),
      }, t === "pairwise" ? { a: "A", b: "B", tie: "tie" }[label] || label : label))));
  }

  function edit(label) {
    const t = project.task_type;
    if (t === "classification") state.value = { label };
    else if (t === "pairwise") state.value = { choice: label };
    else {
      const labels = new Set((state.value && state.value.labels) || []);
      if (labels.has(label)) labels.delete(label); else labels.add(label);
      state.value = { labels: project.labels.filter((l) => labels.has(l)) };
    }
    state.picked = state.candidates.findIndex((c) => same(c.value, state.value));
    if (state.picked < 0) state.picked = null;
    renderEditor();
    markPicked();
  }

  function markPicked() {
    ui.list.querySelectorAll(".rv-cand").forEach((b, i) => b.setAttribute("aria-pressed", state.picked === i ? "true" : "false"));
  }

  function pick(i) {
    const c = state.candidates[i];
    if (!c || state.busy) return;
    state.picked = i;
    state.value = JSON.parse(JSON.stringify(c.value));
    renderEditor();
    markPicked();
    setStatus(`Picked ${c.who}.`);
  }

  function show(task) {
    state.task = task;
    const item = task.item;
    state.candidates = (task.annotations || []).filter((a) => !a.skipped && a.value !== null).map((a) => ({
      who: a.user, value: a.value, extra: "annotator",
    }));
    const pred = task.prediction;
    if (pred && pred.value !== undefined && pred.value !== null) {
      const conf = typeof pred.confidence === "number" ? `${Math.round(pred.confidence * 100)}% confident` : "";
      state.candidates.push({ who: "model", value: pred.value, extra: ["prediction", conf].filter(Boolean).join(" · ") });
    }
    const final = task.final;
    if (final && final.value && !state.candidates.some((c) => same(c.value, final.value))) {
      state.candidates.push({ who: `final (${final.source})`, value: final.value, extra: "current final value" });
    }
    // An audit sample starts from the value it has; a disagreement starts from nothing.
    state.value = final && final.value ? JSON.parse(JSON.stringify(final.value)) : null;
    state.picked = state.value === null ? null : state.candidates.findIndex((c) => same(c.value, state.value));
    if (state.picked < 0) state.picked = null;
    ui.item.textContent = `Item ${item.id}${item.external_id ? ` · ${item.external_id}` : ""}`;
    ui.reason.hidden = !task.reason;
    ui.reason.textContent = task.reason ? task.reason.replace("_", " ") : "";
    ui.reason.dataset.reason = task.reason || "";
    ui.note.value = "";
    renderItem(item);
    renderCandidates();
    renderEditor();
    ui.submit.disabled = false;
    setStatus("");
  }

  function showDone() {
    state.task = null;
    state.exhausted = true;
    ui.item.textContent = "";
    ui.reason.hidden = true;
    ui.stage.replaceChildren(h("div", { class: "rv-done" }, h("h2", {}, "Nothing to review"),
      h("p", { class: "muted" }, "The review queue of this project is empty. "),
      h("p", {}, h("a", { href: `/projects/${project.id}/dashboard/` }, "Open the dashboard"))));
    ui.list.replaceChildren();
    ui.editor.replaceChildren();
    ui.submit.disabled = true;
  }

  // ------------------------------------------------------------- server round trips

  async function loadNext() {
    state.busy = true;
    try {
      const r = await api("GET", `/projects/${project.id}/review/next/`);
      if (r.status === 200) show(r.data);
      else if (r.status === 204) showDone();
      else setStatus((r.data && r.data.detail) || `Could not load the next item (HTTP ${r.status}).`, "error");
    } catch (e) {
      setStatus("No connection to the server. Reload to try again.", "error");
    } finally {
      state.busy = false;
    }
  }

  function currentValue() {
    if (!JSON_EDITOR) return state.value;
    const raw = $("rv-json").value.trim();
    if (!raw) return null;
    try { return JSON.parse(raw); } catch (e) { throw new Error(`The value is not valid JSON: ${e.message}`); }
  }

  async function submit() {
    if (!state.task || state.busy) return;
    let value;
    try { value = currentValue(); } catch (e) { ui.error.textContent = e.message; return; }
    if (value === null) { ui.error.textContent = "Pick an annotation with its number, or set a value."; return; }
    state.busy = true;
    ui.submit.disabled = true;
    setStatus("Saving…");
    try {
      const r = await api("POST", `/items/${state.task.item.id}/review/`, { value, note: ui.note.value.trim() });
      if (r.status === 200) {
        state.done += 1;
        ui.count.textContent = `${state.done} decided`;
        state.busy = false;
        await loadNext();
        setStatus(`Saved item ${r.data.item.id}.`, "ok");
        return;
      }
      if (r.status === 400) {
        ui.error.textContent = flatten(r.data, "").map(([k, m]) => (k ? `${k}: ${m}` : m)).join("\n");
        setStatus("The value does not fit; see the message above.", "error");
      } else if (r.status === 409) {
        setStatus("This item was decided meanwhile; here is the next one.", "warn");
        state.busy = false;
        await loadNext();
        return;
      } else {
        setStatus((r.data && r.data.detail) || `Not saved (HTTP ${r.status}).`, "error");
      }
    } catch (e) {
      setStatus("Not saved: no connection to the server. Press Enter to try again.", "error");
    }
    state.busy = false;
    ui.submit.disabled = false;
  }

  // ------------------------------------------------------------- keys

  document.addEventListener("keydown", (ev) => {
    if (ui.helpDialog.open) return;
    const target = ev.target;
    const inJson = target && target.id === "rv-json";
    const inNote = target === ui.note;
    if (ev.key === "Enter" && (inJson ? (ev.ctrlKey || ev.metaKey) : !ev.shiftKey)) {
      ev.preventDefault(); // also keeps a focused button from being clicked as well

      submit();
      return;
    }
    if (inJson || inNote || ev.ctrlKey || ev.metaKey || ev.altKey) {
      if (inNote && ev.key === "Escape") ui.note.blur();
      return;
    }
    if (/^[1-9]$/.test(ev.key)) { ev.preventDefault(); pick(Number(ev.key) - 1); }
    else if (ev.key === "?") { ev.preventDefault(); ui.helpDialog.showModal(); }
    else if (ev.key === "n") { ev.preventDefault(); ui.note.focus(); }
  });
  ui.submit.addEventListener("click", () => submit());
  ui.help.addEventListener("click", () => ui.helpDialog.showModal());

  loadNext();
})();
