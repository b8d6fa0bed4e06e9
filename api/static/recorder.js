// Earshot's browser recorder: record from the microphone, upload with an upload token, follow the
// transcription. A dependency-free ES module, served by the API at /sdk/recorder.js.
//
//   import { Recorder, EarshotClient } from "https://earshot.example.com/sdk/recorder.js";
//   const recorder = new Recorder();
//   await recorder.start();                        // asks for the microphone
//   const audio = await recorder.stop();           // a Blob (webm/opus where the browser has it)
//   const earshot = new EarshotClient({ token });  // minted by your backend: POST /v1/tokens
//   const recording = await earshot.upload(audio, { customTags: { jobId: "job_123" }, onProgress });
//   const transcription = await earshot.waitForTranscription(recording.id, { onStatus });
//
// Every failure is an EarshotError with a `code`; the classes below say which kind it is.

/**
 * Base class of every error this module throws. `code` tells the kind (each class has its own);
 * `status` is the HTTP status and `apiCode` the API's error code where the API answered.
 */
export class EarshotError extends Error {
  constructor(message, { code = "EARSHOT_ERROR", status = 0, apiCode = null, cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = new.target.name;
    this.code = code;
    this.status = status;
    this.apiCode = apiCode;
  }
}

/** The user (or the browser's settings) refused the microphone. */
export class MicrophoneDeniedError extends EarshotError {
  constructor(message = "microphone access was denied", options = {}) {
    super(message, { code: "MICROPHONE_DENIED", ...options });
  }
}

/** No microphone, one in use by another program, or a browser or page that cannot record. */
export class MicrophoneUnavailableError extends EarshotError {
  constructor(message = "no microphone can be used", options = {}) {
    super(message, { code: "MICROPHONE_UNAVAILABLE", ...options });
  }
}

/** Any error answer of the API that has no class of its own; `code` is the API's code. */
export class ApiError extends EarshotError {
  constructor(message, options = {}) {
    super(message, { code: options.apiCode || "API_ERROR", ...options });
  }
}

/** 401 to a request made with an upload token: it expired, was revoked or is not valid. Get a new one. */
export class TokenExpiredError extends ApiError {
  constructor(message = "the upload token has expired", options = {}) {
    super(message, { code: "TOKEN_EXPIRED", status: 401, ...options });
  }
}

/** 401 to a request made with an API key and secret. */
export class UnauthorizedError extends ApiError {
  constructor(message = "invalid API key or secret", options = {}) {
    super(message, { code: "UNAUTHORIZED", status: 401, ...options });
  }
}

/** 413: the file is larger than the server accepts. */
export class FileTooLargeError extends ApiError {
  constructor(message = "the file is larger than the server accepts", options = {}) {
    super(message, { code: "PAYLOAD_TOO_LARGE", status: 413, ...options });
  }
}

/** The API could not be reached (offline, DNS, connection refused or reset, blocked by the page). */
export class NetworkError extends EarshotError {
  constructor(message = "the Earshot API could not be reached", options = {}) {
    super(message, { code: "NETWORK_ERROR", ...options });
  }
}

/** The recording ended `failed`; `recording.error.code` (e.g. INVALID_AUDIO) is the reason. */
export class TranscriptionFailedError extends EarshotError {
  constructor(recording) {
    const reason = (recording && recording.error) || {};
    super(reason.message || "the transcription failed", { code: "TRANSCRIPTION_FAILED" });
    this.reason = reason.code || "TRANSCRIPTION_ERROR";
    this.recording = recording;
  }
}

/** The caller aborted (an AbortSignal), or waitForTranscription ran past its `timeoutMs`. */
export class AbortedError extends EarshotError {
  constructor(message = "aborted", options = {}) {
    super(message, { code: "ABORTED", ...options });
  }
}

const PREFERRED_TYPES = [
  "audio/webm;codecs=opus",
  "audio/ogg;codecs=opus",
  "audio/webm",
  "audio/mp4",
  "audio/mpeg",
];

/** The first of webm/opus, ogg/opus, webm, mp4, mpeg that this browser records; "" for its default. */
export function preferredMimeType() {
  if (typeof MediaRecorder === "undefined" || typeof MediaRecorder.isTypeSupported !== "function") {
    return "";
  }
  return PREFERRED_TYPES.find((type) => MediaRecorder.isTypeSupported(type)) || "";
}

function extensionFor(mimeType) {
  const type = (mimeType || "").split(";")[0].trim().toLowerCase();
  return { "audio/webm": "webm", "video/webm": "webm", "audio/ogg": "ogg", "audio/mp4": "m4a",
    "audio/mpeg": "mp3", "audio/wav": "wav", "audio/x-wav": "wav", "audio/flac": "flac" }[type] || "webm";
}

function microphoneError(err) {
  const name = err && err.name;
  if (name === "NotAllowedError" || name === "SecurityError" || name === "PermissionDeniedError") {
    return new MicrophoneDeniedError("microphone access was denied: allow it in the browser's site settings",
      { cause: err });
  }
  return new MicrophoneUnavailableError(`no microphone can be used (${name || err})`, { cause: err });
}

/** Records the microphone with MediaRecorder. One recording per start()/stop(). */
export class Recorder {
  /**
   * @param {object} [options]
   * @param {string} [options.mimeType] a type MediaRecorder supports (default: preferredMimeType())
   * @param {number} [options.audioBitsPerSecond]
   * @param {MediaTrackConstraints|boolean} [options.audio] getUserMedia's audio constraints
   * @param {(blob: Blob) => void} [options.onended] called when the browser ends the recording
   *   itself (microphone unplugged, permission revoked); stop() then resolves with that audio
   */
  constructor(options = {}) {
    this.options = options;
    this.mimeType = options.mimeType === undefined ? preferredMimeType() : options.mimeType;
    this._stream = null;
    this._recorder = null;
    this._chunks = [];
    this._ended = null;
    this._stopping = null;
    this._startedAt = 0;
  }

  /** "inactive", "recording" or "paused". */
  get state() {
    return this._recorder ? this._recorder.state : "inactive";
  }

  /** Milliseconds since start(), 0 when not recording. */
  get elapsedMs() {
    return this._startedAt ? Date.now() - this._startedAt : 0;
  }

  /** Asks for the microphone and starts recording. */
  async start() {
    if (this.state !== "inactive") {
      throw new EarshotError("already recording", { code: "ALREADY_RECORDING" });
    }
    const media = globalThis.navigator && navigator.mediaDevices;
    if (!media || typeof media.getUserMedia !== "function" || typeof MediaRecorder === "undefined") {
      throw new MicrophoneUnavailableError(
        "this browser cannot record here (recording needs a secure page: https or localhost)");
    }
    try {
      this._stream = await media.getUserMedia({ audio: this.options.audio || true });
    } catch (err) {
      throw microphoneError(err);
    }
    const settings = { audioBitsPerSecond: this.options.audioBitsPerSecond };
    if (this.mimeType) settings.mimeType = this.mimeType;
    try {
      this._recorder = new MediaRecorder(this._stream, settings);
    } catch (err) {
      this._release();
      throw new MicrophoneUnavailableError(`cannot record ${this.mimeType || "audio"}: ${err.message}`,
        { cause: err });
    }
    this._chunks = [];
    this._ended = null;
    const recorder = this._recorder;
    recorder.addEventListener("dataavailable", (event) => {
      if (event.data && event.data.size > 0) this._chunks.push(event.data);
    });
    recorder.addEventListener("stop", () => {
      if (this._recorder !== recorder || this._stopping === recorder) return; // stop() or cancel() asked for it
      // The browser ended the recording itself: the microphone was unplugged, its permission
      // revoked, or a phone call took it. What was recorded is kept for stop(), and onended hears of it.
      this._ended = this._finish(recorder);
      if (typeof this.options.onended === "function") this.options.onended(this._ended);
    });
    recorder.start(1000);
    this._startedAt = Date.now();
  }

  _finish(recorder) {
    const type = recorder.mimeType || this.mimeType || "audio/webm";
    const blob = new Blob(this._chunks, { type });
    this._chunks = [];
    this._recorder = null;
    this._startedAt = 0;
    this._release();
    return blob;
  }

  /** Stops recording, releases the microphone and resolves with the recorded audio as a Blob
   * (also after the browser ended the recording itself: then with what was recorded until then). */
  stop() {
    if (this._ended) {
      const blob = this._ended;
      this._ended = null;
      return Promise.resolve(blob);
    }
    const recorder = this._recorder;
    if (!recorder || recorder.state === "inactive") {
      return Promise.reject(new EarshotError("not recording", { code: "NOT_RECORDING" }));
    }
    return new Promise((resolve) => {
      this._stopping = recorder; // ours to finish: the listener in start() leaves it alone
      recorder.addEventListener("stop", () => {
        this._stopping = null;
        resolve(this._finish(recorder));
      }, { once: true });
      recorder.stop();
    });
  }

  /** Stops without keeping anything. */
  cancel() {
    const recorder = this._recorder;
    this._recorder = null;
    this._ended = null;
    if (recorder && recorder.state !== "inactive") recorder.stop();
    this._chunks = [];
    this._startedAt = 0;
    this._release();
  }

  _release() {
    if (this._stream) this._stream.getTracks().forEach((track) => track.stop());
    this._stream = null;
  }
}

/** A file name for a recorded Blob: recording-2025-10-06T17-33-30-532Z.webm */
export function recordingFilename(blob, date = new Date()) {
  return `recording-${date.toISOString().replace(/[:.]/g, "-")}.${extensionFor(blob && blob.type)}`;
}

function parseError(status, text) {
  try {
    const body = JSON.parse(text);
    if (body && body.error && typeof body.error === "object") return body.error;
  } catch (_) {
    // not JSON: a proxy's page, say
  }
  return { code: status >= 500 ? "SERVER_ERROR" : "HTTP_ERROR", message: `HTTP ${status}` };
}

const sleep = (ms, signal) => new Promise((resolve, reject) => {
  if (signal && signal.aborted) {
    reject(new AbortedError());
    return;
  }
  const timer = setTimeout(resolve, ms);
  if (signal) {
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(new AbortedError());
    }, { once: true });
  }
});

/**
 * Talks to the Earshot API. Credentials: `token` (an upload token from POST /v1/tokens, or a
 * function returning one, called for each request: hand over a fresh one when yours may expire),
 * or `apiKey` and `apiSecret` (never put those in a page your users load: that is what tokens are for).
 */
export class EarshotClient {
  /**
   * @param {object} options
   * @param {string} [options.baseUrl] the API's address ("" = this page's origin)
   * @param {string|function(): (string|Promise<string>)} [options.token]
   * @param {string} [options.apiKey]
   * @param {string} [options.apiSecret]
   */
  constructor({ baseUrl = "", token, apiKey, apiSecret } = {}) {
    if (!token && !(apiKey && apiSecret)) {
      throw new EarshotError("EarshotClient needs a token, or an apiKey and apiSecret", { code: "NO_CREDENTIALS" });
    }
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this._token = token;
    this._pair = token ? null : `${apiKey}:${apiSecret}`;
  }

  async _authorization() {
    if (this._pair) return `Bearer ${this._pair}`;
    const token = typeof this._token === "function" ? await this._token() : this._token;
    return `Bearer ${token}`;
  }

  /** The error for an API answer that is not a success. */
  errorFor(status, text) {
    const { code, message } = parseError(status, text);
    const options = { status, apiCode: code };
    if (status === 401) {
      return this._pair ? new UnauthorizedError(message, options) : new TokenExpiredError(message, options);
    }
    if (status === 413) return new FileTooLargeError(message, options);
    return new ApiError(message || `HTTP ${status}`, options);
  }

  /**
   * A request to the API, answered with parsed JSON (or text for non-JSON answers).
   * Throws ApiError (and subclasses) for error answers, NetworkError when there is no answer.
   */
  async request(path, { method = "GET", signal, headers = {}, raw = false } = {}) {
    let response;
    try {
      response = await fetch(this.baseUrl + path, {
        method,
        signal,
        headers: { Authorization: await this._authorization(), ...headers },
        // A page's own credentials (cookies, a remembered login) are never sent, and an API's 401
        // never makes the browser show its login dialog.
        credentials: "omit",
        cache: "no-store",
      });
    } catch (err) {
      if (err && err.name === "AbortError") throw new AbortedError("aborted", { cause: err });
      throw new NetworkError(`the Earshot API could not be reached (${err.message || err})`, { cause: err });
    }
    if (!response.ok) throw this.errorFor(response.status, await response.text().catch(() => ""));
    if (raw) return response;
    if (response.status === 204) return null;
    const type = response.headers.get("content-type") || "";
    return type.includes("json") ? response.json() : response.text();
  }

  /**
   * Uploads a Blob or File (multipart `file`) and resolves with the Recording (status "processing").
   * @param {Blob} audio
   * @param {object} [options]
   * @param {Object<string,string>} [options.customTags] travel with the recording and its webhooks
   * @param {string} [options.filename] default: the File's name, or recording-<time>.<ext>
   * @param {string} [options.language] "auto" or an ISO 639-1 code
   * @param {string} [options.model]
   * @param {function({loaded:number,total:number,fraction:number}):void} [options.onProgress]
   * @param {AbortSignal} [options.signal]
   */
  async upload(audio, options = {}) {
    if (!(audio instanceof Blob)) throw new TypeError("upload() takes a Blob or a File");
    const form = new FormData();
    const filename = options.filename || audio.name || recordingFilename(audio);
    form.append("file", audio, filename);
    if (options.customTags) form.append("custom_tags", JSON.stringify(options.customTags));
    for (const [field, value] of [["language", options.language], ["model", options.model],
      ["initial_prompt", options.initialPrompt]]) {
      if (value !== undefined && value !== null && value !== "") form.append(field, String(value));
    }
    const authorization = await this._authorization();
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", `${this.baseUrl}/v1/recordings`);
      xhr.setRequestHeader("Authorization", authorization);
      xhr.upload.onprogress = (event) => {
        if (!options.onProgress) return;
        const total = event.lengthComputable ? event.total : audio.size;
        options.onProgress({ loaded: event.loaded, total, fraction: total ? Math.min(1, event.loaded / total) : 0 });
      };
      xhr.onload = () => {
        if (xhr.status === 201) {
          try {
            resolve(JSON.parse(xhr.responseText));
          } catch (err) {
            reject(new ApiError("the API's answer was not JSON", { status: xhr.status, apiCode: "BAD_RESPONSE" }));
          }
          return;
        }
        reject(this.errorFor(xhr.status, xhr.responseText));
      };
      xhr.onerror = () => reject(new NetworkError("the upload could not reach the Earshot API"));
      xhr.ontimeout = () => reject(new NetworkError("the upload timed out"));
      xhr.onabort = () => reject(new AbortedError("the upload was aborted"));
      if (options.signal) {
        if (options.signal.aborted) {
          reject(new AbortedError("the upload was aborted"));
          return;
        }
        options.signal.addEventListener("abort", () => xhr.abort(), { once: true });
      }
      xhr.send(form);
    });
  }

  /** The Recording. */
  getRecording(id, { signal } = {}) {
    return this.request(`/v1/recordings/${encodeURIComponent(id)}`, { signal });
  }

  /** The Transcription (JSON), or with `format` "srt", "vtt" or "text" that text. */
  getTranscription(id, { format = "json", signal } = {}) {
    const query = format === "json" ? "" : `?format=${encodeURIComponent(format)}`;
    return this.request(`/v1/recordings/${encodeURIComponent(id)}/transcription${query}`, { signal });
  }

  /**
   * Polls the recording until it is transcribed (resolves with its Transcription) or failed
   * (rejects with TranscriptionFailedError). Network failures and 503s are retried meanwhile.
   * @param {string} id
   * @param {object} [options]
   * @param {function(object):void} [options.onStatus] each Recording seen (status, progress)
   * @param {number} [options.intervalMs] first delay between polls (default 1000, growing to 5000)
   * @param {number} [options.timeoutMs] give up after this long (default: never)
   * @param {AbortSignal} [options.signal]
   */
  async waitForTranscription(id, { onStatus, intervalMs = 1000, timeoutMs = 0, signal } = {}) {
    const deadline = timeoutMs ? Date.now() + timeoutMs : Infinity;
    let delay = intervalMs;
    let failures = 0;
    for (;;) {
      let recording = null;
      try {
        recording = await this.getRecording(id, { signal });
        failures = 0;
      } catch (err) {
        const transient = err instanceof NetworkError || err.status === 503 || err.status === 429;
        if (!transient || ++failures > 5) throw err;
      }
      if (recording) {
        if (onStatus) onStatus(recording);
        if (recording.status === "transcribed") return this.getTranscription(id, { signal });
        if (recording.status === "failed") throw new TranscriptionFailedError(recording);
      }
      if (Date.now() + delay > deadline) {
        throw new AbortedError(`still ${recording ? recording.status : "unknown"} after ${timeoutMs} ms`,
          { code: "TIMEOUT" });
      }
      await sleep(delay, signal);
      delay = Math.min(5000, Math.round(delay * 1.25));
    }
  }

  /** upload() then waitForTranscription(): resolves with { recording, transcription }. */
  async transcribe(audio, options = {}) {
    const recording = await this.upload(audio, options);
    const transcription = await this.waitForTranscription(recording.id, options);
    return { recording, transcription };
  }
}
