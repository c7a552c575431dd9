/* The status page's only script, and only an enhancement: the page reads the same without it.
 *
 * Every <time datetime="…T…Z"> is written in UTC by the server. Where the browser knows the reader's
 * time zone (Intl.DateTimeFormat), this rewrites the text in that zone and language, and keeps the
 * UTC text in a title (shown on hover). Dates without a time (the 90-day bars, the history's months)
 * are UTC days and stay as they are. A promise of the next update that has passed since the page was
 * built shows its "late" note ([data-late-after]), so a page held in a cache does not hide a broken
 * promise. No network, no storage, nothing else.
 */
(function () {
  "use strict";
  if (typeof Intl === "undefined" || !Intl.DateTimeFormat) {
    return;
  }
  // The page's language, in the reader's own variant when the browser names one (en-GB writes 24-hour
  // times, en-US does not).
  var lang = document.documentElement.lang || undefined;
  var preferred = navigator.languages || [navigator.language];
  for (var p = 0; lang && p < preferred.length; p += 1) {
    if (preferred[p] && preferred[p].split("-")[0].toLowerCase() === lang) {
      lang = preferred[p];
      break;
    }
  }
  var format;
  try {
    format = new Intl.DateTimeFormat(lang, {
      day: "numeric",
      month: "short",
      year: "numeric",
      hour: "2-digit",
      minute: "2-digit",
      timeZoneName: "short"
    });
  } catch (error) {
    return;
  }

  function localise() {
    var times = document.querySelectorAll("time[datetime*='T']");
    for (var i = 0; i < times.length; i += 1) {
      var node = times[i];
      var when = new Date(node.getAttribute("datetime"));
      if (isNaN(when.getTime()) || node.hasAttribute("data-utc")) {
        continue;
      }
      var utc = node.textContent;
      node.setAttribute("data-utc", utc);
      node.setAttribute("title", utc);
      node.textContent = format.format(when);
    }
  }

  function revealLate() {
    var notes = document.querySelectorAll("[data-late-after]");
    var now = Date.now();
    for (var i = 0; i < notes.length; i += 1) {
      var due = Date.parse(notes[i].getAttribute("data-late-after"));
      if (!isNaN(due) && now > due) {
        notes[i].hidden = false;
        if (notes[i].parentNode) {
          notes[i].parentNode.classList.add("is-late");
        }
      }
    }
  }

  function run() {
    localise();
    revealLate();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", run);
  } else {
    run();
  }
  window.setInterval(revealLate, 60000);
})();
