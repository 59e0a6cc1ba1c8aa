// The label list editor on the project form: add (button or Enter), remove, and reorder (buttons, or
// Alt+ArrowUp / Alt+ArrowDown in a label's field). The rows are plain inputs named "labels", so the form
// posts them in the order shown; the server validates and saves.
import { $, h } from "./lib/dom.js";

const list = $("labels");
const input = $("new-label");

function row(name) {
  return h("li", { class: "label-row" },
    h("input", { name: "labels", type: "text", maxlength: "100", value: name }),
    h("button", { type: "button", dataset: { action: "up" } }, "↑"),
    h("button", { type: "button", dataset: { action: "down" } }, "↓"),
    h("button", { type: "button", dataset: { action: "remove" } }, "Remove"));
}

/** Number the rows' accessible names after any change, so a screen reader hears the current order. */
function renumber() {
  list.querySelectorAll("li.label-row").forEach((li, i) => {
    const name = li.querySelector("input").value.trim() || `label ${i + 1}`;
    li.querySelector("input").setAttribute("aria-label", `Label ${i + 1}`);
    li.querySelector('[data-action="up"]').setAttribute("aria-label", `Move ${name} up`);
    li.querySelector('[data-action="down"]').setAttribute("aria-label", `Move ${name} down`);
    li.querySelector('[data-action="remove"]').setAttribute("aria-label", `Remove ${name}`);
  });
}

function add() {
  const name = input.value.trim();
  if (!name) return;
  list.append(row(name));
  input.value = "";
  input.focus();
  renumber();
}

function move(li, action, focus) {
  if (action === "up" && li.previousElementSibling) li.previousElementSibling.before(li);
  else if (action === "down" && li.nextElementSibling) li.nextElementSibling.after(li);
  else if (action === "remove") {
    const next = li.nextElementSibling || li.previousElementSibling;
    li.remove();
    (next ? next.querySelector("input") : input).focus();
    renumber();
    return;
  }
  focus.focus();
  renumber();
}

if (list && input) {
  $("add-label").addEventListener("click", add);
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault(); // Enter adds the label; it does not submit the form
      add();
    }
  });
  list.addEventListener("click", (e) => {
    const button = e.target.closest("button[data-action]");
    if (button) move(button.closest("li"), button.dataset.action, button);
  });
  list.addEventListener("keydown", (e) => {
    if (!e.altKey || !["ArrowUp", "ArrowDown"].includes(e.key) || e.target.tagName !== "INPUT") return;
    e.preventDefault();
    move(e.target.closest("li"), e.key === "ArrowUp" ? "up" : "down", e.target);
  });
  list.addEventListener("input", renumber);
}
