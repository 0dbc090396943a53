// jsdom lacks layout: CodeMirror measures text through ranges and rects.
const rect = { x: 0, y: 0, top: 0, left: 0, bottom: 0, right: 0, width: 0, height: 0, toJSON: () => ({}) } as DOMRect;
const rects = Object.assign([rect], { item: () => rect }) as unknown as DOMRectList;

if (typeof Range !== "undefined") {
  Range.prototype.getBoundingClientRect ??= () => rect;
  Range.prototype.getClientRects ??= () => rects;
}
if (typeof Element !== "undefined") Element.prototype.scrollIntoView ??= () => undefined;
if (typeof document !== "undefined" && !document.elementFromPoint) document.elementFromPoint = () => null;
