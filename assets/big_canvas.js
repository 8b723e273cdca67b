// Scale the big screen's fixed design canvas (1920x1080, or 3840x1080 for 32:9) to the display,
// keeping its aspect ratio and centring it: no scrollbars at 1080p, 4K or 7680x2160.
// CSS zoom (not transform) so plotly measures and draws its geo maps at the zoomed size.
(function () {
  function fit() {
    var c = document.getElementById("big-canvas");
    if (!c) return;
    var w = c.offsetWidth, h = c.offsetHeight;
    var s = Math.min(window.innerWidth / w, window.innerHeight / h);
    if (String(s) === c.dataset.zoom) return;
    c.dataset.zoom = String(s);
    c.style.zoom = s;
    c.style.left = Math.max(0, (window.innerWidth - w * s) / 2 / s) + "px";
    c.style.top = Math.max(0, (window.innerHeight - h * s) / 2 / s) + "px";
    window.dispatchEvent(new Event("resize"));
  }
  window.addEventListener("resize", fit);
  new MutationObserver(fit).observe(document.documentElement, { childList: true, subtree: true });
})();
