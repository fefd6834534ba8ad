"""Batches: every case of a dataset folder or CSV list, resumable, parallel, shardable, shareable.

Each case gets its own folder (see :mod:`tumorsynth.jobs.pipeline`) and its own seed, derived from the
batch seed and the case name only, so results do not depend on order, workers, shards or
resumption. Finished cases are skipped (a stopped batch resumes where it stopped); a case that
fails is reported and the others go on. Any number of jobs may work on one output folder at
once (:mod:`tumorsynth.jobs.batch.claims`); each writes its own summary and the merged
``batch_summary.json`` (:mod:`tumorsynth.jobs.batch.summary`). Cases run in local worker processes
(``spawn``) or on any :class:`concurrent.futures.Executor`, e.g. a Dask cluster's.
"""

from tumorsynth.jobs.batch.run import case_seed, parse_shard, run_batch, shard_of
from tumorsynth.jobs.batch.summary import BatchSummary, summarize

__all__ = ["BatchSummary", "case_seed", "parse_shard", "run_batch", "shard_of", "summarize"]
