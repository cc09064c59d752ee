/* Filters and the detail panel of matrix.html. The rules for what a cell shows mirror
   compat/cells.py (aggregate, cell_view); categories and best strategies arrive precomputed. */
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("matrix-data").textContent);
  var S = DATA.strings;
  var CATS = DATA.categories.map(function (c) { return c.id; });
  var NOT_TRIED = CATS.indexOf("not_tried");
  var WRONG = CATS.indexOf("wrong_numbers");
  var WORKING = DATA.working.map(function (id) { return CATS.indexOf(id); });
  // A fixture row: [producer, consumer, fixture, variant, format, category, best, corrupt, attempts]
  var F = { P: 0, C: 1, ID: 2, V: 3, FMT: 4, CAT: 5, BEST: 6, CORRUPT: 7, ATTEMPTS: 8 };
  var state = { variant: "", format: "" };
  var byPair = {};
  DATA.fixtures.forEach(function (f) {
    var key = f[F.P] + ":" + f[F.C];
    (byPair[key] = byPair[key] || []).push(f);
  });

  function matches(f) {
    return (!state.variant || DATA.variants[f[F.V]] === state.variant) &&
      (!state.format || DATA.formats[f[F.FMT]] === state.format);
  }

  function headline(counts) {
    var best = NOT_TRIED, bestCount = 0;
    for (var i = 0; i < CATS.length; i++) {
      if (i === NOT_TRIED || counts[i] === 0) continue;
      if (counts[i] >= bestCount) { best = i; bestCount = counts[i]; } // ties go to the worse category
    }
    return best;
  }

  function mostCommonBest(list) {
    var tally = {}, best = -1, bestCount = 0;
    list.forEach(function (f) { if (f[F.BEST] >= 0) tally[f[F.BEST]] = (tally[f[F.BEST]] || 0) + 1; });
    for (var i = 0; i < DATA.strategies.length; i++) {
      if ((tally[i] || 0) > bestCount) { best = i; bestCount = tally[i]; } // ties go to the preferred strategy
    }
    return best;
  }

  function aggregate(list) {
    var counts = CATS.map(function () { return 0; });
    var corrupt = false;
    list.forEach(function (f) { counts[f[F.CAT]] += 1; corrupt = corrupt || f[F.CORRUPT] === 1; });
    var working = WORKING.reduce(function (sum, i) { return sum + counts[i]; }, 0);
    return { counts: counts, total: list.length, tried: list.length - counts[NOT_TRIED], working: working,
      category: headline(counts), best: mostCommonBest(list),
      flag: counts[WRONG] ? "wrong" : (corrupt ? "mismatch" : "") };
  }

  function cellView(agg, hasData) {
    var best = "", count;
    if (!hasData) count = "not run";
    else if (agg.total === 0) count = "no fixture";
    else if (agg.tried === 0) count = "not tried";
    else {
      best = agg.best >= 0 ? DATA.strategies[agg.best] : "none works";
      count = agg.total === 1 ? DATA.categories[agg.category].short : agg.working + "/" + agg.tried + " work";
    }
    return { category: hasData && agg.total ? CATS[agg.category] : "empty", best: best, count: count, flag: agg.flag,
      works: agg.best >= 0 };
  }

  function updateCell(button) {
    var pair = byPair[button.dataset.p + ":" + button.dataset.c] || [];
    var agg = aggregate(pair.filter(matches));
    var view = cellView(agg, pair.length > 0);
    button.className = "cell cat-" + view.category + (view.flag ? " flag-" + view.flag : "");
    button.querySelector(".best").textContent = view.best;
    button.querySelector(".count").textContent = view.count;
    var segments = button.querySelectorAll(".bar i");
    for (var i = 0; i < segments.length; i++) {
      segments[i].style.width = agg.total ? (100 * agg.counts[i] / agg.total).toFixed(2) + "%" : "0.00%";
    }
    var flag = button.querySelector(".flag");
    flag.textContent = view.flag === "wrong" ? "\u26a0" : (view.flag ? "!" : "");
    flag.title = view.flag ? DATA.flags[view.flag] : "";
    var producer = DATA.producers[button.dataset.p], consumer = DATA.consumers[button.dataset.c];
    button.setAttribute("aria-label", consumer + " loading models made by " + producer + ": " + view.count +
      (view.works ? ", best strategy " + view.best : "") + (view.flag ? ", warning: " + DATA.flags[view.flag] : ""));
  }

  function update() {
    document.querySelectorAll("#matrix button.cell").forEach(updateCell);
    var selected = DATA.fixtures.filter(matches);
    var counts = aggregate(selected).counts;
    CATS.forEach(function (id, i) { document.querySelector('[data-count="' + id + '"]').textContent = counts[i]; });
    var words = [state.variant, state.format].filter(Boolean).join(" + ");
    document.getElementById("filter-note").textContent =
      (words ? words + ": " : "all ") + selected.length + " fixture load" + (selected.length === 1 ? "" : "s");
    document.getElementById("filter-variant").value = state.variant;
    document.getElementById("filter-format").value = state.format;
    var facenet = document.getElementById("filter-facenet");
    facenet.classList.toggle("active", state.variant === facenet.dataset.variant && state.format === facenet.dataset.format);
    var hash = words ? "#variant=" + encodeURIComponent(state.variant) + "&format=" + encodeURIComponent(state.format) : "";
    if (location.hash !== hash) history.replaceState(null, "", hash || location.pathname + location.search);
  }

  function setFilter(variant, format) {
    state.variant = DATA.variants.indexOf(variant) >= 0 ? variant : "";
    state.format = DATA.formats.indexOf(format) >= 0 ? format : "";
    update();
  }

  // -- detail panel ----------------------------------------------------------------------
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") node.textContent = attrs[key];
      else node.setAttribute(key, attrs[key]);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  function str(index) { return index === null || index === undefined ? "" : S[index]; }

  function number(value, kind) {
    if (value === null || value === undefined) return "";
    if (kind === "diff") return value === 0 ? "0" : value.toExponential(2);
    if (kind === "cos") return value.toFixed(8);
    return value.toFixed(2) + " s";
  }

  function copyText(text, button) {
    var done = function () {
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = "Copy"; }, 1500);
    };
    var fallback = function () {
      // The dialog is modal, so the helper textarea must live inside it to be selectable.
      var area = el("textarea", { readonly: "", style: "position:fixed;opacity:0;top:0;left:0" });
      area.value = text;
      button.parentNode.appendChild(area);
      area.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      area.remove();
      if (ok) done(); else button.textContent = "Select the text to copy";
    };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done, fallback);
    else fallback();
  }

  function chip(category) {
    var c = DATA.categories[category];
    return el("span", { "class": "chip" }, [el("span", { "class": "swatch cat-" + c.id }), el("span", { text: c.label })]);
  }

  var VERDICT_WORDS = { pass: "pass", mismatch: "WRONG NUMBERS", error: "error", crash: "crash",
    timeout: "timeout", not_applicable: "n/a" };

  // An attempt row: [strategy, verdict, message, type, code ran, load s, predict s, max |diff|, cosine, recipe]
  var A = { S: 0, VERDICT: 1, MSG: 2, TYPE: 3, CODE: 4, LOAD: 5, PREDICT: 6, DIFF: 7, COS: 8, RECIPE: 9 };

  function attemptRow(a) {
    var verdict = DATA.verdicts[a[A.VERDICT]] || str(a[A.VERDICT]);
    var type = str(a[A.TYPE]), message = str(a[A.MSG]);
    var code = a[A.CODE] === 1 ? "at load" : (a[A.CODE] === 2 ? "at call" : (a[A.CODE] === 0 ? "no" : ""));
    return el("tr", {}, [
      el("th", { scope: "row" }, [el("code", { text: DATA.strategies[a[A.S]] })]),
      el("td", {}, [el("span", { "class": "v-" + verdict, text: VERDICT_WORDS[verdict] || verdict })]),
      el("td", { "class": "msg" }, [type ? el("code", { text: type + (message ? ": " : "") }) : null,
        document.createTextNode(message)]),
      el("td", { "class": "num", text: number(a[A.DIFF], "diff") }),
      el("td", { "class": "num", text: number(a[A.COS], "cos") }),
      el("td", { "class": "num", text: number(a[A.LOAD], "s") }),
      el("td", { "class": "num", text: number(a[A.PREDICT], "s") }),
      el("td", { "class": "num" + (a[A.CODE] === 1 ? " sec-ran" : (a[A.CODE] === 2 ? " sec-ran-call" : "")), text: code }),
    ]);
  }

  function recipeBlock(a) {
    var text = str(a[A.RECIPE]);
    var button = el("button", { type: "button", "class": "btn copy", text: "Copy" });
    button.addEventListener("click", function () { copyText(text, button); });
    return el("div", { "class": "recipe" }, [
      el("div", { "class": "recipe-head" }, [el("span", { text: "Recipe: " + DATA.strategies[a[A.S]] }), button]),
      el("pre", {}, [el("code", { text: text })]),
    ]);
  }

  function fixtureBlock(f) {
    var attempts = f[F.ATTEMPTS];
    var best = f[F.BEST] >= 0 ? "best: " + DATA.strategies[f[F.BEST]] : "";
    var head = ["strategy", "verdict", "error or reason", "max |diff|", "cosine", "load", "predict", "code ran"];
    var table = el("table", { "class": "plain attempts" }, [
      el("thead", {}, [el("tr", {}, head.map(function (h) { return el("th", { scope: "col", text: h }); }))]),
      el("tbody", {}, attempts.map(attemptRow)),
    ]);
    var recipes = attempts.filter(function (a) { return a[A.RECIPE] !== null && a[A.RECIPE] !== undefined; }).map(recipeBlock);
    return el("section", { "class": "fixture" }, [
      el("h3", {}, [el("code", { text: str(f[F.ID]) }), chip(f[F.CAT]), best ? el("span", { "class": "best-note", text: best }) : null])
    ].concat([table], recipes));
  }

  var dialog = document.getElementById("detail");
  var lastCell = null;

  function openDetail(button) {
    var pair = byPair[button.dataset.p + ":" + button.dataset.c] || [];
    if (!pair.length) return;
    var selected = pair.filter(matches);
    var body = document.getElementById("detail-body");
    body.textContent = "";
    document.getElementById("detail-title").textContent = DATA.consumers[button.dataset.c] +
      " loading models saved by " + DATA.producers[button.dataset.p];
    var words = [state.variant, state.format].filter(Boolean).join(" + ");
    var note = selected.length ? (words ? "Filter " + words + ": " : "All ") + selected.length + " of " + pair.length + " fixtures."
      : "No fixture matches the filter " + words + "; showing all " + pair.length + ".";
    body.appendChild(el("p", { "class": "hint", text: note }));
    (selected.length ? selected : pair).forEach(function (f) { body.appendChild(fixtureBlock(f)); });
    lastCell = button;
    if (typeof dialog.showModal === "function") dialog.showModal(); else dialog.setAttribute("open", "");
    document.getElementById("detail-close").focus();
  }

  document.getElementById("detail-close").addEventListener("click", function () { dialog.close(); });
  dialog.addEventListener("close", function () { if (lastCell) lastCell.focus(); });
  dialog.addEventListener("click", function (event) { if (event.target === dialog) dialog.close(); });
  document.getElementById("matrix").addEventListener("click", function (event) {
    var button = event.target.closest("button.cell");
    if (button) openDetail(button);
  });
  document.getElementById("filter-variant").addEventListener("change", function (event) {
    setFilter(event.target.value, state.format);
  });
  document.getElementById("filter-format").addEventListener("change", function (event) {
    setFilter(state.variant, event.target.value);
  });
  document.getElementById("filter-facenet").addEventListener("click", function (event) {
    setFilter(event.currentTarget.dataset.variant, event.currentTarget.dataset.format);
  });
  document.getElementById("filter-reset").addEventListener("click", function () { setFilter("", ""); });

  var params = new URLSearchParams(location.hash.slice(1));
  if (params.get("variant") || params.get("format")) setFilter(params.get("variant") || "", params.get("format") || "");
})();
