// Inference page: poll each unfinished run and update its progress in place.
import { getJSON } from "./api.js";

const FINISHED = ["done", "failed", "cancelled"];
function poll(row) {
  getJSON(row.dataset.stateUrl)
    .then(({ ok, data: d }) => {
      if (!ok) throw new Error("state");
      row.querySelector(".state").textContent = d.state_label;
      const bar = row.querySelector("progress");
      bar.max = Math.max(d.blocks_total, 1);
      bar.value = d.blocks_done;
      row.querySelector(".blocks").textContent = `${d.blocks_done} / ${d.blocks_total}`;
      if (FINISHED.includes(d.state)) window.location.reload();
      else setTimeout(() => poll(row), 2000);
    })
    .catch(() => setTimeout(() => poll(row), 5000));
}
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("#runs tr[data-run]").forEach((row) => {
    if (!row.dataset.finished) poll(row);
  });
});
