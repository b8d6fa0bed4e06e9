// The Earshot console: one page, no build step, nothing loaded from anywhere but this API.
// It signs in with an API key pair or an upload token (kept in sessionStorage, this tab only),
// and does everything through the public /v1 API, like any other client.
import {
  EarshotClient, Recorder, recordingFilename, ApiError, NetworkError, UnauthorizedError, TokenExpiredError,
  FileTooLargeError, MicrophoneDeniedError, MicrophoneUnavailableError, TranscriptionFailedError, AbortedError,
} from "/sdk/recorder.js";

const STORE = "earshot.console.credentials";
const LOW_CONFIDENCE = 0.6;
const main = document.getElementById("main");
const messageBox = document.getElementById("message");

// -- small DOM helpers (no innerHTML: names, tags and transcripts are user data) ---------------

function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") el.className = value;
    else if (name === "text") el.textContent = value;
    else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function showMessage(text, kind = "error") {
  messageBox.textContent = text;
  messageBox.className = `message ${kind}`;
  messageBox.hidden = false;
}

function clearMessage() {
  messageBox.hidden = true;
  messageBox.textContent = "";
}

let flash = null; // { text, kind } to show after the next navigation ("Deleted …")

function describe(err) {
  if (err instanceof UnauthorizedError) return `The API key or secret was refused (${err.code}): ${err.message}.`;
  if (err instanceof TokenExpiredError) {
    return `The upload token was refused (${err.message}). Sign in again with a new token.`;
  }
  if (err instanceof FileTooLargeError) return `The file is too large for this server (${err.code}): ${err.message}.`;
  if (err instanceof NetworkError) return `Cannot reach the Earshot API: ${err.message}.`;
  if (err instanceof MicrophoneDeniedError) return "Microphone access was denied: allow it in the browser's site settings.";
  if (err instanceof MicrophoneUnavailableError) return `Cannot record: ${err.message}.`;
  if (err instanceof TranscriptionFailedError) return `The transcription failed (${err.reason}): ${err.message}`;
  if (err instanceof ApiError) return `${err.message} (${err.code}, HTTP ${err.status}).`;
  return `Something went wrong: ${(err && err.message) || err}`;
}

function fail(err) {
  if (err instanceof AbortedError) return;
  if (err instanceof UnauthorizedError || err instanceof TokenExpiredError) {
    flash = { text: describe(err), kind: "error" };
    signOut();
    return;
  }
  showMessage(describe(err));
}

function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash; // hashchange routes
}

// -- credentials -------------------------------------------------------------------------------

function loadSession() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(STORE) || "null");
    if (saved && (saved.token || (saved.apiKey && saved.apiSecret))) return saved;
  } catch (_) {
    // a damaged entry: sign in again
  }
  return null;
}

let session = loadSession();
let client = session ? new EarshotClient(session) : null;

function signIn(credentials) {
  session = credentials;
  client = new EarshotClient(credentials);
  sessionStorage.setItem(STORE, JSON.stringify(credentials));
}

function signOut() {
  session = null;
  client = null;
  sessionStorage.removeItem(STORE);
  navigate("#/sign-in");
}

document.getElementById("sign-out").addEventListener("click", signOut);

function updateNav() {
  const nav = document.getElementById("nav");
  nav.hidden = !session;
  document.getElementById("nav-recordings").hidden = !session || !session.apiKey;
  document.getElementById("who").textContent = !session ? ""
    : session.apiKey ? `Key ${session.apiKey.slice(0, 10)}…` : "Upload token";
}

// -- formatting --------------------------------------------------------------------------------

function clock(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  const hours = Math.floor(s / 3600);
  const rest = `${Math.floor((s % 3600) / 60)}:${String(s % 60).padStart(2, "0")}`;
  return hours ? `${hours}:${rest.padStart(5, "0")}` : rest;
}

function when(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

function statusBadge(status) {
  return h("span", { class: `status ${status}` }, status);
}

function tagChips(tags) {
  const entries = Object.entries(tags || {});
  return entries.length ? entries.map(([k, v]) => h("span", { class: "tag" }, `${k}=${v}`)) : ["–"];
}

function parseTags(text) {
  const tags = {};
  for (const part of text.split(/[,\n]/)) {
    if (!part.trim()) continue;
    const at = part.indexOf("=");
    if (at < 1) throw new Error(`"${part.trim()}" is not key=value`);
    tags[part.slice(0, at).trim()] = part.slice(at + 1).trim();
  }
  return Object.keys(tags).length ? tags : undefined;
}

function focusHeading() {
  const heading = main.querySelector("h1");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
  }
}

// -- views -------------------------------------------------------------------------------------

let leaving = []; // cleanups of the current view (timers, blob URLs, pending requests)

function leave() {
  for (const cleanup of leaving) cleanup();
  leaving = [];
}

function render(...nodes) {
  main.replaceChildren(...nodes);
  focusHeading();
}

function signInView() {
  const keyFields = h("div", { id: "key-fields" },
    h("div", { class: "field" }, h("label", { for: "api-key" }, "API key"),
      h("input", { id: "api-key", type: "text", autocomplete: "username", spellcheck: "false", placeholder: "ek_…" })),
    h("div", { class: "field" }, h("label", { for: "api-secret" }, "API secret"),
      h("input", { id: "api-secret", type: "password", autocomplete: "current-password", placeholder: "es_…" })));
  const tokenFields = h("div", { id: "token-fields", hidden: true },
    h("div", { class: "field" }, h("label", { for: "token" }, "Upload token"),
      h("input", { id: "token", type: "password", autocomplete: "off", placeholder: "et_…" }),
      h("p", { class: "hint" }, "A token from POST /v1/tokens can upload and read back its own recordings.")));
  const choose = (mode) => {
    keyFields.hidden = mode !== "key";
    tokenFields.hidden = mode !== "token";
  };
  const submit = h("button", { type: "submit", id: "sign-in-button" }, "Sign in");
  const form = h("form", { id: "sign-in", class: "card signin", novalidate: true },
    h("h1", {}, "Sign in to Earshot"),
    h("fieldset", {}, h("legend", {}, "Sign in with"),
      h("label", { class: "choice" }, h("input", { type: "radio", name: "mode", value: "key", checked: true,
        onchange: () => choose("key") }), "an API key and secret"),
      h("label", { class: "choice" }, h("input", { type: "radio", name: "mode", value: "token",
        onchange: () => choose("token") }), "an upload token")),
    keyFields, tokenFields, submit,
    h("p", { class: "hint" }, "Kept in this browser tab only (sessionStorage); signing out or closing the tab forgets it."));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearMessage();
    const mode = form.querySelector("input[name=mode]:checked").value;
    let credentials;
    if (mode === "key") {
      const apiKey = form.querySelector("#api-key").value.trim();
      const apiSecret = form.querySelector("#api-secret").value.trim();
      if (!apiKey || !apiSecret) return showMessage("Enter both the API key and the API secret.");
      credentials = { apiKey, apiSecret };
    } else {
      const token = form.querySelector("#token").value.trim();
      if (!token.startsWith("et_")) return showMessage("An upload token starts with et_ (POST /v1/tokens mints one).");
      credentials = { token };
    }
    submit.disabled = true;
    try {
      if (credentials.apiKey) await new EarshotClient(credentials).request("/v1/recordings?limit=1");
      signIn(credentials);
      // A link to a recording (or, with a key, to a list) that asked for the sign-in leads on there.
      const asked = location.hash;
      const keep = credentials.apiKey ? asked.startsWith("#/recordings") : /^#\/recordings\/[^/?]+$/.test(asked);
      navigate(keep ? asked : credentials.apiKey ? "#/recordings" : "#/new");
    } catch (err) {
      showMessage(err instanceof UnauthorizedError
        ? `Wrong API key or secret: the API refused them (${err.code}: ${err.message}).` : describe(err));
    } finally {
      submit.disabled = false;
    }
  });
  render(form);
}

// A take recorded here whose upload failed: kept (also across signing in again) until it is sent,
// saved or discarded, so that a refused token or a lost connection never throws a recording away.
let unsent = null; // { blob, filename, seconds }

function newRecordingPanel() {
  const progress = h("progress", { id: "upload-progress", max: "1", value: "0" });
  const progressText = h("span", { id: "upload-progress-text", class: "muted", "aria-live": "polite" });
  const status = h("div", { class: "upload-status", hidden: true }, progress, progressText);
  const tagsInput = h("input", { id: "tags", type: "text", spellcheck: "false", placeholder: "jobId=job_123, team=sales" });
  const fileInput = h("input", { id: "file-input", type: "file", class: "visually-hidden", tabindex: "-1",
    accept: "audio/*,video/*,.webm,.ogg,.opus,.mp3,.wav,.flac,.m4a,.aac,.mp4" });
  const chooseButton = h("button", { type: "button", id: "choose-file", class: "secondary",
    onclick: () => fileInput.click() }, "Choose a file…");
  const recordButton = h("button", { type: "button", id: "record" }, "Record from the microphone");
  const drop = h("div", { id: "drop-zone", class: "drop" },
    h("p", {}, "Drop an audio file here"), h("div", { class: "actions" }, chooseButton, recordButton), fileInput);
  const busy = (on) => {
    chooseButton.disabled = on;
    recordButton.disabled = on && !recorder;
  };

  const unsentBox = h("div", { id: "unsent", class: "unsent", role: "status", hidden: true });
  let unsentUrl = null;
  const showUnsent = () => {
    if (unsentUrl) URL.revokeObjectURL(unsentUrl);
    unsentUrl = null;
    if (!unsent) {
      unsentBox.hidden = true;
      unsentBox.replaceChildren();
      return;
    }
    const take = unsent;
    unsentUrl = URL.createObjectURL(take.blob);
    unsentBox.replaceChildren(
      h("p", {}, `A recording of ${clock(take.seconds)} was not uploaded. It is kept in this tab until you send or save it.`),
      h("div", { class: "actions" },
        h("button", { type: "button", id: "resend", onclick: () => send(take.blob, take.filename, take.seconds) },
          "Upload it again"),
        h("a", { id: "save-unsent", class: "button secondary", href: unsentUrl, download: take.filename },
          "Save the audio file"),
        h("button", { type: "button", id: "discard-unsent", class: "secondary",
          onclick: () => { unsent = null; showUnsent(); } }, "Discard")));
    unsentBox.hidden = false;
  };
  leaving.push(() => { if (unsentUrl) URL.revokeObjectURL(unsentUrl); });

  async function send(blob, filename, seconds = null, note = null) {
    clearMessage();
    let tags;
    try {
      tags = parseTags(tagsInput.value);
    } catch (err) {
      showMessage(`Tags: ${err.message}. Write them as key=value, separated by commas.`);
      return;
    }
    busy(true);
    status.hidden = false;
    progress.value = 0;
    progressText.textContent = `Uploading ${filename}…`;
    try {
      const recording = await client.upload(blob, {
        filename,
        customTags: tags,
        onProgress: ({ fraction }) => {
          progress.value = fraction;
          progressText.textContent = `Uploading ${filename}: ${Math.round(fraction * 100)} %`;
        },
      });
      progress.value = 1;
      progressText.textContent = "Uploaded: transcribing…";
      if (unsent && unsent.blob === blob) unsent = null;
      if (note) flash = { text: note, kind: "info" };
      navigate(`#/recordings/${encodeURIComponent(recording.id)}`);
    } catch (err) {
      status.hidden = true;
      if (seconds !== null) {
        unsent = { blob, filename, seconds }; // a take exists nowhere else: keep it
        showUnsent();
      }
      fail(err);
    } finally {
      busy(false);
    }
  }

  fileInput.addEventListener("change", () => {
    const file = fileInput.files && fileInput.files[0];
    if (file) send(file, file.name);
    fileInput.value = "";
  });
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => {
      event.preventDefault();
      drop.classList.add("over");
    });
  }
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    const file = event.dataTransfer && event.dataTransfer.files[0];
    if (file) send(file, file.name);
  });

  let recorder = null;
  let ticker = null;
  let startedAt = 0;

  async function finishTake(ended) {
    clearInterval(ticker);
    const active = recorder;
    recorder = null;
    recordButton.classList.remove("recording");
    recordButton.setAttribute("aria-pressed", "false");
    recordButton.textContent = "Record from the microphone";
    chooseButton.disabled = false;
    const seconds = (Date.now() - startedAt) / 1000;
    let blob;
    try {
      blob = await active.stop();
    } catch (err) {
      fail(err);
      return;
    }
    const note = ended ? "The browser stopped the recording (the microphone went away): what was recorded until then was sent." : null;
    await send(blob, recordingFilename(blob), seconds, note);
  }

  recordButton.addEventListener("click", async () => {
    if (!recorder) {
      clearMessage();
      try {
        parseTags(tagsInput.value); // before recording, not after: a bad tag would lose the take
      } catch (err) {
        showMessage(`Tags: ${err.message}. Write them as key=value, separated by commas.`);
        return;
      }
      const take = new Recorder({ onended: () => { if (recorder === take) finishTake(true); } });
      recorder = take;
      recordButton.disabled = true; // until the browser has answered for the microphone
      try {
        await take.start();
      } catch (err) {
        recorder = null;
        fail(err);
        return;
      } finally {
        recordButton.disabled = false;
      }
      startedAt = Date.now();
      recordButton.classList.add("recording");
      recordButton.setAttribute("aria-pressed", "true");
      const tick = () => { recordButton.textContent = `Stop recording (${clock((Date.now() - startedAt) / 1000)})`; };
      tick();
      ticker = setInterval(tick, 250);
      chooseButton.disabled = true;
      return;
    }
    await finishTake(false);
  });
  leaving.push(() => {
    clearInterval(ticker);
    if (recorder) recorder.cancel();
  });

  const panel = h("section", { class: "card new-recording", "aria-labelledby": "new-heading" },
    h("h2", { id: "new-heading" }, "New recording"), drop,
    h("div", { class: "field" }, h("label", { for: "tags" }, "Tags (optional)"), tagsInput,
      h("p", { class: "hint" }, "custom_tags as key=value pairs; they travel with the recording and its webhooks.")),
    status, unsentBox);
  showUnsent();
  return panel;
}

function tokenHomeView() {
  render(h("h1", {}, "Upload or record"),
    h("p", { class: "muted" }, "Signed in with an upload token: it uploads, and reads back its own recordings. "
      + "Listing, playing and deleting recordings need an API key."),
    newRecordingPanel());
}

const LIST_PARAMS = ["page", "limit", "status", "date_from", "date_to", "after"];

function listQuery(params) {
  const query = new URLSearchParams();
  for (const name of LIST_PARAMS) if (params.get(name)) query.set(name, params.get(name));
  return query;
}

function hashForApiUri(uri) {
  // The API's page links (next_page_uri carries a cursor) become the console's own address.
  return `#/recordings?${listQuery(new URL(uri, location.origin).searchParams)}`;
}

async function listView(params) {
  const query = listQuery(params);
  if (!query.get("limit")) query.set("limit", "20");
  const field = (label, control) => h("div", { class: "field" }, h("label", { for: control.id }, label), control);
  const status = h("select", { id: "filter-status" },
    ["", "processing", "transcribed", "failed"].map((s) => h("option", { value: s, selected: s === (query.get("status") || "") }, s || "any")));
  const from = h("input", { id: "filter-from", type: "date", value: query.get("date_from") || "" });
  const to = h("input", { id: "filter-to", type: "date", value: query.get("date_to") || "" });
  const limit = h("select", { id: "filter-limit" },
    ["10", "20", "50", "100"].map((n) => h("option", { value: n, selected: n === query.get("limit") }, n)));
  const filters = h("form", { id: "filters", class: "filters", "aria-label": "Filters" },
    field("Status", status), field("From", from), field("To", to), field("Per page", limit),
    h("button", { type: "submit", class: "secondary" }, "Apply"));
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams({ page: "0", limit: limit.value });
    if (status.value) next.set("status", status.value);
    if (from.value) next.set("date_from", from.value);
    if (to.value) next.set("date_to", to.value);
    navigate(`#/recordings?${next}`);
  });
  const results = h("div", { id: "recordings-results" }, h("p", { class: "muted" }, "Loading recordings…"));
  render(h("h1", {}, "Recordings"), newRecordingPanel(), h("section", { class: "card" }, filters), results);

  const controller = new AbortController();
  let timer = 0;
  leaving.push(() => {
    controller.abort();
    clearTimeout(timer);
  });
  const load = async () => {
    let list;
    try {
      list = await client.request(`/v1/recordings?${query}`, { signal: controller.signal });
    } catch (err) {
      results.replaceChildren(h("p", { class: "empty" }, "The recordings could not be loaded."));
      fail(err);
      return;
    }
    results.replaceChildren(recordingsTable(list), pager(list));
    // Recordings still processing: look again shortly, so their status and duration fill in.
    if (list.recordings.some((r) => r.status === "processing")) timer = setTimeout(load, 3000);
  };
  await load();
}

function recordingsTable(list) {
  if (!list.recordings.length) return h("p", { class: "empty card" }, "No recordings match.");
  const cell = (label, ...content) => h("td", { "data-label": label }, ...content);
  const rows = list.recordings.map((r) => h("tr", { dataset: { id: r.id } },
    h("td", { class: "name", "data-label": "Name" },
      h("a", { href: `#/recordings/${encodeURIComponent(r.id)}` }, r.original_filename || r.id)),
    cell("Status", statusBadge(r.status)),
    cell("Duration", clock(r.duration_seconds)),
    cell("Created", when(r.created_at)),
    cell("Tags", ...tagChips(r.custom_tags)),
    cell("User", r.user_id || "–")));
  return h("table", { class: "recordings", id: "recordings" },
    h("caption", { class: "visually-hidden" }, "Recordings, newest first"),
    h("thead", {}, h("tr", {}, ["Name", "Status", "Duration", "Created", "Tags", "User"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows));
}

function pager(list) {
  const go = (uri) => () => navigate(hashForApiUri(uri));
  return h("nav", { class: "pager", "aria-label": "Pages" },
    h("button", { type: "button", id: "previous-page", class: "secondary", disabled: !list.previous_page_uri,
      onclick: list.previous_page_uri ? go(list.previous_page_uri) : null }, "← Previous"),
    h("span", { id: "page-info", class: "muted" },
      `Page ${list.page + 1} · ${list.page_size} shown of ${list.total}`),
    h("button", { type: "button", id: "next-page", class: "secondary", disabled: !list.next_page_uri,
      onclick: list.next_page_uri ? go(list.next_page_uri) : null }, "Next →"));
}

// -- one recording -----------------------------------------------------------------------------

async function recordingView(id) {
  const controller = new AbortController();
  leaving.push(() => controller.abort());
  const heading = h("h1", {}, "Recording");
  const meta = h("dl", { class: "meta", id: "recording-meta" });
  const actions = h("div", { class: "actions", id: "recording-actions" });
  const player = h("audio", { id: "player", controls: true, preload: "metadata" });
  const playerNote = h("p", { class: "muted", id: "player-note" });
  const transcript = h("div", { class: "transcript", id: "transcript", "aria-live": "off" },
    h("p", { class: "muted" }, "Loading…"));
  const back = session.apiKey ? h("a", { href: "#/recordings" }, "← All recordings")
    : h("a", { href: "#/new" }, "← Upload or record another");
  render(h("p", {}, back), heading,
    h("section", { class: "card" }, meta, actions),
    h("section", { class: "card", "aria-labelledby": "transcript-heading" },
      h("h2", { id: "transcript-heading" }, "Transcript"), player, playerNote, transcript));

  let recording;
  try {
    recording = await client.getRecording(id, { signal: controller.signal });
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      heading.textContent = "Recording not found";
      transcript.replaceChildren(h("p", { id: "not-found" },
        "There is no recording with this id for your account. It may have been deleted."));
      meta.remove();
      player.remove();
      return;
    }
    transcript.replaceChildren(h("p", { class: "empty" }, "The recording could not be loaded."));
    fail(err);
    return;
  }
  showRecording(recording, heading, meta);
  if (session.apiKey) loadAudio(id, player, playerNote, controller.signal);
  else {
    player.remove();
    playerNote.textContent = "Playing the audio needs an API key; this session has an upload token.";
  }
  downloadButtons(recording, actions);
  if (session.apiKey) actions.append(deleteControl(recording, actions));

  try {
    const transcription = await client.waitForTranscription(id, {
      signal: controller.signal,
      onStatus: (r) => {
        showRecording(r, heading, meta);
        if (r.status === "processing") {
          const pct = typeof r.progress === "number" ? ` ${Math.round(r.progress * 100)} %` : "";
          transcript.replaceChildren(h("p", { class: "muted", id: "transcribing" }, `Transcribing…${pct}`));
        }
      },
    });
    showTranscript(transcription, transcript, player);
    for (const button of actions.querySelectorAll("button.download")) button.disabled = false;
    const speakers = transcription.diarization;
    if (speakers && speakers.status === "failed") {
      const why = speakers.error ? ` (${speakers.error.code}): ${speakers.error.message}` : ".";
      transcript.before(h("p", { class: "empty", id: "diarization-failed" },
        `Speakers could not be told apart${why} The words are complete. `,
        session.apiKey ? retryButton(id, "Find speakers again") : ""));
    }
  } catch (err) {
    if (err instanceof TranscriptionFailedError) {
      transcript.replaceChildren(h("p", { class: "empty", id: "transcription-failed" },
        `The transcription failed (${err.reason}): ${err.message} `,
        session.apiKey ? retryButton(id, "Transcribe again") : ""));
      return;
    }
    transcript.replaceChildren(h("p", { class: "empty" }, "The transcript could not be loaded."));
    fail(err);
  }
}

function showRecording(r, heading, meta) {
  heading.textContent = r.original_filename || "Recording";
  const row = (term, ...value) => [h("dt", {}, term), h("dd", {}, ...value)];
  meta.replaceChildren(
    ...row("Status", statusBadge(r.status), r.error ? ` ${r.error.code}: ${r.error.message}` : ""),
    ...row("Duration", clock(r.duration_seconds)),
    ...row("Created", when(r.created_at)),
    ...row("Tags", ...tagChips(r.custom_tags)),
    ...row("User", r.user_id || "–"),
    ...row("Id", h("code", {}, r.id)));
}

async function loadAudio(id, player, note, signal) {
  // An <audio src> cannot carry the Authorization header: fetch the audio, play it from a blob URL.
  note.textContent = "Loading the audio…";
  try {
    const response = await client.request(`/v1/recordings/${encodeURIComponent(id)}/audio`, { raw: true, signal });
    const url = URL.createObjectURL(await response.blob());
    leaving.push(() => URL.revokeObjectURL(url));
    player.src = url;
    note.textContent = "";
  } catch (err) {
    if (err instanceof AbortedError) return;
    note.textContent = `The audio could not be loaded: ${describe(err)}`;
  }
}

function downloadButtons(recording, actions) {
  const base = (recording.original_filename || recording.id).replace(/\.[^.]*$/, "") || recording.id;
  for (const [format, label, ext] of [["srt", "SRT", "srt"], ["vtt", "VTT", "vtt"], ["text", "Text", "txt"]]) {
    actions.append(h("button", { type: "button", class: "secondary download", id: `download-${format}`,
      disabled: recording.status !== "transcribed", onclick: async () => {
        clearMessage();
        try {
          const text = await client.getTranscription(recording.id, { format });
          const url = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
          const link = h("a", { href: url, download: `${base}.${ext}`, hidden: true });
          document.body.append(link);
          link.click();
          link.remove();
          setTimeout(() => URL.revokeObjectURL(url), 10000);
        } catch (err) {
          fail(err);
        }
      } }, `Download ${label}`));
  }
}

function retryButton(id, text) {
  // POST …/retry runs only the failed stage again; the view then follows the recording as it runs.
  const button = h("button", { type: "button", class: "secondary", id: "retry" }, text);
  button.addEventListener("click", async () => {
    button.disabled = true;
    clearMessage();
    try {
      await client.request(`/v1/recordings/${encodeURIComponent(id)}/retry`, { method: "POST" });
      route();
    } catch (err) {
      button.disabled = false;
      fail(err);
    }
  });
  return button;
}

function deleteControl(recording, actions) {
  const cancel = h("button", { type: "button", class: "secondary", id: "cancel-delete" }, "Cancel");
  const confirmButton = h("button", { type: "button", class: "danger", id: "confirm-delete" }, "Delete for good");
  const panel = h("div", { class: "confirm", id: "delete-confirmation", role: "alertdialog",
    "aria-labelledby": "delete-question", hidden: true },
  h("p", { id: "delete-question" },
    "Delete this recording, its audio and its transcript? This cannot be undone."),
  h("div", { class: "actions" }, confirmButton, cancel));
  const open = h("button", { type: "button", class: "danger", id: "delete" }, "Delete…");
  open.addEventListener("click", () => {
    panel.hidden = false;
    cancel.focus();
  });
  cancel.addEventListener("click", () => {
    panel.hidden = true;
    open.focus();
  });
  confirmButton.addEventListener("click", async () => {
    confirmButton.disabled = true;
    try {
      await client.request(`/v1/recordings/${encodeURIComponent(recording.id)}`, { method: "DELETE" });
      flash = { text: `Deleted ${recording.original_filename || recording.id}.`, kind: "info" };
      navigate("#/recordings");
    } catch (err) {
      confirmButton.disabled = false;
      fail(err);
    }
  });
  actions.after(panel);
  return open;
}

// -- the transcript, and the word being spoken -------------------------------------------------

function label(item) {
  // `speaker` (diarization) and `channel` (per-channel transcription), where the transcript has them.
  const present = (value) => value !== undefined && value !== null && value !== "";
  const speaker = present(item.speaker) ? (typeof item.speaker === "number" ? `Speaker ${item.speaker}` : String(item.speaker)) : "";
  const channel = present(item.channel) ? `Channel ${item.channel}` : "";
  if (speaker && channel) return `${speaker} (${channel.toLowerCase()})`;
  return speaker || channel;
}

function groupWords(transcription) {
  // Each word goes to the segment of its own channel (per-channel transcripts overlap in time)
  // whose span holds it; the rest are shown as they come.
  const words = (transcription.words || []).map((w, index) => ({ ...w, index }));
  const segments = (transcription.segments || []).map((s) => ({ ...s, words: [] }));
  const key = (x) => (x.channel === undefined || x.channel === null ? "" : String(x.channel));
  const byChannel = new Map();
  for (const s of segments) {
    if (!byChannel.has(key(s))) byChannel.set(key(s), []);
    byChannel.get(key(s)).push(s);
  }
  for (const list of byChannel.values()) list.sort((a, b) => a.start - b.start);
  const cursor = new Map();
  const loose = [];
  for (const w of [...words].sort((a, b) => a.start - b.start)) {
    const list = byChannel.get(key(w)) || [];
    let i = cursor.get(key(w)) || 0;
    const middle = (w.start + w.end) / 2;
    while (i < list.length - 1 && middle >= list[i].end && middle >= list[i + 1].start - 0.01) i += 1;
    cursor.set(key(w), i);
    if (list[i]) list[i].words.push(w);
    else loose.push(w);
  }
  const blocks = segments.filter((s) => s.words.length || (s.text || "").trim());
  if (loose.length) blocks.push({ start: loose[0].start, words: loose });
  return blocks.sort((a, b) => a.start - b.start);
}

function wordElement(w) {
  const low = typeof w.confidence === "number" && w.confidence < LOW_CONFIDENCE;
  return h("span", {
    class: low ? "word low" : "word",
    dataset: { index: String(w.index), start: String(w.start), end: String(w.end) },
    title: typeof w.confidence === "number" ? `confidence ${Math.round(w.confidence * 100)} %` + (low ? " (low)" : "") : null,
  }, w.word.trim());
}

function showTranscript(transcription, container, player) {
  const blocks = groupWords(transcription);
  if (!blocks.length) {
    container.replaceChildren(h("p", { class: "muted", id: "no-speech" },
      (transcription.text || "").trim() || "No speech was found in this recording."));
    return;
  }
  const elements = [];
  const paragraphs = blocks.map((block) => {
    const who = label(block.words.length ? { speaker: block.speaker ?? block.words[0].speaker,
      channel: block.channel ?? block.words[0].channel } : block);
    const words = [];
    for (const w of block.words) {
      const el = wordElement(w);
      elements[w.index] = el;
      if (words.length) words.push(" ");
      words.push(el);
    }
    return h("p", { class: "segment" },
      h("button", { type: "button", class: "time", "aria-label": `Play from ${clock(block.start)}`,
        onclick: () => seek(player, block.start) }, clock(block.start)),
      who ? h("span", { class: "speaker" }, `${who}:`) : null,
      ...(words.length ? words : [(block.text || "").trim()]));
  });
  container.replaceChildren(...paragraphs);
  container.addEventListener("click", (event) => {
    const target = event.target.closest(".word");
    if (target) seek(player, Number(target.dataset.start));
  });
  follow(player, transcription.words || [], elements);
}

function seek(player, seconds) {
  if (!player.isConnected) return;
  player.currentTime = seconds + 0.001;
  // Plays from there (a click is the user's gesture, so the browser allows it).
  if (player.paused) player.play().catch(() => {});
}

function follow(player, words, elements) {
  // The word being spoken: the last one started, until its end (a short pause keeps it lit).
  const order = words.map((w, i) => ({ start: w.start, end: w.end, i })).sort((a, b) => a.start - b.start);
  let current = null;
  let frame = 0;
  const update = () => {
    const t = player.currentTime;
    let lo = 0;
    let hi = order.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (order[mid].start <= t) { found = mid; lo = mid + 1; } else hi = mid - 1;
    }
    const word = found >= 0 && t < order[found].end + 0.25 ? elements[order[found].i] : null;
    if (word === current) return;
    if (current) {
      current.classList.remove("current");
      current.removeAttribute("aria-current");
    }
    current = word || null;
    if (current) {
      current.classList.add("current");
      current.setAttribute("aria-current", "true");
      if (!player.paused) current.scrollIntoView({ block: "nearest" });
    }
  };
  const loop = () => {
    update();
    frame = player.paused ? 0 : requestAnimationFrame(loop);
  };
  player.addEventListener("timeupdate", update);
  player.addEventListener("seeked", update);
  player.addEventListener("play", () => { if (!frame) frame = requestAnimationFrame(loop); });
  leaving.push(() => cancelAnimationFrame(frame));
  update();
}

// -- routing: #/sign-in, #/recordings?…, #/recordings/{id}, #/new ------------------------------

function route() {
  const hash = location.hash || "";
  if (hash && !hash.startsWith("#/")) return; // an in-page anchor, not a view
  leave();
  updateNav();
  if (flash) {
    showMessage(flash.text, flash.kind);
    flash = null;
  } else {
    clearMessage();
  }
  const [path, query = ""] = hash.slice(1).split("?");
  if (!session) return signInView();
  const one = path.match(/^\/recordings\/([^/]+)$/);
  if (one) return recordingView(decodeURIComponent(one[1]));
  if (!session.apiKey) return tokenHomeView();
  return listView(new URLSearchParams(query));
}

window.addEventListener("hashchange", route);
window.addEventListener("unhandledrejection", (event) => fail(event.reason));
route();
