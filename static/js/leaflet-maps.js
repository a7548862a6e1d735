// Builds the maps that django-leaflet's {% leaflet_map %} tag declares (templates/leaflet/
// _leaflet_map.html puts its options in data attributes: no inline script, see the CSP).

function resolve(path) {
  if (!path) return null;
  return path.replace(/^window\./, "").split(".").reduce(function (obj, key) {
    return obj == null ? null : obj[key];
  }, window);
}
document.querySelectorAll("[data-leaflet-map]").forEach(function (el) {
  var name = el.getAttribute("data-leaflet-map");
  var globals = el.getAttribute("data-globals") === "true";
  function loadmap() {
    var map = L.Map.djangoMap(name, {
      djoptions: JSON.parse(el.getAttribute("data-djoptions")),
      initfunc: loadmap,
      globals: globals,
      callback: resolve(el.getAttribute("data-callback")),
    });
    if (globals) {
      window["leafletmap" + name] = map;
    }
  }
  if (globals) window["loadmap" + name] = loadmap;
  var loadevents = JSON.parse(el.getAttribute("data-loadevents") || "[]");
  if (loadevents.length === 0) loadmap();
  else loadevents.forEach(function (ev) { window.addEventListener(ev, loadmap, false); });
});
