// Chiffon's dashboard: the little the pages need beyond htmx and its SSE extension.
//
// The run page's stream (/runs/{id}/live) carries two kinds of event. `state` events hold the
// page's panels, swapped out of band by htmx (sse-swap on #state-sink). `output` events hold
// lines of the log; they are appended here rather than by htmx, in one DOM insertion per
// frame however many arrive, so a burst of output cannot freeze the page. Besides that:
//   - a stream resumes after the last line the page holds (no gap, no duplicate), even when
//     the extension replaces a closed EventSource by a new one, which would not send the
//     browser's Last-Event-ID: the new one asks for ?after=<last id>;
//   - the page says whether its stream is live, reconnecting or finished;
//   - the log holds at most data-cap lines (the oldest go; the raw output has them all);
//   - failed-only and per-host filters, and follow (tail) mode.
(function () {
  "use strict";

  var FLUSH_MS = 50;
  var flushLog = null; // set by setupLog: appends what waits for the next frame, now

  function resumeUrl(url, live) {
    var last = live && live.dataset.lastEvent;
    if (!last || last === "0") return url;
    var u = new URL(url, window.location.href);
    u.searchParams.set("after", last);
    return u.pathname + u.search;
  }

  function setState(state, text) {
    var badge = document.getElementById("live-state");
    if (!badge || badge.dataset.state === "ended") return;
    badge.dataset.state = state;
    badge.textContent = text;
  }

  // Deferred, this runs after the page is parsed and before htmx processes it (htmx does on
  // DOMContentLoaded): the stream htmx opens first is already ours.
  (function () {
    if (!window.htmx) return;
    htmx.config.includeIndicatorStyles = false;
    var live = document.getElementById("live");
    var log = document.getElementById("log");
    var appendLines = log && live ? setupLog(log, live) : null;
    if (live && live.hasAttribute("sse-connect")) setState("connecting", "connecting…");
    htmx.createEventSource = function (url) {
      var source = new EventSource(resumeUrl(url, live), { withCredentials: true });
      if (appendLines) source.addEventListener("output", appendLines);
      return source;
    };
  })();

  document.addEventListener("htmx:sseOpen", function (e) {
    if (e.target.id === "live") setState("live", "live");
  });
  document.addEventListener("htmx:sseError", function (e) {
    if (e.target.id === "live") setState("reconnecting", "reconnecting…");
  });
  document.addEventListener("htmx:sseClose", function (e) {
    if (e.target.id !== "live" || !e.detail || e.detail.type !== "message") return;
    if (flushLog) flushLog(); // "finished" means every line is on the page
    setState("ended", "finished");
  });

  // The log's behaviour; returns the listener for its stream's `output` events.
  function setupLog(log, live) {
    var cap = Number(live.dataset.cap || 1000);
    var follow = document.getElementById("follow");
    var failedOnly = document.getElementById("failed-only");
    var hostFilter = document.getElementById("host-filter");
    // A constructed sheet, not a <style> element: the Content-Security-Policy allows no
    // inline style.
    var hostSheet = new CSSStyleSheet();
    document.adoptedStyleSheets = document.adoptedStyleSheets.concat([hostSheet]);
    var dropped = Number(live.dataset.trimmed || 0);
    var pending = [];
    var scheduled = false;

    function trim() {
      var lines = log.querySelectorAll(":scope > [data-event]");
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
        " more dropped): the raw output has them all.";
    }

    function tail() {
      if (follow && follow.checked) log.scrollTop = log.scrollHeight;
    }

    function flush() {
      scheduled = false;
      if (!pending.length) return;
      log.insertAdjacentHTML("beforeend", pending.join(""));
      pending = [];
      trim();
      tail();
    }

    // Scrolling up stops following; scrolling back to the bottom resumes it.
    log.addEventListener("scroll", function () {
      if (!follow) return;
      follow.checked = log.scrollHeight - log.scrollTop - log.clientHeight < 24;
    });
    if (follow) follow.addEventListener("change", tail);
    if (failedOnly) {
      failedOnly.addEventListener("change", function () {
        log.classList.toggle("failed-only", failedOnly.checked);
        tail(); // what is left to see may be shorter or longer: keep the end in view
      });
    }
    if (hostFilter) {
      hostFilter.addEventListener("change", function () {
        var host = hostFilter.value;
        hostSheet.replaceSync(
          host ? '#log .line:not([data-host="' + CSS.escape(host) + '"]) { display: none; }' : ""
        );
        tail();
      });
    }
    tail();
    flushLog = flush;

    return function (event) {
      var id = Number(event.lastEventId);
      // A line the page holds already: the stream resumed from an older id.
      if (id && id <= Number(live.dataset.lastEvent || 0)) return;
      if (id) live.dataset.lastEvent = String(id);
      pending.push(event.data);
      // A hidden tab runs timers rarely: what waits is capped like the log itself.
      if (pending.length > cap) {
        dropped += pending.length - cap;
        pending.splice(0, pending.length - cap);
      }
      if (!scheduled) {
        scheduled = true;
        window.setTimeout(flush, FLUSH_MS);
      }
    };
  }
})();
