"""The one typed settings object, read once from ``EARSHOT_*`` environment variables.

Every field is documented by its ``Meta(description=...)``; ``describe()`` turns those into the
table in the README, and a test keeps the two in step.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import msgspec
from msgspec import Meta

from engine.outbound.guard import Network, parse_networks

__all__ = ["CLIENT_VARS", "PREFIX", "Settings", "SettingsError", "describe"]

PREFIX = "EARSHOT_"
CLIENT_VARS = frozenset(
    {"EARSHOT_URL", "EARSHOT_API_KEY", "EARSHOT_API_SECRET", "EARSHOT_ARTIFACTS", "EARSHOT_TEST_AUDIO"}
)
"""Read by clients (curl examples, the Python client) and the test suite (where screenshots go, where
the shared audio is), not by the server: ignored here."""

GiB = 1024**3
CPU_WINDOW_BATCH = 1
"""Windows per model call on CPU when EARSHOT_BATCH_SIZE is 0: chosen by `python -m benchmarks.decoder_sweep`."""
_QUEUE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


class SettingsError(ValueError):
    """An ``EARSHOT_*`` variable could not be turned into a setting."""


class Settings(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    redis_url: Annotated[str, Meta(description="Redis for the index, API keys and the job queue.")] = (
        "redis://127.0.0.1:6379/0"
    )
    s3_endpoint: Annotated[str, Meta(description="S3 endpoint as host:port (MinIO or any S3 server).")] = (
        "127.0.0.1:9000"
    )
    s3_access_key: Annotated[str, Meta(description="S3 access key.")] = "earshot"
    s3_secret_key: Annotated[str, Meta(description="S3 secret key.")] = "earshot-dev-secret"  # noqa: S105
    s3_bucket: Annotated[str, Meta(description="Bucket for audio and transcripts; created if missing.")] = (
        "earshot-audio"
    )
    s3_secure: Annotated[bool, Meta(description="Use HTTPS to reach the S3 endpoint.")] = False
    s3_region: Annotated[str, Meta(description="S3 region (empty: the server's default).")] = ""
    s3_public_url: Annotated[
        str, Meta(description="Base URL clients use to reach S3 in presigned links (empty: the endpoint).")
    ] = ""
    presign_ttl_s: Annotated[
        int, Meta(ge=10, le=7 * 86400, description="Lifetime of presigned audio links in seconds.")
    ] = 900
    allow_private_urls: Annotated[
        bool, Meta(description="Let source_url ingest fetch private or loopback addresses (SSRF guard off).")
    ] = False
    allowed_private_networks: Annotated[
        str,
        Meta(description="Private networks source URLs and webhooks may reach anyway (CIDRs, comma-separated)."),
    ] = ""
    token_max_ttl_s: Annotated[
        int, Meta(ge=60, description="Longest lifetime an upload token may be issued for, in seconds.")
    ] = 86400
    cors_origins: Annotated[
        str,
        Meta(
            description="Origins whose pages may call the API from a browser (CORS), comma-separated, each "
            "exactly scheme://host[:port]; '*' is any page (for upload tokens only); empty: none.",
        ),
    ] = ""
    api_host: Annotated[str, Meta(description="Address the API listens on.")] = "127.0.0.1"
    api_port: Annotated[int, Meta(ge=1, le=65535, description="Port the API listens on.")] = 8000
    max_upload_bytes: Annotated[
        int, Meta(ge=1, description="Largest accepted upload in bytes; larger is 413 while streaming.")
    ] = GiB
    max_audio_seconds: Annotated[
        float, Meta(gt=0, description="Longest accepted audio; longer ends failed with AUDIO_TOO_LONG.")
    ] = 6 * 3600.0
    model: Annotated[
        str, Meta(description="Default model: a bundled name (tiny.en), a CTranslate2 directory or a HF id.")
    ] = "tiny.en"
    models_dir: Annotated[
        str, Meta(description="Where `earshot models add` keeps models (empty: DATA_DIR/models).")
    ] = ""
    device: Annotated[str, Meta(description="Where workers run the model: cpu, cuda or auto.")] = "cpu"
    compute_type: Annotated[
        str, Meta(description="CTranslate2 compute type; 'default' is int8 on CPU and float16 on CUDA.")
    ] = "default"
    cpu_threads: Annotated[
        int,
        Meta(
            ge=0,
            description="CPU threads per model call; 0 picks 1 with the window scheduler (one model thread "
            "per core), cores / processes with sequential decoding.",
        ),
    ] = 0
    beam_size: Annotated[int, Meta(ge=1, le=20, description="Beam size for decoding.")] = 5
    vad_filter: Annotated[bool, Meta(description="Skip non-speech with Silero VAD before decoding.")] = False
    decoding: Annotated[
        str,
        Meta(
            description="windows: the window scheduler (every recording cut into ≤30 s windows, decoded in "
            "batches across recordings); sequential: faster-whisper's own transcribe, one recording at a time."
        ),
    ] = "windows"
    batch_size: Annotated[
        int,
        Meta(
            ge=0,
            le=64,
            description="Windows (or, with sequential decoding, short recordings) per model call; "
            "0 picks by device (benchmarks/README.md).",
        ),
    ] = 0
    batch_wait_ms: Annotated[
        int, Meta(ge=0, le=5000, description="Sequential decoding: how long a short recording waits for batch-mates.")
    ] = 50
    batched_long: Annotated[
        bool,
        Meta(description="Sequential decoding: long audio through BatchedInferencePipeline (its VAD drops speech)."),
    ] = False
    worker_processes: Annotated[
        int,
        Meta(
            ge=0,
            description="Worker processes per `earshot worker`; 0 is one per core on CPU, one on CUDA "
            "(one process owns the GPU).",
        ),
    ] = 0
    queues: Annotated[
        str, Meta(description="Comma-separated queues a worker consumes: transcription queues and/or webhooks.")
    ] = "transcribe,webhooks"
    job_time_limit_s: Annotated[
        int, Meta(ge=60, description="Hard time limit of one transcription job in seconds.")
    ] = 6 * 3600
    job_heartbeat_timeout_s: Annotated[
        int,
        Meta(ge=1, le=3600, description="A worker silent this long is dead; its unfinished jobs go to others."),
    ] = 30
    queue_maintenance_chance: Annotated[
        int,
        Meta(ge=1, le=1_000_000, description="Per million queue commands, how many look for dead workers' jobs."),
    ] = 10_000
    job_stale_s: Annotated[
        int,
        Meta(ge=1, description="A recording processing this long with no change and no live run is queued again."),
    ] = 900
    call_max_s: Annotated[
        int,
        Meta(
            ge=60,
            description="A telephony call whose end-of-call callback has not come this many seconds after the "
            "call began is failed (SOURCE_FETCH_FAILED) instead of staying `recording` for ever.",
        ),
    ] = 6 * 3600
    rate_limit_per_minute: Annotated[
        int, Meta(ge=0, description="Requests per minute per API key (or upload token); 0 turns the limit off.")
    ] = 1200
    auth_failures_per_minute: Annotated[
        int,
        Meta(
            ge=0,
            description="Failed authentications per client address and minute before its requests are 429 "
            "until the minute ends; 0 turns the throttle off.",
        ),
    ] = 20
    body_read_timeout_s: Annotated[
        float,
        Meta(
            gt=0,
            le=600,
            description="A request body whose next chunk does not arrive in this many seconds is abandoned "
            "(408; an upload stores nothing).",
        ),
    ] = 30.0
    max_concurrent_uploads: Annotated[
        int, Meta(ge=1, description="Uploads streaming at once per API process; beyond: 503 with Retry-After.")
    ] = 64
    max_concurrent_uploads_per_key: Annotated[
        int,
        Meta(
            ge=1,
            description="Uploads streaming at once per API key (or upload-token identity) per API process; "
            "beyond: 429 with Retry-After.",
        ),
    ] = 16
    job_max_retries: Annotated[
        int, Meta(ge=0, description="Retries of a job after transient failures (Redis or S3 down).")
    ] = 20
    webhook_retry_schedule: Annotated[
        str, Meta(description="Seconds between webhook delivery attempts, comma-separated (default spans 27 h).")
    ] = "5,300,1800,7200,18000,36000,36000"
    webhook_allow_private: Annotated[
        bool, Meta(description="Allow webhook endpoints on private or loopback addresses (SSRF guard off).")
    ] = False
    webhook_timeout_s: Annotated[
        float, Meta(gt=0, le=60, description="Seconds a webhook receiver has to answer before the attempt fails.")
    ] = 10.0
    webhook_threads: Annotated[
        int, Meta(ge=1, le=64, description="Threads per worker process delivering webhooks (their own queue).")
    ] = 4
    data_dir: Annotated[str, Meta(description="Where `earshot up` keeps Redis and S3 data, logs and stack.env.")] = (
        ".earshot"
    )
    log_level: Annotated[str, Meta(description="Log level: DEBUG, INFO, WARNING or ERROR.")] = "INFO"

    def __post_init__(self) -> None:
        # Fail at start-up, not at the first webhook or fetch that needs these.
        parse_networks(self.allowed_private_networks)
        self.retry_schedule  # noqa: B018 - validates
        self.cors_origin_list  # noqa: B018 - validates
        if self.decoding not in ("windows", "sequential"):
            raise SettingsError("EARSHOT_DECODING must be windows or sequential")
        bad = [q for q in self.queue_list if not _QUEUE_NAME.fullmatch(q)]
        if bad or not self.queue_list:
            raise SettingsError(
                f"EARSHOT_QUEUES: queue names are 1-64 letters, digits, '_' or '-' (got {bad or 'none'})"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``EARSHOT_*`` variables (unknown ones are an error: typos matter)."""
        env = os.environ if env is None else env
        fields = set(cls.__struct_fields__)
        raw: dict[str, Any] = {}
        for name, value in env.items():
            if not name.startswith(PREFIX) or name in CLIENT_VARS:
                continue
            field = name[len(PREFIX) :].lower()
            if field not in fields:
                raise SettingsError(f"unknown setting {name}")
            raw[field] = value
        raw.update(overrides)
        try:
            return msgspec.convert(raw, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise SettingsError(f"invalid setting: {exc}") from None

    def to_env(self) -> dict[str, str]:
        """The ``EARSHOT_*`` variables that reproduce these settings in another process."""
        out: dict[str, str] = {}
        for field in self.__struct_fields__:
            value = getattr(self, field)
            out[PREFIX + field.upper()] = str(value).lower() if isinstance(value, bool) else str(value)
        return out

    @property
    def models_path(self) -> Path:
        return Path(self.models_dir) if self.models_dir else Path(self.data_dir) / "models"

    @property
    def private_allowlist(self) -> tuple[Network, ...]:
        try:
            return parse_networks(self.allowed_private_networks)
        except ValueError as exc:
            raise SettingsError(f"EARSHOT_ALLOWED_PRIVATE_NETWORKS: {exc}") from None

    @property
    def effective_worker_processes(self) -> int:
        """On CUDA one process owns the GPU and its batches. On CPU one process per core with one
        model thread each: measured on 2 cores (benchmarks/README.md), one process running two model
        threads was 17% slower than two processes, its job, queue and model threads contending for
        one interpreter lock; with sequential decoding one process per core was 1.36x one process
        using every core."""
        if self.worker_processes:
            return self.worker_processes
        if self.device == "cuda":
            return 1
        return max(1, os.cpu_count() or 1)

    @property
    def model_threads(self) -> int:
        """Threads that run the model in one worker process (CTranslate2 `inter_threads`): with the
        window scheduler on CPU one per core, divided among the processes; else one."""
        if self.device == "cuda" or self.decoding != "windows":
            return 1
        return max(1, (os.cpu_count() or 1) // self.effective_worker_processes)

    def threads_per_model_call(self, processes: int) -> int:
        """CTranslate2 `intra_threads`. Measured on 2 cores (benchmarks/decoder_sweep.py): one thread
        per call is 1.6x faster per window than two."""
        if self.cpu_threads:
            return self.cpu_threads
        if self.decoding == "windows":
            return 1
        return max(1, (os.cpu_count() or 1) // max(processes, 1))

    @property
    def effective_batch_size(self) -> int:
        """Measured (benchmarks/README.md): on 2 CPU cores a batch of windows barely beats one at a
        time, and short recordings batched with sequential decoding did not pay; on a GPU batching
        is where throughput comes from."""
        if self.batch_size:
            return self.batch_size
        if self.device == "cuda":
            return 16 if self.decoding == "windows" else 8
        return CPU_WINDOW_BATCH if self.decoding == "windows" else 1

    @property
    def job_threads(self) -> int:
        """Job threads per worker process: with the window scheduler, one recording in flight per
        window the model threads decode at once, plus one being downloaded, probed and cut (the
        bounded look-ahead: more would only hoard jobs other processes could take)."""
        if self.decoding == "windows":
            return self.model_threads * self.effective_batch_size + (1 if self.device == "cuda" else 0)
        return self.effective_batch_size

    @property
    def retry_schedule(self) -> list[int]:
        try:
            steps = [int(s) for s in self.webhook_retry_schedule.split(",") if s.strip()]
        except ValueError:
            raise SettingsError("EARSHOT_WEBHOOK_RETRY_SCHEDULE must be comma-separated seconds") from None
        if any(s < 0 or s > 6 * 86400 for s in steps):
            raise SettingsError("webhook retry delays must be between 0 and 6 days")
        return steps

    @property
    def cors_origin_list(self) -> tuple[str, ...]:
        """The browser origins allowed to call the API, as browsers spell them in `Origin`
        (lower case, no default port, no trailing slash); ("*",) for any; () for none."""
        origins = tuple(_origin(o.strip()) for o in self.cors_origins.split(",") if o.strip())
        if "*" in origins and len(origins) > 1:
            raise SettingsError("EARSHOT_CORS_ORIGINS: '*' (any origin) stands alone")
        return tuple(dict.fromkeys(origins))

    @property
    def queue_list(self) -> list[str]:
        return [q.strip() for q in self.queues.split(",") if q.strip()]

    @property
    def transcription_queues(self) -> list[str]:
        return [q for q in self.queue_list if q not in ("webhooks", "diarization")] or ["transcribe"]


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(raw: str) -> str:
    """One EARSHOT_CORS_ORIGINS entry as the browser's `Origin` header has it: exact, never a pattern."""
    if raw == "*":
        return raw
    problem = f"EARSHOT_CORS_ORIGINS: {raw!r} is not an origin like https://app.example.com"
    try:
        parts = urlsplit(raw.removesuffix("/"))
        port = parts.port
    except ValueError:
        raise SettingsError(problem) from None
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if scheme not in _DEFAULT_PORTS or not host or parts.path or parts.query or parts.fragment:
        raise SettingsError(problem)
    if parts.username is not None or "*" in raw or any(c.isspace() for c in raw):
        raise SettingsError(problem)
    if ":" in host:
        host = f"[{host}]"  # IPv6
    return f"{scheme}://{host}" if port in (None, _DEFAULT_PORTS[scheme]) else f"{scheme}://{host}:{port}"


def describe() -> list[tuple[str, str, str]]:
    """(variable, default, description) for every setting, in declaration order."""
    info = msgspec.inspect.type_info(Settings)
    assert isinstance(info, msgspec.inspect.StructType)
    rows = []
    for field in info.fields:
        schema = getattr(field.type, "extra_json_schema", None) or {}
        text = schema.get("description", "")
        rows.append((PREFIX + field.name.upper(), repr(field.default), text))
    return rows
