// Borealis scheduler: live refresh. Each element with data-refresh is replaced every
// data-interval ms by the HTML fragment the scheduler renders (and escapes) at that URL;
// the window's scroll position and which update panels are open survive the swap. Nothing
// here builds HTML from data.
"use strict";

function swap(el, html) {
  var x = window.scrollX, y = window.scrollY;
  var open = {};
  el.querySelectorAll("details[id]").forEach(function (d) { open[d.id] = d.open; });
  el.innerHTML = html;
  el.querySelectorAll("details[id]").forEach(function (d) {
    if (Object.prototype.hasOwnProperty.call(open, d.id)) { d.open = open[d.id]; }
  });
  window.scrollTo(x, y);
}

function say(text, stale) {
  var live = document.getElementById("live");
  if (!live) { return; }
  live.textContent = text;
  live.classList.toggle("stale", stale);
}

function refresh(el) {
  var url = el.getAttribute("data-refresh");
  var every = parseInt(el.getAttribute("data-interval") || "2000", 10);
  var tick = function () {
    if (document.hidden) { setTimeout(tick, every); return; }
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.text();
      })
      .then(function (html) {
        swap(el, html);
        say("live · " + new Date().toLocaleTimeString(), false);
      })
      .catch(function (e) { say("not refreshing: " + (e.message || e), true); })
      .finally(function () { setTimeout(tick, every); });
  };
  setTimeout(tick, every);
}

document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-refresh]").forEach(refresh);
});
