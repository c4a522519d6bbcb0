// Borealis observer: live refresh of server-rendered fragments, and the log/file viewer.
// Everything from the server is inserted as text (textContent) or as HTML the server
// rendered and escaped itself; nothing here builds HTML from data.
"use strict";

function refreshFragments() {
  document.querySelectorAll("[data-refresh]").forEach(function (el) {
    var url = el.getAttribute("data-refresh");
    var every = parseInt(el.getAttribute("data-interval") || "5000", 10);
    var tick = function () {
      if (document.hidden) { setTimeout(tick, every); return; }
      fetch(url, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html !== null) { el.innerHTML = html; } })
        .catch(function () {})
        .finally(function () { setTimeout(tick, every); });
    };
    setTimeout(tick, every);
  });
}

var MAX_TEXT = 4 * 1024 * 1024; // characters kept in the page; older ones are dropped
var CHUNK = 65536;

function Viewer(root) {
  this.root = root;
  this.mode = root.getAttribute("data-mode");           // "log" or "file"
  this.api = root.getAttribute("data-api");
  this.content = document.getElementById("content");
  this.status = document.getElementById("status");
  this.followBox = document.getElementById("follow");
  this.start = null;   // log: cursor of the first byte shown; file: offset
  this.end = null;
  this.atStart = false;
  this.busy = false;        // a user action (older, newer) is in flight
  this.following = false;
  this.generation = 0;      // bumped by a jump (start, end): older replies are dropped
}

Viewer.prototype.get = function (params) {
  var query = new URLSearchParams(params).toString();
  return fetch(this.api + "?" + query, { credentials: "same-origin" }).then(function (r) {
    return r.json().then(function (body) {
      if (!r.ok) { throw new Error(body.error || ("HTTP " + r.status)); }
      return body;
    });
  });
};

Viewer.prototype.say = function (text) { this.status.textContent = text; };

Viewer.prototype.piece = function (chunk) {
  var span = document.createElement("span");
  span.className = "chunk";
  span.setAttribute("data-file", chunk.file || "");
  span.setAttribute("data-cursor", chunk.cursor || "");
  span.textContent = chunk.data;
  return span;
};

Viewer.prototype.marker = function (from, to) {
  var div = document.createElement("div");
  div.className = "rotation";
  div.textContent = "\u2500\u2500 " + from + " ends here; " + to + " continues \u2500\u2500";
  return div;
};

// Build nodes for chunks, with a marker wherever consecutive chunks come from different files.
Viewer.prototype.nodes = function (chunks, before) {
  var out = [];
  var prev = before;
  for (var i = 0; i < chunks.length; i++) {
    if (prev && chunks[i].file && prev !== chunks[i].file) { out.push(this.marker(prev, chunks[i].file)); }
    out.push(this.piece(chunks[i]));
    prev = chunks[i].file;
  }
  return out;
};

Viewer.prototype.firstFile = function () {
  var first = this.content.querySelector(".chunk");
  return first ? first.getAttribute("data-file") : null;
};

Viewer.prototype.lastFile = function () {
  var all = this.content.querySelectorAll(".chunk");
  return all.length ? all[all.length - 1].getAttribute("data-file") : null;
};

Viewer.prototype.append = function (chunks) {
  var stick = this.content.scrollTop + this.content.clientHeight >= this.content.scrollHeight - 4;
  var self = this;
  this.nodes(chunks, this.lastFile()).forEach(function (n) { self.content.appendChild(n); });
  while (this.content.textContent.length > MAX_TEXT && this.content.firstChild) {
    this.content.removeChild(this.content.firstChild);
    this.atStart = false;
    this.start = this.mode === "log" ? this.firstCursor() : this.start;
  }
  if (stick) { this.content.scrollTop = this.content.scrollHeight; }
};

Viewer.prototype.firstCursor = function () {
  var first = this.content.querySelector(".chunk");
  return first ? first.getAttribute("data-cursor") : this.start;
};

Viewer.prototype.prepend = function (chunks) {
  var height = this.content.scrollHeight;
  var nodes = this.nodes(chunks, null);
  var first = this.firstFile();
  if (chunks.length && first && chunks[chunks.length - 1].file !== first) {
    nodes.push(this.marker(chunks[chunks.length - 1].file, first));
  }
  for (var i = nodes.length - 1; i >= 0; i--) { this.content.insertBefore(nodes[i], this.content.firstChild); }
  this.content.scrollTop += this.content.scrollHeight - height;
};

Viewer.prototype.clear = function () {
  while (this.content.firstChild) { this.content.removeChild(this.content.firstChild); }
};

// --- log mode: cursors over the rotated files -------------------------------------

Viewer.prototype.logLoad = function (params, how, background) {
  var self = this;
  var generation = this.generation;
  if (!background) { this.busy = true; }
  return this.get(params).then(function (body) {
    if (generation !== self.generation) { return null; }
    // two appends raced (a click on "newer" while following): keep the first only
    if (how === "append" && body.chunks.length && body.start !== self.end && !body.gap) { return null; }
    if (how === "replace") { self.clear(); }
    if (how === "prepend") { self.prepend(body.chunks); } else { self.append(body.chunks); }
    if (how !== "append" || self.start === null) { self.start = body.start; }
    if (how !== "prepend") { self.end = body.end; }
    if (how !== "append") { self.atStart = body.at_start; }
    if (body.gap) { self.say("some older output was already removed by rotation"); }
    else { self.say(self.atStart ? "at the start" : ""); }
    return body;
  }).catch(function (e) { self.say(String(e.message || e)); })
    .finally(function () { if (!background) { self.busy = false; } });
};

// --- file mode: byte offsets ---------------------------------------------------------

Viewer.prototype.fileLoad = function (offset, how, background) {
  var self = this;
  var generation = this.generation;
  if (!background) { this.busy = true; }
  return this.get({ offset: offset, length: CHUNK }).then(function (body) {
    if (generation !== self.generation) { return null; }
    if (how === "append" && body.offset !== self.end) { return null; }
    var chunk = { file: null, data: body.data };
    if (how === "replace") { self.clear(); }
    if (how === "prepend") { self.prepend([chunk]); } else { self.append([chunk]); }
    if (how !== "append") { self.start = body.offset; }
    if (how !== "prepend") { self.end = body.offset + body.length; }
    self.atStart = self.start === 0;
    self.say(self.atStart ? "at the start" : "");
    return body;
  }).catch(function (e) { self.say(String(e.message || e)); })
    .finally(function () { if (!background) { self.busy = false; } });
};

Viewer.prototype.toEnd = function () {
  this.generation++;
  if (this.mode === "log") { return this.logLoad({ cursor: "end", direction: "backward", length: CHUNK }, "replace"); }
  return this.fileLoad(-1, "replace");
};

Viewer.prototype.toStart = function () {
  this.generation++;
  this.followBox.checked = false; // reading from the start: stop jumping to the end
  if (this.mode === "log") { return this.logLoad({ cursor: "start", length: CHUNK }, "replace"); }
  return this.fileLoad(0, "replace");
};

Viewer.prototype.older = function () {
  if (this.atStart || this.busy) { return Promise.resolve(); }
  if (this.mode === "log") { return this.logLoad({ cursor: this.start, direction: "backward", length: CHUNK }, "prepend"); }
  var from = Math.max(0, this.start - CHUNK);
  var self = this;
  this.busy = true;
  return this.get({ offset: from, length: this.start - from }).then(function (body) {
    self.prepend([{ file: null, data: body.data }]);
    self.start = body.offset;
    self.atStart = self.start === 0;
    self.say(self.atStart ? "at the start" : "");
  }).catch(function (e) { self.say(String(e.message || e)); })
    .finally(function () { self.busy = false; });
};

Viewer.prototype.newer = function (wait, background) {
  if (this.mode === "log") {
    var params = { cursor: this.end, length: CHUNK };
    if (wait) { params.wait = wait; }
    return this.logLoad(params, "append", background);
  }
  return this.fileLoad(this.end, "append", background);
};

Viewer.prototype.follow = function () {
  var self = this;
  if (this.following) { return; }
  this.following = true;
  var step = function () {
    if (!self.followBox.checked) { self.following = false; return; }
    var again = function (body) {
      var full = body && body.chunks && body.chunks.length && body.chunks.reduce(function (n, c) { return n + c.bytes; }, 0) >= CHUNK;
      setTimeout(step, full ? 0 : (self.mode === "log" ? 50 : 1000));
    };
    self.newer(self.mode === "log" ? 20 : 0, true).then(again, function () { setTimeout(step, 2000); });
  };
  step();
};

Viewer.prototype.bind = function () {
  var self = this;
  document.getElementById("to-start").addEventListener("click", function () { self.toStart(); });
  document.getElementById("to-end").addEventListener("click", function () { self.toEnd(); });
  document.getElementById("older").addEventListener("click", function () { self.older(); });
  document.getElementById("newer").addEventListener("click", function () { self.newer(0); });
  this.followBox.addEventListener("change", function () { if (self.followBox.checked) { self.follow(); } });
  this.content.addEventListener("scroll", function () {
    if (self.content.scrollTop === 0 && !self.atStart) { self.older(); }
  });
  this.toEnd().then(function () {
    self.content.scrollTop = self.content.scrollHeight;
    if (self.followBox.checked) { self.follow(); }
  });
};

document.addEventListener("DOMContentLoaded", function () {
  refreshFragments();
  var root = document.getElementById("viewer");
  if (root) { window.borealisViewer = new Viewer(root); window.borealisViewer.bind(); }
});
