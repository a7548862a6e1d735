// Territory page: choropleth of the communes (artificialised share M1/M2, or net flow).
import { getJSON } from "./api.js";
import { textLines } from "./dom.js";

const cfg = JSON.parse(document.getElementById("territory-config").textContent);
// Sequential palette for shares, diverging for the net flow (colour-blind safe, ColorBrewer).
const SEQ = ["#fff5eb", "#fdd0a2", "#fdae6b", "#fd8d3c", "#e6550d", "#a63603"];
const DIV = ["#2166ac", "#92c5de", "#f7f7f7", "#f4a582", "#b2182b"];

/* Quantile breaks, each once: a territory of few communes (or of equal values) gets fewer
 * classes, never the same class twice in the legend. */
function breaks(values, n) {
  const sorted = values.filter((v) => v !== null).sort((a, b) => a - b);
  if (!sorted.length) return [];
  const out = [];
  for (let i = 1; i < n; i++) out.push(sorted[Math.floor((i * sorted.length) / n)]);
  return [...new Set(out)].filter((c) => c < sorted[sorted.length - 1]);
}
/* `k` colours spread over the palette (its ends kept). */
function spread(palette, k) {
  if (k >= palette.length) return palette;
  if (k === 1) return [palette[palette.length - 1]];
  return Array.from({ length: k }, (_, i) => palette[Math.round((i * (palette.length - 1)) / (k - 1))]);
}
function classOf(v, cuts) {
  let k = 0;
  while (k < cuts.length && v > cuts[k]) k++;
  return k;
}
function fmt(v) {
  if (v === null) return cfg.labels.none;
  return (v === 0 ? 0 : v).toLocaleString(document.documentElement.lang, { maximumFractionDigits: 2 });
}
function withUnit(v, key) {
  return v === null ? cfg.labels.none : `${fmt(v)} ${cfg.units[key]}`;
}

window.ocsgeTerritoryInit = function (map) {
  let layer = null;
  let data = null;
  const legend = document.getElementById("choropleth-legend");
  const draw = () => {
    const key = document.querySelector("input[name=choropleth]:checked").value;
    const values = data.features.map((f) => f.properties[key]);
    const diverging = key === "net_ha";
    const known = values.filter((v) => v !== null);
    let palette;
    let cuts;
    if (diverging) {
      const top = Math.max(...known.map(Math.abs), 0.01);
      cuts = [-top / 2, -top / 10, top / 10, top / 2];
      palette = DIV;
    } else {
      cuts = breaks(values, SEQ.length);
      palette = spread(SEQ, cuts.length + 1);
    }
    const colour = (v) => palette[classOf(v, cuts)];
    if (layer) map.removeLayer(layer);
    layer = L.geoJSON(data, {
      style: (f) => {
        const v = f.properties[key];
        return { color: "#555", weight: 1, fillOpacity: 0.75, fillColor: v === null ? "#ddd" : colour(v) };
      },
      onEachFeature: (f, l) => {
        const p = f.properties;
        l.bindTooltip(textLines([`${p.name} (${p.code}) : ${withUnit(p[key], key)}`]));
        l.on("click", () => { window.location.href = `../../commune/${p.code}/`; });
      },
    }).addTo(map);
    if (data.features.length) map.fitBounds(layer.getBounds());
    legend.textContent = "";
    const title = document.createElement("strong");
    title.textContent = cfg.labels[key];
    legend.append(title);
    const list = document.createElement("ul");
    // Each class by the lowest and highest values it holds: no empty class, none twice.
    palette.forEach((c, i) => {
      const held = known.filter((v) => classOf(v, cuts) === i);
      if (!held.length) return;
      const li = document.createElement("li");
      const sw = document.createElement("span");
      sw.className = "swatch";
      sw.style.background = c;
      const lo = Math.min(...held);
      const hi = Math.max(...held);
      li.dataset.colour = c;
      li.append(sw, lo === hi ? ` ${withUnit(lo, key)}` : ` ${fmt(lo)} – ${withUnit(hi, key)}`);
      list.append(li);
    });
    legend.append(list);
  };
  getJSON(cfg.geojson).then(({ ok, data: d }) => {
    if (!ok) return;
    data = d;
    draw();
  });
  document.querySelectorAll("input[name=choropleth]").forEach((i) => i.addEventListener("change", draw));
};
