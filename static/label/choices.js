// Classification (one label) and multi-label (any number), on text or on an image.
import { h } from "../js/lib/dom.js";
import { errorsUnder } from "../js/lib/errors.js";
import { labelKeys, labelForKey, percent, showImage } from "./util.js";

export function describe(value) {
  if (value && typeof value.label === "string") return value.label;
  if (value && Array.isArray(value.labels)) return value.labels.length ? value.labels.join(", ") : "no label";
  return "";
}

export function help(project) {
  const multi = project.task_type === "multi_label";
  const rows = [];
  for (const [label, key] of labelKeys(project.labels || [])) rows.push([key, `${multi ? "Toggle" : "Choose"} “${label}”`]);
  rows.push(["Tab / Space", "Move to a label button and press it"]);
  return rows;
}

function scoreOf(prediction, label) {
  const s = prediction && prediction.scores;
  if (s && typeof s === "object" && !Array.isArray(s) && typeof s[label] === "number") return s[label];
  return prediction ? prediction.confidence : null;
}

export function mount(stage, ctx) {
  const multi = ctx.project.task_type === "multi_label";
  const { labels, keys, data, prediction } = ctx;
  const init = ctx.initial || {};
  const selected = new Set((multi ? init.labels || [] : [init.label]).filter((l) => labels.includes(l)));
  const pv = prediction && prediction.value ? prediction.value : {};
  const predicted = new Set(multi ? pv.labels || [] : [pv.label]);
  let blocked = null;
  let loading = false;

  const content = h("div", { class: "lb-content" });
  const hasText = typeof data.text === "string";
  if (hasText) content.append(h("div", { class: "lb-text", dir: "auto" }, data.text));
  if (data.image !== undefined || !hasText) {
    const slot = h("div", { class: "lb-figure" });
    content.append(slot);
    loading = true;
    showImage(slot, ctx.image, (img) => {
      if (loading === "waited") ctx.changed(); // drop a "still loading" message
      loading = false;
      img.className = "lb-img";
      // Tiny images (digits, icons) are scaled up with hard pixels, not blurred.
      img.classList.toggle("pixelated", img.naturalWidth < 96);
    }, (msg) => { loading = false; blocked = msg; }, ctx.stuck);
  }

  const error = h("p", { class: "lb-field-error error", role: "alert", hidden: true });
  const buttons = labels.map((label) => {
    const key = keys.get(label);
    const score = predicted.has(label) ? percent(scoreOf(prediction, label)) : "";
    return h("button", {
      type: "button", class: "lb-choice", "data-enter-submits": true, "data-label": label,
      "aria-pressed": String(selected.has(label)), "aria-keyshortcuts": key || null,
      onclick: () => choose(label),
    }, key ? h("kbd", {}, key) : null, h("span", { class: "lb-choice-name" }, label),
    score ? h("span", { class: "lb-badge", title: "The model's suggestion" }, `AI ${score}`) : null);
  });
  const group = h("div", { class: "lb-choices", role: "group", "aria-label": multi ? "Labels (any number)" : "Label (one)" }, buttons);
  stage.append(content, group, error);

  function render() {
    for (const b of buttons) b.setAttribute("aria-pressed", String(selected.has(b.dataset.label)));
  }

  function choose(label) {
    if (multi) {
      if (selected.has(label)) selected.delete(label);
      else selected.add(label);
    } else {
      selected.clear();
      selected.add(label);
    }
    render();
    ctx.changed();
  }

  return {
    focus: null,
    value() {
      if (blocked) return { error: blocked, field: "value" };
      if (loading) { loading = "waited"; return { error: "The image is still loading.", field: "value" }; }
      if (multi) return { value: { labels: labels.filter((l) => selected.has(l)) } };
      if (!selected.size) return { error: "Choose a label first.", field: "value.label" };
      return { value: { label: [...selected][0] } };
    },
    state() {
      return multi ? { labels: labels.filter((l) => selected.has(l)) } : { label: [...selected][0] };
    },
    onKey(e) {
      const label = labelForKey(keys, e.key);
      if (label === undefined) return false;
      choose(label);
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
