// Pairwise preference: a prompt and two responses side by side; a / b / t choose.
import { h } from "../js/lib/dom.js";
import { errorsUnder } from "../js/lib/errors.js";
import { percent } from "./util.js";

const CHOICES = [
  ["a", "a", "A is better"],
  ["tie", "t", "Tie"],
  ["b", "b", "B is better"],
];
const NAMES = Object.fromEntries(CHOICES.map(([c, , name]) => [c, name]));

export function describe(value) {
  return (value && NAMES[value.choice]) || "";
}

export function help() {
  return [["a", "Response A is better"], ["b", "Response B is better"], ["t", "Tie: equally good (or bad)"]];
}

export function mount(stage, ctx) {
  const { data } = ctx;
  let choice = ctx.initial && NAMES[ctx.initial.choice] ? ctx.initial.choice : null;
  const suggested = ctx.prediction && ctx.prediction.value ? ctx.prediction.value.choice : null;
  // The model's probability of the side it suggests (the reward model's scores {a, b}), else its confidence.
  const scores = ctx.prediction && ctx.prediction.scores;
  const sure = suggested && scores && typeof scores[suggested] === "number" ? scores[suggested] : ctx.prediction && ctx.prediction.confidence;
  const missing = ["prompt", "a", "b"].filter((k) => typeof data[k] !== "string");
  const text = (k) => (typeof data[k] === "string" ? data[k] : "(missing)");

  const error = h("p", { class: "lb-field-error error", role: "alert", hidden: true });
  const side = (key, title) => h("article", { class: "lb-response", "data-side": key, "aria-label": title },
    h("h2", {}, title), h("div", { class: "lb-text", dir: "auto" }, text(key)));
  const buttons = CHOICES.map(([c, key, name]) => h("button", {
    type: "button", class: "lb-choice", "data-enter-submits": true, "data-choice": c, "aria-keyshortcuts": key,
    "aria-pressed": String(choice === c), onclick: () => choose(c),
  }, h("kbd", {}, key), h("span", { class: "lb-choice-name" }, name),
  suggested === c ? h("span", { class: "lb-badge", title: "The model's suggestion" }, `AI ${percent(sure)}`.trim()) : null));

  stage.append(
    h("section", { class: "lb-prompt", "aria-label": "Prompt" }, h("h2", {}, "Prompt"), h("div", { class: "lb-text", dir: "auto" }, text("prompt"))),
    h("div", { class: "lb-pair" }, side("a", "Response A"), side("b", "Response B")),
    h("div", { class: "lb-choices lb-pair-choices", role: "group", "aria-label": "Which response is better?" }, buttons),
    error,
  );
  if (missing.length) {
    stage.prepend(h("p", { class: "lb-bad-item error", role: "alert" }, `This item is missing ${missing.join(", ")}. ${ctx.stuck}`));
  }

  function choose(c) {
    choice = c;
    for (const b of buttons) b.setAttribute("aria-pressed", String(b.dataset.choice === c));
    ctx.changed();
  }

  return {
    focus: null,
    value() {
      if (missing.length) return { error: `This item is missing ${missing.join(", ")}. ${ctx.stuck}`, field: "value" };
      if (!choice) return { error: "Choose A, B or Tie first.", field: "value.choice" };
      return { value: { choice } };
    },
    state() { return { choice }; },
    onKey(e) {
      const hit = CHOICES.find(([, key]) => key === e.key);
      if (!hit) return false;
      choose(hit[0]);
      return true;
    },
    showErrors(errors) {
      const mine = errorsUnder(errors, "value");
      error.textContent = mine;
      error.hidden = !mine;
      return errors.filter(([p]) => !(p === "value" || p.startsWith("value.")));
    },
  };
}
