/* /donnees/: the published vintages and their changes drawn from the package's PMTiles
 * archives, read by HTTP range requests (vendored `pmtiles` reader) and drawn by
 * Leaflet.VectorGrid — no tile server. Configuration: the #open-data-config JSON. */

const cfg = JSON.parse(document.getElementById("open-data-config").textContent);
const status = document.getElementById("archive-status");

/* VectorGrid's protobuf layer with its tiles taken from a PMTiles archive: each tile read
 * from the archive is handed to VectorGrid's own decoder as a blob URL. */
const PMTilesGrid = L.VectorGrid.Protobuf.extend({
  initialize: function (archive, options) {
    this._archive = archive;
    L.VectorGrid.Protobuf.prototype.initialize.call(this, "", options);
  },
  _getVectorTilePromise: function (coords, tileBounds) {
    const layer = this;
    return this._archive.getZxy(coords.z, coords.x, coords.y).then(function (tile) {
      if (!tile) return { layers: [] };
      const url = URL.createObjectURL(new Blob([tile.data]));
      const reader = Object.create(layer);
      reader._url = url; // no {z}/{x}/{y}: the template is the blob's URL itself
      return L.VectorGrid.Protobuf.prototype._getVectorTilePromise
        .call(reader, coords, tileBounds)
        .finally(() => URL.revokeObjectURL(url));
    });
  },
});

function style(layerName) {
  if (layerName === "changes") {
    return {
      changes: (props) => ({
        fill: true, fillColor: cfg.cs[props.cs_apres] || "#888888", fillOpacity: 0.9,
        stroke: true, color: "#ff00ff", weight: 1.5,
      }),
    };
  }
  return {
    polygons: (props) => ({
      fill: true, fillColor: cfg.cs[props.code_cs] || "#888888", fillOpacity: 1,
      stroke: false,
    }),
  };
}

let map, shown;

function show(index) {
  const entry = cfg.archives[index];
  const archive = new pmtiles.PMTiles(entry.url);
  if (shown) map.removeLayer(shown);
  status.textContent = "";
  archive.getHeader().then((header) => {
    map.fitBounds([[header.minLat, header.minLon], [header.maxLat, header.maxLon]]);
    shown = new PMTilesGrid(archive, {
      rendererFactory: L.canvas.tile,
      interactive: false,
      maxNativeZoom: header.maxZoom, // the archive's last zoom: the map overzooms beyond
      maxZoom: 20,
      vectorTileLayerStyles: style(entry.layer),
    });
    shown.on("load", () => { document.getElementById("opendata").dataset.ready = "1"; });
    shown.addTo(map);
  }).catch(() => { status.textContent = cfg.i18n.error; });
}

window.ocsgeOpenDataInit = function (leafletMap) {
  map = leafletMap;
  map.setMaxZoom(20);
  const select = document.getElementById("archive");
  select.addEventListener("change", () => {
    delete document.getElementById("opendata").dataset.ready;
    show(parseInt(select.value, 10));
  });
  show(parseInt(select.value, 10));
};
