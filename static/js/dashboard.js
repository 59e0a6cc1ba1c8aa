// The dashboard's one action: an admin un-pauses an annotator (or allows a quiz retake), through the API.
import { api } from "./lib/api.js";
import { $ } from "./lib/dom.js";

const section = $("standing");
if (section) {
  section.addEventListener("click", async (event) => {
    const button = event.target.closest("button.unpause");
    if (!button) return;
    const error = $("standing-error");
    error.hidden = true;
    button.disabled = true;
    try {
      await api("POST", `/projects/${section.dataset.project}/annotators/${button.dataset.user}/unpause/`);
      location.reload();
    } catch (e) {
      error.textContent = e.message;
      error.hidden = false;
      button.disabled = false;
    }
  });
}
