// The qualification quiz's feedback: after each quiz item the annotator sees whether they were right,
// the right answer and the project's guideline (rendered on the server; copied from the Instructions
// dialog), and where they stand. The server sends it with the submission's answer (`quiz`).
import { h } from "../js/lib/dom.js";

let dialog = null;

function standing(q) {
  const of = `${q.answered} of ${q.of} quiz items answered, ${q.right} right (pass mark ${Math.round(q.pass_mark * 100)}%).`;
  if (q.passed === true) return `${of} You passed: real items come next.`;
  if (q.passed === false) return `${of} That is under the pass mark: an admin can let you try again.`;
  return of;
}

/** Show one quiz answer's feedback in a modal dialog; `describe(value)` words a value of the task type,
 * `closed()` runs when the annotator closes it. */
export function showQuizFeedback(q, describe, closed) {
  if (dialog) dialog.remove();
  const guideline = document.querySelector(".lb-instructions-text");
  dialog = h("dialog", { class: "lb-dialog quiz-feedback", id: "quiz-feedback", "aria-labelledby": "quiz-title" },
    h("h2", { id: "quiz-title", class: q.correct ? "ok" : "error" }, q.correct ? "Right." : "Not quite."),
    h("p", {}, "The right answer: ", h("strong", { class: "quiz-answer" }, describe(q.answer))),
    h("p", { class: "muted quiz-standing" }, standing(q)),
    guideline ? h("div", { class: "quiz-guideline md-rendered" }, h("h3", {}, "Guideline"), ...[...guideline.cloneNode(true).childNodes]) : "",
    h("form", { method: "dialog" }, h("button", { type: "submit", class: "primary", autofocus: "" }, "Go on ", h("kbd", {}, "Enter"))));
  // Closed, the focus goes back to the item on screen.
  dialog.addEventListener("close", () => {
    document.getElementById("lb-stage")?.focus({ preventScroll: true });
    closed();
  });
  document.body.append(dialog);
  dialog.showModal();
}
