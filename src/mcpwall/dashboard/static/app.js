// The dashboard's only script of its own: no inline script anywhere (the CSP forbids it).
// htmx does the requests and swaps; this file adds what htmx leaves to the page.
"use strict";

(function () {
  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // Every htmx request carries the session's CSRF token; the server refuses changes without it.
  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRF-Token"] = csrfToken();
  });

  // An error answer is shown in the status area (htmx swaps only successful ones).
  document.addEventListener("htmx:responseError", function (event) {
    var flash = document.getElementById("flash");
    if (!flash) return;
    var text = "The request failed (" + event.detail.xhr.status + ").";
    var doc = new DOMParser().parseFromString(event.detail.xhr.responseText, "text/html");
    var message = doc.querySelector(".error");
    if (message) text = message.textContent;
    flash.textContent = text;
    flash.className = "error";
  });
  document.addEventListener("htmx:sendError", function () {
    var flash = document.getElementById("flash");
    if (flash) {
      flash.textContent = "The gateway did not answer; is it running?";
      flash.className = "error";
    }
  });

  // Keep keyboard focus after a partial update: on the element the new content names with
  // data-focus, else on the swapped region itself, so a screen reader hears what changed.
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (!target || !target.isConnected) return;
    if (target.closest && target.closest("[data-live]")) return; // a stream: focus stays put
    var active = document.activeElement;
    if (active && active !== document.body && active.isConnected) return;
    var wanted = target.querySelector("[data-focus]") || target;
    if (!wanted.hasAttribute("tabindex") && !/^(A|BUTTON|INPUT|SELECT|TEXTAREA)$/.test(wanted.tagName)) {
      wanted.setAttribute("tabindex", "-1");
    }
    wanted.focus();
  });

  // Live tail: a row already shown (a stream restarted from an older point) is not shown
  // twice; the newest row id is kept where Pause sends it, so Resume starts after it.
  document.addEventListener("htmx:sseBeforeMessage", function (event) {
    var id = event.detail.lastEventId;
    if (id && document.getElementById("row-" + id)) event.preventDefault();
  });
  document.addEventListener("htmx:sseMessage", function (event) {
    var id = Number(event.detail.lastEventId);
    var after = document.getElementById("tail-after");
    if (after && id > Number(after.value)) after.value = String(id);
    var empty = document.getElementById("tail-empty");
    if (empty) empty.remove();
  });
  document.addEventListener("htmx:sseError", function () {
    var state = document.getElementById("tail-state");
    if (state) state.textContent = "Reconnecting…";
  });
  document.addEventListener("htmx:sseOpen", function () {
    var state = document.getElementById("tail-state");
    if (state) state.textContent = "Live.";
  });

  // Copy buttons: <button data-copy="#id"> copies the text of #id.
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-copy]") : null;
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) return;
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      button.textContent = "Copied";
    });
  });
})();
