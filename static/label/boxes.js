// Bounding boxes on an image: draw, move, resize, delete, label each box, zoom.
//
// Boxes are kept in pixels of the original image (naturalWidth/Height) and drawn in percent of
// it, so zooming only changes the canvas size.
import { h } from "../js/lib/dom.js";
import { errorsUnder } from "../js/lib/errors.js";
import { labelForKey, labelColor, showImage } from "./util.js";

export function describe(value) {
  const boxes = (value && value.boxes) || [];
  const names = [...new Set(boxes.map((b) => b.label))];
  return `${boxes.length} box${boxes.length === 1 ? "" : "es"}${names.length ? ` (${names.join(", ")})` : ""}`;
}

export function help() {
  return [
    ["1 … 9", "Label for new boxes; also relabels the selected box"],
    ["Mouse", "Drag on the image to draw; drag a box to move it, a corner to resize it"],
    ["b", "New box in the middle of the view"],
    ["[ / ]", "Select the previous / next box"],
    ["← ↑ → ↓", "Move the selected box"],
    ["Shift+arrows", "Resize the selected box"],
    ["Delete / Backspace", "Delete the selected box"],
    ["Esc", "Deselect"],
    ["+ / -", "Zoom in / out"],
    ["f", "Fit the image to the view"],
  ];
}

const MIN_SCREEN = 4; // a drag shorter than this (screen pixels) is a click, not a box

export function mount(stage, ctx) {
  const { labels, keys } = ctx;
  let current = labels[0];
  let boxes = ((ctx.initial && ctx.initial.boxes) || [])
    .filter((b) => b && labels.includes(b.label) && [b.x, b.y, b.w, b.h].every(Number.isFinite) && b.w > 0 && b.h > 0)
    .map((b) => ({ x: b.x, y: b.y, w: b.w, h: b.h, label: b.label }));
  let selected = -1;
  let nw = 0, nh = 0; // natural size, once the image is there
  let zoom = 1;
  let blocked = null;
  let boxErrors = [];

  const error = h("p", { class: "lb-field-error error", role: "alert", hidden: true });
  const labelButtons = labels.map((label) => {
    const key = keys.get(label);
    return h("button", {
      type: "button", class: "lb-choice", "data-enter-submits": true, "data-label": label, "aria-pressed": "false",
      style: { "--c": labelColor(labels, label) }, "aria-keyshortcuts": key || null, onclick: () => setLabel(label),
    }, key ? h("kbd", {}, key) : null, h("span", { class: "lb-choice-name" }, label));
  });
  const zoomText = h("output", { class: "lb-zoom-value", "aria-live": "off" }, "100%");
  const tools = h("div", { class: "lb-box-tools" },
    h("div", { class: "lb-choices", role: "group", "aria-label": "Label for boxes" }, labelButtons),
    h("div", { class: "lb-zoom", role: "group", "aria-label": "Zoom" },
      h("button", { type: "button", class: "secondary", "aria-label": "Zoom out", "aria-keyshortcuts": "-", onclick: () => setZoom(zoom / 1.25) }, "−"),
      zoomText,
      h("button", { type: "button", class: "secondary", "aria-label": "Zoom in", "aria-keyshortcuts": "+", onclick: () => setZoom(zoom * 1.25) }, "+"),
      h("button", { type: "button", class: "secondary", "aria-keyshortcuts": "f", onclick: () => fit() }, "Fit"),
      h("button", { type: "button", class: "secondary", "aria-keyshortcuts": "b", onclick: () => addCentered() }, "New box")));
  const canvas = h("div", { class: "lb-canvas" });
  const viewport = h("div", {
    class: "lb-viewport", tabindex: "0", role: "group",
    "aria-label": "Image. Drag to draw a box; b adds one; arrows move the selected box, Shift+arrows resize it.",
  }, canvas);
  const list = h("ol", { class: "lb-box-list", "aria-label": "Boxes" });
  stage.append(tools, h("div", { class: "lb-box-layout" }, viewport,
    h("aside", { class: "lb-box-side" }, h("h2", { class: "lb-sub" }, "Boxes"), list, error)));

  showImage(canvas, ctx.image, (img) => {
    img.className = "lb-img";
    img.draggable = false;
    img.classList.toggle("pixelated", img.naturalWidth < 96);
    nw = img.naturalWidth;
    nh = img.naturalHeight;
    fit();
    render();
  }, (msg) => { blocked = msg; viewport.classList.add("lb-broken"); }, ctx.stuck);

  // ------------------------------------------------------------ drawing

  function clampBox(b) {
    b.w = Math.min(Math.max(b.w, 1), nw);
    b.h = Math.min(Math.max(b.h, 1), nh);
    b.x = Math.min(Math.max(b.x, 0), nw - b.w);
    b.y = Math.min(Math.max(b.y, 0), nh - b.h);
    return b;
  }

  function place(el, b) {
    el.style.left = `${(b.x / nw) * 100}%`;
    el.style.top = `${(b.y / nh) * 100}%`;
    el.style.width = `${(b.w / nw) * 100}%`;
    el.style.height = `${(b.h / nh) * 100}%`;
  }

  function render() {
    if (!nw) return;
    for (const el of canvas.querySelectorAll(".lb-box")) el.remove();
    boxes.forEach((b, i) => {
      const el = h("div", {
        class: `lb-box${i === selected ? " selected" : ""}`, "data-i": i, style: { "--c": labelColor(labels, b.label) },
      }, h("span", { class: "lb-box-tag" }, `${i + 1} ${b.label}`),
      ...["nw", "ne", "sw", "se"].map((c) => h("span", { class: `lb-h lb-h-${c}`, "data-handle": c })));
      place(el, b);
      canvas.append(el);
    });
    list.replaceChildren(...boxes.map((b, i) => {
      const select = h("select", { "aria-label": `Label of box ${i + 1}`, onchange: (e) => { boxes[i].label = e.target.value; changed(); } },
        labels.map((l) => h("option", { value: l, selected: l === b.label }, l)));
      return h("li", { class: `${i === selected ? "selected" : ""}${boxErrors[i] ? " has-error" : ""}`, style: { "--c": labelColor(labels, b.label) } },
        h("button", { type: "button", class: "lb-box-pick", "aria-pressed": String(i === selected), onclick: () => select_(i) },
          `Box ${i + 1}`, h("span", { class: "muted" }, ` ${Math.round(b.w)}×${Math.round(b.h)}`)),
        select,
        h("button", { type: "button", class: "lb-box-del", "aria-label": `Delete box ${i + 1}`, onclick: () => del(i) }, "×"),
        boxErrors[i] ? h("p", { class: "error", role: "alert" }, boxErrors[i]) : null);
    }));
    if (!boxes.length) list.append(h("li", { class: "muted" }, "None yet: drag on the image, or press b."));
    for (const btn of labelButtons) btn.setAttribute("aria-pressed", String(btn.dataset.label === current));
  }

  function changed() {
    boxErrors = [];
    error.hidden = true;
    ctx.changed();
    render();
  }

  function select_(i) {
    selected = i;
    if (i >= 0) current = boxes[i].label;
    render();
  }

  function del(i) {
    boxes.splice(i, 1);
    selected = -1;
    ctx.say(`Deleted box ${i + 1}.`);
    changed();
  }

  function setLabel(label) {
    current = label;
    if (selected >= 0) { boxes[selected].label = label; changed(); } else render();
  }

  function setZoom(z) {
    if (!nw) return;
    zoom = Math.min(Math.max(z, 0.05), 40);
    canvas.style.width = `${nw * zoom}px`;
    canvas.style.height = `${nh * zoom}px`;
    zoomText.textContent = `${Math.round(zoom * 100)}%`;
  }

  function fit() {
    if (!nw) return;
    const w = viewport.clientWidth - 2, hgt = viewport.clientHeight - 2;
    setZoom(Math.min(w / nw, hgt / nh));
  }

  function addCentered() {
    if (!nw) return;
    const vx = viewport.scrollLeft / zoom, vy = viewport.scrollTop / zoom;
    const vw = Math.min(viewport.clientWidth / zoom, nw), vh = Math.min(viewport.clientHeight / zoom, nh);
    const b = clampBox({ x: Math.round(vx + vw * 0.375), y: Math.round(vy + vh * 0.375), w: Math.max(1, Math.round(vw / 4)), h: Math.max(1, Math.round(vh / 4)), label: current });
    boxes.push(b);
    selected = boxes.length - 1;
    ctx.say(`New box ${boxes.length} (${current}). Arrows move it, Shift+arrows resize it.`);
    changed();
  }

  function toImage(e) {
    const r = canvas.getBoundingClientRect();
    return {
      x: Math.min(Math.max(((e.clientX - r.left) / r.width) * nw, 0), nw),
      y: Math.min(Math.max(((e.clientY - r.top) / r.height) * nh, 0), nh),
    };
  }

  let drag = null;
  canvas.addEventListener("pointerdown", (e) => {
    if (!nw || e.button !== 0) return;
    e.preventDefault();
    viewport.focus({ preventScroll: true });
    const p = toImage(e);
    const boxEl = e.target.closest(".lb-box");
    if (boxEl) {
      const i = Number(boxEl.dataset.i);
      selected = i;
      current = boxes[i].label;
      const b = boxes[i];
      const handle = e.target.dataset.handle;
      if (handle) {
        const fx = handle.includes("w") ? b.x + b.w : b.x, fy = handle.includes("n") ? b.y + b.h : b.y;
        drag = { mode: "resize", i, fx, fy };
      } else {
        drag = { mode: "move", i, dx: p.x - b.x, dy: p.y - b.y };
      }
    } else {
      drag = { mode: "draw", x0: p.x, y0: p.y, sx: e.clientX, sy: e.clientY, el: null };
    }
    drag.moved = false;
    canvas.setPointerCapture(e.pointerId);
    render();
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!drag) return;
    const p = toImage(e);
    if (drag.mode === "draw") {
      if (!drag.el && Math.hypot(e.clientX - drag.sx, e.clientY - drag.sy) < MIN_SCREEN) return;
      if (!drag.el) { drag.el = h("div", { class: "lb-box drawing", style: { "--c": labelColor(labels, current) } }); canvas.append(drag.el); }
      drag.rect = { x: Math.min(drag.x0, p.x), y: Math.min(drag.y0, p.y), w: Math.abs(p.x - drag.x0), h: Math.abs(p.y - drag.y0) };
      place(drag.el, drag.rect);
    } else {
      const b = boxes[drag.i];
      if (drag.mode === "move") { b.x = p.x - drag.dx; b.y = p.y - drag.dy; clampBox(b); } else {
        b.x = Math.min(drag.fx, p.x); b.y = Math.min(drag.fy, p.y);
        b.w = Math.max(Math.abs(p.x - drag.fx), 1); b.h = Math.max(Math.abs(p.y - drag.fy), 1);
      }
      drag.moved = true;
      place(canvas.querySelector(`.lb-box[data-i="${drag.i}"]`), b);
    }
  });
  const end = () => {
    if (!drag) return;
    const d = drag;
    drag = null;
    if (d.mode === "draw") {
      if (d.el) d.el.remove();
      if (!d.el || !d.rect || d.rect.w * zoom < MIN_SCREEN || d.rect.h * zoom < MIN_SCREEN) { selected = -1; render(); return; }
      boxes.push(round(clampBox({ ...d.rect, label: current })));
      selected = boxes.length - 1;
      ctx.say(`Box ${boxes.length} (${current}) drawn.`);
      changed();
    } else if (d.moved) {
      round(clampBox(boxes[d.i]));
      changed();
    }
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  canvas.addEventListener("dragstart", (e) => e.preventDefault());

  function round(b) {
    // Whole pixels: clean numbers for exports and agreement; the annotator cannot see finer.
    const x2 = Math.round(b.x + b.w), y2 = Math.round(b.y + b.h);
    b.x = Math.round(b.x); b.y = Math.round(b.y);
    b.w = Math.max(x2 - b.x, 1); b.h = Math.max(y2 - b.y, 1);
    return clampBox(b);
  }

  render();

  return {
    focus: viewport,
    value() {
      if (blocked) return { error: blocked, field: "value" };
      if (!nw) return { error: "The image is still loading.", field: "value" };
      return { value: { boxes: boxes.map((b) => ({ x: b.x, y: b.y, w: b.w, h: b.h, label: b.label })) } };
    },
    state() {
      return { boxes: boxes.map((b) => ({ ...b })) };
    },
    onKey(e) {
      const label = labelForKey(keys, e.key);
      if (label !== undefined) { setLabel(label); return true; }
      if (e.key === "+" || e.key === "=") { setZoom(zoom * 1.25); return true; }
      if (e.key === "-") { setZoom(zoom / 1.25); return true; }
      if (e.key === "f") { fit(); return true; }
      if (e.key === "b") { addCentered(); return true; }
      if (e.key === "[" || e.key === "]") {
        if (!boxes.length) return true;
        select_(e.key === "]" ? (selected + 1) % boxes.length : (selected <= 0 ? boxes.length : selected) - 1);
        return true;
      }
      if (selected < 0) return false;
      if (e.key === "Escape") { select_(-1); return true; }
      if (e.key === "Delete" || e.key === "Backspace") { del(selected); return true; }
      const dir = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }[e.key];
      if (!dir) return false;
      const step = Math.max(1, Math.round(Math.max(nw, nh) / 100));
      const b = boxes[selected];
      if (e.shiftKey) { b.w += dir[0] * step; b.h += dir[1] * step; } else { b.x += dir[0] * step; b.y += dir[1] * step; }
      clampBox(b);
      changed();
      return true;
    },
    showErrors(errors) {
      boxErrors = boxes.map((_, i) => errorsUnder(errors, `value.boxes[${i}]`));
      const rest = errors.filter(([p]) => !/^value\.boxes\[\d+\]/.test(p));
      const mine = errorsUnder(rest, "value");
      error.textContent = mine;
      error.hidden = !mine;
      render();
      return rest.filter(([p]) => !(p === "value" || p.startsWith("value.")));
    },
  };
}
