/* qualcode: keyboard and selection for the anonymisation review page (no inline scripts: CSP). */
(function () {
  "use strict";

  var cards = [];
  var current = -1;

  function pendingCards() {
    return Array.prototype.slice.call(document.querySelectorAll(".masking-card[data-pending]"));
  }

  function show(index) {
    if (!cards.length) { return; }
    current = (index + cards.length) % cards.length;
    cards.forEach(function (card, i) { card.classList.toggle("is-current", i === current); });
    cards[current].focus({ preventScroll: true });
    cards[current].scrollIntoView({ block: "nearest" });
  }

  function submitCurrent(selector) {
    if (current < 0 || !cards[current]) { return; }
    var form = cards[current].querySelector(selector);
    if (form) { form.requestSubmit(); }
  }

  // Offsets count code points, as Python's string indices do (an emoji is one character there, two here).
  function offsetIn(container, node, offset) {
    var range = document.createRange();
    range.selectNodeContents(container);
    range.setEnd(node, offset);
    return Array.from(range.toString()).length;
  }

  function maskSelection() {
    var container = document.getElementById("transcript-text");
    var form = document.getElementById("mask-form");
    var hint = document.getElementById("mask-hint");
    var selection = window.getSelection();
    if (!container || !form || !selection || selection.rangeCount === 0 || selection.isCollapsed) {
      if (hint) { hint.textContent = "Select the missed words in the transcript first."; }
      return;
    }
    var range = selection.getRangeAt(0);
    if (!container.contains(range.startContainer) || !container.contains(range.endContainer)) {
      if (hint) { hint.textContent = "Select words inside the transcript text."; }
      return;
    }
    form.elements.start.value = String(offsetIn(container, range.startContainer, range.startOffset));
    form.elements.end.value = String(offsetIn(container, range.endContainer, range.endOffset));
    form.submit();
  }

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  document.addEventListener("DOMContentLoaded", function () {
    cards = pendingCards();
    var focused = document.querySelector(".masking-card[data-focus]");
    var start = focused ? cards.indexOf(focused) : 0;
    if (cards.length) { show(start < 0 ? 0 : start); }
    var button = document.getElementById("mask-button");
    if (button) { button.addEventListener("click", maskSelection); }
  });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
    switch (event.key) {
      case "k": submitCurrent(".keep-form"); break;
      case "u": submitCurrent(".unmask-form"); break;
      case "j": case "n": show(current + 1); break;
      case "m": maskSelection(); break;
      default: return;
    }
    event.preventDefault();
  });
})();
