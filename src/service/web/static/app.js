// The dashboard's only script: a running build's log, streamed in.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var log = document.getElementById("live-log");
  if (!log || !window.EventSource) return;
  var source = new EventSource(log.dataset.events);
  function add(text, failed) {
    var line = document.createElement(failed ? "mark" : "span");
    if (failed) line.className = "fail";
    line.textContent = text + "\n";
    log.appendChild(line);
    log.scrollTop = log.scrollHeight;
  }
  source.addEventListener("log", function (e) { add(e.data, false); });
  source.addEventListener("fail", function (e) { add(e.data, true); });
  source.addEventListener("done", function (e) {
    source.close();
    add("release " + e.data, e.data !== "success");
    setTimeout(function () { window.location.reload(); }, 800);
  });
});
