// Ranking: a prompt and 2-10 responses, ordered best first, ties allowed.
//
// The value starts as the order shown (a strict ranking) or as the suggestion/draft, so the
// annotator only moves what differs: a digit picks response N, ↑/↓ move it a rank, = ties it with
// the rank above, Enter submits. Ranking four responses takes at most a few keys.
import { h } from "../js/lib/dom.js";
import { errorsUnder } from "../js/lib/errors.js";
import { percent } from "./util.js";

const KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0"];

/** "r2 > r1 = r3 > r4" */
export function describe(value) {
  if (!value || !Array.isArray(value.ranking)) return "";
  return value.ranking.map((g) => (Array.isArray(g) ? g.join(" = ") : String(g))).join(" > ");
}

export function help() {
  return [
    ["1 … 9 / 0", "Pick response 1 … 9 (0: the tenth)"],
    ["↑ / ↓", "Move the picked response up or down a rank (out of a tie first)"],
    ["=", "Tie the picked response with the rank above"],
    ["Click", "Pick a response"],
  ];
}

/** The responses' ids in the order shown, or null if the data has no usable list of them. */
function idsOf(data) {
  const rs = data.responses;
  if (!Array.isArray(rs) || rs.length < 2) return null;
  const ids = rs.map((r) => (r && typeof r.id === "string" ? r.id : null));
  return ids.every((id) => id) && new Set(ids).size === ids.length ? ids : null;
}

/** `value.ranking` copied, if it ranks every one of `ids` exactly once; else null. */
function rankingOf(value, ids) {
  const groups = value && Array.isArray(value.ranking) ? value.ranking : null;
  if (!groups || !groups.every((g) => Array.isArray(g) && g.length)) return null;
  const flat = groups.flat();
  if (flat.length !== ids.length || new Set(flat).size !== ids.length || !flat.every((id) => ids.includes(id))) return null;
  return groups.map((g) => [...g]);
}

export function mount(stage, ctx) {
  const { data } = ctx;
  const ids = idsOf(data) || [];
  const bad = !idsOf(data) || typeof data.prompt !== "string";
  const textOf = Object.fromEntries((Array.isArray(data.responses) ? data.responses : [])
    .filter((r) => r && typeof r.id === "string").map((r) => [r.id, typeof r.text === "string" ? r.text : "(missing)"]));
  const numberOf = Object.fromEntries(ids.map((id, i) => [id, i + 1]));
  let groups = rankingOf(ctx.initial, ids) || ids.map((id) => [id]);
  const suggested = ctx.prediction && ctx.prediction.value ? rankingOf(ctx.prediction.value, ids) : null;
  let picked = null;

  const error = h("p", { class: "lb-field-error error", role: "alert", hidden: true });
  const list = h("ol", { class: "lb-rank-list", "aria-label": "Responses, best first" });
  const tool = (text, key, onclick) => h("button", { type: "button", class: "secondary", "aria-keyshortcuts": key, onclick },
    text, h("kbd", {}, key));
  const tools = h("div", { class: "lb-rank-tools", role: "group", "aria-label": "Move the picked response" },
    tool("Up", "ArrowUp", () => act(up)), tool("Down", "ArrowDown", () => act(down)), tool("Tie with above", "=", () => act(tie)));
  stage.append(
    h("section", { class: "lb-prompt", "aria-label": "Prompt" }, h("h2", {}, "Prompt"),
      h("div", { class: "lb-text", dir: "auto" }, typeof data.prompt === "string" ? data.prompt : "(missing)")),
    tools, list, error,
  );
  const problem = `This item needs a prompt and 2 to 10 responses with distinct ids. ${ctx.stuck}`;
  if (bad) stage.prepend(h("p", { class: "lb-bad-item error", role: "alert" }, problem));

  function render() {
    const same = suggested && JSON.stringify(suggested) === JSON.stringify(groups);
    let rank = 1;
    list.replaceChildren(...groups.map((group) => {
      const label = group.length > 1 ? `Rank ${rank} (tie)` : `Rank ${rank}`;
      const li = h("li", { class: "lb-rank-group", "data-rank": rank, "aria-label": label },
        h("span", { class: "lb-rank-no" }, group.length > 1 ? `${rank}=` : String(rank)),
        h("div", { class: "lb-rank-cards" }, group.map((id) => h("article", {
          class: "lb-rank-card", "data-id": id, "aria-current": picked === id ? "true" : null,
          "aria-label": `Response ${numberOf[id]}`, onclick: () => pick(id),
        }, h("kbd", {}, KEYS[numberOf[id] - 1] || ""), h("div", { class: "lb-text", dir: "auto" }, textOf[id])))),
        same && rank === 1 ? h("span", { class: "lb-badge", title: "The model's suggested order" },
          `AI ${percent(ctx.prediction.confidence)}`.trim()) : null);
      rank += group.length;
      return li;
    }));
  }

  function pick(id) {
    picked = id;
    render();
  }

  function where(id) {
    return groups.findIndex((g) => g.includes(id));
  }

  // Each move takes the picked response out of its group and puts it back elsewhere; empty groups go.
  function takeOut(id) {
    const i = where(id);
    groups[i] = groups[i].filter((x) => x !== id);
    return i;
  }

  function up(id) {
    const i = where(id);
    if (groups[i].length > 1) { takeOut(id); groups.splice(i, 0, [id]); return true; } // out of the tie, just above it
    if (i === 0) return false;
    groups.splice(i, 1);
    groups.splice(i - 1, 0, [id]);
    return true;
  }

  function down(id) {
    const i = where(id);
    if (groups[i].length > 1) { takeOut(id); groups.splice(i + 1, 0, [id]); return true; }
    if (i === groups.length - 1) return false;
    groups.splice(i, 1);
    groups.splice(i + 1, 0, [id]);
    return true;
  }

  function tie(id) {
    const i = where(id);
    if (i === 0) return false;
    takeOut(id);
    groups[i - 1].push(id);
    return true;
  }

  function act(move) {
    if (!picked) { ctx.say("Pick a response first: press its number."); return; }
    if (!move(picked)) return;
    groups = groups.filter((g) => g.length);
    render();
    ctx.changed();
  }

  render();
  return {
    focus: null,
    value() {
      if (bad) return { error: problem, field: "value" };
      return { value: { ranking: groups.map((g) => [...g]) } };
    },
    state() { return { ranking: groups.map((g) => [...g]) }; },
    onKey(e) {
      const n = KEYS.indexOf(e.key);
      if (n >= 0) {
        if (n < ids.length) pick(ids[n]);
        return true;
      }
      const move = { ArrowUp: up, ArrowDown: down, "=": tie }[e.key];
      if (!move) return false;
      act(move);
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
