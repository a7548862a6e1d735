// The one place that talks to the platform's API from the browser: same-origin
// credentials, the CSRF token on every write, JSON in and out.
//   const { ok, status, data } = await request(url, { method: "POST", json: {...} });
// `data` is the parsed JSON answer (null when there is none); a network failure rejects.

export function csrfToken() {
  const input = document.querySelector("input[name=csrfmiddlewaretoken]");
  return input ? input.value : "";
}

export async function request(url, { method = "GET", json, form } = {}) {
  const headers = { Accept: "application/json" };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form; // multipart: the browser sets the boundary
  }
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
  const response = await fetch(url, { method, credentials: "same-origin", headers, body });
  const type = response.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await response.json() : null;
  return { ok: response.ok, status: response.status, data };
}

export const getJSON = (url) => request(url);
export const postJSON = (url, json) => request(url, { method: "POST", json });
export const postForm = (url, form) => request(url, { method: "POST", form });

// The message of a refusal: `detail` (apps.ops.errors), else the fields' messages.
export function refusal(data, fallback = "") {
  if (!data) return fallback;
  if (data.detail) return data.detail;
  const messages = Object.values(data).flat().filter((m) => typeof m === "string");
  return messages.length ? messages.join(" ") : fallback;
}
