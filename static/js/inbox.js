// The inbox: reviewers' feedback on the caller's rejected annotations, newest first. Each entry shows the
// item's data, the rejected value and the comment; "Rework" (for an item sent back to the caller) marks
// it read and opens the project's labeling screen, whose `next` serves the item first.
import { api } from "./lib/api.js";
import { h, $, setText } from "./lib/dom.js";
import { setStatus, showError } from "./lib/errors.js";
import { describeValue } from "./lib/values.js";

const ui = { list: $("inbox-list"), count: $("inbox-count"), readAll: $("inbox-read-all"), status: $("inbox-status"),
  navLink: $("nav-inbox") };
let entries = [];

const when = (iso) => (iso ? new Date(iso).toLocaleString() : "");

/** The item's data, briefly: its text (or a pair's prompt and sides), or its image. */
function itemData(data) {
  if (!data || typeof data !== "object") return null;
  if (typeof data.image === "string") return h("div", { class: "inbox-data" }, h("img", { src: data.image, alt: `Item image` }));
  const parts = ["prompt", "text", "a", "b"].filter((k) => typeof data[k] === "string").map((k) => (k === "text" ? data[k] : `${k}: ${data[k]}`));
  if (Array.isArray(data.items)) parts.push(...data.items.map((x, i) => `${i + 1}. ${typeof x === "string" ? x : JSON.stringify(x)}`));
  return h("p", { class: "inbox-data" }, parts.length ? parts.join("\n") : JSON.stringify(data));
}

function stateOf(e) {
  if (e.reworked_at) return `Reworked ${when(e.reworked_at)}`;
  return e.rework_by === "same" ? "Waiting for your rework" : "Sent to another annotator";
}

function render(unread) {
  setText(ui.count, `${unread} unread of ${entries.length}`);
  if (ui.navLink) { ui.navLink.textContent = `Inbox (${unread})`; ui.navLink.classList.toggle("has-unread", unread > 0); }
  ui.readAll.disabled = unread === 0;
  if (!entries.length) { ui.list.replaceChildren(h("li", { class: "muted" }, "No feedback yet.")); return; }
  ui.list.replaceChildren(...entries.map((e) => {
    const rework = e.rework_by === "same" && !e.reworked_at
      ? h("a", { class: "button", href: `/projects/${e.project}/label/`, onclick: (ev) => openRework(ev, e) }, "Rework")
      : null;
    const read = e.read_at ? null : h("button", { type: "button", class: "ghost", onclick: () => markRead([e.id]) }, "Mark read");
    return h("li", { class: `card inbox-entry${e.read_at ? "" : " unread"}`, "data-feedback": e.id, "data-item": e.item },
      h("div", { class: "inbox-meta" }, h("strong", {}, e.project_name), h("span", {}, `Item ${e.item}`),
        h("span", { class: "muted" }, `${e.reviewer} · ${when(e.created_at)}`), e.read_at ? null : h("span", { class: "ok" }, "new")),
      itemData(e.item_data),
      h("p", { class: "inbox-value" }, "Your value: ", h("strong", {}, describeValue(e.task_type, e.value, e.item_data).join("; "))),
      h("p", { class: "inbox-comment" }, e.comment),
      h("div", { class: "inbox-actions" }, rework, read, h("span", { class: "muted inbox-state" }, stateOf(e))));
  }));
}

async function load() {
  try {
    const body = await api("GET", "/inbox/");
    entries = body.results;
    render(body.unread);
  } catch (e) {
    showError(ui.status, e, "Could not load your inbox: ");
  }
}

async function markRead(ids) {
  try {
    await api("POST", "/inbox/read/", ids ? { ids } : {});
    await load();
  } catch (e) {
    showError(ui.status, e, "Not marked: ");
  }
}

async function openRework(ev, e) {
  ev.preventDefault();
  const href = ev.currentTarget.href;
  if (!e.read_at) {
    try { await api("POST", "/inbox/read/", { ids: [e.id] }); } catch (err) { /* still go and rework it */ }
  }
  window.location.assign(href);
}

ui.readAll.addEventListener("click", () => markRead(null));
setStatus(ui.status, "");
load();
