// Values as people read them, for lists (the review screen's candidates, the inbox's rejected values).

function snippet(text, start, end) {
  if (typeof text !== "string") return "";
  const s = text.slice(start, end);
  return s.length > 60 ? `${s.slice(0, 57)}…` : s;
}

/** A value of a task type as a list of readable lines; `data` is the item's (for the text of spans). */
export function describeValue(taskType, value, data) {
  if (value === null || value === undefined) return ["(no value)"];
  switch (taskType) {
    case "classification": return [String(value.label)];
    case "multi_label": return [value.labels && value.labels.length ? value.labels.join(", ") : "(no labels)"];
    case "pairwise": return [{ a: "A is better", b: "B is better", tie: "tie" }[value.choice] || String(value.choice)];
    case "ranking": return [(value.ranking || []).map((g) => g.join(" = ")).join(" > ") || "(no ranking)"];
    case "spans": {
      const spans = value.spans || [];
      if (!spans.length) return ["(no spans)"];
      return spans.map((s) => `${s.label}: “${snippet(data && data.text, s.start, s.end)}” [${s.start}–${s.end}]`);
    }
    case "boxes": {
      const boxes = value.boxes || [];
      if (!boxes.length) return ["(no boxes)"];
      return boxes.map((b) => `${b.label}: x ${Math.round(b.x)}, y ${Math.round(b.y)}, ${Math.round(b.w)}×${Math.round(b.h)}`);
    }
    default: return [JSON.stringify(value)];
  }
}
