// Rubric questions under the main widget (a project's `questions`, see tasks/questions.py).
//
// `withQuestions(editor, stage, ctx)` wraps a widget's editor (see widgets.js) so that its value
// carries `answers` next to the main label. Keys: Tab / Shift+Tab move the focused question (the
// main widget is before the first one), digits answer the focused question (rating N, choice N,
// flag 1 = yes / 0 = no), a focused text box takes typing; Enter submits once every required
// question is answered, else the missing one is focused and named. A model's suggested answers
// (`prediction.answers`: {id: {value, confidence}}) are pre-selected and marked "AI".
import { h } from "../js/lib/dom.js";
import { answered, answerForDigit, cleanAnswers, problemOf } from "../js/lib/rubric.js";
import { percent } from "./util.js";

export function help(questions) {
  if (!questions || !questions.length) return [];
  return [
    ["Tab / Shift+Tab", "Move to the next / previous question (the label comes before the first)"],
    ["1–9", "On a question: rating N, choice N; on a yes/no question 1 = yes, 0 = no"],
  ];
}

function suggested(prediction) {
  const out = {};
  const given = prediction && prediction.answers;
  if (!given || typeof given !== "object") return out;
  for (const [id, s] of Object.entries(given)) {
    if (s && typeof s === "object" && "value" in s) out[id] = { value: s.value, confidence: s.confidence };
    else if (s !== undefined && s !== null) out[id] = { value: s, confidence: null };
  }
  return out;
}

/** The editor `editor` plus the questions, mounted under it in `stage`. */
export function withQuestions(editor, stage, { questions, initial, prediction, changed = () => {} }) {
  const ai = suggested(prediction);
  const fromDraft = initial && initial.answers && typeof initial.answers === "object";
  const answers = {};
  for (const q of questions) {
    if (fromDraft) { if (initial.answers[q.id] !== undefined) answers[q.id] = initial.answers[q.id]; }
    else if (ai[q.id] !== undefined) answers[q.id] = ai[q.id].value;
  }
  let active = -1; // the focused question; -1: the main widget

  const views = questions.map((q, i) => {
    const error = h("p", { class: "lb-field-error error", role: "alert", hidden: true });
    const hint = ai[q.id] && !fromDraft
      ? h("span", { class: "lb-badge lb-q-ai", title: "The model's suggested answer" },
        `AI${ai[q.id].confidence !== null && ai[q.id].confidence !== undefined ? ` ${percent(ai[q.id].confidence)}` : ""}`)
      : null;
    const legend = h("legend", {}, h("span", { class: "lb-q-text" }, q.text || q.id),
      q.required ? h("span", { class: "lb-q-req", title: "Required" }, " *") : h("span", { class: "muted" }, " (optional)"), " ", hint);
    const box = h("fieldset", { class: "lb-q", tabindex: "-1", "data-question": q.id, "data-rubric": "" }, legend);
    let buttons = [];
    let input = null;
    const choose = (answer) => { answers[q.id] = answer; render(); changed(); };
    if (q.type === "rating") {
      buttons = q.labels.map((label, n) => h("button", {
        type: "button", class: "lb-choice lb-q-opt", "data-enter-submits": true, "data-answer": String(n + 1),
        onclick: () => { focusQuestion(i); choose(n + 1); },
      }, h("kbd", {}, String(n + 1)), h("span", { class: "lb-choice-name" }, label)));
    } else if (q.type === "flag") {
      buttons = [[true, "1", "Yes"], [false, "0", "No"]].map(([v, key, name]) => h("button", {
        type: "button", class: "lb-choice lb-q-opt", "data-enter-submits": true, "data-answer": String(v),
        onclick: () => { focusQuestion(i); choose(v); },
      }, h("kbd", {}, key), h("span", { class: "lb-choice-name" }, name)));
    } else if (q.type === "choice") {
      buttons = q.options.map((option, n) => h("button", {
        type: "button", class: "lb-choice lb-q-opt", "data-enter-submits": true, "data-answer": option,
        onclick: () => { focusQuestion(i); choose(answerForDigit(q, n + 1, answers[q.id])); },
      }, n < 9 ? h("kbd", {}, String(n + 1)) : null, h("span", { class: "lb-choice-name" }, option)));
    } else {
      input = h("textarea", {
        class: "lb-q-input", rows: "2", "data-rubric": "", "aria-label": q.text || q.id,
        placeholder: q.min_length ? `At least ${q.min_length} characters` : "",
        oninput: () => { answers[q.id] = input.value; changed(); },
      });
      input.value = typeof answers[q.id] === "string" ? answers[q.id] : "";
    }
    if (buttons.length) box.append(h("div", { class: "lb-choices lb-q-opts", role: "group" }, buttons));
    if (input) box.append(input);
    box.append(error);
    return { q, box, buttons, input, error };
  });
  const panel = h("div", { class: "lb-questions", role: "group", "aria-label": "Questions" }, views.map((v) => v.box));
  stage.append(panel);
  // A click or focus anywhere makes that question (or the main widget) the focused one.
  const onFocus = (e) => {
    const i = views.findIndex((v) => v.box.contains(e.target));
    setActive(i);
  };
  stage.addEventListener("focusin", onFocus);

  function render() {
    for (const { q, buttons } of views) {
      const a = answers[q.id];
      for (const b of buttons) {
        const v = b.dataset.answer;
        const on = q.type === "rating" ? a === Number(v)
          : q.type === "flag" ? a === (v === "true")
            : q.multiple ? Array.isArray(a) && a.includes(v) : a === v;
        b.setAttribute("aria-pressed", String(on));
      }
    }
  }

  function setActive(i) {
    active = i;
    views.forEach((v, n) => v.box.classList.toggle("lb-q-active", n === i));
  }

  function focusQuestion(i) {
    setActive(i);
    const target = i < 0 ? editor.focus || stage : views[i].input || views[i].box;
    target.focus({ preventScroll: i < 0 });
  }

  function showMine(errors) {
    for (const v of views) {
      const path = `value.answers.${v.q.id}`;
      const mine = errors.filter(([p]) => p === path || p.startsWith(`${path}[`) || p.startsWith(`${path}.`));
      v.error.textContent = mine.map(([, m]) => m).join(" ");
      v.error.hidden = !mine.length;
    }
  }

  render();
  return {
    get focus() { return editor.focus; },
    value() {
      const main = editor.value();
      if (main.error) return main;
      const problem = problemOf(questions, answers);
      if (problem) {
        focusQuestion(questions.findIndex((q) => q.id === problem[0]));
        return { error: problem[1], field: `value.answers.${problem[0]}` };
      }
      return { value: { ...main.value, answers: cleanAnswers(questions, answers) } };
    },
    state() {
      return { ...(editor.state() || {}), answers: { ...answers } };
    },
    onKey(e) {
      if (e.key === "Tab") {
        const n = views.length;
        // -1 (the main widget), 0 .. n-1, and round again.
        focusQuestion(((active + 1 + (e.shiftKey ? -1 : 1) + n + 1) % (n + 1)) - 1);
        return true;
      }
      if (active >= 0 && /^[0-9]$/.test(e.key)) {
        const q = questions[active];
        const answer = answerForDigit(q, Number(e.key), answers[q.id]);
        if (answer !== undefined) { answers[q.id] = answer; render(); changed(); }
        return true; // a digit on a question never reaches the main widget
      }
      return editor.onKey ? editor.onKey(e) : false;
    },
    showErrors(errors) {
      showMine(errors);
      const rest = errors.filter(([p]) => !p.startsWith("value.answers"));
      return editor.showErrors ? editor.showErrors(rest) : rest;
    },
    destroy() {
      stage.removeEventListener("focusin", onFocus);
      if (editor.destroy) editor.destroy();
    },
    answered: (id) => answered(questions.find((q) => q.id === id), answers[id]),
  };
}
