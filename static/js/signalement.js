/* A signalement's page: its place on the vintage as it is now (vector tiles in the CS
 * colours), the point where it was filed and the drawn shape. Configuration: #place-config. */
import { coverLayer } from "./tiles.js";

const cfg = JSON.parse(document.getElementById("place-config").textContent);

window.ocsgePlaceInit = function (map) {
  coverLayer(cfg.tiles, cfg.cs, { fillOpacity: 0.9 }).addTo(map);
  const marker = L.circleMarker(cfg.location, {
    radius: 7, color: "#ffffff", weight: 2, fillColor: "#e6007e", fillOpacity: 1,
  }).addTo(map);
  if (cfg.shape) {
    const shape = L.geoJSON(cfg.shape, { style: { color: "#e6007e", weight: 3, fill: false } }).addTo(map);
    map.fitBounds(shape.getBounds(), { maxZoom: 18, padding: [20, 20] });
  } else {
    map.setView(marker.getLatLng(), 17);
  }
  document.getElementById("place").dataset.ready = "1";
};
