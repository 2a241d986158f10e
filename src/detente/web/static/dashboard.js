// The dashboard: a map of zones and observations, a timeline with a brush, the compliance
// matrix, and the panel of the finding clicked. Every number comes from /ui/api (aggregated on
// the server) or the API's own endpoints; nothing is evaluated here.
"use strict";

(() => {
  const { api, el, COLOURS, STATUS, fmtDate, debounce, safeUrl } = Detente;
  const MAX_POINTS = 2000; // more than this in view: the server sends bins instead
  const ROLE_ORDER = ["basemap", "area", "zone", "band", "line"];
  const PARTY_COLOURS = ["#3b6ea5", "#a5523b", "#6a4c93", "#2a9d8f", "#8d6e63"];

  const state = {
    agreement: null,
    me: null,
    range: null, // [startMs, endMs] chosen with the brush, or null for all time
    matrix: null,
    parties: [],
    selected: null, // the matrix button of the open finding
  };

  // ------------------------------------------------------------------ map

  const map = L.map("map", { zoomSnap: 0.5, minZoom: 3, maxZoom: 14 });
  map.attributionControl.setPrefix(false);
  map.attributionControl.addAttribution(
    "Boundaries © Мінрегіон (CC BY-SA); line of contact and border: Natural Earth"
  );
  const layers = {
    zones: L.featureGroup().addTo(map),
    observations: L.layerGroup().addTo(map),
    evidence: L.featureGroup().addTo(map),
  };
  L.control.layers(null, {
    "Zones, lines, bands": layers.zones,
    Observations: layers.observations,
    "Evidence of the finding": layers.evidence,
  }, { collapsed: true }).addTo(map);
  addLegend();

  // Each party keeps one colour: its order of first appearance among the zones.
  function partyColour(party) {
    const at = state.parties.indexOf(party);
    return at < 0 ? "#555" : PARTY_COLOURS[at % PARTY_COLOURS.length];
  }

  function zoneStyle(feature) {
    const p = feature.properties;
    const colour = p.party ? partyColour(p.party) : "#6d6d6d";
    const base = { className: p.role === "basemap" ? "dt-basemap" : `dt-zone dt-role-${p.role}` };
    switch (p.role) {
      case "basemap": return { ...base, color: "#333", weight: 1.5, dashArray: "6 3", fill: false };
      case "line": return { ...base, color: "#111", weight: 3 };
      case "band": return { ...base, color: colour, weight: 1, dashArray: "4 3", fillOpacity: 0.04 };
      case "zone": return { ...base, color: colour, weight: 1, fill: false };
      default: return { ...base, color: "#8a8a8a", weight: 1, fillColor: p.party ? colour : "#e9e4d8", fillOpacity: p.party ? 0.08 : 0.35 };
    }
  }

  async function drawZones() {
    const fc = await api(`/ui/api/agreements/${encodeURIComponent(state.agreement)}/map`);
    const rank = (f) => ROLE_ORDER.indexOf(f.properties.role);
    const features = fc.features.slice().sort((a, b) => rank(a) - rank(b));
    state.parties = [...new Set(features.map((f) => f.properties.party).filter(Boolean))];
    layers.zones.clearLayers();
    L.geoJSON({ type: "FeatureCollection", features }, {
      style: zoneStyle,
      onEachFeature: (feature, layer) => {
        const p = feature.properties;
        const label = p.role === "basemap" ? p.name : `${p.label} (${p.id})`;
        layer.bindTooltip(el("span", {}, label), { sticky: true });
      },
    }).addTo(layers.zones);
    const [w, s, e, n] = fc.focus;
    map.fitBounds([[s, w], [n, e]], { padding: [10, 10] });
    document.getElementById("map").dataset.features = String(features.length);
  }

  function viewBox() {
    const b = map.getBounds();
    const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
    const r = (v) => v.toFixed(5);
    return [r(clamp(b.getWest(), -180, 180)), r(clamp(b.getSouth(), -90, 90)),
      r(clamp(b.getEast(), -180, 180)), r(clamp(b.getNorth(), -90, 90))].join(",");
  }

  function rangeParams(params) {
    if (state.range) {
      params.set("start", new Date(state.range[0]).toISOString());
      params.set("end", new Date(state.range[1]).toISOString());
    }
    return params;
  }

  function observationPopup(p) {
    return el("div", { class: "popup" },
      el("strong", {}, p.id), el("br"),
      `${p.time.slice(0, 16).replace("T", " ")} · ${p.kind || ""} ${p.category || ""}`,
      p.count !== null ? ` × ${p.count}` : "", el("br"),
      `actor ${p.actor || "unknown"} · grade ${p.grade} · `,
      el("span", { class: `badge dt-status-${p.status}` }, p.status));
  }

  function pointMarker(p) {
    const marker = L.circleMarker([p.lat, p.lon], {
      radius: 5, weight: 1, color: "#222", fillColor: COLOURS[p.status], fillOpacity: 0.85,
      className: `dt-obs dt-status-${p.status}`, status: p.status,
    });
    return marker.bindPopup(() => observationPopup(p));
  }

  // A cluster shows the most severe status among its observations.
  function clusterIcon(cluster) {
    const ranks = cluster.getAllChildMarkers().map((m) => STATUS.indexOf(m.options.status));
    const worst = STATUS[Math.min(...ranks)];
    const n = cluster.getChildCount();
    return L.divIcon({
      html: `<span>${Number(n)}</span>`, className: `dt-cluster dt-status-${worst}`,
      iconSize: L.point(34, 34),
    });
  }

  function binMarker(bin) {
    const radius = 5 + 4 * Math.log10(bin.n);
    const lines = Object.entries(bin.counts).map(([status, n]) => `${n} ${status}`);
    return L.circleMarker([bin.lat, bin.lon], {
      radius, weight: 1, color: "#222", fillColor: COLOURS[bin.status], fillOpacity: 0.7,
      className: `dt-bin dt-status-${bin.status}`,
    }).bindTooltip(el("span", {}, `${bin.n} observations: ${lines.join(", ")}`))
      .on("click", () => map.fitBounds([[bin.bounds[1], bin.bounds[0]], [bin.bounds[3], bin.bounds[2]]]));
  }

  let pending = null;
  async function loadObservations() {
    if (pending) pending.abort();
    pending = new AbortController();
    const params = rangeParams(new URLSearchParams({
      agreement: state.agreement, bbox: viewBox(), max_points: String(MAX_POINTS),
    }));
    let view;
    try {
      view = await api(`/ui/api/observations?${params}`, { signal: pending.signal });
    } catch (err) {
      if (err.name === "AbortError") return;
      throw err;
    }
    layers.observations.clearLayers();
    if (view.mode === "points") {
      const cluster = L.markerClusterGroup({
        iconCreateFunction: clusterIcon, showCoverageOnHover: false, maxClusterRadius: 40,
        disableClusteringAtZoom: 11,
      });
      cluster.addLayers(view.points.map(pointMarker));
      layers.observations.addLayer(cluster);
    } else {
      for (const bin of view.bins) layers.observations.addLayer(binMarker(bin));
    }
    const info = document.getElementById("map-info");
    const how = view.mode === "points" ? "each shown" : `in ${view.bins.length} cells of ${view.cell}°`;
    info.textContent = `${view.total.toLocaleString("en")} observations in view (${how})`
      + (state.range ? `, ${fmtDate(new Date(state.range[0]).toISOString())} – ${fmtDate(new Date(state.range[1]).toISOString())}` : "");
    // What was drawn, for whoever checks it against the evidence API (the tests do).
    Object.assign(document.getElementById("map").dataset, {
      obsMode: view.mode, obsTotal: String(view.total), bbox: params.get("bbox"),
      obsRange: params.get("start") || "",
    });
  }

  function addLegend() {
    const legend = L.control({ position: "bottomleft" });
    legend.onAdd = () => el("div", { class: "map-legend" },
      ...STATUS.map((s) => el("div", {}, el("i", { class: `swatch dt-status-${s}` }), s)));
    legend.addTo(map);
  }

  // ------------------------------------------------------------------ timeline and brush

  const timeline = (() => {
    const svg = document.getElementById("timeline");
    const NS = "http://www.w3.org/2000/svg";
    const H = 96, PAD = 24, AXIS = 16;
    let data = null, width = 0, brush = null, dragFrom = null;

    const svgEl = (tag, attrs) => {
      const node = document.createElementNS(NS, tag);
      for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
      return node;
    };
    const t0 = () => data.start * 1000;
    const t1 = () => (data.start + data.width * data.counts.length) * 1000;
    const x = (ms) => PAD + ((ms - t0()) / (t1() - t0())) * (width - 2 * PAD);
    const time = (px) => t0() + ((Math.min(Math.max(px, PAD), width - PAD) - PAD) / (width - 2 * PAD)) * (t1() - t0());

    function draw() {
      width = svg.clientWidth || 800;
      svg.setAttribute("viewBox", `0 0 ${width} ${H}`);
      svg.replaceChildren();
      if (!data || !data.counts.length) return;
      const top = Math.max(...data.counts, 1);
      const barW = (width - 2 * PAD) / data.counts.length;
      const y = (n) => (H - AXIS) - (n / top) * (H - AXIS - 6);
      data.counts.forEach((n, i) => {
        const bx = PAD + i * barW;
        svg.append(svgEl("rect", { class: "bar", x: bx, y: y(n), width: Math.max(barW - 1, 1), height: (H - AXIS) - y(n) }));
        const v = data.violations[i] || 0;
        if (v) svg.append(svgEl("rect", { class: "bar-violation", x: bx, y: y(v), width: Math.max(barW - 1, 1), height: (H - AXIS) - y(v) }));
      });
      drawYears();
      brush = svgEl("rect", { class: "brush", x: 0, y: 0, width: 0, height: H - AXIS, visibility: "hidden" });
      svg.append(brush);
      if (state.range) showBrush(x(state.range[0]), x(state.range[1]));
    }

    function drawYears() {
      const first = new Date(t0()).getUTCFullYear(), last = new Date(t1()).getUTCFullYear();
      for (let year = first; year <= last + 1; year++) {
        const px = x(Date.UTC(year, 0, 1));
        if (px < PAD || px > width - PAD) continue;
        svg.append(svgEl("line", { class: "tick", x1: px, x2: px, y1: H - AXIS, y2: H - AXIS + 4 }));
        const label = svgEl("text", { class: "tick-label", x: px + 2, y: H - 3 });
        label.textContent = String(year);
        svg.append(label);
      }
    }

    function showBrush(a, b) {
      const [lo, hi] = a < b ? [a, b] : [b, a];
      Object.entries({ x: lo, width: Math.max(hi - lo, 1), visibility: "visible" })
        .forEach(([k, v]) => brush.setAttribute(k, v));
    }

    const localX = (event) => {
      const box = svg.getBoundingClientRect();
      return ((event.clientX - box.left) / box.width) * width;
    };

    svg.addEventListener("pointerdown", (event) => {
      if (!data) return;
      dragFrom = localX(event);
      svg.setPointerCapture(event.pointerId);
      showBrush(dragFrom, dragFrom);
    });
    svg.addEventListener("pointermove", (event) => {
      if (dragFrom !== null) showBrush(dragFrom, localX(event));
    });
    svg.addEventListener("pointerup", (event) => {
      if (dragFrom === null) return;
      const to = localX(event);
      const from = dragFrom;
      dragFrom = null;
      if (Math.abs(to - from) < 3) return setRange(null); // a click clears the brush
      const [a, b] = [time(from), time(to)].sort((p, q) => p - q);
      setRange([a, b]);
    });
    window.addEventListener("resize", debounce(draw, 200));

    async function load() {
      const params = new URLSearchParams({ agreement: state.agreement, bins: "150" });
      data = await api(`/ui/api/timeline?${params}`);
      draw();
    }
    return { load, draw };
  })();

  // Apply a time range (or null) to the map and the matrix.
  function setRange(range) {
    state.range = range;
    const box = document.getElementById("timeline");
    const label = document.getElementById("range-label");
    const clear = document.getElementById("range-clear");
    if (range) {
      box.dataset.start = new Date(range[0]).toISOString();
      box.dataset.end = new Date(range[1]).toISOString();
      label.textContent = `${fmtDate(box.dataset.start)} – ${fmtDate(box.dataset.end)}`;
    } else {
      delete box.dataset.start;
      delete box.dataset.end;
      label.textContent = "Drag across the histogram to filter the map and the matrix.";
    }
    clear.hidden = !range;
    timeline.draw();
    matrix.filter();
    loadObservations().catch((err) => Detente.showError(err.message));
  }
  document.getElementById("range-clear").addEventListener("click", () => setRange(null));

  // ------------------------------------------------------------------ compliance matrix

  const matrix = (() => {
    const box = document.getElementById("matrix");

    // A window [start, end) shows when it overlaps the range (an open end reaches today).
    function inRange(w) {
      if (!state.range) return true;
      const start = Date.parse(w.start), end = w.end ? Date.parse(w.end) : Infinity;
      return start <= state.range[1] && end > state.range[0];
    }

    function filter() {
      const m = state.matrix;
      if (!m) return;
      const shown = m.windows.map(inRange);
      for (const node of box.querySelectorAll("[data-col]")) node.hidden = !shown[Number(node.dataset.col)];
      const cells = m.cells.filter((c) => shown[c[2]]);
      const counts = {};
      for (const c of cells) counts[c[3]] = (counts[c[3]] || 0) + 1;
      const parts = STATUS.filter((s) => counts[s]).map((s) => `${counts[s]} ${s}`);
      document.getElementById("matrix-summary").textContent =
        `${cells.length} findings in ${shown.filter(Boolean).length} of ${m.windows.length} windows: ${parts.join(", ")} · as of ${fmtDate(m.as_of)}`;
    }

    function header(m) {
      const row = el("tr", {}, el("th", { class: "corner", scope: "col" }, "Obligation"),
        el("th", { class: "corner2", scope: "col" }, "Party"));
      m.windows.forEach((w, i) => row.append(el("th", {
        class: "col", scope: "col", dataset: { col: i }, title: `${fmtDate(w.start)} – ${fmtDate(w.end)}`,
      }, w.start.slice(0, 7))));
      return el("thead", {}, row);
    }

    function cellButton(m, c) {
      const [o, p, w, status, confidence, n] = c;
      const ob = m.obligations[o], party = m.parties[p], win = m.windows[w];
      return el("button", {
        type: "button", class: `dt-cell dt-status-${status}`,
        title: `${ob.title} — ${party.name}, ${fmtDate(win.start)} – ${fmtDate(win.end)}: ${status} (confidence ${confidence}, ${n} evidence)`,
        "aria-label": `${ob.id} ${party.id} ${win.start.slice(0, 7)} ${status}`,
        dataset: { obligation: ob.id, party: party.id, windowStart: win.start, status },
      });
    }

    function body(m) {
      const byRow = new Map();
      for (const c of m.cells) {
        const key = `${c[0]}/${c[1]}`;
        if (!byRow.has(key)) byRow.set(key, new Map());
        byRow.get(key).set(c[2], c);
      }
      const keys = [...byRow.keys()].sort((a, b) => {
        const [ao, ap] = a.split("/").map(Number), [bo, bp] = b.split("/").map(Number);
        return ao - bo || ap - bp;
      });
      const tbody = el("tbody");
      for (const key of keys) {
        const [o, p] = key.split("/").map(Number);
        const row = el("tr", {}, el("th", { scope: "row", class: "ob", title: m.obligations[o].title }, m.obligations[o].id),
          el("th", { scope: "row", class: "party" }, m.parties[p].id));
        m.windows.forEach((_, w) => {
          const c = byRow.get(key).get(w);
          row.append(el("td", { dataset: { col: w } }, c ? cellButton(m, c) : ""));
        });
        tbody.append(row);
      }
      return tbody;
    }

    async function load() {
      try {
        state.matrix = await api(`/ui/api/matrix?agreement=${encodeURIComponent(state.agreement)}`);
      } catch (err) {
        if (err.status !== 404) throw err;
        state.matrix = null;
        box.replaceChildren(el("p", { class: "muted" }, err.message));
        return;
      }
      const m = state.matrix;
      box.replaceChildren(el("table", { class: "matrix" }, header(m), body(m)));
      filter();
    }

    box.addEventListener("click", (event) => {
      const button = event.target.closest("button.dt-cell");
      if (button) openFinding(button).catch((err) => Detente.showError(err.message));
    });
    return { load, filter };
  })();

  // ------------------------------------------------------------------ the finding panel

  function citation(ob) {
    const c = ob.citation;
    const what = [c.title || c.source, c.article].filter(Boolean).join(", ");
    const url = safeUrl(c.url);
    return el("p", { class: "citation" }, "Source: ", what,
      url ? [" — ", el("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, url)] : "");
  }

  function evidenceTable(detail) {
    const rows = (detail.evidence || []).map((r) => el("tr", { dataset: { id: r.id } },
      el("td", {}, el("button", { type: "button", class: "link", on: { click: () => focusEvidence(r) } }, r.id)),
      el("td", {}, String(r.time || "").slice(0, 16).replace("T", " ")),
      el("td", {}, [r.kind, r.category].filter(Boolean).join(" ")),
      el("td", { class: "num" }, r.count_best ?? ""),
      el("td", {}, `${r.reliability || ""}${r.credibility ?? ""}`),
      el("td", {}, r.actor || ""),
      el("td", { class: "source" }, r.source || "")));
    const shown = detail.finding.evidence.length;
    const note = detail.evidence === null
      ? "Your role may not read evidence records."
      : `${detail.evidence_total} evidence record${detail.evidence_total === 1 ? "" : "s"}`
        + (shown < detail.evidence_total ? ` (the first ${shown} listed)` : "");
    return [el("h3", {}, "Evidence"), el("p", { class: "muted", id: "evidence-note" }, note),
      rows.length ? el("table", { class: "evidence", id: "evidence" },
        el("thead", {}, el("tr", {}, ...["id", "time", "what", "n", "grade", "actor", "source"].map((h) => el("th", {}, h)))),
        el("tbody", {}, rows)) : ""];
  }

  function highlight(detail) {
    layers.evidence.clearLayers();
    const colour = COLOURS[detail.finding.status];
    for (const r of detail.evidence || []) {
      if (r.lat === null || r.lon === null || r.lat === undefined) continue;
      L.circleMarker([r.lat, r.lon], {
        radius: 8, weight: 2.5, color: "#000", fillColor: colour, fillOpacity: 0.9,
        className: "dt-evidence",
      }).bindTooltip(el("span", {}, r.id)).addTo(layers.evidence);
    }
    if (layers.evidence.getLayers().length) {
      map.fitBounds(layers.evidence.getBounds(), { padding: [30, 30], maxZoom: 9 });
    }
  }

  function focusEvidence(r) {
    if (r.lat !== null && r.lon !== null) map.setView([r.lat, r.lon], Math.max(map.getZoom(), 10));
  }

  async function openFinding(button) {
    const d = button.dataset;
    const params = new URLSearchParams({
      agreement: state.agreement, obligation: d.obligation, party: d.party, window_start: d.windowStart, limit: "500",
    });
    const detail = await api(`/ui/api/finding?${params}`);
    state.selected?.classList.remove("selected");
    state.selected = button;
    button.classList.add("selected");
    const f = detail.finding, ob = detail.obligation;
    const clauseLink = `/ui/agreement?agreement=${encodeURIComponent(state.agreement)}#clause-${encodeURIComponent(ob.obligation)}`;
    const article = document.getElementById("finding");
    article.replaceChildren(
      el("h2", {}, el("span", { class: `badge dt-status-${f.status}`, id: "finding-status" }, f.status), " ", ob.title || ob.obligation),
      el("p", { class: "meta" }, `${f.party} · ${fmtDate(f.window.start)} – ${fmtDate(f.window.end)} · confidence ${f.confidence}`,
        f.triggered_at ? ` · triggered ${fmtDate(f.triggered_at)}` : ""),
      el("p", { class: "explanation", id: "finding-explanation" }, f.explanation),
      el("h3", {}, "Clause"),
      el("blockquote", { class: "clause" }, ob.clause),
      citation(ob),
      el("p", {}, el("a", { href: clauseLink }, "The clause beside its encoded parameters →")),
      ...evidenceTable(detail),
    );
    article.dataset.obligation = f.obligation;
    article.dataset.party = f.party;
    article.dataset.windowStart = f.window.start;
    article.hidden = false;
    document.getElementById("panel-empty").hidden = true;
    highlight(detail);
  }

  // ------------------------------------------------------------------ start

  function legend() {
    document.getElementById("legend").replaceChildren(...STATUS.slice(0, 5).map((s) =>
      el("li", {}, el("i", { class: `swatch dt-status-${s}` }), s)));
  }

  function evaluateButton() {
    const button = document.getElementById("evaluate");
    button.hidden = !("evaluate" in state.me.actions);
    button.onclick = async () => {
      button.disabled = true;
      button.textContent = "Evaluating…";
      try {
        await api("/findings/evaluate", { method: "POST", json: { agreement: state.agreement } });
        await Promise.all([matrix.load(), timeline.load(), loadObservations()]);
      } finally {
        button.disabled = false;
        button.textContent = "Evaluate now";
      }
    };
  }

  Detente.start(async (me, agreement) => {
    state.me = me;
    state.agreement = agreement;
    legend();
    if (!agreement) {
      Detente.showError("No agreement is stored yet: an admin uploads one (POST /agreements).");
      return;
    }
    evaluateButton();
    const matrixDrawn = matrix.load().then(() => performance.mark("detente:matrix"));
    const mapDrawn = drawZones()
      .then(() => loadObservations())
      .then(() => {
        map.on("moveend", debounce(() => loadObservations().catch((err) => Detente.showError(err.message)), 250));
        performance.mark("detente:map");
      });
    await Promise.all([matrixDrawn, mapDrawn, timeline.load()]);
  });
})();
