/* Map of a département: vector tiles of M1/M2 (Leaflet.VectorGrid, canvas, non-interactive),
 * swipe comparison, change layer, identify on click through the API (exact geometry),
 * commune search, view kept in the URL. Configuration: the #map-config JSON of the page. */
import { getJSON, postForm, postJSON, refusal } from "./api.js";
import { textLines } from "./dom.js";

const cfg = JSON.parse(document.getElementById("map-config").textContent);
const t = cfg.i18n;
const byRank = Object.fromEntries(cfg.vintages.map((v) => [v.rank, v]));
const params = new URLSearchParams(window.location.search);
const state = {
  vintage: byRank[params.get("v")] ? params.get("v") : (cfg.vintages.length ? cfg.vintages[cfg.vintages.length - 1].rank : null),
  colour: ["us", "confidence"].includes(params.get("colour")) ? params.get("colour") : "cs",
  swipe: params.get("swipe") === "1" && cfg.vintages.length > 1,
  changes: params.get("changes") === "1" && !!cfg.changes,
  opacity: params.has("op") ? Math.min(100, Math.max(0, parseInt(params.get("op"), 10) || 0)) : 80,
  background: params.get("bg") === "ortho" && cfg.ortho ? "ortho" : "neutral",
  split: 0.5,
  markers: params.get("markers") === "1",
};
const STATUS_COLOURS = cfg.statusColours;
let markers = null;
let lastIdentify = null;
let drawn = null;
let clippedLayer = null;
let drawer = null;

let map, primary, secondary, changes, ortho, highlight;

/* A signalement's page (the config's URL names signalement 0). */
function signalementUrl(id) {
  return cfg.signalementPage.replace("/0/", `/${id}/`);
}

/* Colour of the model's confidence class (classes sorted by their lower bound). */
function confidenceColour(value) {
  if (value === null || value === undefined) return cfg.noConfidence.colour;
  let colour = cfg.confidence[0].colour;
  cfg.confidence.forEach((c) => { if (value >= c.min) colour = c.colour; });
  return colour;
}

function colourOf(props) {
  if (state.colour === "confidence") return confidenceColour(props.confidence);
  const table = state.colour === "us" ? cfg.us : cfg.cs;
  const code = state.colour === "us" ? props.code_us : props.code_cs;
  return (table[code] && table[code].colour) || "#888888";
}

function polygonStyle(props, zoom) {
  return {
    fill: true,
    fillColor: colourOf(props),
    fillOpacity: 1,
    stroke: zoom >= cfg.fullDetailZoom + 1 && !props.agg,
    color: "#ffffff",
    weight: 0.6,
    opacity: 0.7,
  };
}

function vintageLayer(rank, pane) {
  return L.vectorGrid.protobuf(byRank[rank].tiles, {
    pane: pane,
    rendererFactory: L.canvas.tile,
    interactive: false,
    maxNativeZoom: 22,
    maxZoom: 22,
    fetchOptions: { credentials: "same-origin" },
    vectorTileLayerStyles: { polygons: polygonStyle },
  });
}

function changeLayer() {
  return L.vectorGrid.protobuf(cfg.changes, {
    pane: "changes",
    rendererFactory: L.canvas.tile,
    interactive: false,
    maxNativeZoom: 22,
    maxZoom: 22,
    fetchOptions: { credentials: "same-origin" },
    vectorTileLayerStyles: {
      changes: function (props) {
        const table = state.colour === "us" ? cfg.us : cfg.cs;
        const code = state.colour === "us" ? props.us_apres : props.cs_apres;
        return {
          fill: true,
          fillColor: (table[code] && table[code].colour) || "#888888",
          fillOpacity: 0.9,
          stroke: true,
          color: "#ff00ff",
          weight: 1.5,
        };
      },
    },
  });
}

function setPane(name, z) {
  const pane = map.createPane(name);
  pane.style.zIndex = z;
  return pane;
}

function rebuildLayers() {
  [primary, secondary, changes].forEach((layer) => layer && map.removeLayer(layer));
  primary = secondary = changes = null;
  if (!state.vintage) return;
  const handle = document.getElementById("swipe-handle");
  const select = document.getElementById("vintage");
  if (state.swipe) {
    primary = vintageLayer("M1", "primary").addTo(map);
    secondary = vintageLayer("M2", "secondary").addTo(map);
    handle.hidden = false;
    if (select) select.disabled = true;
  } else {
    primary = vintageLayer(state.vintage, "primary").addTo(map);
    handle.hidden = true;
    if (select) select.disabled = false;
  }
  if (state.changes) changes = changeLayer().addTo(map);
  updateClip();
  applyOpacity();
}

function applyOpacity() {
  ["primary", "secondary", "changes"].forEach((name) => {
    map.getPane(name).style.opacity = String(state.opacity / 100);
  });
}

function updateClip() {
  const a = map.getPane("primary");
  const b = map.getPane("secondary");
  if (!state.swipe) {
    a.style.clip = b.style.clip = "";
    return;
  }
  const size = map.getSize();
  const nw = map.containerPointToLayerPoint([0, 0]);
  const se = map.containerPointToLayerPoint(size);
  const x = nw.x + size.x * state.split;
  a.style.clip = `rect(${nw.y}px, ${x}px, ${se.y}px, ${nw.x}px)`;
  b.style.clip = `rect(${nw.y}px, ${se.x}px, ${se.y}px, ${x}px)`;
  document.getElementById("swipe-handle").style.left = `${state.split * 100}%`;
}

function setBackground() {
  if (ortho) {
    map.removeLayer(ortho);
    ortho = null;
  }
  if (state.background === "ortho" && cfg.ortho) {
    ortho = L.tileLayer(cfg.ortho.url, { attribution: cfg.ortho.attribution, maxZoom: 22, maxNativeZoom: 19 }).addTo(map);
  }
}

function legendItem(colour, text) {
  const li = document.createElement("li");
  li.dataset.colour = colour;
  const sw = document.createElement("span");
  sw.className = "swatch";
  sw.style.background = colour;
  li.append(sw, text);
  return li;
}

function renderLegend() {
  const table = state.colour === "us" ? cfg.us : cfg.cs;
  const list = document.getElementById("legend");
  list.replaceChildren();
  if (state.colour === "confidence") {
    cfg.confidence.forEach((c) => list.append(legendItem(c.colour, c.label)));
    list.append(legendItem(cfg.noConfidence.colour, cfg.noConfidence.label));
    return;
  }
  Object.keys(table).sort().forEach((code) => {
    const li = document.createElement("li");
    li.dataset.code = code;
    li.dataset.colour = table[code].colour;
    const sw = document.createElement("span");
    sw.className = "swatch";
    sw.style.background = table[code].colour;
    li.append(sw, `${code} ${table[code].label}`);
    list.append(li);
  });
}

function saveUrl() {
  const c = map.getCenter();
  const p = new URLSearchParams();
  p.set("z", map.getZoom());
  p.set("lat", c.lat.toFixed(5));
  p.set("lon", c.lng.toFixed(5));
  if (state.vintage) p.set("v", state.vintage);
  if (state.colour !== "cs") p.set("colour", state.colour);
  if (state.swipe) p.set("swipe", "1");
  if (state.changes) p.set("changes", "1");
  if (state.opacity !== 80) p.set("op", state.opacity);
  if (state.background !== "neutral") p.set("bg", state.background);
  if (state.markers) p.set("markers", "1");
  window.history.replaceState(null, "", `${window.location.pathname}?${p}`);
}

function row(dl, label, value) {
  const dt = document.createElement("dt");
  dt.textContent = label;
  const dd = document.createElement("dd");
  if (value instanceof Node) dd.append(value);
  else dd.textContent = value;
  dl.append(dt, dd);
}

function codeCell(code, label, colour) {
  const span = document.createElement("span");
  const sw = document.createElement("span");
  sw.className = "swatch";
  sw.style.background = colour;
  span.append(sw, `${code} — ${label}`);
  return span;
}

/* A titled list of items (each rendered to nodes or strings), or a note when empty. */
function section(body, title, emptyText, items, render) {
  const h = document.createElement("h3");
  h.textContent = title;
  body.append(h);
  if (!items.length) {
    const none = document.createElement("p");
    none.className = "empty";
    none.textContent = emptyText;
    body.append(none);
    return;
  }
  const ul = document.createElement("ul");
  items.forEach((item) => {
    const li = document.createElement("li");
    li.append(...render(item));
    ul.append(li);
  });
  body.append(ul);
}

function showPolygon(p) {
  const body = document.getElementById("polygon-body");
  body.replaceChildren();
  const dl = document.createElement("dl");
  row(dl, "CS", codeCell(p.code_cs, p.cs_label, p.cs_colour));
  row(dl, "US", codeCell(p.code_us, p.us_label, p.us_colour));
  row(dl, t.area, `${(p.area_m2 / 10000).toLocaleString(document.documentElement.lang, { maximumFractionDigits: 2 })} ha`);
  row(dl, t.millesime, `${p.rank} · ${p.millesime}`);
  row(dl, "ID", p.ocsge_id);
  row(dl, t.revision, String(p.revision));
  if (p.confidence !== null) row(dl, t.confidence, `${Math.round(p.confidence * 100)} %`);
  body.append(dl);
  // Filing first, right under the codes: in view as soon as the polygon is selected.
  const v = cfg.vintages.find((x) => x.id === p.vintage);
  if (cfg.canFile && p.feedback_open) {
    const b = document.createElement("button");
    b.type = "button";
    b.id = "report-open";
    b.textContent = t.report;
    b.addEventListener("click", () => showReportForm(p));
    body.append(b);
  } else if (cfg.canFile && v && v.loop) {
    body.append(el("p", { id: "report-closed", className: "hint", textContent: v.loop }));
  }
  section(body, t.history, t.noHistory, p.revisions, (r) => [
    `${r.revision} · ${new Date(r.created_at).toLocaleDateString()} · ${r.cause_label} · ` +
      `${r.code_cs_before}/${r.code_us_before} → ${r.code_cs_after}/${r.code_us_after}` +
      (r.author ? ` · ${r.author}` : "") + (r.comment ? ` — ${r.comment}` : ""),
  ]);
  section(body, t.signalementsTitle, t.noSignalement, p.signalements, (sg) => {
    const dot = document.createElement("span");
    dot.className = "status-dot";
    dot.style.background = STATUS_COLOURS[sg.status] || "#000";
    const link = el("a", { href: signalementUrl(sg.id), textContent: `${t.numero} ${sg.id}` });
    const comment = el("button", { type: "button", className: "link-button", textContent: t.commentOpen });
    comment.addEventListener("click", () => comment.replaceWith(commentForm(sg.id)));
    return [dot, link, ` · ${sg.status_label} · → ${sg.code_cs_proposed}/${sg.code_us_proposed} · ${sg.organisation_name} `, comment];
  });
  document.getElementById("polygon-panel").hidden = false;
  if (highlight) map.removeLayer(highlight);
  highlight = L.geoJSON(p.geometry, { pane: "highlight", interactive: false, style: { color: "#00e5ff", weight: 3, fill: false } }).addTo(map);
}

// A comment on a signalement, from the panel (the signalement's page has the thread).
function commentForm(id) {
  const form = el("form", { className: "comment-form" });
  const text = el("textarea", { name: "text", rows: 2, required: true, maxLength: 5000 });
  text.setAttribute("aria-label", t.commentOpen);
  const send = el("button", { type: "submit", textContent: t.send });
  const status = el("p", { className: "hint", role: "status" });
  form.append(text, send, status);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    send.disabled = true;
    postJSON(`${cfg.signalements}${id}/comments/`, { text: text.value })
      .then(({ ok, data: d }) => {
        send.disabled = false;
        status.textContent = ok ? t.commentSent : refusal(d, t.commentFailed);
        if (ok) text.value = "";
      })
      .catch(() => { send.disabled = false; status.textContent = t.commentFailed; });
  });
  return form;
}

function identify(e) {
  if (!state.vintage) return;
  let rank = state.vintage;
  if (state.swipe) rank = e.containerPoint.x < map.getSize().x * state.split ? "M1" : "M2";
  const v = byRank[rank];
  const body = document.getElementById("polygon-body");
  document.getElementById("polygon-panel").hidden = false;
  body.textContent = t.loading;
  lastIdentify = `${v.identify}?lon=${e.latlng.lng.toFixed(7)}&lat=${e.latlng.lat.toFixed(7)}&z=${map.getZoom()}`;
  return loadPanel(lastIdentify);
}

/* The polygon at the last place clicked, into the panel (again after a filing). */
function loadPanel(url) {
  const body = document.getElementById("polygon-body");
  return getJSON(url)
    .then(({ ok, status, data }) => {
      if (status === 404) {
        body.textContent = t.nothing;
        if (highlight) map.removeLayer(highlight);
        return null;
      }
      if (!ok) throw new Error(String(status));
      return data;
    })
    .then((p) => p && showPolygon(p))
    .catch(() => { body.textContent = t.error; });
}

function codeSelect(name, table, selected) {
  const select = document.createElement("select");
  select.name = name;
  Object.keys(table).sort().forEach((code) => {
    const o = document.createElement("option");
    o.value = code;
    o.textContent = `${code} — ${table[code].label}`;
    o.style.borderLeft = `1rem solid ${table[code].colour}`;
    if (code === selected) o.selected = true;
    select.append(o);
  });
  return select;
}

/* The definition of the selected code, under its select, kept current. */
function definitionOf(select, table) {
  const p = document.createElement("p");
  p.className = "hint definition";
  const update = () => {
    const entry = table[select.value];
    p.textContent = entry ? entry.definition : "";
    select.style.borderLeft = `1rem solid ${entry ? entry.colour : "#ccc"}`;
  };
  select.addEventListener("change", update);
  update();
  return p;
}

function el(tag, props) {
  return Object.assign(document.createElement(tag), props);
}

function labelled(text, control) {
  const label = document.createElement("label");
  label.append(text, control);
  return label;
}

function showReportForm(p) {
  const body = document.getElementById("polygon-body");
  const form = document.createElement("form");
  form.id = "report-form";
  const cs = codeSelect("code_cs_proposed", cfg.cs, p.code_cs);
  const us = codeSelect("code_us_proposed", cfg.us, p.code_us);
  const csDef = definitionOf(cs, cfg.cs);
  const usDef = definitionOf(us, cfg.us);
  const comment = el("textarea", { name: "comment", rows: 3 });
  const files = el("input", {
    type: "file", name: "attachments", multiple: true,
    accept: "image/jpeg,image/png,image/webp,application/pdf",
  });
  // On phones and tablets, a photo straight from the camera (shown on touch screens).
  const camera = el("input", { type: "file", name: "camera", accept: "image/*", id: "report-camera" });
  camera.setAttribute("capture", "environment");
  const draw = el("button", { type: "button", textContent: t.draw });
  const hint = el("p", { id: "report-hint", className: "hint-warning", hidden: true });
  const impact = el("p", { id: "report-impact", className: "hint", hidden: true });
  const clippedNote = el("p", { id: "report-clipped", className: "hint-warning", hidden: true });
  const error = el("p", { id: "report-error", className: "error" });
  const send = el("button", { type: "submit", textContent: t.send });
  const cancel = el("button", { type: "button", textContent: t.cancel });
  form.append(labelled(t.proposedCs, cs), csDef, labelled(t.proposedUs, us), usDef, labelled(t.comment, comment),
    labelled(t.attachments, files), Object.assign(labelled(t.camera, camera), { className: "camera" }),
    draw, clippedNote, hint, impact, error, send, cancel);
  document.getElementById("report-open").after(form);
  document.getElementById("report-open").hidden = true;

  const payload = () => {
    const data = { vintage: p.vintage, code_cs_proposed: cs.value, code_us_proposed: us.value };
    if (drawn) data.geom = drawn.toGeoJSON().geometry;
    else data.polygon = p.id;
    return data;
  };
  const check = () => {
    postJSON(cfg.check, payload())
      .then(({ ok, data: d }) => {
        error.textContent = ok ? "" : refusal(d);
        hint.hidden = !(ok && d.hint);
        hint.textContent = ok && d.hint ? d.hint : "";
        // "If accepted: +0.42 ha artificialisés (commune …)", from the server's simulation.
        const places = ok && d.artif_impact ? d.artif_impact.communes.map((c) => c.name).join(", ") : "";
        impact.hidden = !(ok && d.artif_impact_text);
        impact.textContent = impact.hidden ? "" : `${t.impact} ${d.artif_impact_text} (${places})`;
        // A shape reaching beyond its polygon: the part that will be corrected, filled; the
        // rest of the drawing dashed.
        showClipped(ok && d.clipped ? d.clipped : null);
        clippedNote.hidden = !(ok && d.clipped);
        clippedNote.textContent = ok && d.clipped ? d.clipped.message : "";
      });
  };
  cs.addEventListener("change", check);
  us.addEventListener("change", check);
  draw.addEventListener("click", () => {
    if (drawer) drawer.disable();
    drawer = new L.Draw.Polygon(map, { shapeOptions: { color: "#e6007e" } });
    drawer.enable();
  });
  map.off(L.Draw.Event.CREATED).on(L.Draw.Event.CREATED, (e) => {
    if (drawn) map.removeLayer(drawn);
    drawn = e.layer.addTo(map);
    draw.textContent = t.drawn;
    check();
  });
  cancel.addEventListener("click", () => { form.remove(); clearDrawn(); document.getElementById("report-open").hidden = false; });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const data = new FormData();
    Object.entries(payload()).forEach(([k, v]) => data.append(k, typeof v === "object" ? JSON.stringify(v) : v));
    data.append("comment", comment.value);
    [...files.files, ...camera.files].forEach((f) => data.append("attachments", f));
    send.disabled = true;
    postForm(cfg.signalements, data)
      .then(({ ok, data: d }) => {
        send.disabled = false;
        if (!ok) {
          error.textContent = refusal(d, t.error);
          return;
        }
        clearDrawn();
        form.remove();
        refreshTiles();
        loadMarkers();
        // The panel again, with the new signalement listed; the confirmation on top.
        loadPanel(lastIdentify).then(() => {
          const done = el("p", { id: "report-done", className: "success", role: "status" });
          const link = el("a", {
            href: signalementUrl(d.id),
            textContent: t.sent.replace("%(id)s", d.id),
          });
          done.append(link, d.hint ? ` ${d.hint}` : "");
          document.getElementById("polygon-body").prepend(done);
        });
      })
      .catch(() => { send.disabled = false; error.textContent = t.error; });
  });
}

function showClipped(found) {
  if (clippedLayer) map.removeLayer(clippedLayer);
  clippedLayer = null;
  if (drawn) drawn.setStyle({ dashArray: found ? "6 6" : null, fillOpacity: found ? 0.05 : 0.2 });
  if (!found || !found.geometry) return;
  clippedLayer = L.geoJSON(found.geometry, {
    pane: "highlight", interactive: false,
    style: { color: "#e6007e", weight: 2, fillColor: "#e6007e", fillOpacity: 0.55 },
  }).addTo(map);
}

function clearDrawn() {
  if (drawer) drawer.disable();
  if (drawn) map.removeLayer(drawn);
  drawn = null;
  showClipped(null);
}

function refreshTiles() {
  [primary, secondary].forEach((layer) => layer && layer.redraw());
}

function loadMarkers() {
  if (markers) {
    map.removeLayer(markers);
    markers = null;
  }
  if (!state.markers || !state.vintage) return;
  const ids = state.swipe ? cfg.vintages.map((v) => v.id) : [byRank[state.vintage].id];
  Promise.all(ids.map((id) => getJSON(`${cfg.signalements}?vintage=${id}&page_size=2000`)
    .then(({ ok, data }) => (ok ? data : { features: [] })))).then((pages) => {
    const features = pages.flatMap((page) => page.features || []);
    markers = L.geoJSON({ type: "FeatureCollection", features: features }, {
      pane: "markers",
      pointToLayer: (f, latlng) => L.circleMarker(latlng, {
        pane: "markers", radius: 6, weight: 1.5, color: "#ffffff",
        fillColor: STATUS_COLOURS[f.properties.status] || "#000", fillOpacity: 1,
      }),
      onEachFeature: (f, layer) => {
        const p = f.properties;
        // Built as DOM text nodes: names come from users (never an HTML string).
        layer.bindPopup(textLines([
          `${t.numero} ${f.id} · ${p.status_label}`,
          `${p.code_cs_current}/${p.code_us_current} → ${p.code_cs_proposed}/${p.code_us_proposed}`,
          p.organisation_name,
        ]));
      },
    }).addTo(map);
  });
}

function searchCommunes(q) {
  const list = document.getElementById("commune-results");
  if (q.length < 2) {
    list.replaceChildren();
    return;
  }
  const url = `${cfg.communes}?departement=${encodeURIComponent(cfg.departement)}&q=${encodeURIComponent(q)}`;
  getJSON(url)
    .then(({ data }) => {
      const items = (data && (data.results || data)) || [];
      list.replaceChildren();
      if (!items.length) {
        const li = document.createElement("li");
        li.className = "empty";
        li.textContent = t.noCommune;
        list.append(li);
      }
      items.slice(0, 10).forEach((c) => {
        const li = document.createElement("li");
        const b = document.createElement("button");
        b.type = "button";
        b.textContent = `${c.name} (${c.code})`;
        b.addEventListener("click", () => map.fitBounds([[c.bbox[1], c.bbox[0]], [c.bbox[3], c.bbox[2]]]));
        li.append(b);
        list.append(li);
      });
    });
}

/* Until when the shown vintage's loop is open, or why filing is not possible (calendar). */
function showLoopNote() {
  const note = document.getElementById("loop-note");
  const v = byRank[state.vintage];
  note.textContent = v && v.loop ? v.loop : "";
}

function bindControls() {
  const select = document.getElementById("vintage");
  if (select) {
    select.value = state.vintage || "";
    select.addEventListener("change", () => {
      state.vintage = select.value;
      rebuildLayers();
      loadMarkers();
      saveUrl();
      showLoopNote();
    });
  }
  showLoopNote();
  document.querySelectorAll("input[name=colour]").forEach((input) => {
    input.checked = input.value === state.colour;
    input.addEventListener("change", () => {
      state.colour = input.value;
      renderLegend();
      rebuildLayers();
      saveUrl();
    });
  });
  const swipe = document.getElementById("swipe");
  if (swipe) {
    swipe.checked = state.swipe;
    swipe.addEventListener("change", () => { state.swipe = swipe.checked; rebuildLayers(); saveUrl(); });
  }
  const ch = document.getElementById("changes");
  if (ch) {
    ch.checked = state.changes;
    ch.addEventListener("change", () => { state.changes = ch.checked; rebuildLayers(); saveUrl(); });
  }
  const mk = document.getElementById("markers");
  mk.checked = state.markers;
  mk.addEventListener("change", () => { state.markers = mk.checked; loadMarkers(); saveUrl(); });
  const opacity = document.getElementById("opacity");
  opacity.value = state.opacity;
  opacity.addEventListener("input", () => { state.opacity = parseInt(opacity.value, 10); applyOpacity(); saveUrl(); });
  document.querySelectorAll("input[name=background]").forEach((input) => {
    input.checked = input.value === state.background;
    input.addEventListener("change", () => { state.background = input.value; setBackground(); saveUrl(); });
  });
  let timer;
  const search = document.getElementById("commune-search");
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => searchCommunes(search.value.trim()), 250);
  });
  document.getElementById("panel-close").addEventListener("click", () => {
    document.getElementById("polygon-panel").hidden = true;
    if (highlight) map.removeLayer(highlight);
  });
  const handle = document.getElementById("swipe-handle");
  L.DomEvent.disableClickPropagation(handle);
  handle.addEventListener("pointerdown", (e) => {
    handle.setPointerCapture(e.pointerId);
    map.dragging.disable();
  });
  handle.addEventListener("pointermove", (e) => {
    if (!handle.hasPointerCapture(e.pointerId)) return;
    const rect = map.getContainer().getBoundingClientRect();
    state.split = Math.min(0.98, Math.max(0.02, (e.clientX - rect.left) / rect.width));
    updateClip();
  });
  handle.addEventListener("pointerup", (e) => {
    handle.releasePointerCapture(e.pointerId);
    map.dragging.enable();
  });
}

/* « Me localiser » (phones in the field): the map goes to where the device is, a dot and
 * the accuracy circle there. Browsers ask the user first (and need HTTPS). */
let located = null;
function addLocateControl() {
  if (!navigator.geolocation) return;
  const Locate = L.Control.extend({
    options: { position: "topleft" },
    onAdd: function () {
      const div = L.DomUtil.create("div", "leaflet-bar locate-control");
      const a = L.DomUtil.create("a", "", div);
      a.href = "#";
      a.id = "locate-me";
      a.setAttribute("role", "button");
      a.title = t.locate;
      a.setAttribute("aria-label", t.locate);
      // A target drawn in SVG (no icon font: nothing to load, the same on every device).
      const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
      svg.setAttribute("viewBox", "0 0 24 24");
      svg.setAttribute("width", "18");
      svg.setAttribute("height", "18");
      svg.setAttribute("aria-hidden", "true");
      [["circle", { cx: 12, cy: 12, r: 7, fill: "none", stroke: "#333", "stroke-width": 2 }],
        ["circle", { cx: 12, cy: 12, r: 2.5, fill: "#333" }],
        ["path", { d: "M12 1v4M12 19v4M1 12h4M19 12h4", stroke: "#333", "stroke-width": 2 }],
      ].forEach(([tag, attrs]) => {
        const shape = document.createElementNS("http://www.w3.org/2000/svg", tag);
        Object.entries(attrs).forEach(([k, v]) => shape.setAttribute(k, v));
        svg.append(shape);
      });
      a.append(svg);
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.on(a, "click", (e) => {
        L.DomEvent.preventDefault(e);
        map.locate({ setView: true, maxZoom: 18, enableHighAccuracy: true });
      });
      return div;
    },
  });
  new Locate().addTo(map);
  map.on("locationfound", (e) => {
    if (located) map.removeLayer(located);
    located = L.layerGroup([
      L.circle(e.latlng, { radius: e.accuracy, weight: 1, color: "#1f78b4", fillOpacity: 0.1, interactive: false }),
      L.circleMarker(e.latlng, { radius: 7, color: "#ffffff", weight: 2, fillColor: "#1f78b4", fillOpacity: 1, interactive: false }),
    ], { pane: "markers" }).addTo(map);
    document.getElementById("map").dataset.located = "1";
  });
  map.on("locationerror", () => { document.getElementById("loop-note").textContent = t.locateFailed; });
}

/* Leaflet.draw's tooltips in the page's language. */
function localiseDraw() {
  if (!L.drawLocal) return;
  L.drawLocal.draw.handlers.polygon.tooltip = { start: t.drawStart, cont: t.drawCont, end: t.drawEnd };
  L.drawLocal.draw.handlers.polyline.error = t.drawError;
}

window.ocsgeMapInit = function (leafletMap) {
  map = leafletMap;
  localiseDraw();
  map.setMaxZoom(20);
  setPane("primary", 400);
  setPane("secondary", 410);
  setPane("changes", 420);
  setPane("highlight", 450);
  setPane("markers", 620);
  if (params.has("z") && params.has("lat") && params.has("lon")) {
    map.setView([parseFloat(params.get("lat")), parseFloat(params.get("lon"))], parseInt(params.get("z"), 10));
  } else if (cfg.bounds) {
    map.fitBounds(cfg.bounds);
  }
  setBackground();
  renderLegend();
  rebuildLayers();
  bindControls();
  map.on("click", (e) => { if (!(drawer && drawer.enabled())) identify(e); });
  addLocateControl();
  // Keyboard: the map takes the focus (Tab), arrows move it, Enter asks for the polygon
  // under its centre; the focus then goes to the panel (its first action).
  const container = map.getContainer();
  container.setAttribute("aria-label", t.mapKeyboard);
  container.addEventListener("keydown", (e) => {
    if (e.key !== "Enter" || e.target !== container || (drawer && drawer.enabled())) return;
    e.preventDefault();
    const centre = map.getSize().divideBy(2);
    const found = identify({ latlng: map.getCenter(), containerPoint: centre });
    if (found) found.then(() => {
      const first = document.getElementById("report-open") || document.getElementById("panel-close");
      if (first) first.focus();
    });
  });
  loadMarkers();
  map.on("move zoom resize", updateClip);
  map.on("moveend", saveUrl);
  document.getElementById("map").dataset.ready = "1";
};
