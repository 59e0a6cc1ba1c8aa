// Live routing preview on the project settings page: how many items each band would hold.
import { api } from "./lib/api.js";
import { $ } from "./lib/dom.js";

const FIELDS = ["auto_accept_threshold", "escalation_threshold", "audit_rate"];

/** Ask the server how the thresholds typed so far would route the queue, and show the counts. */
async function refresh(form) {
  const params = new URLSearchParams();
  for (const name of FIELDS) params.set(name, form.elements[name].value.trim() || "null");
  const note = $("preview-note");
  let bands;
  try {
    bands = await api("GET", `/projects/${form.dataset.project}/routing-preview/?${params}`);
  } catch (e) {
    note.textContent = e.status ? e.message : "Preview unavailable (connection lost).";
    return;
  }
  note.textContent = "With the thresholds above:";
  for (const [band, n] of Object.entries(bands)) {
    const cell = $(`band-${band}`);
    if (cell) cell.textContent = n.toLocaleString();
  }
}

const form = $("settings");
if (form) {
  let timer = null;
  for (const name of FIELDS) {
    form.elements[name].addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => refresh(form), 150);
    });
  }
  refresh(form);
}
