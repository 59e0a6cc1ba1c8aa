// The members and users pages: every change goes through the REST API, then the page reloads to show it.
import { api } from "./lib/api.js";
import { $ } from "./lib/dom.js";

/** Run one API change; on success reload, else show the server's message in `errorId`. */
async function change(errorId, button, call) {
  const error = $(errorId);
  error.hidden = true;
  if (button) button.disabled = true;
  try {
    await call();
    location.reload();
  } catch (e) {
    error.textContent = e.message;
    error.hidden = false;
    if (button) button.disabled = false;
  }
}

const members = $("members");
if (members) {
  const project = members.dataset.project;
  members.addEventListener("click", (event) => {
    const button = event.target.closest("button.remove-member");
    if (!button || !confirm(`Remove ${button.dataset.username} from this project?`)) return;
    change("members-error", button, () => api("DELETE", `/projects/${project}/members/${button.dataset.user}/`));
  });
  const form = $("add-member");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const user = Number(form.elements.user.value);
    if (!user) return;
    change("members-error", form.querySelector("button"), () => api("POST", `/projects/${project}/members/`, { user }));
  });
}

const users = $("users");
if (users) {
  users.addEventListener("click", (event) => {
    const button = event.target.closest("button.deactivate-user");
    if (!button || !confirm(`Deactivate ${button.dataset.username}? Their sessions, tokens and leases end.`)) return;
    change("users-error", button, () => api("PATCH", `/users/${button.dataset.user}/`, { is_active: false }));
  });
  users.addEventListener("click", async (event) => {
    const button = event.target.closest("button.reset-password");
    if (!button) return;
    const error = $("users-error");
    error.hidden = true;
    try {
      const { link, valid_hours: hours } = await api("POST", `/users/${button.dataset.user}/password-reset/`);
      $("reset-user").textContent = button.dataset.username;
      $("reset-hours").textContent = String(hours);
      $("reset-link").value = link;
      $("reset-dialog").showModal();
      $("reset-link").select();
    } catch (e) {
      error.textContent = e.message;
      error.hidden = false;
    }
  });
  $("reset-copy").addEventListener("click", () => {
    $("reset-link").select();
    navigator.clipboard?.writeText($("reset-link").value).catch(() => document.execCommand("copy"));
  });
  $("reset-close").addEventListener("click", () => $("reset-dialog").close());
  const form = $("create-user");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const { username, role, password, email } = form.elements;
    change("users-error", form.querySelector("button"), () => api("POST", "/users/", {
      username: username.value.trim(), role: role.value, password: password.value, email: email.value.trim(),
    }));
  });
}
