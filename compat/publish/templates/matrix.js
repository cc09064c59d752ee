/* Filters, answer panels and the upgrade view of matrix.html. Every rule (what a cell says,
   a column's rate, a fixture's category and best strategy, an error's family, what an
   upgrade does to a fixture) was applied in Python (compat/publish/cells.py, compat/publish/upgrade.py,
   compat/records/families.py; packed by compat/publish/pagedata.py). This script reads those fields by name
   and lays them out; the URL's hash holds what is shown, so every answer is a link. */
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("matrix-data").textContent);
  var S = DATA.strings, L = DATA.loads, O = DATA.outcomes, M = DATA.measured, U = DATA.upgrade;
  var state = { variant: "", format: "", cell: null, upgrade: null };

  function str(index) { return index === null || index === undefined ? "" : S[index]; }
  // A load's outcomes: row indices packed as fixed-width base-36 numbers (pagedata.pack_indices).
  var outcomeLists = {};
  function outcomesOf(load) {
    if (!(load in outcomeLists)) {
      var text = L.outcomes.lists[load], width = L.outcomes.width, found = [];
      for (var i = 0; i < text.length; i += width) found.push(parseInt(text.substr(i, width), 36));
      outcomeLists[load] = found;
    }
    return outcomeLists[load];
  }
  // A recipe is stored once per template, its path lines blanked; the outcome keeps its paths.
  function recipe(o) {
    var text = str(O.recipe[o]), values = O.paths[o] === null ? [] : str(O.paths[o]).split("\n"), i = 0;
    return text.replace(/^(MODEL_PATH|WEIGHTS_PATH) = "\.\.\."$/mg, function (line, name) {
      return i < values.length ? name + " = " + values[i++] : line;
    });
  }
  function strategyName(index) { return typeof index === "number" && DATA.strategies[index] ? DATA.strategies[index].name : str(index); }

  // Loads by (consumer, producer, fixture) and by cell, built once.
  var loadIndex = {}, byPair = {};
  L.fixture.forEach(function (fixture, i) {
    loadIndex[L.consumer[i] + ":" + L.producer[i] + ":" + S[fixture]] = i;
    var key = L.producer[i] + ":" + L.consumer[i];
    (byPair[key] = byPair[key] || []).push(i);
  });
  var numbersIndex = null;
  function numbers(load, strategy) {
    if (numbersIndex === null) {
      numbersIndex = {};
      var row = 0;  // the rows are stored load by load, M.counts[load] of them each
      M.counts.forEach(function (count, l) {
        for (var k = 0; k < count; k++, row++) numbersIndex[l + ":" + M.strategy[row]] = row;
      });
    }
    var i = numbersIndex[load + ":" + strategy];
    return i === undefined ? {} : { diff: M.max_abs_diff[i], cos: M.cosine[i], load: M.load_seconds[i], predict: M.predict_seconds[i] };
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") node.textContent = attrs[key];
      else node.setAttribute(key, attrs[key]);
    });
    (children || []).forEach(function (child) {
      if (child) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function matches(load) {
    return (!state.variant || DATA.variants[L.variant[load]] === state.variant) &&
      (!state.format || DATA.formats[L.format[load]] === state.format);
  }

  // -- the URL ---------------------------------------------------------------------------
  function hashOf(s) {
    var parts = [];
    if (s.variant) parts.push("variant=" + encodeURIComponent(s.variant));
    if (s.format) parts.push("format=" + encodeURIComponent(s.format));
    if (s.cell) parts.push("cell=" + DATA.producers[s.cell[0]] + "," + DATA.consumers[s.cell[1]]);
    if (s.upgrade) parts.push("upgrade=" + DATA.consumers[s.upgrade[0]] + "," + DATA.consumers[s.upgrade[1]]);
    return parts.length ? "#" + parts.join("&") : "";
  }

  function writeHash() {
    var hash = hashOf(state);
    if (location.hash !== hash) history.replaceState(null, "", hash || location.pathname + location.search);
  }

  function readHash() {
    var params = new URLSearchParams(location.hash.slice(1));
    var pair = function (name, first, second) {
      var ids = (params.get(name) || "").split(",");
      var a = first.indexOf(ids[0]), b = second.indexOf(ids[1]);
      return ids.length === 2 && a >= 0 && b >= 0 ? [a, b] : null;
    };
    var variant = params.get("variant") || "", format = params.get("format") || "";
    state.variant = DATA.variants.indexOf(variant) >= 0 ? variant : "";
    state.format = DATA.formats.indexOf(format) >= 0 ? format : "";
    state.cell = pair("cell", DATA.producers, DATA.consumers);
    state.upgrade = pair("upgrade", DATA.consumers, DATA.consumers);
    if (state.upgrade && state.upgrade[0] === state.upgrade[1]) state.upgrade = null;
    show();
  }

  // -- the grid --------------------------------------------------------------------------
  var buttons = Array.prototype.slice.call(document.querySelectorAll("#matrix button.cell"));
  var nConsumers = DATA.consumers.length;

  function layOutCell(button, view) {
    var producer = DATA.producers[button.dataset.p], consumer = DATA.consumers[button.dataset.c];
    button.className = "cell cat-" + view.category + (view.flag ? " flag-" + view.flag : "");
    button.querySelector(".mark").textContent = view.mark;
    button.querySelector(".best").textContent = view.short;
    button.querySelector(".count").textContent = view.count;
    button.title = view.best;
    var segments = button.querySelectorAll(".bar i");
    for (var i = 0; i < segments.length; i++) segments[i].style.width = view.bar[DATA.categories[i].id];
    var flag = button.querySelector(".flag");
    flag.textContent = view.flag_mark;
    flag.title = view.flag_title;
    button.setAttribute("aria-label", consumer + " loading models made by " + producer + ": " + view.says);
  }

  function layOutFilter() {
    var filter = DATA.filters[state.variant + "/" + state.format];
    buttons.forEach(function (button) {
      layOutCell(button, DATA.views[filter.cells[button.dataset.p * nConsumers + +button.dataset.c]]);
    });
    document.querySelectorAll("#matrix [data-head]").forEach(function (node) {
      var head = DATA.heads[filter.heads[node.dataset.head]];
      node.textContent = head.rate;
      node.title = head.title;
    });
    DATA.categories.forEach(function (c) {
      document.querySelector('[data-count="' + c.id + '"]').textContent = filter.counts[c.id];
    });
    document.getElementById("filter-note").textContent = filter.note;
    document.getElementById("filter-variant").value = state.variant;
    document.getElementById("filter-format").value = state.format;
    var facenet = document.getElementById("filter-facenet");
    facenet.classList.toggle("active", state.variant === facenet.dataset.variant && state.format === facenet.dataset.format);
  }

  // Arrow keys move between cells; one cell at a time is in the tab order.
  var focused = buttons[0];
  function setFocusable(button) {
    if (focused) focused.tabIndex = -1;
    focused = button;
    button.tabIndex = 0;
  }
  if (focused) focused.tabIndex = 0;
  document.getElementById("matrix").addEventListener("keydown", function (event) {
    var button = event.target.closest("button.cell");
    if (!button) return;
    var p = +button.dataset.p, c = +button.dataset.c;
    var moves = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] };
    var move = moves[event.key];
    if (event.key === "Home") move = [0, -c];
    if (event.key === "End") move = [0, nConsumers - 1 - c];
    if (!move) return;
    var next = document.querySelector('#matrix button.cell[data-p="' + (p + move[0]) + '"][data-c="' + (c + move[1]) + '"]');
    if (next) { setFocusable(next); next.focus(); }
    event.preventDefault();
  });

  // -- answer panels -----------------------------------------------------------------------
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

  function recipeBlock(title, text) {
    var button = el("button", { type: "button", "class": "btn copy", text: "Copy" });
    button.addEventListener("click", function () { copyText(text, button); });
    return el("div", { "class": "recipe" }, [
      el("div", { "class": "recipe-head" }, [el("span", { text: title }), button]),
      el("pre", {}, [el("code", { text: text })]),
    ]);
  }

  function chip(category) {
    var c = DATA.categories[category];
    return el("span", { "class": "chip cat-" + c.id }, [el("span", { "class": "mark", "aria-hidden": "true", text: c.mark }), c.label]);
  }

  function familyNote(outcome) {
    var id = O.family[outcome];
    if (O.verdict[outcome] !== "error") return null;
    if (!id) return el("div", { "class": "family unknown", text: "no known failure family: the raw message is all there is" });
    var f = DATA.families[id];
    return el("div", { "class": "family", title: f.cause + ". What to do: " + f.action + "." }, ["\u2192 ", el("b", { text: f.label })]);
  }

  function errorText(outcome) {
    var type = str(O.type[outcome]), message = str(O.message[outcome]);
    return (type ? type + (message ? ": " : "") : "") + message;
  }

  function number(value, kind) {
    if (value === null || value === undefined) return "";
    if (kind === "diff") return value === 0 ? "0" : value.toExponential(2);
    if (kind === "cos") return value.toFixed(8);
    return value.toFixed(2) + " s";
  }

  var CODE_RAN = { load: "at load", call: "at call", no: "no" };

  function attemptRow(load, outcome) {
    var verdict = O.verdict[outcome], type = str(O.type[outcome]), message = str(O.message[outcome]);
    var n = numbers(load, O.strategy[outcome]), ran = O.code_ran[outcome];
    return el("tr", { "data-strategy": strategyName(O.strategy[outcome]) }, [
      el("th", { scope: "row" }, [el("code", { text: strategyName(O.strategy[outcome]) })]),
      el("td", {}, [el("span", { "class": "v-" + verdict, text: DATA.verdicts[verdict] || verdict })]),
      el("td", { "class": "msg" }, [type ? el("code", { text: type + (message ? ": " : "") }) : null, message, familyNote(outcome)]),
      el("td", { "class": "num", text: number(n.diff, "diff") }),
      el("td", { "class": "num", text: number(n.cos, "cos") }),
      el("td", { "class": "num", text: number(n.load, "s") }),
      el("td", { "class": "num", text: number(n.predict, "s") }),
      el("td", { "class": "num" + (ran === "load" ? " sec-ran" : (ran === "call" ? " sec-ran-call" : "")), text: CODE_RAN[ran] || "" }),
    ]);
  }

  function outcomeOf(load, strategy) {
    var list = outcomesOf(load);
    for (var i = 0; i < list.length; i++) if (strategyName(O.strategy[list[i]]) === strategy) return list[i];
    return null;
  }

  // Why the strategies preferred to the one that works fail, one line per failure family.
  function whyNot(load) {
    var reasons = [], seen = {};
    var best = L.best[load];
    outcomesOf(load).some(function (o) {
      if (best !== null && O.strategy[o] === best) return true;
      if (O.verdict[o] === "not_applicable" || O.verdict[o] === "pass") return false;
      var key = O.family[o] || errorText(o);
      if (seen[key]) { seen[key].names.push(strategyName(O.strategy[o])); return false; }
      seen[key] = { names: [strategyName(O.strategy[o])], outcome: o };
      reasons.push(seen[key]);
      return false;
    });
    if (!reasons.length) return null;
    return el("div", { "class": "why" }, [el("p", { "class": "why-head", text: best !== null ? "Why the simpler strategies fail:" : "Why every strategy fails:" }),
      el("ul", {}, reasons.map(function (r) {
        var f = O.family[r.outcome] ? DATA.families[O.family[r.outcome]] : null;
        return el("li", {}, [el("code", { text: r.names.join(", ") }), ": ",
          f ? el("span", {}, [el("b", { text: f.label }), " (" + str(O.type[r.outcome]) + "): " + f.cause + ". ", el("em", { text: "What to do:" }), " " + f.action + "."])
            : el("span", {}, [errorText(r.outcome) || DATA.verdicts[O.verdict[r.outcome]], el("em", { text: " (no known failure family)" })])]);
      }))]);
  }

  function fixtureBlock(load, single) {
    var best = L.best[load];
    var list = outcomesOf(load);
    var recipes = list.filter(function (o) { return O.recipe[o] !== null && O.strategy[o] !== best; });
    var answer;
    if (best !== null) {
      var o = outcomeOf(load, strategyName(best));
      answer = el("div", { "class": "answer" }, [recipeBlock("Load it with " + strategyName(best) + ":", recipe(o))]);
    } else {
      answer = el("p", { "class": "answer none", text: "No strategy loads this file with the right numbers here." });
    }
    var table = el("table", { "class": "plain attempts" }, [
      el("thead", {}, [el("tr", {}, ["strategy", "verdict", "error or reason, and its failure family", "max |diff|", "cosine", "load", "predict", "code ran"].map(function (h) {
        return el("th", { scope: "col", text: h });
      }))]),
      el("tbody", {}, list.map(function (o) { return attemptRow(load, o); })),
    ]);
    var every = el("details", { "class": "every" }, [el("summary", { text: "Every strategy (" + list.length + ")" }), table]);
    if (single) every.setAttribute("open", "");
    var others = recipes.length ? el("details", { "class": "others" }, [el("summary", { text: "Other strategies that work (" + recipes.length + ")" })]
      .concat(recipes.map(function (o) { return recipeBlock(strategyName(O.strategy[o]), recipe(o)); }))) : null;
    return el("section", { "class": "fixture", id: "load-" + load, "data-fixture": str(L.fixture[load]) }, [
      el("h3", {}, [el("code", { text: str(L.fixture[load]) }), chip(L.category[load])]),
      answer, whyNot(load), every, others,
    ]);
  }

  function summaryTable(loads) {
    return el("table", { "class": "plain fixtures-summary" }, [
      el("thead", {}, [el("tr", {}, ["fixture", "result", "load it with"].map(function (h) { return el("th", { scope: "col", text: h }); }))]),
      el("tbody", {}, loads.map(function (load) {
        var best = L.best[load];
        return el("tr", {}, [
          el("th", { scope: "row" }, [el("a", { href: "#load-" + load, "data-jump": "load-" + load }, [el("code", { text: str(L.fixture[load]) })])]),
          el("td", {}, [chip(L.category[load])]),
          el("td", {}, [best !== null ? el("code", { text: strategyName(best) }) : el("span", { text: "nothing works" })]),
        ]);
      })),
    ]);
  }

  var dialog = document.getElementById("detail");
  var body = document.getElementById("detail-body");

  function layOutPanel() {
    var p = state.cell[0], c = state.cell[1];
    var pair = byPair[p + ":" + c] || [];
    var selected = pair.filter(matches);
    var shown = selected.length ? selected : pair;
    body.textContent = "";
    document.getElementById("detail-title").textContent = DATA.consumers[c] + " loading models saved by " + DATA.producers[p];
    var words = [state.variant, state.format].filter(Boolean).join(" + ");
    var note = !pair.length ? "No fixture of " + DATA.producers[p] + " was loaded by " + DATA.consumers[c] + "."
      : selected.length ? (words ? "Filter " + words + ": " : "All ") + selected.length + " of " + pair.length + " fixtures."
        : "No fixture matches the filter " + words + "; showing all " + pair.length + ".";
    body.appendChild(el("p", { "class": "hint", text: note }));
    if (shown.length > 1) body.appendChild(summaryTable(shown));
    shown.forEach(function (load) { body.appendChild(fixtureBlock(load, shown.length === 1)); });
    document.getElementById("detail-link").setAttribute("href", hashOf(state));
  }

  var lastFocus = null;
  function showPanel() {
    if (!state.cell) {
      if (dialog.open) dialog.close();
      return;
    }
    layOutPanel();
    if (!dialog.open) {
      lastFocus = document.activeElement;
      if (typeof dialog.showModal === "function") dialog.showModal(); else dialog.setAttribute("open", "");
    }
    document.getElementById("detail-close").focus();
    dialog.scrollTop = 0; // a panel opens at its top, whatever was scrolled before
  }

  body.addEventListener("click", function (event) {
    var jump = event.target.closest("a[data-jump]");
    if (!jump) return;
    event.preventDefault(); // the hash holds the answer's address, not a place in the panel
    var target = document.getElementById(jump.dataset.jump);
    dialog.scrollTop = target.offsetTop - document.querySelector(".detail-head").offsetHeight;
  });

  // -- the upgrade view ----------------------------------------------------------------------
  var upgradeSection = document.getElementById("upgrade");
  var upgradeBody = document.getElementById("upgrade-body");

  function envWords(c) {
    var option = document.querySelector('#upgrade-from option[value="' + DATA.consumers[c] + '"]');
    return option ? option.textContent : DATA.consumers[c];
  }

  function resultCell(load) {
    if (load === undefined) return el("td", { text: "not measured" });
    var best = L.best[load], c = DATA.categories[L.category[load]];
    return el("td", { "class": "result" }, [el("span", { "class": "chip cat-" + c.id, title: c.label }, [el("span", { "class": "mark", "aria-hidden": "true", text: c.mark }), c.short]),
      " ", best !== null ? el("code", { text: strategyName(best) }) : el("span", { text: "nothing works" })]);
  }

  function failure(load, strategy) {
    if (load === undefined || strategy === null) return el("td", {});
    var o = outcomeOf(load, strategy);
    if (o === null) return el("td", { text: strategy + " not tried" });
    var f = O.family[o] ? DATA.families[O.family[o]] : null;
    var raw = errorText(o);
    return el("td", { "class": "msg" }, [
      f ? el("div", { title: f.cause + ". What to do: " + f.action + "." }, [el("b", { text: f.label })])
        : (O.verdict[o] === "error" ? el("div", { "class": "family unknown", text: "no known failure family" }) : null),
      el("div", { "class": "clip1 raw", title: raw }, [el("code", { text: strategy }), " " + (DATA.verdicts[O.verdict[o]] || O.verdict[o]) + (raw ? ": " + raw : "")])]);
  }

  // The columns each bucket's table shows after fixture, under X and under Y.
  var UPGRADE_COLUMNS = {
    stops: [["why", "why it fails now"]],
    "switch": [["why", "why the old way fails"], ["recipe", "switch to"]],
    wrong_numbers: [["why", "the old way now"], ["wrong", "wrong numbers now"], ["recipe", "switch to"]],
    starts: [["recipe", "load it with"]],
    improved: [["recipe", "simpler now"]],
  };

  function upgradeRow(index, bucket, x, y, wrong) {
    var producer = DATA.producers[U.keys.producer[index]], fixture = str(U.keys.fixture[index]);
    var before = loadIndex[x + ":" + U.keys.producer[index] + ":" + fixture];
    var after = loadIndex[y + ":" + U.keys.producer[index] + ":" + fixture];
    var oldBest = before !== undefined && L.best[before] !== null ? strategyName(L.best[before]) : null;
    var newBest = after !== undefined && L.best[after] !== null ? strategyName(L.best[after]) : null;
    var cells = [
      el("th", { scope: "row" }, [el("code", { text: fixture }), el("span", { "class": "from", text: "saved by " + producer })]),
      resultCell(before), resultCell(after),
    ];
    (UPGRADE_COLUMNS[bucket.id] || []).forEach(function (column) {
      if (column[0] === "why") cells.push(failure(after, oldBest));
      else if (column[0] === "wrong") cells.push(el("td", { text: (wrong || []).join(", ") }));
      else if (newBest === null) cells.push(el("td", { text: "nothing works" }));
      else {
        cells.push(el("td", {}, [el("details", {}, [el("summary", {}, [el("code", { text: newBest })]),
          recipeBlock("Recipe: " + newBest, recipe(outcomeOf(after, newBest)))])]));
      }
    });
    return el("tr", { "data-producer": producer, "data-fixture": fixture, "data-change": bucket.change, "data-bucket": bucket.id,
      "data-old-best": oldBest || "", "data-new-best": newBest || "" }, cells);
  }

  // "rebuild_weights for 52, tf_keras for 16": what the fixtures of a bucket switch to, most first.
  function switchDigest(indices, y) {
    var tally = {}, names = [];
    indices.forEach(function (index) {
      var after = loadIndex[y + ":" + U.keys.producer[index] + ":" + str(U.keys.fixture[index])];
      if (after === undefined || L.best[after] === null) return;
      var name = strategyName(L.best[after]);
      if (!tally[name]) names.push(name);
      tally[name] = (tally[name] || 0) + 1;
    });
    names.sort(function (a, b) { return tally[b] - tally[a]; });
    return names.length ? "switch to " + names.map(function (n) { return n + " for " + tally[n]; }).join(", ") : null;
  }

  function layOutUpgrade() {
    var x = state.upgrade[0], y = state.upgrade[1];
    var old = DATA.consumers[x], neu = DATA.consumers[y];
    var codes = U.codes[old + " " + neu] || "";
    var wrong = U.wrong_numbers[old + " " + neu] || {};
    var rows = U.buckets.map(function () { return []; });
    var counted = U.buckets.map(function () { return 0; });
    var total = 0;
    for (var i = 0; i < codes.length; i++) {
      if (codes[i] === "-") continue;
      var fixture = str(U.keys.fixture[i]);
      var load = loadIndex[x + ":" + U.keys.producer[i] + ":" + fixture];
      if (load === undefined) load = loadIndex[y + ":" + U.keys.producer[i] + ":" + fixture];
      if (!matches(load)) continue;
      counted[+codes[i]] += 1;
      total += 1;
      rows[+codes[i]].push(i);
    }
    upgradeBody.textContent = "";
    document.getElementById("upgrade-title").textContent = "Moving from " + envWords(x) + " to " + envWords(y);
    var words = [state.variant, state.format].filter(Boolean).join(" + ");
    var flags = (state.variant ? " --variants " + state.variant : "") + (state.format ? " --formats " + state.format : "");
    var regressed = 0, compared = 0;
    U.buckets.forEach(function (b, i) { if (b.regression) regressed += counted[i]; if (b.id !== "not_compared") compared += counted[i]; });
    var parts = U.buckets.map(function (b, i) { return counted[i] ? counted[i] + " " + b.label : null; }).filter(Boolean);
    upgradeBody.appendChild(el("p", { "class": "upgrade-summary" }, [el("b", { text: compared + " fixtures compared" + (words ? " (filter " + words + ")" : "") + ", " + regressed + " regressed" }),
      ": " + parts.join(", ") + "."]));
    upgradeBody.appendChild(el("p", { "class": "hint" }, ["The same answer as ", el("code", { text: "compat regress --baseline reports/matrix.json --from " + old + " --to " + neu + flags + " --json regress.json" }),
      ", computed by the same code; ", el("code", { text: "compat regress --from " + old + " --to " + neu + flags }), " measures both on your machine, and ", el("code", { text: "--models" }), " runs it on your own model files."]));
    U.buckets.forEach(function (b, i) {
      if (!rows[i].length) return;
      var heads = ["fixture", "under " + old, "under " + neu].concat((UPGRADE_COLUMNS[b.id] || []).map(function (c) { return c[1]; }));
      var table = el("table", { "class": "plain upgrade-table", "data-bucket": b.id }, [
        el("thead", {}, [el("tr", {}, heads.map(function (h) { return el("th", { scope: "col", text: h }); }))]),
        el("tbody", {}, rows[i].map(function (index) { return upgradeRow(index, b, x, y, wrong[index]); })),
      ]);
      var title = el("h3", {}, [el("span", { "class": "bucket-mark bucket-" + b.id, "aria-hidden": "true" }), b.label + " (" + rows[i].length + ")"]);
      var digest = b.id === "switch" || b.id === "starts" ? switchDigest(rows[i], y) : null;
      if (digest) title.appendChild(el("span", { "class": "digest", text: digest }));
      var means = el("p", { "class": "hint", text: b.means + "." });
      if (b.regression || b.id === "starts") upgradeBody.appendChild(el("section", { "class": "bucket" }, [title, means, table]));
      else upgradeBody.appendChild(el("details", { "class": "bucket" }, [el("summary", {}, [title]), means, table]));
    });
    document.getElementById("upgrade-from").value = old;
    document.getElementById("upgrade-to").value = neu;
  }

  var upgradeShownFor = null;
  function showUpgrade() {
    if (!state.upgrade) {
      upgradeSection.hidden = true;
      upgradeShownFor = null;
      return;
    }
    layOutUpgrade();
    upgradeSection.hidden = false;
    var key = state.upgrade.join(">");
    if (upgradeShownFor !== key && !state.cell) {
      upgradeSection.scrollIntoView({ block: "start" });
      document.getElementById("upgrade-title").focus({ preventScroll: true });
    }
    upgradeShownFor = key;
  }

  // -- wiring ----------------------------------------------------------------------------------
  function show() {
    layOutFilter();
    showUpgrade();
    showPanel();
    writeHash();
  }

  function update(change) {
    Object.keys(change).forEach(function (key) { state[key] = change[key]; });
    show();
  }

  document.getElementById("detail-close").addEventListener("click", function () { dialog.close(); });
  dialog.addEventListener("close", function () {
    state.cell = null;
    writeHash();
    if (lastFocus && lastFocus.focus) lastFocus.focus();
  });
  dialog.addEventListener("click", function (event) { if (event.target === dialog) dialog.close(); });
  document.getElementById("matrix").addEventListener("click", function (event) {
    var button = event.target.closest("button.cell");
    if (!button || button.getAttribute("aria-disabled") === "true") return;
    setFocusable(button);
    update({ cell: [+button.dataset.p, +button.dataset.c] });
  });
  document.getElementById("filter-variant").addEventListener("change", function (event) { update({ variant: event.target.value }); });
  document.getElementById("filter-format").addEventListener("change", function (event) { update({ format: event.target.value }); });
  document.getElementById("filter-facenet").addEventListener("click", function (event) {
    update({ variant: event.currentTarget.dataset.variant, format: event.currentTarget.dataset.format });
  });
  document.getElementById("filter-reset").addEventListener("click", function () { update({ variant: "", format: "" }); });
  document.getElementById("upgrade-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var x = DATA.consumers.indexOf(document.getElementById("upgrade-from").value);
    var y = DATA.consumers.indexOf(document.getElementById("upgrade-to").value);
    document.getElementById("upgrade-note").textContent = x === y ? "Pick two different environments." : "";
    if (x === y) return;
    upgradeShownFor = null;
    update({ upgrade: [x, y] });
  });
  document.getElementById("upgrade-close").addEventListener("click", function () { update({ upgrade: null }); });
  window.addEventListener("hashchange", function () { upgradeShownFor = null; readHash(); });
  if (location.hash.length > 1) readHash();
})();
