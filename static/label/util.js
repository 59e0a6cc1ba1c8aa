// Helpers of the labeling widgets: label keys and colours, image loading. (DOM, API and error helpers
// every page shares are in ../js/lib/.)
import { h } from "../js/lib/dom.js";

/**
 * Keys for the labels: the labels themselves when every label is one digit (a digits project:
 * key 7 means label "7"), else 1-9 then 0 for the tenth. Labels past the tenth have no key.
 */
export function labelKeys(labels) {
  const digits = labels.length > 0 && labels.every((l) => /^[0-9]$/.test(l)) && new Set(labels).size === labels.length;
  const keys = new Map();
  labels.forEach((label, i) => {
    if (digits) keys.set(label, label);
    else if (i < 9) keys.set(label, String(i + 1));
    else if (i === 9) keys.set(label, "0");
  });
  return keys;
}

/** The label whose key is `key`, or undefined. */
export function labelForKey(keys, key) {
  for (const [label, k] of keys) if (k === key) return label;
  return undefined;
}

/** A stable colour per label index, readable as a border on white and under white text. */
export const PALETTE = ["#0b57d0", "#b3261e", "#1a7f37", "#8250df", "#bc4c00", "#0e7490", "#a21caf", "#4d5b0f", "#9a3412", "#334155"];

let chosen = null;
/**
 * The colours an admin chose on the project form (Project.label_colors, label -> "#rrggbb"), emitted by
 * the page as #hitl-label-colors; {} on pages without it.
 */
export function chosenColors() {
  if (chosen === null) {
    const el = typeof document !== "undefined" ? document.getElementById("hitl-label-colors") : null;
    try { chosen = el ? JSON.parse(el.textContent) || {} : {}; } catch { chosen = {}; }
  }
  return chosen;
}

/** A label's colour: the one chosen for it, else the palette's for its place in the list. */
export function labelColor(labels, label) {
  const own = chosenColors()[label];
  if (typeof own === "string" && /^#[0-9a-fA-F]{6}$/.test(own)) return own;
  const i = labels.indexOf(label);
  return PALETTE[(i < 0 ? labels.length : i) % PALETTE.length];
}

/** "87%" from a confidence in [0, 1]; "" when there is none. */
export function percent(confidence) {
  return typeof confidence === "number" && isFinite(confidence) ? `${Math.round(confidence * 100)}%` : "";
}

/**
 * Load an image; resolves with the <img> (decoded) or rejects with a readable reason.
 * Used to prefetch the next item's image so that it shows at once.
 */
export function loadImage(url) {
  const img = new Image();
  img.decoding = "async";
  const ready = new Promise((resolve, reject) => {
    img.onload = () => {
      if (!img.naturalWidth || !img.naturalHeight) reject(new Error("the image is empty"));
      else img.decode().then(() => resolve(img), () => resolve(img));
    };
    img.onerror = () => reject(new Error("the file is missing or is not an image the browser can read"));
  });
  img.src = url;
  ready.catch(() => {}); // handled where it is shown
  return { img, ready, url };
}

/**
 * Show `handle` (from loadImage) in `slot`; calls onReady(img) or onError(message). An item
 * without an image URL, or with a broken one, gets a clear message, ending with `stuck` (what to do).
 */
export function showImage(slot, handle, onReady, onError, stuck = "Press s to skip it.") {
  const fail = (why) => {
    const msg = `This item's image cannot be shown: ${why}. ${stuck}`;
    slot.replaceChildren(h("p", { class: "lb-bad-item error", role: "alert" }, msg));
    onError(msg);
  };
  if (!handle) { fail("the item has no image"); return; }
  const put = (img) => {
    img.alt = "Image to label";
    slot.replaceChildren(img);
    onReady(img);
  };
  if (handle.img.complete && handle.img.naturalWidth) { put(handle.img); return; }
  slot.replaceChildren(h("p", { class: "muted" }, "Loading image…"));
  handle.ready.then(put, (err) => fail(err.message));
}
