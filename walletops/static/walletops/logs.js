/* The Logs page's live follow: an EventSource on the page's stream URL, resuming after the last line shown.
   Pause keeps the stream and holds new lines (within the cap); auto-scroll follows the newest line; the page
   keeps at most data-cap lines (the oldest go first). A static file: the CSP allows no inline script. */
(function () {
  "use strict";

  function init() {
    const logs = document.getElementById("logs");
    const button = document.getElementById("logs-follow");
    if (!logs || !button) { return; }
    const pauseButton = document.getElementById("logs-pause");
    const autoscroll = document.getElementById("logs-autoscroll");
    const status = document.getElementById("logs-status");
    const download = document.getElementById("logs-download");
    const bar = document.getElementById("logs-bar");
    const cap = parseInt(bar.dataset.cap, 10) || 5000;
    const merged = bar.dataset.merged === "1";
    // By container and host: Kamal names a role's containers alike on every host.
    const colours = new Map();
    function sourceKey(name, host) { return name + "@" + host; }
    document.querySelectorAll("#logs-sources tr[data-container]").forEach(function (row) {
      colours.set(sourceKey(row.dataset.container, row.dataset.host), row.dataset.src);
    });
    // This tab's name for its live stream, sent as page_id: the server gives a page's new stream the slot
    // of its previous one, so a reload never counts against the stream it closed. Kept across a reload
    // (stored as the page goes, taken back at load): a tab duplicated meanwhile gets a name of its own.
    const PAGE_KEY = "opsLogsPageId";
    let pageId = "";
    try {
      pageId = sessionStorage.getItem(PAGE_KEY) || "";
      sessionStorage.removeItem(PAGE_KEY);
    } catch (e) { pageId = ""; }
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(pageId)) {
      const bytes = new Uint8Array(16);
      crypto.getRandomValues(bytes);
      pageId = Array.from(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
    }
    window.addEventListener("pagehide", function () {
      try { sessionStorage.setItem(PAGE_KEY, pageId); } catch (e) { /* storage off: a reload gets a new name */ }
    });
    let source = null;
    let paused = false;
    let held = [];

    function lastId() {
      const lines = logs.querySelectorAll(".ops-log-line");
      return lines.length ? lines[lines.length - 1].dataset.id : "";
    }

    function scroll() {
      if (autoscroll.checked) { logs.scrollTop = logs.scrollHeight; }
    }

    function colourOf(name, host) {
      const key = sourceKey(name, host);
      if (!colours.has(key)) { colours.set(key, String(colours.size % 8)); }
      return colours.get(key);
    }

    function lineElement(line) {
      const span = document.createElement("span");
      span.className = "ops-log-line" + (merged ? " ops-src-" + colourOf(line.container, line.host) : "");
      span.dataset.id = line.id;
      span.dataset.container = line.container;
      span.dataset.host = line.host;
      if (line.ts) {
        const ts = document.createElement("span");
        ts.className = "ops-meta";
        ts.textContent = line.ts;
        span.append(ts, " ");
      }
      if (merged) {
        const label = document.createElement("span");
        label.className = "ops-logs-label";
        label.textContent = "[" + line.container + "@" + line.host + "]";
        span.append(label, " ");
      }
      span.append(line.text);
      return span;
    }

    function trim() {
      const lines = logs.querySelectorAll(".ops-log-line");
      for (let i = 0; i < lines.length - cap; i++) {
        const after = lines[i].nextSibling;
        if (after && after.nodeType === Node.TEXT_NODE) { after.remove(); }  // its newline
        lines[i].remove();
      }
    }

    function notice(text) {
      const p = document.createElement("span");
      p.className = "ops-log-notice";
      p.textContent = text + "\n";
      logs.append(p);
      scroll();
    }

    function updateDownload() {
      // Download what is shown: the same query, from the first line shown to the last, as text.
      const lines = logs.querySelectorAll(".ops-log-line");
      if (!lines.length || !download) { return; }
      const url = new URL(download.href, window.location.href);
      const micro = function (id, up) {
        const seconds = id.slice(0, 19), fraction = id.slice(20, 29);
        let us = parseInt(fraction.slice(0, 6), 10) + (up && fraction.slice(6) !== "000" ? 1 : 0);
        const base = new Date(seconds + "Z").getTime() * 1000 + us;
        const date = new Date(Math.floor(base / 1000));
        return date.toISOString().slice(0, 19) + "." + String(base % 1000000).padStart(6, "0") + "Z";
      };
      url.searchParams.delete("range");
      url.searchParams.set("since", micro(lines[0].dataset.id, false));
      url.searchParams.set("until", micro(lines[lines.length - 1].dataset.id, true));
      url.searchParams.set("tail", String(Math.min(lines.length, 5000)));
      download.href = url.pathname + url.search;
    }

    function show(lines) {
      const fragment = document.createDocumentFragment();
      lines.forEach(function (line) { fragment.append(lineElement(line), "\n"); });
      logs.append(fragment);
      trim();
      scroll();
      updateDownload();
    }

    function setStatus(text) { status.textContent = text; }

    function stop(text) {
      if (source) { source.close(); source = null; }
      button.textContent = "Follow live";
      pauseButton.disabled = true;
      setStatus(text);
    }

    function start() {
      const url = new URL(button.dataset.stream, window.location.href);
      const after = lastId();
      if (after) { url.searchParams.set("last_event_id", after); }
      url.searchParams.set("page_id", pageId);
      source = new EventSource(url.pathname + url.search);
      button.textContent = "Stop";
      pauseButton.disabled = false;
      setStatus("connecting…");
      source.onopen = function () { setStatus(paused ? "paused" : "following"); };
      source.onmessage = function (event) {
        const line = JSON.parse(event.data);
        if (paused) {
          held.push(line);
          if (held.length > cap) { held = held.slice(held.length - cap); }
          setStatus("paused: " + held.length + " new line" + (held.length === 1 ? "" : "s") + " held");
        } else {
          show([line]);
        }
      };
      source.addEventListener("source_end", function (event) {
        const data = JSON.parse(event.data);
        if (merged) { notice("— " + data.detail + " —"); }
      });
      source.addEventListener("engine_down", function (event) {
        notice("— " + JSON.parse(event.data).detail + " —");
      });
      source.addEventListener("end", function (event) {
        const data = JSON.parse(event.data);
        notice("— stream ended: " + data.detail + " —");
        stop("ended (" + data.reason + ")");
      });
      source.onerror = function () {
        if (source && source.readyState === EventSource.CLOSED) {
          stop("refused or failed (too many streams open?)");
        } else {
          setStatus("reconnecting…");
        }
      };
    }

    button.addEventListener("click", function () {
      if (source) { stop("stopped"); } else { start(); }
    });
    pauseButton.addEventListener("click", function () {
      paused = !paused;
      pauseButton.textContent = paused ? "Resume" : "Pause";
      if (!paused) {
        show(held);
        held = [];
        setStatus(source ? "following" : "not following");
      } else {
        setStatus("paused");
      }
    });
    window.addEventListener("beforeunload", function () { if (source) { source.close(); } });
    scroll();
    updateDownload();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
}());
