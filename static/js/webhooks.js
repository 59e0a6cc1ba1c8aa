// The webhooks page: every change goes through the REST API, then the page reloads to show it.
import { api } from "./lib/api.js";
import { $ } from "./lib/dom.js";

/** Run one API change; on success reload (unless `stay`), else show the server's message. */
async function change(button, call, stay = false) {
  const error = $("webhooks-error");
  error.hidden = true;
  if (button) button.disabled = true;
  try {
    const result = await call();
    if (!stay) location.reload();
    return result;
  } catch (e) {
    error.textContent = e.message;
    error.hidden = false;
    return null;
  } finally {
    if (button && stay) button.disabled = false;
  }
}

const root = $("webhooks");
if (root) {
  const project = root.dataset.project;
  root.addEventListener("click", async (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    const hook = button.dataset.hook;
    if (button.classList.contains("reveal-secret")) {
      const body = await change(button, () => api("GET", `/webhooks/${hook}/?reveal=secret`), true);
      if (body) $(`secret-${hook}`).textContent = body.secret;
    } else if (button.classList.contains("toggle-hook")) {
      change(button, () => api("PATCH", `/webhooks/${hook}/`, { active: button.dataset.active !== "true" }));
    } else if (button.classList.contains("delete-hook")) {
      if (confirm(`Remove the webhook to ${button.dataset.url} and its deliveries?`)) {
        change(button, () => api("DELETE", `/webhooks/${hook}/`));
      }
    } else if (button.classList.contains("redeliver")) {
      change(button, () => api("POST", `/deliveries/${button.dataset.delivery}/redeliver/`));
    }
  });
  const form = $("add-webhook");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const events = [...form.querySelectorAll("input[name=events]:checked")].map((el) => el.value);
    const body = await change(form.querySelector("button"), () => api("POST", `/projects/${project}/webhooks/`, {
      url: form.elements.url.value.trim(), events,
    }), true);
    if (body) {
      // The secret is shown once here; admins may ask for it again with "Show secret".
      alert(`Webhook added. Its signing secret:\n\n${body.secret}`);
      location.reload();
    }
  });
}
