"""Former home of the task runner, kept so that scripts importing it keep working.

The worker engine that training and calibration share lives in ``abm_hetero.training``:
:mod:`~abm_hetero.training.engine` (backends, retries, results in order), its result cache
(:mod:`~abm_hetero.training.cache`) and its worker processes and Ray connection
(:mod:`~abm_hetero.training.workers`). Nothing in the package imports this module.
"""

from .training.cache import _cache_path, _fingerprint
from .training.engine import BACKENDS, Engine, TaskError, run_tasks
from .training.workers import available_cpus, backend_session, check_ray, spawn_pool, start_ray

__all__ = ["BACKENDS", "Engine", "TaskError", "_cache_path", "_fingerprint", "available_cpus",
           "backend_session", "check_ray", "run_tasks", "spawn_pool", "start_ray"]
