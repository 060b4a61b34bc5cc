/* steerlens views: frame scrubbers, sortable/filterable case tables, lazy images, case viewer.
   Shared by the self-contained report and the web app (which re-runs init on htmx swaps).
   No network access: everything reads the page's own DOM. */
(function () {
  "use strict";
  var PAGE = 200;

  function fmt(x) { return (Math.round(x * 1000) / 1000).toFixed(3); }

  /* ---------------------------------------------------------------- morph scrubbing */
  function setFrame(morph, k) {
    var n = parseInt(morph.dataset.n, 10);
    k = Math.max(0, Math.min(n - 1, k));
    morph.dataset.frame = String(k);
    var frame = morph.querySelector(".frame");
    if (frame) {
      // the sprite is a grid: frame k at column k % cols, row k / cols (one row: cols = n)
      var cols = parseInt(morph.dataset.cols, 10) || n, rows = Math.ceil(n / cols);
      var col = k % cols, row = Math.floor(k / cols);
      frame.style.backgroundPosition = (cols > 1 ? (100 * col / (cols - 1)) : 0) + "% " +
        (rows > 1 ? (100 * row / (rows - 1)) : 0) + "%";
      frame.dataset.k = String(k);
    }
    var data = morph._frames || (morph._frames = JSON.parse(morph.dataset.frames || "[]"));
    var row = data[k];
    var label = morph.querySelector(".frame-label");
    if (label && row) {
      label.querySelector(".k").textContent = String(row[3]);
      label.querySelector(".pt").textContent = fmt(row[0]);
      label.querySelector(".top1").textContent = row[1];
      label.querySelector(".l2").textContent = fmt(row[2]);
    }
    var svg = morph.querySelector("svg.curves");
    if (svg) {
      var xs = svg.dataset.xs.split(",");
      var marker = svg.querySelector(".marker");
      marker.setAttribute("x1", xs[k]);
      marker.setAttribute("x2", xs[k]);
    }
    morph.querySelectorAll("tr[data-k]").forEach(function (tr) {
      tr.classList.toggle("current", tr.dataset.k === String(k));
    });
  }

  function initGroup(group) {
    if (group.dataset.ready) return;
    group.dataset.ready = "1";
    var slider = group.querySelector(".slider");
    var play = group.querySelector(".play");
    var members = group.classList.contains("morph") ? [group] :
      Array.prototype.slice.call(group.querySelectorAll(".morph"));
    var max = parseInt(slider.max, 10);
    function show(v) {
      members.forEach(function (m) {
        var n = parseInt(m.dataset.n, 10);
        setFrame(m, max > 0 ? Math.round(v * (n - 1) / max) : 0);
      });
      group.dataset.frame = String(v);
    }
    slider.addEventListener("input", function () { show(parseInt(slider.value, 10)); });
    var timer = null;
    play.addEventListener("click", function () {
      if (timer) {
        clearInterval(timer); timer = null;
        play.textContent = "▶"; play.setAttribute("aria-label", "play"); group.dataset.playing = "";
        return;
      }
      play.textContent = "❚❚"; play.setAttribute("aria-label", "pause"); group.dataset.playing = "1";
      timer = setInterval(function () {
        if (!document.body.contains(group)) { clearInterval(timer); timer = null; return; }
        var v = (parseInt(slider.value, 10) + 1) % (max + 1);
        slider.value = String(v);
        show(v);
      }, 350);
    });
    show(parseInt(slider.value, 10) || 0);
  }

  /* ---------------------------------------------------------------- lazy images */
  var observer = ("IntersectionObserver" in window) ? new IntersectionObserver(function (entries) {
    entries.forEach(function (e) {
      if (e.isIntersecting) { load(e.target); observer.unobserve(e.target); }
    });
  }, { rootMargin: "200px" }) : null;

  function load(img) {
    if (img.dataset.src) { img.src = img.dataset.src; img.removeAttribute("data-src"); }
  }

  function lazy(root) {
    root.querySelectorAll("img[data-src]").forEach(function (img) {
      if (observer) observer.observe(img); else load(img);
    });
  }

  /* ---------------------------------------------------------------- case tables */
  function initTable(view) {
    if (view.dataset.ready) return;
    view.dataset.ready = "1";
    var table = view.querySelector("table.cases");
    if (!table) return;
    var tbody = table.tBodies[0];
    var rows = Array.prototype.slice.call(tbody.rows);
    rows.forEach(function (tr) { tr._text = tr.textContent.toLowerCase(); });
    var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
    var col = function (key) {
      for (var i = 0; i < heads.length; i++) if (heads[i].dataset.key === key) return i;
      return -1;
    };
    var methodCol = col("method"), successCol = col("driver_success");
    var filter = view.querySelector(".filter");
    var method = view.querySelector(".method-filter");
    var success = view.querySelector(".success-only");
    var count = view.querySelector(".count");
    var more = view.querySelector(".more");
    var limit = PAGE;

    function apply() {
      var words = (filter && filter.value || "").toLowerCase().split(/\s+/).filter(Boolean);
      var m = method ? method.value : "";
      var shown = 0, matched = 0;
      rows.forEach(function (tr) {
        var ok = words.every(function (w) { return tr._text.indexOf(w) >= 0; });
        if (ok && m && methodCol >= 0) ok = tr.cells[methodCol].textContent === m;
        if (ok && success && success.checked && successCol >= 0) ok = tr.cells[successCol].dataset.v === "1";
        if (ok) matched++;
        var visible = ok && shown < limit;
        if (visible) shown++;
        tr.hidden = !visible;
      });
      view.dataset.matched = String(matched);
      view.dataset.shown = String(shown);
      if (count) count.textContent = shown + " shown, " + matched + " of " + rows.length + " match";
      if (more) more.hidden = shown >= matched;
      lazy(tbody);
    }

    heads.forEach(function (th, i) {
      var btn = th.querySelector("button.sort");
      if (!btn) return;
      btn.addEventListener("click", function () {
        var asc = th.getAttribute("aria-sort") !== "ascending";
        heads.forEach(function (h) { if (h.hasAttribute("aria-sort")) h.setAttribute("aria-sort", "none"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var num = th.dataset.kind !== "text";
        rows.sort(function (a, b) {
          var x = a.cells[i].dataset.v, y = b.cells[i].dataset.v;
          var c;
          if (num) {
            var fx = x === "" ? NaN : parseFloat(x), fy = y === "" ? NaN : parseFloat(y);
            if (isNaN(fx) && isNaN(fy)) c = 0; else if (isNaN(fx)) return 1; else if (isNaN(fy)) return -1;
            else c = fx - fy;
          } else c = x < y ? -1 : x > y ? 1 : 0;
          return asc ? c : -c;
        });
        var frag = document.createDocumentFragment();
        rows.forEach(function (tr) { frag.appendChild(tr); });
        tbody.appendChild(frag);
        apply();
      });
    });
    [filter, method, success].forEach(function (el) {
      if (el) el.addEventListener("input", function () { limit = PAGE; apply(); });
    });
    if (more) more.addEventListener("click", function () { limit += PAGE; apply(); });

    var viewer = view.querySelector(".viewer");
    tbody.addEventListener("click", function (ev) {
      var tr = ev.target.closest("tr[data-case]");
      if (!tr || !viewer) return;
      var tpl = document.getElementById("tpl-" + tr.dataset.case);
      if (!tpl) return;
      var body = viewer.querySelector(".viewer-body");
      body.innerHTML = "";
      body.appendChild(tpl.content.cloneNode(true));
      viewer.hidden = false;
      viewer.dataset.case = tr.dataset.case;
      init(body);
      viewer.scrollIntoView({ block: "nearest" });
    });
    if (viewer) viewer.querySelector(".close").addEventListener("click", function () {
      viewer.hidden = true;
      viewer.querySelector(".viewer-body").innerHTML = "";
    });
    apply();
  }

  /* ---------------------------------------------------------------- entry point */
  function initArrows(box) {
    if (box.dataset.ready) return;
    box.dataset.ready = "1";
    box.addEventListener("change", function () {
      var frame = box.closest(".morph").querySelector(".frame");
      frame.classList.toggle("no-arrows", !box.checked);
    });
  }

  function init(root) {
    root = root || document;
    root.querySelectorAll("input.show-arrows").forEach(initArrows);
    root.querySelectorAll(".scrub-group").forEach(initGroup);
    root.querySelectorAll(".table-view").forEach(initTable);
    lazy(root);
  }

  window.steerlens = { init: init, setFrame: setFrame };
  if (window.htmx) window.htmx.onLoad(function (el) { init(el); });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { init(document); });
  } else {
    init(document);
  }
})();
