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

// The wall's own clock, carousel, daily reload and connection watchdog. They run in the browser, so
// they keep going while the server is down; the watchdog shows a waiting overlay when the server has
// not answered for a while and reloads the page once it answers again (a clean rebuild after a restart).
(function () {
  var loadedAt = Date.now();
  var lastOk = Date.now(), downSince = null;
  var realFetch = window.fetch;
  window.fetch = function (input) {
    var url = String(input && input.url ? input.url : input);
    var isDash = url.indexOf("/_dash-update-component") !== -1;
    var p = realFetch.apply(this, arguments);
    if (!isDash || !document.getElementById("big-canvas")) return p;
    return p.then(function (resp) {
      if (resp.ok || resp.status === 204) {
        if (downSince !== null && Date.now() - downSince > 20000) window.location.reload();
        lastOk = Date.now(); downSince = null;
      } else if (resp.status >= 500 && downSince === null) { downSince = Date.now(); }
      return resp;
    }, function (err) {
      if (downSince === null) downSince = Date.now();
      throw err;
    });
  };

  function span(text, cls) {
    return {type: "Span", namespace: "dash_html_components", props: {children: text, className: cls}};
  }
  function localHour(tz) {
    return Number(new Date().toLocaleString("en-GB", {hour: "2-digit", hour12: false, timeZone: tz}));
  }
  var shownPage = null;
  window.dash_clientside = Object.assign({}, window.dash_clientside, {bigWall: {
    tick: function (n, conf, current) {
      var nu = window.dash_clientside.no_update;
      conf = conf || {pages: [], interval_s: 30, reload_hour: -1, tz: "Asia/Shanghai", names: {}, poll_ms: 2000};
      var clock = new Date().toLocaleString("zh-CN", {hour12: false, timeZone: conf.tz});
      var pages = conf.pages.length ? conf.pages : ["all"];
      // the page follows the wall clock, so walls showing the same carousel stay in step
      var page = pages[Math.floor(Date.now() / 1000 / conf.interval_s) % pages.length];
      var dots = conf.pages.length > 1 ? conf.pages.map(function (p) {
        return span(conf.names[p] || p, p === page ? "dot on" : "dot");
      }) : nu;
      if (conf.reload_hour >= 0 && Date.now() - loadedAt > 3600 * 1000 && localHour(conf.tz) === conf.reload_hour) {
        window.location.reload();  // once a day: the page was loaded more than an hour before this hour
      }
      var offline = Date.now() - lastOk > Math.max(3 * conf.poll_ms, 10000) && downSince !== null;
      return [clock, page === current ? nu : page, page === current && n > 1 ? nu : dots,
              offline ? "wall-overlay" : "wall-overlay hidden"];
    },
    showPage: function (page, cls, measure, conf) {
      var nu = window.dash_clientside.no_update;
      var measures = {overview: "density", events: "overdue", safety: "safety_index", cameras: "camera_online_rate"};
      var keep = shownPage === null && conf && conf.measure_pinned;  // ?measure= holds on the first page
      shownPage = page;
      var next = (cls || "big-canvas").replace(/\s*page-\S+/g, "") + " page-" + page;
      setTimeout(function () { window.dispatchEvent(new Event("resize")); }, 50);  // newly shown graphs size
      return [next === cls ? nu : next, keep || !measures[page] || measures[page] === measure ? nu : measures[page]];
    },
    markAlerted: function (data) {
      window.__bigAlerted = data || {};
      return window.dash_clientside.no_update;
    }
  }});

  // Alerted regions flash on the map (plotly redraws paths on updates, so re-mark them every second).
  setInterval(function () {
    var alerted = window.__bigAlerted || {};
    document.querySelectorAll("#big-map .choroplethlocation").forEach(function (p) {
      var lvl = p.__data__ && alerted[p.__data__.loc];
      p.classList.toggle("flash-red", lvl === "red");
      p.classList.toggle("flash-amber", lvl === "amber");
    });
  }, 1000);
})();
