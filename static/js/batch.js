/* A filing from a file in progress: the count of rows checked asked every second, the page
 * reloaded (each row's fate) once the worker is done. */
import { getJSON } from "./api.js";

const section = document.getElementById("batch-progress");

function poll() {
  getJSON(section.dataset.url).then(({ ok, data: job }) => {
    if (!ok) throw new Error(String(job));
    document.getElementById("batch-state").textContent = job.state_label;
    document.getElementById("batch-checked").textContent = job.checked;
    const bar = document.getElementById("batch-bar");
    bar.value = job.checked;
    bar.textContent = `${job.checked} / ${job.total}`;
    if (job.finished) window.location.reload();
    else window.setTimeout(poll, 1000);
  }).catch(() => window.setTimeout(poll, 3000));
}

if (section) window.setTimeout(poll, 1000);
