/* qualcode review queue: keyboard-first decisions. Keys are documented on the page and in the README.
 *   a accept (blind: save codes)   r reject   s skip   u undo   b accept the near-duplicate group
 *   c or / pick codes   n note   1-5 certainty   in the code list: arrows, Enter, Shift+Enter, Ctrl+Enter, Esc
 * A decision is one htmx POST whose response is the next item, so there is no page reload.
 */
(function () {
  "use strict";

  var busy = false;
  // Heartbeats keep the lease only while someone is at the keyboard: an abandoned tab lets its item go
  // back to the queue once the lease runs out.
  var IDLE_MS = 20 * 60 * 1000;
  var lastActivity = Date.now();
  ["keydown", "pointerdown", "scroll"].forEach(function (name) {
    document.addEventListener(name, function () { lastActivity = Date.now(); }, { passive: true });
  });

  function decisionForm() { return document.getElementById("decision-form"); }
  function picker() { return document.getElementById("picker"); }
  function isBlind() { var f = decisionForm(); return f && f.dataset.kind === "blind"; }

  function isTextEntry(el) {
    if (!el) { return false; }
    var tag = el.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable) { return true; }
    if (tag === "INPUT") {
      var type = (el.getAttribute("type") || "text").toLowerCase();
      return ["text", "search", "password", "email", "number", "url"].indexOf(type) !== -1;
    }
    return false;
  }

  function press(key) {
    var button = document.querySelector('[data-key="' + key + '"]');
    if (!button || button.disabled || busy) { return false; }
    button.click();
    return true;
  }

  function options() {
    var list = document.getElementById("code-list");
    return list ? Array.prototype.slice.call(list.querySelectorAll('li[role="option"]')) : [];
  }
  function visibleOptions() { return options().filter(function (li) { return !li.hidden; }); }
  function highlighted() { return document.querySelector('#code-list li[aria-selected="true"]'); }

  function highlight(li) {
    options().forEach(function (o) { o.setAttribute("aria-selected", o === li ? "true" : "false"); });
    if (li) {
      li.scrollIntoView({ block: "nearest" });
      var search = document.getElementById("code-search");
      if (search) { search.setAttribute("aria-activedescendant", li.querySelector('input[name="codes"]').id); }
    }
  }

  function moveHighlight(step) {
    var visible = visibleOptions();
    if (!visible.length) { return; }
    var index = visible.indexOf(highlighted());
    index = index === -1 ? 0 : Math.min(visible.length - 1, Math.max(0, index + step));
    highlight(visible[index]);
  }

  function filterCodes(query) {
    var words = query.toLowerCase().split(/\s+/).filter(Boolean);
    options().forEach(function (li) {
      var haystack = li.dataset.search || "";
      li.hidden = !words.every(function (w) { return haystack.indexOf(w) !== -1; });
    });
    var visible = visibleOptions();
    highlight(visible.length ? visible[0] : null);
  }

  function toggle(li, ruleOut) {
    if (!li) { return; }
    var apply = li.querySelector('input[name="codes"]');
    var out = li.querySelector('input[name="ruled_out"]');
    if (ruleOut && out) {
      out.checked = !out.checked;
      if (out.checked) { apply.checked = false; }
    } else {
      apply.checked = !apply.checked;
      if (apply.checked && out) { out.checked = false; }
    }
    renderChips();
  }

  function renderChips() {
    var box = document.getElementById("chosen");
    options().forEach(function (li) {
      var out = li.querySelector('input[name="ruled_out"]');
      li.classList.toggle("ruled-out", !!(out && out.checked));
    });
    if (!box) { return; }
    box.replaceChildren();
    options().forEach(function (li) {
      var apply = li.querySelector('input[name="codes"]');
      var out = li.querySelector('input[name="ruled_out"]');
      var name = li.querySelector("label").textContent;
      if ((apply && apply.checked) || (out && out.checked)) {
        var chip = document.createElement("span");
        chip.className = "chip " + (apply.checked ? "chip-apply" : "chip-reject");
        chip.textContent = name;
        chip.setAttribute("aria-label", (apply.checked ? "Applied: " : "Considered, not applied: ") + name);
        box.appendChild(chip);
      }
    });
    if (!box.children.length) {
      var empty = document.createElement("span");
      empty.className = "muted small";
      empty.textContent = "No codes chosen yet: press c to pick.";
      box.appendChild(empty);
    }
  }

  function openPicker() {
    var p = picker();
    if (!p) { return; }
    p.hidden = false;
    var toggleButton = document.getElementById("picker-toggle");
    if (toggleButton) { toggleButton.setAttribute("aria-expanded", "true"); }
    var search = document.getElementById("code-search");
    if (search) { search.focus(); search.select(); filterCodes(search.value); }
  }

  function closePicker() {
    var p = picker();
    var search = document.getElementById("code-search");
    if (search) { search.blur(); }
    if (p && !isBlind()) {
      p.hidden = true;
      var toggleButton = document.getElementById("picker-toggle");
      if (toggleButton) { toggleButton.setAttribute("aria-expanded", "false"); }
    }
    var panel = document.getElementById("review-panel");
    if (panel) { panel.focus({ preventScroll: true }); }
  }

  function anyChosen() {
    return !!document.querySelector('#code-list input[name="codes"]:checked');
  }

  function submitCodes() {
    if (isBlind()) { return press("a"); }
    if (anyChosen()) { return press("ctrl-enter"); }
    return false;
  }

  document.addEventListener("keydown", function (event) {
    if (!decisionForm() && event.key !== "u") { return; }
    var target = event.target;
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      submitCodes();
      return;
    }
    if (target && target.id === "code-search") {
      if (event.key === "ArrowDown") { event.preventDefault(); moveHighlight(1); }
      else if (event.key === "ArrowUp") { event.preventDefault(); moveHighlight(-1); }
      else if (event.key === "Enter") { event.preventDefault(); toggle(highlighted(), event.shiftKey && isBlind()); }
      else if (event.key === "Escape") { event.preventDefault(); closePicker(); }
      return;
    }
    if (isTextEntry(target)) {
      if (event.key === "Escape") { event.preventDefault(); target.blur(); closePicker(); }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    var key = event.key;
    var handled = true;
    if (key === "a" || key === "r" || key === "s" || key === "b" || key === "u") {
      handled = press(key);
    } else if (key === "c" || key === "/") {
      openPicker();
    } else if (key === "n") {
      var note = document.getElementById("note");
      if (note) { note.focus(); }
    } else if (/^[1-5]$/.test(key)) {
      var radio = document.querySelector('input[data-certainty="' + key + '"]');
      if (radio) { radio.checked = !radio.checked; }
    } else {
      handled = false;
    }
    if (handled) { event.preventDefault(); }
  });

  document.addEventListener("input", function (event) {
    if (event.target && event.target.id === "code-search") { filterCodes(event.target.value); }
  });

  document.addEventListener("change", function (event) {
    if (event.target && event.target.closest && event.target.closest("#code-list")) { renderChips(); }
  });

  document.addEventListener("click", function (event) {
    var toggleButton = event.target.closest && event.target.closest("#picker-toggle");
    if (toggleButton) {
      if (picker() && picker().hidden) { openPicker(); } else { closePicker(); }
    }
  });

  function isHeartbeat(event) {
    var path = event.detail && event.detail.requestConfig && event.detail.requestConfig.path;
    return !!path && /\/renew$/.test(path);
  }

  // 503 + Retry-After: the database was busy (a batch writing) and nothing was saved. htmx leaves the
  // form as it was (no swap on errors), so the coder's choice is still on the page; the decision is sent
  // again by itself after the server's Retry-After, a few times, with the same button.
  var MAX_BUSY_RETRIES = 5;
  var busyRetries = 0;
  var lastSubmitter = null;
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("#review-panel button[type=submit], #review-panel button:not([type])");
    if (button) { lastSubmitter = button; }
  }, true);

  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail && event.detail.xhr;
    if (!xhr || xhr.status !== 503 || isHeartbeat(event)) { return; }
    var button = lastSubmitter;
    if (!button || !document.body.contains(button) || busyRetries >= MAX_BUSY_RETRIES) {
      busyRetries = 0;
      return;  // app.js shows the server's message; the choice stays on the page for a manual retry
    }
    busyRetries += 1;
    var seconds = parseInt(xhr.getResponseHeader("Retry-After") || "5", 10);
    if (!(seconds > 0)) { seconds = 5; }
    var region = document.getElementById("flashes");
    if (region) {
      var box = document.createElement("div");
      box.className = "alert alert-error";
      box.setAttribute("role", "status");
      box.textContent = "The database is busy: your choice is kept and will be sent again in " + seconds +
        " s (attempt " + busyRetries + " of " + MAX_BUSY_RETRIES + ").";
      setTimeout(function () { region.replaceChildren(box); }, 0);  // after app.js wrote the error
    }
    setTimeout(function () {
      if (document.body.contains(button) && !button.disabled) { button.click(); }
    }, seconds * 1000);
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.target && event.target.id === "review-panel") { busyRetries = 0; }
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    if (isHeartbeat(event)) {
      if (Date.now() - lastActivity > IDLE_MS) { event.preventDefault(); }
      return;
    }
    busy = true;
    var panel = document.getElementById("review-panel");
    if (panel) { panel.setAttribute("aria-busy", "true"); }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    if (isHeartbeat(event)) { return; }
    busy = false;
    var panel = document.getElementById("review-panel");
    if (panel) { panel.setAttribute("aria-busy", "false"); }
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.target && event.target.id === "review-panel") {
      renderChips();
      event.target.focus({ preventScroll: true });
      window.scrollTo({ top: 0 });
    }
  });
  document.addEventListener("DOMContentLoaded", function () {
    renderChips();
    var panel = document.getElementById("review-panel");
    if (panel) { panel.focus({ preventScroll: true }); }
  });
})();
