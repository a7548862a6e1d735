/* A vintage's vector tiles drawn in the official colours of their CS codes (the queue's
 * map, a signalement's page): canvas, not interactive (clicks go to the exact geometry),
 * white outlines from z15. */
export function coverLayer(url, colours, { opacity = 1, fillOpacity = 0.8 } = {}) {
  return L.vectorGrid.protobuf(url, {
    rendererFactory: L.canvas.tile,
    interactive: false,
    maxNativeZoom: 22,
    maxZoom: 22,
    opacity,
    fetchOptions: { credentials: "same-origin" },
    vectorTileLayerStyles: {
      polygons: (p, z) => ({
        fill: true, fillColor: colours[p.code_cs] || "#888888", fillOpacity,
        stroke: z >= 15 && !p.agg, color: "#ffffff", weight: 0.5,
      }),
    },
  });
}
