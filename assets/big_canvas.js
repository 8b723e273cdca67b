// The wall's layout, computed here for the screen it is shown on (layouts/big.py renders every panel
// once; nothing here asks the server). The wall is cut into a CSS grid whose lines this computes:
// - scale: a design px is `u` screen px, u = (a tile's short side / 1080) x (1 + 0.25 per tile row beyond
//   the first): type follows the wall's height in tiles, not its pixel count (a KPI value is 90 design px,
//   so at least 1/12 of a 1080p tile). CSS zoom, so text, charts and the map stay vectors at any size.
// - tiles: ?tiles=CxR (&bezel=px) gives the splicing wall's panel grid; every panel and KPI tile then sits
//   inside one screen, the seams in the gaps. Without it, tiles are guessed (1080 px short side).
// - panels: the map, then as many panel columns as the shape allows; every panel that fits is shown and,
//   when not all fit, the carousel pages (?pages=) share the rest. ?canvas=W:H letterboxes a fixed aspect.
(function () {
  var G = 5, PAD = 4, HEAD = 58, KPI_H = 134, KPI_W = 350, MIN_H = 215, COL_MIN = 460, TILE = 1080;
  var lastKey = null;

  function query() {
    var q = new URLSearchParams(window.location.search);
    var c = /^\s*(\d+(?:\.\d+)?)\s*[:x×]\s*(\d+(?:\.\d+)?)\s*$/.exec(q.get("canvas") || "");
    var t = /^\s*(\d{1,2})\s*[x×*]\s*(\d{1,2})\s*$/i.exec(q.get("tiles") || "");
    var b = parseFloat(q.get("bezel") || "0");
    return {ratio: c && +c[1] > 0 && +c[2] > 0 ? +c[1] / +c[2] : null,
            tiles: t && +t[1] >= 1 && +t[2] >= 1 ? {C: +t[1], R: +t[2]} : null,
            bezel: isFinite(b) && b > 0 ? Math.min(b, 400) : 0};
  }

  // The wall's area on this screen (screen px), its scale and its tiles (design px).
  function geometry(vw, vh, q) {
    var W = vw, H = vh, x = 0, y = 0;
    if (q.ratio) {
      if (vw / vh > q.ratio) { W = vh * q.ratio; x = (vw - W) / 2; } else { H = vw / q.ratio; y = (vh - H) / 2; }
    }
    var tiles = q.ratio ? null : q.tiles, t, rows;
    if (tiles) { t = Math.min(W / tiles.C, H / tiles.R); rows = tiles.R; } else {
      var s0 = Math.min(W, H);
      t = s0 / Math.max(1, Math.floor(s0 / TILE + 0.05));
      rows = Math.max(1, Math.round(H / t));
    }
    var u = Math.min(t / TILE * (1 + 0.25 * (rows - 1)), Math.min(W, H) / TILE);
    u = Math.max(u, 0.25);
    var half = G / 2 + (tiles ? q.bezel / u / 2 : 0);
    return {x: x, y: y, W: W, H: H, u: u, Wd: W / u, Hd: H / u,
            bands: spans(W / u, tiles ? tiles.C : 1, half), rows: spans(H / u, tiles ? tiles.R : 1, half)};
  }

  function spans(total, parts, half) {  // each screen's [start, end] with the seams' gutters left out
    var out = [], w = total / parts;
    for (var i = 0; i < parts; i++) out.push([i * w + (i ? half : PAD), (i + 1) * w - (i < parts - 1 ? half : PAD)]);
    return out;
  }

  // KPI tiles: spread over the screens (tile columns) of the top row, as many per row as fit.
  function kpiRects(kpis, bands, top) {
    var per = [], n = kpis.length, rows = [], block = 0;
    bands.forEach(function (b, i) {
      var k = Math.floor(n / bands.length) + (i < n % bands.length ? 1 : 0);
      var p = Math.max(1, Math.min(k, Math.floor((b[1] - b[0] + G) / (KPI_W + G))));
      var r = k ? Math.ceil(k / p) : 0;
      per.push(k); rows.push(r); block = Math.max(block, r);
    });
    var rects = {}, idx = 0, h = block * KPI_H + (block - 1) * G;
    bands.forEach(function (b, i) {
      var k = per[i], r = rows[i];
      if (!k) return;
      var p = Math.ceil(k / r), rh = (h - (r - 1) * G) / r;
      for (var row = 0; row < r; row++) {
        var inRow = Math.min(p, k - row * p), cw = (b[1] - b[0] - (inRow - 1) * G) / inRow;
        for (var j = 0; j < inRow; j++) {
          var x0 = b[0] + j * (cw + G), y0 = top + row * (rh + G);
          rects[kpis[idx++]] = [x0, y0, x0 + cw, y0 + rh];
        }
      }
    });
    return {rects: rects, height: h};
  }

  // Where the map can go: inside one screen (left, centre, right or all of it, several widths), or over
  // whole screens; portrait walls also put it on top. Columns take what is left.
  function mapOptions(g, segs, body) {
    var out = [], B = g.bands, hb = body[1] - body[0];
    function rest(skip, pieces) {  // column intervals: the other screens whole, plus pieces of this one
      var iv = [];
      B.forEach(function (b, i) { if (skip.indexOf(i) < 0) iv.push({x0: b[0], x1: b[1], segs: segs}); });
      return iv.concat(pieces);
    }
    B.forEach(function (b, i) {
      var bw = b[1] - b[0];
      [0.8, 1.0, 1.2, 1.45, 1.75, 2.1, 2.6].forEach(function (f) {
        var mw = Math.min(bw, f * hb), left = bw - mw;
        if (left > 0 && left < COL_MIN + G) return;
        if (left <= 0) { out.push({map: [b[0], body[0], b[1], body[1]], iv: rest([i], [])}); return; }
        var pos = [["left", 0], ["right", left]];
        if (left >= 2 * (COL_MIN + G)) pos.push(["centre", left / 2]);
        pos.forEach(function (p) {
          var mx = b[0] + p[1], pieces = [];
          if (mx - b[0] > 1) pieces.push({x0: b[0], x1: mx - G, segs: segs});
          if (b[1] - (mx + mw) > 1) pieces.push({x0: mx + mw + G, x1: b[1], segs: segs});
          out.push({map: [mx, body[0], mx + mw, body[1]], iv: rest([i], pieces)});
        });
      });
      if (B.length === 1 && bw < hb * 1.25) {  // portrait: the map on top, columns below
        [0.35, 0.45, 0.55, 0.65].forEach(function (f) {
          var mh = f * hb, below = segs.map(function (s) { return [Math.max(s[0], body[0] + mh + G), s[1]]; })
            .filter(function (s) { return s[1] - s[0] >= MIN_H; });
          if (below.length) out.push({map: [b[0], body[0], b[1], body[0] + mh], iv: [{x0: b[0], x1: b[1], segs: below}]});
        });
      }
    });
    return out;
  }

  // Panel columns in the intervals: stacks (a column's part within one screen row), each holding 1..cap panels.
  function stacksOf(iv, cw, kcap) {
    var st = [];
    for (var i = 0; i < iv.length; i++) {
      var w = iv[i].x1 - iv[i].x0;
      var m = Math.max(1, Math.floor((w + G) / (cw + G))), colw = (w - (m - 1) * G) / m;
      for (var c = 0; c < m; c++) {
        iv[i].segs.forEach(function (s) {
          var cap = Math.min(kcap, Math.max(1, Math.floor((s[1] - s[0] + G) / (MIN_H + G))));
          var x0 = iv[i].x0 + c * (colw + G);
          st.push({x0: x0, x1: x0 + colw, y0: s[0], y1: s[1], cap: cap, n: 0});
        });
      }
    }
    return st;
  }

  function plan(g, kpiKeys, panels, headH) {
    var top = PAD + headH + G, kpi = kpiRects(kpiKeys, g.bands, top), bodyTop = top + kpi.height + G;
    var segs = g.rows.map(function (r) { return [Math.max(r[0], bodyTop), r[1]]; })
      .filter(function (s) { return s[1] - s[0] >= MIN_H; });
    if (!segs.length) segs = [[bodyTop, g.Hd - PAD]];
    var body = [segs[0][0], segs[segs.length - 1][1]], N = panels.length, best = null;
    mapOptions(g, segs, body).forEach(function (opt) {
      var mw = opt.map[2] - opt.map[0], mh = opt.map[3] - opt.map[1];
      var share = mw * mh / ((g.Wd - 2 * PAD) * (body[1] - body[0]));
      var centre = 2 * Math.abs((opt.map[0] + opt.map[2]) / 2 - g.Wd / 2) / g.Wd;  // the map in the middle
      [460, 500, 540, 600, 680, 780, 900, 1040].forEach(function (cw) {
        for (var kcap = 1; kcap <= 5; kcap++) {
          var st = stacksOf(opt.iv, cw, kcap);
          if (!st || !st.length || st.length > N) continue;
          var S = st.reduce(function (a, s) { return a + s.cap; }, 0), T = Math.min(N, S);
          st.forEach(function (s) { s.n = 1; });
          for (var k = st.length; k < T; k++) {  // each further panel where panels stay tallest
            var pick = null;
            st.forEach(function (s) { if (s.n < s.cap && (!pick || (s.y1 - s.y0) / (s.n + 1) > (pick.y1 - pick.y0) / (pick.n + 1))) pick = s; });
            pick.n++;
          }
          var shape = st.reduce(function (a, s) {
            var h = (s.y1 - s.y0 - (s.n - 1) * G) / s.n;
            return a + s.n * Math.abs(Math.log((s.x1 - s.x0) / h / 1.8));
          }, 0) / T;
          var cost = (N - T) + shape + 0.8 * Math.abs(Math.log(mw / mh / 1.25)) + centre +
            8 * Math.max(0, 0.35 - share) + 3 * Math.max(0, share - 0.55);
          if (!best || cost < best.cost - 1e-9) best = {cost: cost, map: opt.map, stacks: st.map(function (s) { return Object.assign({}, s); }), T: T};
        }
      });
    });
    return {cost: best.cost.toFixed(2), kpi: kpi.rects, map: best.map, stacks: best.stacks, T: best.T, head: [PAD, PAD, g.Wd - PAD, PAD + headH]};
  }

  // Which panels each carousel page shows (all of them when they fit), in stack order: the panels every
  // page shows keep their place on the right; a page's own panels take the left.
  function assign(p, panels, pages) {
    var byPrio = panels.slice().sort(function (a, b) { return a.prio - b.prio; }), out = {};
    var lists = {};
    (p.T >= panels.length ? ["*"] : pages).forEach(function (pg) {
      var own = byPrio.filter(function (x) { return pg === "*" || x.pages.indexOf(pg) >= 0; });
      var used = 0;  // a panel of weight 2 or more takes two places of a column
      lists[pg] = own.concat(byPrio.filter(function (x) { return own.indexOf(x) < 0; })).filter(function (x) {
        var c = pg !== "*" && x.weight >= 2 ? 2 : 1;
        if (used + c > p.T) return false;
        used += c;
        return true;
      });
    });
    var keys = Object.keys(lists);
    var fixed = byPrio.filter(function (x) { return keys.every(function (k) { return lists[k].indexOf(x) >= 0; }); });
    var order = p.stacks.map(function (s, i) { return i; }).sort(function (a, b) {  // left to right, top down
      return p.stacks[a].x0 - p.stacks[b].x0 || p.stacks[a].y0 - p.stacks[b].y0; });
    var slots = [];
    order.forEach(function (i) { for (var k = 0; k < p.stacks[i].n; k++) slots.push([i, k]); });
    var fromRight = order.slice().reverse().reduce(function (a, i) {  // the right column first, top down
      return a.concat(slots.filter(function (sl) { return sl[0] === i; })); }, []);
    keys.forEach(function (pg) {
      var moving = lists[pg].filter(function (x) { return fixed.indexOf(x) < 0; });
      var mine = fixed.filter(function (x) { return lists[pg].indexOf(x) >= 0; }), at = [];
      mine.forEach(function (x, j) { at.push([fromRight[j], x]); });
      var free = slots.filter(function (sl) { return fromRight.indexOf(sl) >= mine.length; });
      moving.forEach(function (x, j) { at.push([free[j], x]); });
      var placed = {};
      at.sort(function (a, b) { return a[0][1] - b[0][1]; }).forEach(function (e) {
        (placed[e[0][0]] = placed[e[0][0]] || []).push(e[1]); });
      var rects = {};
      order.forEach(function (i) {
        var s = p.stacks[i], list = placed[i] || [], wsum = 0, y = s.y0;
        list.forEach(function (x) { wsum += x.weight; });
        var free = s.y1 - s.y0 - (list.length - 1) * G;
        list.forEach(function (x) { var h = free * x.weight / wsum; rects[x.id] = [s.x0, y, s.x1, y + h]; y += h + G; });
      });
      out[pg] = rects;
    });
    return out;
  }

  function css(sel, all, Wd, Hd, hidden) {  // grid lines from the rectangles; one rule per element
    var xs = [0, Wd], ys = [0, Hd], r2 = function (v) { return Math.round(v * 100) / 100; };
    Object.keys(all).forEach(function (id) { var r = all[id]; xs.push(r2(r[0]), r2(r[2])); ys.push(r2(r[1]), r2(r[3])); });
    var uniq = function (a) { return a.sort(function (p, q) { return p - q; }).filter(function (v, i) { return !i || v - a[i - 1] > 0.004; }); };
    xs = uniq(xs); ys = uniq(ys);
    var at = function (a, v) { v = r2(v); var b = 0; a.forEach(function (w, i) { if (Math.abs(w - v) < Math.abs(a[b] - v)) b = i; }); return b + 1; };
    var tracks = function (a) { var t = []; for (var i = 1; i < a.length; i++) t.push(r2(a[i] - a[i - 1]) + "px"); return t.join(" "); };
    var out = [sel + "{grid-template-columns:" + tracks(xs) + ";grid-template-rows:" + tracks(ys) + "}"];
    Object.keys(all).forEach(function (id) {
      var r = all[id];
      out.push(sel + " #" + id + "{grid-area:" + at(ys, r[1]) + "/" + at(xs, r[0]) + "/" + at(ys, r[3]) + "/" + at(xs, r[2]) + "}");
    });
    hidden.forEach(function (id) { out.push(sel + " #" + id + "{display:none}"); });
    return out.join("\n");
  }

  function layout() {
    var c = document.getElementById("big-canvas");
    if (!c) return;
    var panels = Array.prototype.map.call(c.querySelectorAll(".panel[data-pages]"), function (el) {
      return {id: el.id, pages: (el.dataset.pages || "").split(" ").filter(Boolean),
              weight: +el.dataset.weight || 1, prio: el.dataset.prio ? +el.dataset.prio : 99};
    });
    var kpis = Array.prototype.map.call(c.querySelectorAll(".kpi[id]"), function (el) { return el.id; });
    var key = [window.innerWidth, window.innerHeight, window.location.search, kpis.join(","),
               panels.map(function (x) { return x.id; }).join(",")].join("|");
    if (key === lastKey || !panels.length) return;
    lastKey = key;
    var q = query(), g = geometry(window.innerWidth, window.innerHeight, q);
    var pages = [];
    panels.forEach(function (x) { x.pages.forEach(function (pg) { if (pages.indexOf(pg) < 0) pages.push(pg); }); });
    var p = plan(g, kpis, panels, HEAD), per = assign(p, panels, pages), rules = [];
    var fixedRects = {"big-header": p.head, "big-panel-map": p.map};
    Object.keys(p.kpi).forEach(function (id) { fixedRects[id] = p.kpi[id]; });
    var fits = !!per["*"];
    (fits ? ["*"] : pages.concat(["all"])).forEach(function (pg) {
      var rects = Object.assign({}, fixedRects, per[pg === "all" ? pages[0] : pg]);
      var hidden = panels.filter(function (x) { return !rects[x.id]; }).map(function (x) { return x.id; });
      rules.push(css(pg === "*" ? "#big-canvas" : "#big-canvas.page-" + pg, rects, g.Wd, g.Hd, hidden));
    });
    var b0 = g.bands[0], bl = g.bands[g.bands.length - 1];
    rules.push("#big-header .title{max-width:" + Math.round(b0[1] - b0[0] - 20) + "px}" +
               "#big-header .header-right{max-width:" + Math.round(bl[1] - bl[0] - 20) + "px}");
    var style = document.getElementById("big-layout-css");
    if (!style) { style = document.createElement("style"); style.id = "big-layout-css"; document.head.appendChild(style); }
    style.textContent = rules.join("\n");
    c.style.width = g.Wd + "px"; c.style.height = g.Hd + "px"; c.style.zoom = g.u;
    c.style.left = g.x / g.u + "px"; c.style.top = g.y / g.u + "px";
    c.dataset.zoom = String(g.u);
    window.__bigWall = {fits: fits, u: g.u, tiles: q.ratio ? null : q.tiles, pages: pages, T: p.T, N: panels.length};
    setTimeout(function () { window.dispatchEvent(new Event("resize")); }, 30);  // plotly sizes to the new boxes
  }
  window.addEventListener("resize", function (e) { if (e.isTrusted) layout(); });
  new MutationObserver(layout).observe(document.documentElement, {childList: true, subtree: true});
  window.bigWallLayout = {query: query, geometry: geometry, plan: plan, assign: assign};
})();

// The alert panel pages through its cards by itself (every alert gets its turn; "2/3" in its title).
(function () {
  setInterval(function () {
    var list = document.getElementById("big-alerts"), ind = document.getElementById("big-alerts-page");
    if (!list) return;
    var cards = list.querySelectorAll(".alert-item"), starts = [0], H = list.clientHeight;
    if (!cards.length || !H) { if (ind) ind.textContent = ""; return; }
    var top0 = cards[0].offsetTop;
    for (var i = 1; i < cards.length; i++) {
      if (cards[i].offsetTop + cards[i].offsetHeight - cards[starts[starts.length - 1]].offsetTop > H) starts.push(i);
    }
    var secs = +list.dataset.pageS || 8, k = Math.floor(Date.now() / 1000 / secs) % starts.length;
    if (list.style.paddingBottom !== H + "px") list.style.paddingBottom = H + "px";  // the last page can scroll to the top
    var want = cards[starts[k]].offsetTop - top0, end = k + 1 < starts.length ? starts[k + 1] : cards.length;
    if (list.scrollTop !== want) list.scrollTop = want;
    // no card half shown: what is below this page's last card is clipped
    var last = cards[end - 1], shown = last.offsetTop + last.offsetHeight - top0 - list.scrollTop;
    var clip = "inset(0 0 " + Math.max(0, H - shown) + "px 0)";
    if (list.style.clipPath !== clip) list.style.clipPath = clip;
    if (ind) ind.textContent = starts.length > 1 ? (k + 1) + "/" + starts.length : "";
  }, 500);
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
      // every panel fits this wall: no carousel unless the URL asks for one (it then turns the map's measure)
      var fits = window.__bigWall && window.__bigWall.fits && !conf.explicit;
      var pages = conf.pages.length && !fits ? conf.pages : ["all"];
      // the page follows the wall clock, so walls showing the same carousel stay in step
      var page = pages[Math.floor(Date.now() / 1000 / conf.interval_s) % pages.length];
      var dots = pages.length > 1 ? pages.map(function (p) {
        return span(conf.names[p] || p, p === page ? "dot on" : "dot");
      }) : [];
      if (conf.reload_hour >= 0 && Date.now() - loadedAt > 3600 * 1000 && localHour(conf.tz) === conf.reload_hour) {
        window.location.reload();  // once a day: the page was loaded more than an hour before this hour
      }
      var offline = Date.now() - lastOk > Math.max(3 * conf.poll_ms, 10000) && downSince !== null;
      return [clock, page === current ? nu : page, page === current && n > 1 ? nu : dots,
              offline ? "wall-overlay" : "wall-overlay hidden"];
    },
    showPage: function (page, cls, measure, conf) {
      var nu = window.dash_clientside.no_update;
      var measures = {all: "density", overview: "density", events: "overdue", safety: "safety_index", cameras: "camera_online_rate", vitals: "vitals"};
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
