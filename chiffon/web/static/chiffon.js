// Chiffon's dashboard: the little the pages need beyond htmx and its SSE extension.
//   - a live stream resumes after the last event the page holds (no gap, no duplicate), even
//     when the extension replaces a closed EventSource by a new one (which would not carry
//     the browser's Last-Event-ID);
//   - the page says when its stream is live, reconnecting or ended;
//   - the log holds at most data-cap lines (older ones are dropped, the raw output has all);
//   - failed-only and per-host filters, and follow (tail) mode.
(function () {
  "use strict";

  // Read before the stream opens, and kept current by every event that carries an id.
  function resumeUrl(url, live) {
    var last = live && live.dataset.lastEvent;
    if (!last) return url;
    var u = new URL(url, window.location.href);
    u.searchParams.set("after", last);
    return u.pathname + u.search;
  }

  function setState(live, state, text) {
    var badge = document.getElementById("live-state");
    if (!badge || badge.dataset.state === "ended") return;
    badge.dataset.state = state;
    badge.textContent = text;
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!window.htmx) return;
    htmx.config.includeIndicatorStyles = false;
    htmx.createEventSource = function (url) {
      var live = document.getElementById("live");
      return new EventSource(resumeUrl(url, live), { withCredentials: true });
    };
    var log = document.getElementById("log");
    var live = document.getElementById("live");
    if (log) setupLog(log, live);
  });

  document.addEventListener("htmx:sseOpen", function (e) {
    if (e.target.id === "live") setState(e.target, "live", "live");
  });
  document.addEventListener("htmx:sseError", function (e) {
    if (e.target.id === "live") setState(e.target, "reconnecting", "reconnecting…");
  });
  document.addEventListener("htmx:sseBeforeMessage", function (e) {
    var live = document.getElementById("live");
    var id = e.detail && e.detail.lastEventId;
    if (!live || !id) return;
    // A replayed event the page already holds (the stream resumed from an older id).
    if (Number(id) <= Number(live.dataset.lastEvent || 0)) {
      e.preventDefault();
      return;
    }
    live.dataset.lastEvent = id;
  });
  document.addEventListener("htmx:sseClose", function (e) {
    if (e.target.id !== "live" || !e.detail || e.detail.type !== "message") return;
    var badge = document.getElementById("live-state");
    if (badge) {
      badge.dataset.state = "ended";
      badge.textContent = "finished";
    }
  });

  function setupLog(log, live) {
    var cap = Number((live && live.dataset.cap) || 2000);
    var follow = document.getElementById("follow");
    var failedOnly = document.getElementById("failed-only");
    var hostFilter = document.getElementById("host-filter");
    // A constructed sheet, not a <style> element: the Content-Security-Policy allows no
    // inline style.
    var hostSheet = new CSSStyleSheet();
    document.adoptedStyleSheets = document.adoptedStyleSheets.concat([hostSheet]);
    var dropped = 0;

    function trim() {
      var lines = log.querySelectorAll(":scope > .line, :scope > .task");
      var extra = lines.length - cap;
      if (extra <= 0) return;
      for (var i = 0; i < extra; i++) lines[i].remove();
      dropped += extra;
      var note = log.querySelector(":scope > .trimmed");
      if (!note) {
        note = document.createElement("div");
        note.className = "trimmed";
        log.prepend(note);
      }
      note.textContent =
        "Only the last " + cap + " lines are kept on this page (" + dropped +
        " dropped): the raw output has them all.";
    }

    function tail() {
      if (follow && follow.checked) log.scrollTop = log.scrollHeight;
    }

    log.addEventListener("htmx:afterSettle", function () { trim(); tail(); });
    log.addEventListener("htmx:sseMessage", function () { trim(); tail(); });
    // Scrolling up stops following; scrolling back to the bottom resumes it.
    log.addEventListener("scroll", function () {
      if (!follow) return;
      follow.checked = log.scrollHeight - log.scrollTop - log.clientHeight < 24;
    });
    if (follow) follow.addEventListener("change", tail);
    if (failedOnly) {
      failedOnly.addEventListener("change", function () {
        log.classList.toggle("failed-only", failedOnly.checked);
      });
    }
    if (hostFilter) {
      hostFilter.addEventListener("change", function () {
        var host = hostFilter.value;
        hostSheet.replaceSync(
          host ? '#log .line:not([data-host="' + CSS.escape(host) + '"]) { display: none; }' : ""
        );
      });
    }
    tail();
  }
})();
