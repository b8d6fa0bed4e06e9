"""Operating Earshot: JSON logs (`logs`) and the job and webhook metrics shared through Redis
(`metrics`).
"""

from engine.ops.logs import setup_logging
from engine.ops.metrics import PROCESSING_BUCKETS, RTF_BUCKETS, JobMetrics, Snapshot

__all__ = ["PROCESSING_BUCKETS", "RTF_BUCKETS", "JobMetrics", "Snapshot", "setup_logging"]
