/* qualcode: behaviour shared by every page (no inline scripts: the CSP forbids them). */
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // Every htmx request carries the session's CSRF token as a header.
  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRF-Token"] = csrfToken();
  });

  // Error fragments (403, 409, ...) are shown in the alert region instead of being dropped.
  document.addEventListener("htmx:responseError", function (event) {
    var region = document.getElementById("flashes");
    var xhr = event.detail.xhr;
    if (!region || !xhr) { return; }
    var box = document.createElement("div");
    box.className = "alert alert-error";
    box.setAttribute("role", "alert");
    var text = (xhr.responseText || "").replace(/<[^>]*>/g, "").trim();
    box.textContent = text || ("Request failed (" + xhr.status + ")");
    region.replaceChildren(box);
  });

  document.addEventListener("htmx:sendError", function () {
    var region = document.getElementById("flashes");
    if (!region) { return; }
    var box = document.createElement("div");
    box.className = "alert alert-error";
    box.setAttribute("role", "alert");
    box.textContent = "The server could not be reached. Your last decision was not saved; try again.";
    region.replaceChildren(box);
  });
})();
