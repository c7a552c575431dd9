/* clarion banner: <script src="https://status.example.com/banner.js" data-audience="customers"
   data-locale="en" async></script> (also data-link-label, data-dismiss-label). Reads banner.json
   beside this script; text goes in via textContent only; dismissals are kept per id + revision. */
(function () {
  "use strict";
  var me = document.currentScript;
  if (!me || !window.fetch) return;
  var attr = function (n) { return me.getAttribute("data-" + n); };
  var url = new URL("banner.json", me.src);
  if (attr("audience")) url.searchParams.set("audience", attr("audience"));
  if (attr("locale")) url.searchParams.set("locale", attr("locale"));
  var KEY = "clarion-banner-dismissed:";
  var COLORS = { sev1: "#b42318", sev2: "#b54708" };
  var bar = null, shown = "";

  function store(op, k, v) {
    try { return op === "get" ? localStorage.getItem(KEY + k) : localStorage.setItem(KEY + k, v); }
    catch (e) { return null; }
  }
  function el(tag, css) {
    var e = document.createElement(tag);
    if (css) e.setAttribute("style", css);
    return e;
  }
  function hide() { if (bar) bar.remove(); bar = null; shown = ""; }

  function show(b) {
    var id = b.id + ":" + b.revision;
    if (id === shown) return;
    hide();
    shown = id;
    bar = el("div", "position:fixed;left:0;right:0;top:0;z-index:2147483647;padding:10px 44px 10px 16px;" +
      "font:14px/1.4 system-ui,sans-serif;color:#fff;background:" + (COLORS[b.severity] || "#1d2939"));
    bar.setAttribute("role", "status");
    bar.setAttribute("data-severity", String(b.severity));
    var text = el("span");
    text.textContent = String(b.text);
    bar.appendChild(text);
    if (/^https?:\/\//i.test(b.link || "")) {
      var a = el("a", "color:inherit;margin-left:8px;text-decoration:underline");
      a.setAttribute("href", b.link);
      a.setAttribute("rel", "noopener noreferrer");
      a.setAttribute("target", "_blank");
      a.textContent = attr("link-label") || "Details";
      bar.appendChild(a);
    }
    var x = el("button", "position:absolute;right:8px;top:6px;border:0;background:none;color:inherit;" +
      "font-size:20px;cursor:pointer");
    x.setAttribute("type", "button");
    x.setAttribute("aria-label", attr("dismiss-label") || "Dismiss");
    x.textContent = "\u00d7";
    x.addEventListener("click", function () { store("set", b.id, String(b.revision)); hide(); });
    bar.appendChild(x);
    document.body.appendChild(bar);
  }

  function poll() {
    // "no-cache": the browser revalidates with If-None-Match itself (304: no body; no preflight)
    fetch(url.href, { cache: "no-cache", credentials: "omit" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (doc) {
        if (!doc || !doc.banners) return;
        var next = doc.banners.filter(function (b) {
          return store("get", b.id) !== String(b.revision);
        })[0];
        if (next) show(next); else hide();
      })
      .catch(function () {});
  }

  function start() { poll(); setInterval(poll, 60000); }
  if (document.body) start(); else document.addEventListener("DOMContentLoaded", start);
})();
