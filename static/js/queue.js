/* The operators' queue: a map of the page's signalements, keyboard shortcuts, decisions on
 * the current row or on the checked rows (bulk endpoint). */
import { postJSON, refusal } from "./api.js";
import { textLines } from "./dom.js";
import { coverLayer } from "./tiles.js";

const cfg = JSON.parse(document.getElementById("queue-config").textContent);
const KEYS = { t: "take", a: "accept", d: "already_done", i: "ask_info", s: "reject_out_of_spec", r: "reject_irrelevant" };
const COLOURS = cfg.statusColours;
let map;
const markers = {};
const rows = () => Array.from(document.querySelectorAll("#queue-table tbody tr[data-id]"));
let currentIndex = 0;

function say(text, isError) {
  const p = document.getElementById("queue-message");
  if (!p) return;
  p.textContent = text;
  p.className = isError ? "error" : "";
}

/* The vintage shown on the map (its tiles), the others removed. */
const vintageLayers = {};
function showVintage(id) {
  Object.entries(vintageLayers).forEach(([key, layer]) => {
    if (String(key) === String(id)) { if (!map.hasLayer(layer)) layer.addTo(map); }
    else if (map.hasLayer(layer)) map.removeLayer(layer);
  });
}

/* A marker's popup: its number, current → proposed codes with their colours. */
function popupOf(f) {
  const box = textLines([`${cfg.labels.numero} ${f.id}`]);
  [[cfg.labels.current, f.properties.current, f.properties.cs_current],
    [cfg.labels.proposed, f.properties.proposed, f.properties.cs_proposed]].forEach(([label, codes, cs]) => {
    const line = document.createElement("div");
    const sw = document.createElement("span");
    sw.className = "swatch";
    sw.style.background = cfg.cs[cs] || "#888";
    line.append(sw, `${label} : ${codes}`);
    box.append(line);
  });
  return box;
}

/* [singular, plural] of a sentence with `%(n)s`, by the page language's rule. */
function plural(forms, n) {
  const many = cfg.pluralFrom === 2 ? n >= 2 : n !== 1;
  return forms[many ? 1 : 0].replace("%(n)s", n);
}

function select(index) {
  const all = rows();
  if (!all.length) return;
  currentIndex = Math.max(0, Math.min(all.length - 1, index));
  all.forEach((r) => r.classList.remove("current"));
  const row = all[currentIndex];
  row.classList.add("current");
  row.focus({ preventScroll: false });
  const m = markers[row.dataset.id];
  if (m && map) {
    showVintage(m.feature.properties.vintage);
    map.setView(m.getLatLng(), Math.max(map.getZoom(), 17));
    m.openPopup();
    outline(m);
  }
}

/* The current signalement's polygon outlined on the map (its exact geometry, from the
 * identify API at the map's zoom). */
let highlight = null;
function outline(marker) {
  const f = marker.feature;
  const at = marker.getLatLng();
  const url = `${cfg.vintages}${f.properties.vintage}/polygons/at/?lon=${at.lng.toFixed(7)}&lat=${at.lat.toFixed(7)}&z=${map.getZoom()}`;
  fetch(url, { credentials: "same-origin" }).then((r) => (r.ok ? r.json() : null)).then((p) => {
    if (highlight) highlight.remove();
    highlight = null;
    if (!p || markers[f.id] !== marker || rows()[currentIndex].dataset.id !== String(f.id)) return;
    highlight = L.geoJSON(p.geometry, { interactive: false, style: { color: "#00e5ff", weight: 3, fill: false, className: "current-outline" } }).addTo(map);
  });
}

/* The checked rows: highlighted, counted beside the toolbar (decisions go to them). */
function showPicked() {
  const picked = rows().filter((r) => r.querySelector(".pick") && r.querySelector(".pick").checked);
  rows().forEach((r) => r.classList.toggle("checked", picked.includes(r)));
  const badge = document.getElementById("picked");
  if (!badge) return;
  badge.hidden = picked.length === 0;
  badge.textContent = plural(cfg.picked, picked.length);
}

function clearPicked() {
  rows().forEach((r) => { const c = r.querySelector(".pick"); if (c) c.checked = false; });
  const all = document.getElementById("check-all");
  if (all) all.checked = false;
  showPicked();
}

function setStatus(id, status) {
  const row = document.querySelector(`#queue-table tr[data-id="${id}"]`);
  if (row) row.querySelector(".status").textContent = cfg.statusLabels[status] || status;
  if (markers[id]) markers[id].setStyle({ fillColor: COLOURS[status] || "#000" });
}

/* A rejection needs a reason of its kind: the list offers those only, and says so. */
const REJECTIONS = { reject_out_of_spec: "rejected_out_of_spec", reject_irrelevant: "rejected_irrelevant" };
function reasonFor(action) {
  const select = document.getElementById("reason");
  const kind = REJECTIONS[action];
  Array.from(select.options).forEach((o) => { o.hidden = Boolean(kind && o.value && o.dataset.applies !== kind); });
  if (!kind) return true;
  const chosen = select.selectedOptions[0];
  if (chosen && chosen.value && chosen.dataset.applies === kind) return true;
  select.value = "";
  select.focus();
  say(cfg.chooseReason.replace("%(kind)s", cfg.statusLabels[kind]), true);
  return false;
}

function decide(action) {
  if (!reasonFor(action)) return;
  const checked = rows().filter((r) => r.querySelector(".pick") && r.querySelector(".pick").checked);
  const targets = checked.length ? checked : [rows()[currentIndex]].filter(Boolean);
  if (!targets.length) return;
  const body = { message: document.getElementById("message").value };
  const reason = document.getElementById("reason").value;
  if (reason) body.reason = parseInt(reason, 10);
  const ids = targets.map((r) => parseInt(r.dataset.id, 10));
  if (ids.length === 1) {
    postJSON(`${cfg.api}${ids[0]}/${action}/`, body)
      .then(({ ok, data: d }) => {
        if (!ok) return say(refusal(d, JSON.stringify(d)), true);
        setStatus(ids[0], d.properties.status);
        const related = d.properties.related || [];
        say(`${cfg.labels.numero} ${ids[0]} : ${cfg.statusLabels[d.properties.status]}` +
          (related.length ? ` — ${plural(cfg.related, related.length).replace("%(ids)s", related.join(", "))}` : ""));
        if (action === "accept" && related.length) offerClosing(related);
        offerUndo([ids[0]]);
        select(currentIndex + 1);
      });
  } else {
    // A decision on many at once is confirmed first.
    if (!window.confirm(cfg.confirmBulk.replace("%(n)s", ids.length).replace("%(action)s", cfg.actionLabels[action] || action))) return;
    postJSON(cfg.bulk, { ...body, ids, action })
      .then(({ ok, data: d }) => {
        if (!ok) return say(refusal(d, JSON.stringify(d)), true);
        (d.results || []).forEach((res) => res.ok && setStatus(res.id, res.status));
        const failed = (d.results || []).filter((res) => !res.ok).map((res) => `${cfg.labels.numero} ${res.id} : ${res.detail}`);
        say(`${d.done} ✓, ${d.failed} ✗ ${failed.join(" · ")}`, d.failed > 0);
        offerUndo((d.results || []).filter((res) => res.ok).map((res) => res.id));
        clearPicked();
      });
  }
}

/* After a decision: « Annuler » (or the key u) puts the signalements back as they were —
 * status, and an accept's correction — for a while (the server says when it is too late). */
let undoable = [];
function offerUndo(ids) {
  undoable = ids;
  if (!ids.length) return;
  const b = document.createElement("button");
  b.type = "button";
  b.id = "undo-decision";
  b.textContent = cfg.labels.undo;
  b.addEventListener("click", undoLast);
  document.getElementById("queue-message").append(" ", b);
}

function undoLast() {
  const ids = undoable;
  undoable = [];
  if (!ids.length) return;
  Promise.all(ids.map((id) => postJSON(`${cfg.api}${id}/undo/`, {}).then(({ ok, data: d }) => {
    if (ok) setStatus(id, d.properties.status);
    return ok ? `${cfg.labels.numero} ${id} : ${cfg.statusLabels[d.properties.status]}` : `${cfg.labels.numero} ${id} : ${refusal(d)}`;
  }))).then((lines) => say(`${cfg.labels.undone} ${lines.join(" · ")}`));
}

/* After an accept: one click closes the other open signalements of the place. */
function offerClosing(ids) {
  const p = document.getElementById("queue-message");
  const b = document.createElement("button");
  b.type = "button";
  b.id = "close-related";
  b.textContent = plural(cfg.closeRelated, ids.length);
  b.addEventListener("click", () => {
    postJSON(cfg.bulk, { ids, action: "already_done", message: "" }).then(({ ok, data: d }) => {
      if (!ok) return say(refusal(d, JSON.stringify(d)), true);
      (d.results || []).forEach((res) => res.ok && setStatus(res.id, res.status));
      say(`${d.done} ✓, ${d.failed} ✗`, d.failed > 0);
    });
  });
  p.append(" ", b);
}

/* The map fits the viewport below where it starts (and, sticky, stays there when the
 * list scrolls): the current signalement's place is always on screen. */
function fitMap() {
  const box = document.querySelector(".queue-map");
  if (!box) return;
  const top = box.getBoundingClientRect().top + window.scrollY;
  box.style.height = `${Math.max(300, window.innerHeight - Math.min(top, window.innerHeight / 2) - 8)}px`;
  if (map) map.invalidateSize();
}

window.ocsgeQueueInit = function (leafletMap) {
  map = leafletMap;
  fitMap();
  window.addEventListener("resize", fitMap);
  // One layer per vintage, one shown (the current signalement's); the control switches to
  // the other to compare M1 and M2 at the place.
  const bases = {};
  cfg.tiles.forEach((t) => {
    vintageLayers[t.id] = coverLayer(t.url, cfg.cs, { opacity: 0.8, fillOpacity: 0.8 });
    bases[t.label] = vintageLayers[t.id];
  });
  if (cfg.tiles.length) showVintage(cfg.tiles[cfg.tiles.length - 1].id);
  if (cfg.tiles.length > 1) L.control.layers(bases, null, { collapsed: false, position: "topright" }).addTo(map);
  const layer = L.geoJSON(cfg.points, {
    pointToLayer: (f, latlng) => {
      const m = L.circleMarker(latlng, { radius: 7, weight: 1.5, color: "#fff", fillColor: COLOURS[f.properties.status] || "#000", fillOpacity: 1 });
      m.feature = f;
      m.bindPopup(popupOf(f));
      m.on("click", () => select(rows().findIndex((r) => r.dataset.id === String(f.id))));
      markers[f.id] = m;
      return m;
    },
  }).addTo(map);
  if (cfg.points.features.length) map.fitBounds(layer.getBounds().pad(0.2), { maxZoom: 16 });
  if (rows().length) select(currentIndex);
  document.getElementById("queue-map").dataset.ready = "1";
};

document.addEventListener("DOMContentLoaded", () => {
  rows().forEach((row, i) => row.addEventListener("click", (e) => { if (!e.target.classList.contains("pick")) select(i); }));
  document.querySelectorAll("#toolbar button[data-action]").forEach((b) => b.addEventListener("click", () => decide(b.dataset.action)));
  document.querySelectorAll("button.withdraw").forEach((b) => b.addEventListener("click", () => {
    postJSON(`${cfg.api}${b.dataset.id}/withdraw/`, {}).then(({ ok, data: d }) => {
      if (!ok) return say(refusal(d, JSON.stringify(d)), true);
      setStatus(b.dataset.id, d.properties.status);
      b.remove();
    });
  }));
  const all = document.getElementById("check-all");
  if (all) all.addEventListener("change", () => { rows().forEach((r) => { r.querySelector(".pick").checked = all.checked; }); showPicked(); });
  document.querySelectorAll("#queue-table .pick").forEach((c) => c.addEventListener("change", showPicked));
  document.addEventListener("keydown", (e) => {
    if (["INPUT", "SELECT", "TEXTAREA"].includes(e.target.tagName) || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "j" || e.key === "ArrowDown") { select(currentIndex + 1); e.preventDefault(); }
    else if (e.key === "k" || e.key === "ArrowUp") { select(currentIndex - 1); e.preventDefault(); }
    else if (e.key === "x") { const c = rows()[currentIndex] && rows()[currentIndex].querySelector(".pick"); if (c) { c.checked = !c.checked; showPicked(); } }
    else if (e.key === "Escape") { clearPicked(); }
    else if (e.key === "u" && undoable.length) { undoLast(); e.preventDefault(); }
    else if (KEYS[e.key] && document.getElementById("toolbar")) { decide(KEYS[e.key]); e.preventDefault(); }
  });
  if (rows().length) select(0);
});
