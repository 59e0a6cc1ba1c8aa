// Live routing preview on the project settings page: how many items each band would hold.
(function () {
  "use strict";
  const form = document.getElementById("settings");
  if (!form) return;
  const project = form.dataset.project;
  const fields = ["auto_accept_threshold", "escalation_threshold", "audit_rate"];
  let timer = null;

  async function refresh() {
    const params = new URLSearchParams();
    for (const name of fields) params.set(name, form.elements[name].value.trim() || "null");
    const note = document.getElementById("preview-note");
    try {
      const r = await fetch(`/api/projects/${project}/routing-preview/?${params}`, {credentials: "same-origin"});
      const body = await r.json();
      if (!r.ok) {
        const first = Object.values(body)[0];
        note.textContent = Array.isArray(first) ? first.join(" ") : String(first);
        return;
      }
      note.textContent = "With the thresholds above:";
      for (const [band, n] of Object.entries(body)) {
        const cell = document.getElementById(`band-${band}`);
        if (cell) cell.textContent = n.toLocaleString();
      }
    } catch (e) {
      note.textContent = "Preview unavailable (connection lost).";
    }
  }

  for (const name of fields) {
    form.elements[name].addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(refresh, 150);
    });
  }
  refresh();
})();
