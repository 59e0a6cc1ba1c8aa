// The labeling widgets, one module per task type, and how to mount one. The labeling screen
// (core.js) and the review screen (../js/review.js) both edit values with them.
//
// A widget module exports:
//   mount(container, ctx) -> editor   shows the item in `container`, pre-filled with ctx.initial
//   describe(value, labels) -> string a value in a few words ("2 spans (praise, criticism)")
//   help(project) -> [[keys, what]]   its keyboard shortcuts
// and an editor has:
//   value()        {value} ready to send, or {error, field} saying what is missing
//   state()        the value as it stands, even unfinished (to restore it later)
//   onKey(e)       handles a keydown; true if the key was the widget's
//   showErrors(errors)  places [[path, message]] by the fields they name; returns those it could not
//   focus          the element to focus for its keys (null: the container), and destroy() when present
import { labelKeys, loadImage } from "./util.js";

const MODULES = { classification: "choices", multi_label: "choices", spans: "spans", boxes: "boxes", pairwise: "pairwise", ranking: "ranking" };

/** The widget module of a task type, or null for a type no widget knows. */
export async function widgetFor(taskType) {
  const name = MODULES[taskType];
  return name ? import(`./${name}.js`) : null;
}

/** Start loading the item's image, if it has one (see util.js loadImage); null otherwise. */
export function imageOf(item) {
  const image = item && item.data && item.data.image;
  return typeof image === "string" && image ? loadImage(image) : null;
}

/**
 * Mount `widget` into `container` to edit the value of `item`, starting from `initial` (null: nothing
 * chosen). `prediction` adds the model's badges; `image` is a loadImage handle (default: load the
 * item's). `changed(value)` is called after every edit with the value as it stands; `say(text)` shows
 * a passing message. `stuck` tells the person what to do with an item that cannot be shown.
 */
export function mountWidget(widget, container, {
  project, item, initial = null, prediction = null, image, changed = () => {}, say = () => {},
  stuck = "Press s to skip it.",
}) {
  const labels = project.labels || [];
  let editor = null;
  editor = widget.mount(container, {
    project, labels, keys: labelKeys(labels), item, data: (item && item.data) || {}, prediction,
    image: image === undefined ? imageOf(item) : image, initial, stuck, say,
    changed: () => changed(editor ? editor.state() : initial),
  });
  return editor;
}
