// What a browser sends when a user edits a field: `input`, then `change`.
// Preact listens to the one each element reports on (text fields report
// every edit through `input`; selects through `change`), so a test fires
// both, as WebKit does. Through the DOM testing library itself: the Preact
// binding's own fireEvent.change sends `input` instead once preact/compat
// is loaded, which a select never answers.
import { fireEvent } from "@testing-library/dom";
import { act } from "@testing-library/preact";

export function change(el: Element, value: string) {
  act(() => {
    fireEvent.input(el, { target: { value } });
    fireEvent.change(el, { target: { value } });
  });
}

/** What a browser sends when focus leaves a field: `blur`, then `focusout`
 * (Preact's compat layer listens to the one that bubbles). */
export function leave(el: Element) {
  act(() => {
    fireEvent.blur(el);
    fireEvent.focusOut(el);
  });
}
