// Rubric questions (a project's `questions`, see tasks/questions.py): the pure rules the screens share.

/** Whether an answer counts as given (an empty text or an empty multiple choice does not). */
export function answered(question, answer) {
  if (answer === undefined || answer === null) return false;
  if (question.type === "text") return typeof answer === "string" && answer.trim() !== "";
  if (question.type === "choice" && question.multiple) return Array.isArray(answer) && answer.length > 0;
  return true;
}

/** The first problem with `answers` as [questionId, message], or null when they can be sent. */
export function problemOf(questions, answers) {
  for (const q of questions) {
    const a = answers[q.id];
    if (!answered(q, a)) {
      if (q.required) return [q.id, `Answer “${q.text || q.id}” first.`];
      continue;
    }
    if (q.type === "text" && a.trim().length < (q.min_length || 0)) {
      return [q.id, `Write at least ${q.min_length} characters for “${q.text || q.id}” (${a.trim().length} so far).`];
    }
  }
  return null;
}

/** The answer after pressing digit `d` on a question (rating N, choice N, flag 1 = yes / 0 = no); undefined if none. */
export function answerForDigit(question, d, current) {
  if (question.type === "rating") return d >= 1 && d <= question.scale ? d : undefined;
  if (question.type === "flag") return d === 1 ? true : d === 0 ? false : undefined;
  if (question.type === "choice") {
    const option = question.options[d - 1];
    if (d < 1 || option === undefined) return undefined;
    if (!question.multiple) return option;
    const chosen = new Set(Array.isArray(current) ? current : []);
    if (chosen.has(option)) chosen.delete(option); else chosen.add(option);
    return question.options.filter((o) => chosen.has(o));
  }
  return undefined;
}

/** Only the answers that are given, texts trimmed: what is sent. */
export function cleanAnswers(questions, answers) {
  const out = {};
  for (const q of questions) {
    const a = answers[q.id];
    if (answered(q, a)) out[q.id] = q.type === "text" ? a.trim() : a;
  }
  return out;
}
