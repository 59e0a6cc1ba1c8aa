// Spans on text: select words with the mouse or the keyboard, press a label's key.
//
// The server counts offsets in code points (Python str); the DOM counts UTF-16 units. Spans are
// kept in UTF-16 here and converted on the way in and out, so text with emoji stays right.
import { h } from "../js/lib/dom.js";
import { errorsUnder } from "../js/lib/errors.js";
import { labelForKey, labelColor, percent } from "./util.js";

export function describe(value) {
  const spans = (value && value.spans) || [];
  const names = [...new Set(spans.map((s) => s.label))];
  return `${spans.length} span${spans.length === 1 ? "" : "s"}${names.length ? ` (${names.join(", ")})` : ""}`;
}

export function help() {
  return [
    ["1 … 9", "Label the selected text (or change the label of the span at the cursor)"],
    ["← / →", "Select the previous / next word (the text has focus)"],
    ["Shift+← / Shift+→", "Extend the selection by a word"],
    ["Home / End", "Select the first / last word"],
    ["Delete", "Remove the span(s) under the selection"],
    ["Esc", "Clear the selection"],
    ["Mouse", "Drag over text to select it (snaps to whole words); click a span to remove it"],
  ];
}

/** The model's confidence in each predicted span, by "start:end:label" (code points), from the prediction's scores. */
function spanConfidences(prediction) {
  const out = new Map();
  const scored = prediction && prediction.scores && Array.isArray(prediction.scores.spans) ? prediction.scores.spans : [];
  for (const sp of scored) {
    if (sp && typeof sp.score === "number") out.set(`${sp.start}:${sp.end}:${sp.label}`, sp.score);
  }
  return out;
}

function offsetsOf(text) {
  const cpOfU16 = new Int32Array(text.length + 1);
  const u16OfCp = [];
  let cp = 0;
  for (let i = 0; i < text.length; ) {
    const wide = text.codePointAt(i) > 0xffff;
    u16OfCp.push(i);
    cpOfU16[i] = cp;
    if (wide) cpOfU16[i + 1] = cp;
    i += wide ? 2 : 1;
    cp++;
  }
  cpOfU16[text.length] = cp;
  u16OfCp.push(text.length);
  return { cpOfU16, u16OfCp };
}

function tokenize(text) {
  const out = [];
  if (typeof Intl !== "undefined" && Intl.Segmenter) {
    for (const seg of new Intl.Segmenter(undefined, { granularity: "word" }).segment(text)) {
      if (/\S/u.test(seg.segment)) out.push([seg.index, seg.index + seg.segment.length]);
    }
  } else {
    for (const m of text.matchAll(/[\p{L}\p{N}\p{M}_]+|\S/gu)) out.push([m.index, m.index + m[0].length]);
  }
  return out;
}

export function mount(stage, ctx) {
  const { labels, keys } = ctx;
  const text = typeof ctx.data.text === "string" ? ctx.data.text : null;
  const error = h("p", { class: "lb-field-error error", role: "alert", hidden: true });
  if (text === null) {
    stage.append(h("p", { class: "lb-bad-item error", role: "alert" }, `This item has no text to show. ${ctx.stuck}`));
    return {
      focus: null, value: () => ({ error: `This item has no text. ${ctx.stuck}`, field: "value" }),
      state: () => ({ spans: [] }), onKey: () => false, showErrors: (e) => e,
    };
  }
  const { cpOfU16, u16OfCp } = offsetsOf(text);
  const tokens = tokenize(text);
  const ncp = u16OfCp.length - 1;

  // {s, e, label, conf} in UTF-16 units, sorted by start; `conf` is the model's confidence in a span it
  // predicted, kept until the annotator changes that span.
  let spans = [];
  const confidences = spanConfidences(ctx.prediction);
  for (const sp of (ctx.initial && ctx.initial.spans) || []) {
    if (!sp || !labels.includes(sp.label) || !(sp.start >= 0 && sp.end <= ncp && sp.start < sp.end)) continue;
    spans.push({ s: u16OfCp[sp.start], e: u16OfCp[sp.end], label: sp.label,
                 conf: confidences.get(`${sp.start}:${sp.end}:${sp.label}`) });
  }
  let pending = null; // {s, e}: the selection waiting for a label
  let cursor = -1; // token index of the keyboard cursor
  let anchor = -1;
  let spanErrors = [];

  const textEl = h("div", {
    class: "lb-text lb-span-text", tabindex: "0", dir: "auto", role: "group",
    "aria-label": "Text. Arrow keys select words, Shift extends, a label key labels the selection.",
  });
  const labelButtons = labels.map((label) => {
    const key = keys.get(label);
    return h("button", {
      type: "button", class: "lb-choice", "data-enter-submits": true, "data-label": label,
      style: { "--c": labelColor(labels, label) }, "aria-keyshortcuts": key || null,
      onclick: () => apply(label),
    }, key ? h("kbd", {}, key) : null, h("span", { class: "lb-choice-name" }, label));
  });
  const list = h("ul", { class: "lb-span-list", "aria-label": "Spans" });
  const hint = h("p", { class: "muted lb-hint" }, "Select text, then press a label key. Click a span to remove it.");
  stage.append(
    h("div", { class: "lb-choices", role: "group", "aria-label": "Label the selection" }, labelButtons),
    textEl, hint, error, h("h2", { class: "lb-sub" }, "Spans"), list,
  );

  function render() {
    const cuts = new Set([0, text.length]);
    for (const sp of spans) { cuts.add(sp.s); cuts.add(sp.e); }
    if (pending) { cuts.add(pending.s); cuts.add(pending.e); }
    const points = [...cuts].sort((a, b) => a - b);
    const pieces = [];
    for (let k = 0; k + 1 < points.length; k++) {
      const a = points[k], b = points[k + 1];
      const i = spans.findIndex((sp) => sp.s <= a && b <= sp.e);
      const inPending = pending && pending.s <= a && b <= pending.e;
      let el;
      if (i >= 0) {
        const sp = spans[i];
        const sure = percent(sp.conf);
        el = h("mark", {
          class: sure ? "lb-span lb-span-ai" : "lb-span", style: { "--c": labelColor(labels, sp.label) }, "data-i": i,
          title: `${sp.label}${sure ? ` · the model is ${sure} sure` : ""} (click to remove)`,
          "data-label": a === sp.s ? sp.label : null, "data-conf": sure && b === sp.e ? sure : null,
        }, text.slice(a, b));
      } else {
        el = h("span", {}, text.slice(a, b));
      }
      el.dataset.s = a;
      if (inPending) el.classList.add("lb-pending");
      pieces.push(el);
    }
    textEl.replaceChildren(...pieces);
    list.replaceChildren(...spans.map((sp, i) => h("li", { class: spanErrors[i] ? "has-error" : null },
      h("button", {
        type: "button", class: "lb-span-chip", style: { "--c": labelColor(labels, sp.label) },
        "aria-label": `Remove ${sp.label} “${text.slice(sp.s, sp.e)}”${percent(sp.conf) ? ` (the model is ${percent(sp.conf)} sure)` : ""}`,
        onclick: () => { remove(i); textEl.focus(); },
      }, h("strong", {}, sp.label), ` “${text.slice(sp.s, sp.e)}” `,
      percent(sp.conf) ? [h("span", { class: "lb-badge", title: "The model's confidence in this span" }, `AI ${percent(sp.conf)}`), " "] : null,
      h("span", { "aria-hidden": "true" }, "×")),
      spanErrors[i] ? h("span", { class: "error", role: "alert" }, ` ${spanErrors[i]}`) : null)));
    if (!spans.length) list.append(h("li", { class: "muted" }, "None yet."));
  }

  function changed() {
    spanErrors = [];
    error.hidden = true;
    ctx.changed();
    render();
  }

  function apply(label) {
    if (!pending) {
      // A label key with the cursor inside a span relabels it.
      const at = cursor >= 0 ? tokens[cursor][0] : -1;
      const i = spans.findIndex((sp) => sp.s <= at && at < sp.e);
      if (i < 0) { ctx.say("Select some text first (drag with the mouse, or use the arrow keys in the text)."); return; }
      if (spans[i].label !== label) spans[i] = { ...spans[i], label, conf: undefined }; // the annotator's now
    } else {
      const { s, e } = pending;
      spans = spans.filter((sp) => sp.e <= s || sp.s >= e); // a new span replaces those it overlaps
      spans.push({ s, e, label });
      spans.sort((x, y) => x.s - y.s || x.e - y.e);
      pending = null;
      ctx.say(`${label}: “${text.slice(s, e)}”`);
    }
    changed();
  }

  function remove(i) {
    const [sp] = spans.splice(i, 1);
    ctx.say(`Removed ${sp.label} “${text.slice(sp.s, sp.e)}”`);
    changed();
  }

  function selectTokens(a, b) {
    if (!tokens.length) return;
    const lo = Math.min(a, b), hi = Math.max(a, b);
    pending = { s: tokens[lo][0], e: tokens[hi][1] };
    render();
  }

  // UTF-16 offset of a DOM position inside the text.
  function offsetAt(node, off) {
    if (node.nodeType === Node.TEXT_NODE) {
      const piece = node.parentElement.closest("[data-s]");
      return piece ? Number(piece.dataset.s) + off : null;
    }
    if (node === textEl) {
      const child = textEl.childNodes[off];
      return child ? Number(child.dataset.s) : text.length;
    }
    const piece = node.closest && node.closest("[data-s]");
    if (!piece) return null;
    return Number(piece.dataset.s) + (off === 0 ? 0 : piece.textContent.length);
  }

  function readSelection() {
    const sel = window.getSelection();
    if (!sel || !sel.rangeCount || sel.isCollapsed) return false;
    const r = sel.getRangeAt(0);
    if (!textEl.contains(r.startContainer) || !textEl.contains(r.endContainer)) return false;
    const s = offsetAt(r.startContainer, r.startOffset), e = offsetAt(r.endContainer, r.endOffset);
    sel.removeAllRanges();
    if (s === null || e === null || e <= s) return false;
    // Snap to whole words: the first and last token the selection touches.
    const first = tokens.findIndex(([a, b]) => b > s);
    let last = -1;
    tokens.forEach(([a], k) => { if (a < e) last = k; });
    if (first < 0 || last < first) return false;
    cursor = last;
    anchor = first;
    selectTokens(first, last);
    ctx.say(`Selected “${text.slice(pending.s, pending.e)}”: press a label key.`);
    return true;
  }

  let down = null;
  const up = (e) => { // on the document: a drag may end outside the text
    const dragged = down && Math.hypot(e.clientX - down[0], e.clientY - down[1]) > 3;
    down = null;
    if (readSelection()) return;
    const mark = !dragged && textEl.contains(e.target) && e.target.closest("mark.lb-span");
    if (mark) remove(Number(mark.dataset.i));
  };
  textEl.addEventListener("mousedown", (e) => {
    if (e.button !== 0) return;
    down = [e.clientX, e.clientY];
    document.addEventListener("mouseup", up, { once: true });
  });
  // Double-click selects a word natively.
  textEl.addEventListener("dblclick", () => readSelection());
  // Touch screens select by long press and handles, without mouse events: take the selection
  // once it has been still for a moment.
  let settle = 0;
  const onSelection = () => {
    clearTimeout(settle);
    if (down) return;
    settle = setTimeout(() => { if (!down) readSelection(); }, 500);
  };
  document.addEventListener("selectionchange", onSelection);

  render();

  return {
    focus: textEl,
    destroy() {
      clearTimeout(settle);
      document.removeEventListener("selectionchange", onSelection);
      document.removeEventListener("mouseup", up);
    },
    value() {
      const out = spans.map((sp) => ({ start: cpOfU16[sp.s], end: cpOfU16[sp.e], label: sp.label }));
      return { value: { spans: out } };
    },
    state() {
      return this.value().value;
    },
    onKey(e) {
      const label = labelForKey(keys, e.key);
      if (label !== undefined) { apply(label); return true; }
      const inText = document.activeElement === textEl;
      const n = tokens.length;
      if (inText && n && ["ArrowLeft", "ArrowRight", "Home", "End"].includes(e.key)) {
        let c = cursor;
        if (e.key === "ArrowRight") c = c < 0 ? 0 : Math.min(c + 1, n - 1);
        else if (e.key === "ArrowLeft") c = c < 0 ? 0 : Math.max(c - 1, 0);
        else if (e.key === "Home") c = 0;
        else c = n - 1;
        if (!e.shiftKey || anchor < 0 || !pending) anchor = c;
        cursor = c;
        selectTokens(anchor, cursor);
        const inside = spans.find((sp) => sp.s <= tokens[c][0] && tokens[c][0] < sp.e);
        ctx.say(`“${text.slice(pending.s, pending.e)}”${inside ? ` (in ${inside.label})` : ""}`);
        return true;
      }
      if (e.key === "Escape" && pending) { pending = null; render(); return true; }
      if ((e.key === "Delete" || e.key === "Backspace") && pending) {
        const { s, e: end } = pending;
        const before = spans.length;
        spans = spans.filter((sp) => sp.e <= s || sp.s >= end);
        if (spans.length === before) { pending = null; render(); return true; } // never an undo by accident
        pending = null;
        ctx.say(`Removed ${before - spans.length} span(s).`);
        changed();
        return true;
      }
      return false;
    },
    showErrors(errors) {
      spanErrors = spans.map((_, i) => errorsUnder(errors, `value.spans[${i}]`));
      const rest = errors.filter(([p]) => !/^value\.spans\[\d+\]/.test(p));
      const mine = errorsUnder(rest, "value");
      error.textContent = mine;
      error.hidden = !mine;
      render();
      return rest.filter(([p]) => !(p === "value" || p.startsWith("value.")));
    },
  };
}
